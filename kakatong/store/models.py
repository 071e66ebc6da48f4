"""The peewee models: merchant, settings, terminals, staff, levels, cards, the journal.

Money is integer fen (`*_fen`), points are integers. Balances and points carry CHECK
constraints as a backstop for the conditional updates in ledger.py; the journal is
append-only (schema.JOURNAL_TRIGGERS).
"""

from __future__ import annotations

from peewee import (
    SQL,
    BooleanField,
    CharField,
    Check,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from .codes import (
    CARD_STATUSES,
    GENDERS,
    JOURNAL_STATUSES,
    JOURNAL_TYPES,
    OFFLINE_STATUSES,
    OFFLINE_TYPES,
    PAYMENT_METHODS,
    ROLES,
)
from .db import by_engine, db
from .runtime import utcnow


def _in(column: str, values: tuple[str, ...], null: bool = False) -> Check:
    listed = ", ".join(f"'{v}'" for v in values)
    if null:
        return Check(f"{column} IS NULL OR {column} IN ({listed})")
    return Check(f"{column} IN ({listed})")


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Meta(BaseModel):
    """Key/value facts about the database itself, such as `schema_version`."""

    key = CharField(primary_key=True)
    value = TextField()


class Merchant(BaseModel):
    """The shop. One row."""

    merchant_id = CharField(max_length=15)
    merchant_name = CharField()
    receipt_title = CharField()
    # Vouchers are numbered shop-wide, so a voucher number alone names one transaction.
    last_voucher = IntegerField(default=0, constraints=[Check("last_voucher >= 0")])


class Setting(BaseModel):
    """A shop-wide setting as JSON text; settings.py knows each one's type and default."""

    key = CharField(primary_key=True)
    value = TextField()


class Branch(BaseModel):
    """A branch of the shop (门店): a single shop has one, a chain on one PostgreSQL one per
    shop. Cards, members, levels and balances are the chain's; each terminal is a branch's,
    and each journal row says the branch it was made at."""

    name = CharField(unique=True)
    address = CharField(default="")  # printed on the branch's slips
    created_at = DateTimeField(default=utcnow)


class Terminal(BaseModel):
    terminal_id = CharField(max_length=8, unique=True)
    name = CharField(default="")
    # Every terminal is a branch's (NULL only in an upgrade's own transaction; verify says
    # any it finds): a column added to a table SQLite cannot declare NOT NULL with a
    # reference.
    branch = ForeignKeyField(Branch, null=True, backref="terminals", on_delete="RESTRICT")
    kind = CharField(default="pos", constraints=[_in("kind", ("pos", "backoffice"))])
    key_hash = CharField(null=True)
    last_trace = IntegerField(default=0, constraints=[Check("last_trace >= 0")])
    batch_no = IntegerField(default=1, constraints=[Check("batch_no >= 1")])
    # Terminal parameters of the POS manual (终端参数设置), set by the system operator.
    receipt_copies = IntegerField(default=2, constraints=[Check("receipt_copies IN (1, 2)")])
    standby_type = CharField(
        default="consume", constraints=[_in("standby_type", ("consume", "points_earn"))]
    )
    manual_entry = BooleanField(default=True)  # 手输卡号
    service_code_prompt = BooleanField(default=True)  # 服务代码
    language = CharField(default="zh", constraints=[_in("language", ("zh", "en"))])
    # 清流水: the terminal's transaction query shows nothing older (the journal itself keeps all).
    journal_view_from = DateTimeField(null=True)
    # The receipt printer (小票打印机): where it is, and what it can print (printer.Settings).
    printer_url = CharField(default="none")
    printer_encoding = CharField(
        default="gb18030", constraints=[_in("printer_encoding", ("gb18030", "gbk", "utf-8"))]
    )
    printer_chinese_mode = BooleanField(default=True)
    paper_mm = IntegerField(default=58, constraints=[Check("paper_mm IN (58, 80)")])
    printer_image = BooleanField(default=False)
    printer_cut = BooleanField(default=True)
    # 离线交易: the next offline trace number not yet handed to this terminal. The terminal
    # takes them in blocks while it is online (offline.reserve_traces), so that no number
    # repeats on it, whatever happens to the browser's storage.
    offline_trace_next = IntegerField(default=1, constraints=[Check("offline_trace_next >= 1")])
    created_at = DateTimeField(default=utcnow)


class Staff(BaseModel):
    staff_no = CharField(unique=True)
    name = CharField(default="")
    role = CharField(constraints=[_in("role", ROLES)])
    # NULL while the staff member still has the role's published default password (or, for
    # the owner, none at all): a default is known to everyone, so hashing it protects nothing.
    password_hash = CharField(null=True)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    # A supervisor (or an operator) of one branch: their reading of the journal and their
    # authorisations (void, PIN reset) are that branch's. NULL: the whole chain.
    branch = ForeignKeyField(Branch, null=True, on_delete="RESTRICT", index=False)


class PasswordGuard(BaseModel):
    """Failed password attempts per staff number typed (known or not, so that a lock says
    nothing about whether an account exists)."""

    key = CharField(primary_key=True, max_length=32)  # staff number typed, and the door
    failures = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow, index=True)


class Level(BaseModel):
    name = CharField(unique=True)
    discount_pct = IntegerField(default=100, constraints=[Check("discount_pct BETWEEN 1 AND 100")])
    points_multiplier_pct = IntegerField(
        default=100, constraints=[Check("points_multiplier_pct BETWEEN 0 AND 10000")]
    )


class Card(BaseModel):
    card_no = CharField(max_length=19, unique=True)
    external_no = CharField(null=True, unique=True)
    phone = CharField(null=True, unique=True)
    name = CharField(null=True)
    gender = CharField(null=True, constraints=[_in("gender", GENDERS, null=True)])
    birthday = DateField(null=True)
    id_number = CharField(null=True)
    level = ForeignKeyField(Level, null=True, backref="cards", on_delete="RESTRICT")
    expires_on = DateField(null=True)
    status = CharField(default="inactive", constraints=[_in("status", CARD_STATUSES)])
    pin_salt = CharField(null=True)
    pin_hash = CharField(null=True)
    pin_failures = IntegerField(default=0, constraints=[Check("pin_failures >= 0")])
    pin_locked_until = DateTimeField(null=True)
    balance_fen = IntegerField(default=0, constraints=[Check("balance_fen >= 0")])
    points = IntegerField(default=0, constraints=[Check("points >= 0")])
    activated_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    @property
    def has_pin(self) -> bool:
        return self.pin_hash is not None

    class Meta:
        indexes = (
            # The member search looks for a part of a name in this index (every name, a tenth
            # of the table's bytes), and the home page counts cards by status.
            (("name",), False),
            (("status",), False),
        )


# The few names with a digit in them: a search text with a digit (a phone, a card number) can
# be part of no other name, and is looked for here instead of in every name (cards.search).
NAMES_WITH_DIGITS = by_engine("name GLOB '*[0-9]*'", "name ~ '[0-9]'")
Card.add_index(Card.index(Card.name, name="card_name_digits", where=NAMES_WITH_DIGITS))


class Transaction(BaseModel):
    """One row of the journal (交易流水). Never updated but for success -> voided."""

    type = CharField(constraints=[_in("type", JOURNAL_TYPES)])
    status = CharField(default="success", constraints=[_in("status", JOURNAL_STATUSES)])
    # No index of their own: (card, created_at) and (terminal, batch_no) below serve these, and
    # staff are disabled, never deleted. Every index costs each insert.
    card = ForeignKeyField(Card, backref="journal", on_delete="RESTRICT", index=False)
    terminal = ForeignKeyField(Terminal, null=True, on_delete="RESTRICT", index=False)
    # The branch the terminal belonged to when the row was posted (set on every posting;
    # verify says any row without one).
    branch = ForeignKeyField(Branch, null=True, on_delete="RESTRICT", index=False)
    operator = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", index=False)
    operator_no = CharField(null=True)
    trace_no = IntegerField(null=True)
    voucher_no = IntegerField(null=True, unique=True)
    reference_no = CharField(null=True)
    batch_no = IntegerField(null=True)
    created_at = DateTimeField()  # UTC
    settle_date = DateField()  # the date in the shop's time zone
    amount_fen = IntegerField()  # the balance movement, signed
    price_fen = IntegerField(null=True)  # consume: the price entered, before the discount
    # consume: the level's discount it was paid at (88: 88折), as the slip says it for years
    # after, whatever the level says by then
    discount_pct = IntegerField(
        null=True, constraints=[Check("discount_pct IS NULL OR discount_pct BETWEEN 1 AND 100")]
    )
    purchase_fen = IntegerField(null=True)  # points_earn: the purchase paid some other way
    points = IntegerField()  # signed
    balance_after_fen = IntegerField(constraints=[Check("balance_after_fen >= 0")])
    points_after = IntegerField(constraints=[Check("points_after >= 0")])
    service_code = CharField(null=True)
    payment_method = CharField(
        null=True, constraints=[_in("payment_method", PAYMENT_METHODS, null=True)]
    )
    offline = BooleanField(default=False)
    # An offline sale (离线交易): when the terminal made it (UTC). created_at is then when it
    # was uploaded and applied, which gives its batch and settlement date.
    sold_at = DateTimeField(null=True)
    # A void points at its original; UNIQUE makes "voided exactly once" a database fact too.
    original = ForeignKeyField("self", null=True, unique=True, on_delete="RESTRICT")
    request_id = CharField(null=True, unique=True)
    request_fingerprint = CharField(null=True)

    class Meta:
        table_name = "journal"
        # The journal is read newest first, a page at a time: each filter of the journal's
        # page has an index that gives its rows in time order (the rowid, last in every index,
        # orders rows of the same time), so a page reads 50 entries, not every match. The
        # trace number is found through (terminal, trace_no), for every terminal at once when
        # none is named (reports._journal_ids).
        indexes = (
            (("settle_date",), False),
            (("created_at",), False),
            (("card", "created_at"), False),
            (("terminal", "batch_no"), False),
            (("terminal", "trace_no"), False),
            (("terminal", "created_at"), False),
            (("type", "created_at"), False),
            (("status", "created_at"), False),
        )


class JournalDay(BaseModel):
    """The journal summed by settlement date, type and status: how many rows, their money and
    their points. The daily statistics, the journal's row counts and the home page's figures
    read these few thousand rows instead of a year of the journal.

    Kept by triggers on the journal (schema.SUMMARY_TRIGGERS), so that every posting, void and
    offline upload moves it in its own transaction, whatever code wrote the row; ledger.verify
    adds the journal up again and compares.

    A day, branch, type and status may be kept in several `slot`s, which readers add up (every
    read of these sums is a SUM): SQLite keeps slot 0 only (its writer is alone); PostgreSQL
    keeps a slot per terminal (the row's terminal id, 0 for none), so that the postings of a
    chain's tills do not all queue on one row to their commits, each terminal's postings
    queueing on its own terminal's row already (schema 9)."""

    settle_date = DateField()
    branch_id = IntegerField()  # the rows' branch (a NULL branch cannot be summed here)
    type = CharField()
    status = CharField()
    count = IntegerField(default=0)
    amount_fen = IntegerField(default=0)
    points = IntegerField(default=0)
    slot = IntegerField(constraints=[SQL("DEFAULT 0")])  # (a row written without one: 0)

    class Meta:
        table_name = "journal_day"
        indexes = ((("settle_date", "branch_id", "type", "status", "slot"), True),)


class Settlement(BaseModel):
    """A closed batch (结算) and the totals printed for it."""

    terminal = ForeignKeyField(Terminal, on_delete="RESTRICT")
    batch_no = IntegerField()
    operator = ForeignKeyField(Staff, null=True, on_delete="RESTRICT")
    settled_at = DateTimeField(default=utcnow)
    settle_date = DateField()
    totals = TextField()  # JSON, as returned by ledger.settle

    class Meta:
        indexes = ((("terminal", "batch_no"), True),)


class OfflineUpload(BaseModel):
    """One offline transaction as a terminal uploaded it (批量离线交易上传), and its outcome.

    Keyed by terminal and offline trace number: the same upload again is answered with this
    row and applies nothing (UNIQUE). A failed one stays here for 离线对账 until it is
    resolved: applied on a retry, paid another way, or written off (status leaves `failed`
    once, schema.OFFLINE_TRIGGERS; the audit log says who and why).
    """

    terminal = ForeignKeyField(Terminal, on_delete="RESTRICT", index=False)
    offline_trace_no = IntegerField(constraints=[Check("offline_trace_no >= 1")])
    fingerprint = CharField()  # keyed hash of what was sent (the sealed PIN included)
    payload = TextField()  # JSON, as sent: the PIN in it only sealed
    type = CharField(null=True, constraints=[_in("type", OFFLINE_TYPES, null=True)])
    card_no = CharField(null=True)
    amount_fen = IntegerField(null=True)  # consume: the price; points_earn: the purchase
    points = IntegerField(null=True)  # points_earn: the points typed
    service_code = CharField(null=True)
    operator_no = CharField(null=True)
    sold_at = DateTimeField(null=True)  # UTC, as the terminal captured it
    received_at = DateTimeField(default=utcnow)
    uploaded_by = CharField(null=True)  # the staff number signed in at the upload
    status = CharField(constraints=[_in("status", OFFLINE_STATUSES)])
    error = CharField(null=True)  # the last attempt's refusal code
    message = CharField(null=True)
    transaction = ForeignKeyField(Transaction, null=True, unique=True, on_delete="RESTRICT")
    resolved_at = DateTimeField(null=True)
    resolved_by = CharField(null=True)  # staff number
    payment_method = CharField(
        null=True, constraints=[_in("payment_method", PAYMENT_METHODS, null=True)]
    )
    note = CharField(null=True)

    class Meta:
        indexes = (
            (("terminal", "offline_trace_no"), True),
            (("status", "received_at"), False),
        )


class StaffSession(BaseModel):
    """A signed-in session: a terminal's or the API's bearer token (`api`), or a back-office
    sign-in (`web`). Kept in the database so that every process of a chain knows it and a
    restart keeps it; the token itself is never stored, only its keyed hash (`key`)."""

    key = CharField(primary_key=True, max_length=64)  # HMAC-SHA256(secret_key, token), hex
    kind = CharField(constraints=[_in("kind", ("api", "web"))])
    staff_no = CharField(index=True)
    actor = TextField()  # JSON: the Actor the session acts as
    started_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    locked = BooleanField(default=False)  # 锁定
    # A session opened from another one (系统设置 from an operator's): the other's key, and
    # its own idle limit.
    parent = CharField(null=True, index=True)
    idle_seconds = IntegerField(null=True)

    class Meta:
        table_name = "staff_session"


class AuditLog(BaseModel):
    """Who did what, when, from where: staff, card status, PIN resets, settings, voids.

    Append-only, like the journal: the database refuses to change or delete a row
    (schema.AUDIT_TRIGGERS), and no view of the app offers to.
    """

    created_at = DateTimeField(default=utcnow, index=True)  # UTC
    staff = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", index=False)
    staff_no = CharField()  # who, as typed at sign-in ("system" for the CLI)
    action = CharField(index=True)
    target = CharField(null=True)  # a card number, a staff number, a terminal ID, a voucher…
    details = TextField(default="{}")  # JSON
    terminal_id = CharField(null=True)
    address = CharField(null=True)  # the client's IP address, or "cli"


ALL_MODELS = [
    Meta,
    Merchant,
    Setting,
    Branch,
    Terminal,
    Staff,
    PasswordGuard,
    Level,
    Card,
    Transaction,
    JournalDay,
    Settlement,
    AuditLog,
    OfflineUpload,
    StaffSession,
]
