"""The ledger: the only code that moves money or points.

consume, recharge, points_earn, points_redeem, void, settle, the balance and points queries,
and the opening entries of an import. Each is one write transaction (BEGIN IMMEDIATE) that
checks in a fixed order — request format, amount, card found, card status, PIN, balance or
points — and then moves money with a conditional UPDATE (`… WHERE balance_fen >= :paid`), so
the rules hold on any database with row locks, not only under SQLite's single writer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from peewee import FIELD as FIELD_TYPES
from peewee import Case

from ..store import runtime
from ..store.codes import PAYMENT_METHODS, TRANSACTION_TYPES
from ..store.db import Postgres, db, for_update, is_postgres, sql, write
from ..store.models import Card, Settlement, Staff, Terminal, Transaction
from ..store.runtime import utcnow
from ..store.schema import JOURNAL_DAY_SUMS, VOUCHER_SEQUENCE
from . import audit, branches
from . import settings as shop_settings
from .actors import CAN_READ_JOURNAL, CAN_TRANSACT, Actor
from .cards import (
    activate_parsed,
    check_pin,
    check_usable,
    locked_card,
    pin_arg,
    refusable,
)
from .errors import LedgerError
from .formats import (
    WRAP,
    card_no_arg,
    reference_no,
    request_id_arg,
    service_code_arg,
    six,
    voucher_arg,
)
from .money import AmountError, apply_percent, parse_amount
from .reports import batch_totals
from .staff import authorise_supervisor

MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class Posted:
    """A transaction the ledger holds: just written, or found again by its request_id."""

    record: Transaction
    replayed: bool = False
    # Read by the posting from its terminal's row (None on a replay, which reads nothing):
    # what the answer and the slip need, without two more reads after the commit.
    printer_url: str | None = None
    branch_name: str | None = None


# ---------------------------------------------------------------- request format


def points_arg(value: object) -> int:
    # bool is an int in Python, and JSON true is not a number of points.
    if type(value) is not int or not 1 <= value <= MAX_POINTS:
        raise LedgerError("invalid_points")
    return value


def amount_arg(value: object) -> int:
    try:
        return parse_amount(value)
    except AmountError as exc:
        raise LedgerError(exc.code) from None


def _fingerprint(*parts: object) -> str:
    """What a request asked for, keyed with the pepper (it includes the PIN)."""
    text = json.dumps(parts, separators=(",", ":"), default=str)
    return hmac.new(runtime.pepper, text.encode(), hashlib.sha256).hexdigest()


_REPLAY = sql("SELECT id, request_fingerprint FROM journal WHERE request_id = ?")


def _replay(request_id: str, fingerprint: str) -> Posted | None:
    earlier = db.execute_sql(_REPLAY, (request_id,)).fetchone()
    if earlier is None:
        return None
    if not hmac.compare_digest(earlier[1] or "", fingerprint):
        raise LedgerError("request_id_reused")
    return Posted(Transaction.get_by_id(earlier[0]), replayed=True)


def _check_actor(actor: Actor) -> None:
    if actor.role not in CAN_TRANSACT:
        raise LedgerError("not_permitted")
    if actor.terminal_pk is None:
        raise LedgerError("terminal_required")


def _check_settings(kind: str, amount_fen: int | None = None) -> dict:
    """The settings' refusals: a type switched off, an amount over the single limit.

    They run after the replay check, so that a request already posted is answered with its
    result even if the settings changed since."""
    values = shop_settings.load()
    if kind not in values["enabled_types"]:
        raise LedgerError("transaction_disabled")
    if amount_fen is not None and amount_fen > values["single_limit_fen"]:
        raise LedgerError("over_limit")
    return values


# ---------------------------------------------------------------- the four transactions


def transact(
    actor: Actor,
    kind: object,
    card_no: object,
    *,
    request_id: object,
    amount: object = None,
    points: object = None,
    pin: object = None,
    service_code: object = None,
    payment_method: object = None,
    now: datetime | None = None,
) -> Posted:
    """Post one of consume, recharge, points_earn, points_redeem (the API's single entry)."""
    if kind not in TRANSACTION_TYPES:
        raise LedgerError("bad_request", "交易类型不正确")
    common = dict(request_id=request_id, pin=pin, now=now)
    if kind == "consume":
        _no_fields(points=points, payment_method=payment_method)
        return consume(actor, card_no, amount, service_code=service_code, **common)
    if kind == "recharge":
        _no_fields(points=points, service_code=service_code)
        return recharge(actor, card_no, amount, payment_method, **common)
    if kind == "points_earn":
        _no_fields(payment_method=payment_method)
        return points_earn(
            actor, card_no, amount=amount, points=points, service_code=service_code, **common
        )
    _no_fields(amount=amount, payment_method=payment_method)
    return points_redeem(actor, card_no, points, service_code=service_code, **common)


def _no_fields(**fields: object) -> None:
    given = sorted(name for name, value in fields.items() if value is not None)
    if given:
        raise LedgerError("bad_request", f"该交易不接受字段：{', '.join(given)}", fields=given)


@dataclass(frozen=True)
class Asked:
    """What one of the four transactions asks for, its own fields checked.

    `figures` and `extras` are what its request_id's fingerprint covers besides the kind, the
    terminal, the card and the PIN; `limited_fen` is the amount the single limit applies to;
    `move` takes the card (usable, its PIN checked) and the settings, refuses what the card
    cannot cover, and says what to post."""

    figures: tuple
    extras: tuple
    limited_fen: int | None
    move: Callable[[Card, dict], dict]


# The request_ids of offline sales posted at upload (offline.py): no client's request may
# take one, or the upload of that sale would meet it.
OFFLINE_REQUEST_PREFIX = "offline:"


def _client_request_id(value: object) -> str:
    request_id = request_id_arg(value)
    if request_id.startswith(OFFLINE_REQUEST_PREFIX):
        raise LedgerError(
            "bad_request", f"request_id 不能以 {OFFLINE_REQUEST_PREFIX} 开头", field="request_id"
        )
    return request_id


def _prepared(
    actor: Actor,
    kind: str,
    card_no: object,
    pin: object,
    request_id: object,
    now: datetime | None,
    ask: Callable[[], Asked],
    sold_at: datetime | None = None,
) -> Callable[[], Posted]:
    """The one skeleton of the four transactions: the order of their checks is written here.

    The caller's role and terminal; the request's format (card number, PIN, request_id, then
    the transaction's own fields); then, in the write transaction `apply` is run in: an
    earlier posting of the same request_id (answered as it was), the settings (type switched
    on, the single limit), the card (found, its status, the PIN), what the card can cover,
    and the posting itself.

    With `sold_at`, an offline sale being uploaded (offline.upload): the terminal enforced its
    offline switches and limits when it made the sale, so the settings' refusals are not
    asked again; the card, the PIN and the balance are judged now, and the row says both
    times and `offline`."""
    _check_actor(actor)
    request_id_of = request_id_arg if sold_at is not None else _client_request_id
    card_no, pin, request_id = card_no_arg(card_no), pin_arg(pin), request_id_of(request_id)
    asked = ask()
    now = now or utcnow()
    fingerprint = _fingerprint(kind, actor.terminal_id, card_no, *asked.figures, pin, *asked.extras)

    def apply() -> Posted:
        replay = _replay(request_id, fingerprint)
        if replay:
            return replay
        if sold_at is None:
            values = _check_settings(kind, asked.limited_fen)
        else:
            values = shop_settings.load()
        card = _usable_card(card_no, pin, now)
        moved = asked.move(card, values)
        return _post(
            actor, kind, card, now, request_id=request_id, fingerprint=fingerprint,
            sold_at=sold_at, **moved,
        )  # fmt: skip

    return apply


def _posting(
    actor: Actor,
    kind: str,
    card_no: object,
    pin: object,
    request_id: object,
    now: datetime | None,
    ask: Callable[[], Asked],
) -> Posted:
    """One of the four, checked and posted in its own write transaction (`_prepared`)."""
    return refusable(_prepared(actor, kind, card_no, pin, request_id, now, ask))


def consume(
    actor: Actor,
    card_no: object,
    amount: object,
    *,
    request_id: object,
    pin: object = None,
    service_code: object = None,
    now: datetime | None = None,
) -> Posted:
    """储值消费: the amount is the price; the level's discount gives what is paid and debited;
    points are awarded on what was paid."""
    return _posting(
        actor, "consume", card_no, pin, request_id, now, _consume_asks(amount, service_code)
    )


def _consume_asks(amount: object, service_code: object) -> Callable[[], Asked]:
    def ask() -> Asked:
        code = service_code_arg(service_code)
        price = amount_arg(amount)

        def move(card: Card, values: dict) -> dict:
            paid = apply_percent(price, card.discount_pct)
            if card.balance_fen < paid:
                raise LedgerError("insufficient_balance")
            earned = points_for(paid, card.points_multiplier_pct, values["points_unit_fen"])
            return dict(
                amount_fen=-paid,
                points=earned,
                price_fen=price,
                discount_pct=card.discount_pct,
                service_code=code,
            )

        return Asked((price,), (code,), price, move)

    return ask


def recharge(
    actor: Actor,
    card_no: object,
    amount: object,
    payment_method: object,
    *,
    request_id: object,
    pin: object = None,
    now: datetime | None = None,
) -> Posted:
    """储值充值: credits the balance; paid by cash, bank card, WeChat Pay, Alipay or other."""

    def ask() -> Asked:
        if payment_method not in PAYMENT_METHODS:
            raise LedgerError("bad_request", "请选择支付方式", field="payment_method")
        fen = amount_arg(amount)

        def move(card: Card, values: dict) -> dict:
            return dict(amount_fen=fen, points=0, payment_method=payment_method)

        return Asked((fen,), (payment_method,), fen, move)

    return _posting(actor, "recharge", card_no, pin, request_id, now, ask)


def points_earn(
    actor: Actor,
    card_no: object,
    *,
    request_id: object,
    amount: object = None,
    points: object = None,
    pin: object = None,
    service_code: object = None,
    now: datetime | None = None,
) -> Posted:
    """积分累加: either a purchase paid some other way (points by the consume rule, the
    amount kept as purchase_amount) or a number of points."""
    return _posting(
        actor, "points_earn", card_no, pin, request_id, now,
        _points_earn_asks(amount, points, service_code),
    )  # fmt: skip


def _points_earn_asks(amount: object, points: object, service_code: object) -> Callable[[], Asked]:
    def ask() -> Asked:
        code = service_code_arg(service_code)
        if (amount is None) == (points is None):
            raise LedgerError("bad_request", "请输入消费金额或积分，二者选一")
        purchase = amount_arg(amount) if amount is not None else None
        fixed = points_arg(points) if points is not None else None

        def move(card: Card, values: dict) -> dict:
            earned = fixed
            if purchase is not None:
                unit = values["points_unit_fen"]
                earned = points_for(purchase, card.points_multiplier_pct, unit)
                if earned == 0:
                    raise LedgerError("no_points")
            return dict(amount_fen=0, points=earned, purchase_fen=purchase, service_code=code)

        return Asked((purchase, fixed), (code,), purchase, move)

    return ask


def offline_sale(
    seller: Actor,
    kind: str,
    card_no: object,
    *,
    request_id: str,
    sold_at: datetime,
    amount: object = None,
    points: object = None,
    pin: object = None,
    service_code: object = None,
    now: datetime | None = None,
) -> Posted:
    """An offline consume or points_earn being uploaded, posted with the ledger's rules as of
    `now` (card status, PIN, balance or points) at the seller's terminal and its open batch,
    with the terminal's `sold_at`. Runs inside the caller's write transaction (offline.upload
    keeps the outcome in the same one); a refusal raises LedgerError with nothing moved but
    the PIN count."""
    if kind == "consume":
        _no_fields(points=points)
        ask = _consume_asks(amount, service_code)
    elif kind == "points_earn":
        ask = _points_earn_asks(amount, points, service_code)
    else:
        raise LedgerError("bad_request", "离线交易类型不正确")
    return _prepared(seller, kind, card_no, pin, request_id, now, ask, sold_at)()


def points_redeem(
    actor: Actor,
    card_no: object,
    points: object,
    *,
    request_id: object,
    pin: object = None,
    service_code: object = None,
    now: datetime | None = None,
) -> Posted:
    """积分消费: debits points."""

    def ask() -> Asked:
        code = service_code_arg(service_code)
        spent = points_arg(points)

        def move(card: Card, values: dict) -> dict:
            if card.points < spent:
                raise LedgerError("insufficient_points")
            return dict(amount_fen=0, points=-spent, service_code=code)

        return Asked((spent,), (code,), None, move)

    return _posting(actor, "points_redeem", card_no, pin, request_id, now, ask)


def points_for(paid_fen: int, multiplier_pct: int, unit_fen: int) -> int:
    """⌊paid × multiplier% ÷ unit⌋: 1 point per full 10 yuan at ×1 (49.50 → 4; ×150: 7)."""
    return paid_fen * multiplier_pct // (100 * unit_fen)


def _usable_card(card_no: str, pin: str | None, now: datetime) -> Card:
    card = locked_card(card_no)
    check_usable(card, runtime.shop_date(now))
    check_pin(card, pin, now)
    return card


# ---------------------------------------------------------------- posting


# The posting path runs on every transaction, so its statements are fixed SQL (db.sql) rather
# than built by peewee for each request; values still pass through the models' fields.
_MOVE = sql(
    "UPDATE card SET balance_fen = balance_fen + ?, points = points + ?"
    " WHERE id = ? AND balance_fen + ? >= 0 AND points + ? >= 0"
    " RETURNING balance_fen, points"
)
# The terminal's row gives, with its trace number, the printer and the branch's name the
# answer shows (Posted).
_TERMINAL_STEPS = (
    "last_trace, batch_no, branch_id, printer_url,"
    " (SELECT name FROM branch WHERE branch.id = terminal.branch_id) AS branch_name"
)
_NEXT_TRACE = sql(
    f"UPDATE terminal SET last_trace = CASE WHEN last_trace >= {WRAP} THEN 1"
    f" ELSE last_trace + 1 END WHERE id = ? RETURNING {_TERMINAL_STEPS}"
)
_NEXT_VOUCHER = sql("UPDATE merchant SET last_voucher = last_voucher + 1 RETURNING last_voucher")


def last_voucher_no() -> int:
    """The last voucher number taken (0 for none): SQLite's counter, PostgreSQL's sequence
    (where a number taken by a posting that was then undone is counted too)."""
    if is_postgres():
        text = f"SELECT pg_sequence_last_value('{VOUCHER_SEQUENCE}')"
    else:
        text = "SELECT last_voucher FROM merchant"
    row = db.execute_sql(text).fetchone()
    return (row and row[0]) or 0


_JOURNAL_FIELDS = [
    f for f in Transaction._meta.sorted_fields if f is not Transaction._meta.primary_key
]
_INSERT = sql(
    "INSERT INTO journal ("
    + ", ".join(f.column_name for f in _JOURNAL_FIELDS)
    + ") VALUES ("
    + ", ".join("?" for _ in _JOURNAL_FIELDS)
    + ") RETURNING id"
)


# PostgreSQL posts in one statement: the card's move, the terminal's trace number, the chain's
# voucher number and the journal row, each step only if the one before it happened (a card
# the amount does not fit moves nothing, and nothing else happens). One round trip instead of
# six (a savepoint, four statements, its release); it also answers the terminal's printer
# and branch name (Posted). The voucher number comes from a sequence
# (schema.VOUCHER_SEQUENCE), taken after the terminal's row is locked: no row that every
# posting of the chain updates, numbers unique and increasing at each terminal in the order
# of its trace numbers, but a posting undone after taking one (a failed commit, a write tried
# again) leaves a gap. The day's sums the journal's trigger adds to are the terminal's own
# (JournalDay.slot). SQLite's writer is alone: it runs the steps one by one, and its voucher
# numbers (merchant.last_voucher) never skip.
_FROM_STEPS = {
    "balance_after_fen": "m.balance_fen",
    "points_after": "m.points",
    "trace_no": "t.last_trace",
    "batch_no": "t.batch_no",
    "branch_id": "t.branch_id",
    "voucher_no": "v.voucher_no",
    "reference_no": "? || lpad((v.voucher_no % 1000000)::text, 6, '0')",
}


def _pg_typed(field) -> str:
    """A parameter cast to its column's type (an untyped NULL or text in a SELECT list would
    be taken as text)."""
    kind = Postgres.field_types.get(field.field_type) or FIELD_TYPES[field.field_type]
    return f"CAST(? AS {'TEXT' if kind == 'VARCHAR' else kind})"


_PG_POST = sql(
    "WITH m AS (UPDATE card SET balance_fen = balance_fen + ?, points = points + ?"
    " WHERE id = ? AND balance_fen + ? >= 0 AND points + ? >= 0 RETURNING balance_fen, points),"
    f" t AS (UPDATE terminal SET last_trace = CASE WHEN last_trace >= {WRAP} THEN 1"
    " ELSE last_trace + 1 END WHERE id = ? AND EXISTS (SELECT 1 FROM m)"
    f" RETURNING {_TERMINAL_STEPS}),"
    f" v AS (SELECT nextval('{VOUCHER_SEQUENCE}') AS voucher_no FROM t),"
    " j AS (INSERT INTO journal ("
    + ", ".join(f.column_name for f in _JOURNAL_FIELDS)
    + ") SELECT "
    + ", ".join(_FROM_STEPS.get(f.column_name) or _pg_typed(f) for f in _JOURNAL_FIELDS)
    + " FROM m, t, v RETURNING id, balance_after_fen, points_after, trace_no, batch_no,"
    " branch_id, voucher_no, reference_no)"
    " SELECT j.*, t.printer_url, t.branch_name FROM j, t"
)
_PG_STEPS = ("balance_after_fen", "points_after", "trace_no", "batch_no", "branch", "voucher_no")


def _post(
    actor: Actor,
    kind: str,
    card: Card,
    now: datetime,
    *,
    amount_fen: int,
    points: int,
    request_id: str,
    fingerprint: str,
    price_fen: int | None = None,
    discount_pct: int | None = None,
    purchase_fen: int | None = None,
    service_code: str | None = None,
    payment_method: str | None = None,
    original: Transaction | None = None,
    sold_at: datetime | None = None,
) -> Posted:
    """Move the money and write the journal row, all or nothing (a savepoint in the caller's
    write transaction; on PostgreSQL one statement). The conditional update is the guard;
    the CHECKs are the backstop."""
    values = {
        "type": kind,
        "status": "success",
        "card": card.id,
        "terminal": actor.terminal_pk,
        "operator": actor.staff_id,
        "operator_no": actor.staff_no,
        "created_at": now,
        "settle_date": runtime.shop_date(now),
        "amount_fen": amount_fen,
        "price_fen": price_fen,
        "discount_pct": discount_pct,
        "purchase_fen": purchase_fen,
        "points": points,
        "service_code": service_code,
        "payment_method": payment_method,
        "offline": sold_at is not None,
        "sold_at": sold_at,
        "original": original.id if original is not None else None,
        "request_id": request_id,
        "request_fingerprint": fingerprint,
    }
    post = _pg_post if is_postgres() else _sqlite_post
    new_id, printer_url, branch_name = post(actor, card, values, original)
    record = Transaction(id=new_id, **values)
    # What the record shows is already known: spare the API three lookups after the commit.
    record.card = card
    record.terminal = Terminal(id=actor.terminal_pk, terminal_id=actor.terminal_id)
    record.operator = Staff(id=actor.staff_id, staff_no=actor.staff_no, name=actor.name)
    if original is not None:
        record.original = original
    return Posted(record, printer_url=printer_url, branch_name=branch_name)


def _refused_move(amount_fen: int, original: Transaction | None) -> LedgerError:
    if original is not None:
        return LedgerError("void_refused")
    return LedgerError("insufficient_balance" if amount_fen < 0 else "insufficient_points")


# What _pg_post and _sqlite_post return: the journal row's id, the terminal's printer_url and
# its branch's name.
_Written = tuple[int, str, str | None]


def _pg_post(actor: Actor, card: Card, values: dict, original: Transaction | None) -> _Written:
    amount_fen, points = values["amount_fen"], values["points"]
    moves = (amount_fen, points, card.id, amount_fen, points, actor.terminal_pk)
    local_time = runtime.local(values["created_at"]).strftime("%H%M%S")
    params = [
        local_time if f.column_name == "reference_no" else f.db_value(values[f.name])
        for f in _JOURNAL_FIELDS
        if f.column_name not in _FROM_STEPS or f.column_name == "reference_no"
    ]
    row = db.execute_sql(_PG_POST, (*moves, *params)).fetchone()
    if row is None:
        if not Terminal.select().where(Terminal.id == actor.terminal_pk).exists():
            raise LedgerError("terminal_not_found")
        raise _refused_move(amount_fen, original)
    values.update(zip(_PG_STEPS, row[1:7], strict=True))
    values["reference_no"] = row[7]
    return row[0], row[8], row[9]


def _sqlite_post(actor: Actor, card: Card, values: dict, original: Transaction | None) -> _Written:
    amount_fen, points = values["amount_fen"], values["points"]
    with db.atomic():
        after = db.execute_sql(_MOVE, (amount_fen, points, card.id, amount_fen, points)).fetchone()
        if after is None:
            raise _refused_move(amount_fen, original)
        trace = db.execute_sql(_NEXT_TRACE, (actor.terminal_pk,)).fetchone()
        if trace is None:
            raise LedgerError("terminal_not_found")
        (voucher_no,) = db.execute_sql(_NEXT_VOUCHER).fetchone()
        values.update(
            balance_after_fen=after[0], points_after=after[1], trace_no=trace[0],
            batch_no=trace[1], branch=trace[2], voucher_no=voucher_no,
            reference_no=reference_no(values["created_at"], voucher_no),
        )  # fmt: skip
        params = [f.db_value(values[f.name]) for f in _JOURNAL_FIELDS]
        (new_id,) = db.execute_sql(_INSERT, params).fetchone()
    return new_id, trace[3], trace[4]


def _wrapped_next(column):
    # Not `column % WRAP + 1`: peewee reads % as LIKE.
    return Case(None, [(column >= WRAP, 1)], column + 1)


# ---------------------------------------------------------------- void


def visible_to(actor: Actor, record: Transaction) -> bool:
    """Whether `actor` may see this transaction. The supervisor and the owner read the whole
    journal, so every terminal's; anyone else only the transactions of the terminal they are
    signed in at, as a POS holds only its own (its void and 交易查询 work on those). A staff
    member limited to one branch (门店) sees none of another branch's."""
    limit = branches.limit_of(actor)
    if limit is not None and record.branch_id != limit:
        return False  # a staff member limited to one branch sees that branch's only
    if actor.role in CAN_READ_JOURNAL:
        return True
    return actor.terminal_pk is not None and record.terminal_id == actor.terminal_pk


def _by_voucher(number: int) -> Transaction:
    record = Transaction.get_or_none(Transaction.voucher_no == number)
    if record is None:
        raise LedgerError("transaction_not_found")
    return record


def find_voucher(actor: Actor, voucher_no: object) -> Transaction:
    """The transaction a voucher number names, as the void screen shows it first. One the
    actor may not see (visible_to) is `transaction_not_found`, as if it did not exist: an
    operator cannot learn that a voucher number was used at another terminal."""
    record = _by_voucher(voucher_arg(voucher_no))
    if not visible_to(actor, record):
        raise LedgerError("transaction_not_found")
    return record


def terminal_voucher(terminal_pk: int, voucher_no: object) -> Transaction:
    """The transaction a voucher number names if it was made at this terminal (a reprint of
    its slip on the terminal's printer); `transaction_not_found` else."""
    record = _by_voucher(voucher_arg(voucher_no))
    if record.terminal_id != terminal_pk:
        raise LedgerError("transaction_not_found")
    return record


def find_by_trace(actor: Actor, terminal_id: str, trace_no: object) -> Transaction:
    """The transaction a trace number (流水号) names in that terminal's current, open batch.

    Trace numbers are per terminal and wrap, and the system operator may set the next one, so
    only the open batch gives them a meaning; should one repeat there, the newest is meant.
    One the actor may not see (visible_to) is `transaction_not_found`."""
    if not isinstance(terminal_id, str) or not re.fullmatch(r"[0-9]{8}", terminal_id, re.ASCII):
        raise LedgerError("bad_request", "终端号必须是 8 位数字", field="terminal_id")
    if isinstance(trace_no, str) and re.fullmatch(r"[0-9]{1,6}", trace_no, re.ASCII):
        trace_no = int(trace_no)
    if type(trace_no) is not int or not 1 <= trace_no <= WRAP:
        raise LedgerError("bad_request", "流水号必须是 1 到 6 位数字")
    record = (
        Transaction.select(Transaction)
        .join(Terminal, on=(Transaction.terminal == Terminal.id))
        .where(
            Terminal.terminal_id == terminal_id,
            Transaction.batch_no == Terminal.batch_no,
            Transaction.trace_no == trace_no,
        )
        .order_by(Transaction.id.desc())
        .first()
    )
    if record is None or not visible_to(actor, record):
        raise LedgerError("transaction_not_found")
    return record


def voidable(original: Transaction, card_no: str | None = None) -> Card:
    """What a void checks of its original before the PIN, in this order: the card presented
    (when `card_no` is given: it must be the original's, `card_mismatch`), a type that can be
    voided, not voided already, its batch still open. The original's card, if all hold.

    The back office checks this before it shows the original to confirm; `void` again when it
    posts."""
    card = Card.get_by_id(original.card_id)
    if card_no is not None and card_no != card.card_no:
        raise LedgerError("card_mismatch")
    if original.type not in TRANSACTION_TYPES:
        raise LedgerError("not_voidable")
    if original.status == "voided":
        raise LedgerError("already_voided")
    if open_batch(original.terminal_id) != original.batch_no:
        raise LedgerError("batch_closed")
    return card


# A terminal's open batch, its row locked to the transaction's end (on PostgreSQL; SQLite's
# writer is alone): a settlement waits for the postings in flight at the terminal (each holds
# the row from taking its trace number to its commit) and counts them; a void of the batch
# and its settlement go one after the other.
_OPEN_BATCH = for_update("SELECT batch_no FROM terminal WHERE id = ?", "terminal")
_LOCK_CARD = for_update("SELECT id FROM card WHERE id = ?", "card")


def open_batch(terminal_pk: int) -> int:
    row = db.execute_sql(_OPEN_BATCH, (terminal_pk,)).fetchone()
    if row is None:
        raise LedgerError("terminal_not_found")
    return row[0]


def void(
    actor: Actor,
    voucher_no: object,
    *,
    supervisor_password: object,
    request_id: object,
    pin: object = None,
    card_no: object = None,
    now: datetime | None = None,
) -> Posted:
    """交易撤销: reverse a transaction of a still-open batch, exactly once.

    Checks: request format, supervisor password, original found (and one the actor may see:
    an operator voids only their own terminal's, visible_to), the card presented (when
    `card_no` is given: it must be the original's, `card_mismatch`), already voided, batch
    closed, card PIN, and that the reversal leaves nothing negative (`void_refused`).
    """
    _check_actor(actor)
    number, pin, request_id = voucher_arg(voucher_no), pin_arg(pin), _client_request_id(request_id)
    presented = card_no_arg(card_no) if card_no is not None else None
    # Judged at the original's branch (its supervisor's rights apply there); the slow hash
    # before taking the write lock. An unknown voucher is refused below, in the lock.
    made_at = Transaction.select(Transaction.branch).where(Transaction.voucher_no == number)
    authorise_supervisor(actor, supervisor_password, made_at.scalar())
    now = now or utcnow()
    fingerprint = _fingerprint("void", actor.terminal_id, number, pin)

    def apply() -> Posted:
        replay = _replay(request_id, fingerprint)
        if replay:
            return replay
        original = Transaction.get_or_none(Transaction.voucher_no == number)
        if original is None or not visible_to(actor, original):
            raise LedgerError("transaction_not_found")
        # The card's row first, as every posting takes it (then its terminal's): two writes
        # never wait on each other in opposite orders there.
        db.execute_sql(_LOCK_CARD, (original.card_id,))
        card = voidable(original, presented)
        check_pin(card, pin, now)
        with db.atomic():
            marked = (
                Transaction.update(status="voided")
                .where(Transaction.id == original.id, Transaction.status == "success")
                .execute()
            )
            if marked != 1:
                raise LedgerError("already_voided")
            audit.record(
                actor, "void", six(original.voucher_no),
                card_no=card.card_no, type=original.type, amount_fen=original.amount_fen,
                points=original.points,
            )  # fmt: skip
            return _post(
                actor, "void", card, now,
                amount_fen=-original.amount_fen, points=-original.points,
                price_fen=original.price_fen, discount_pct=original.discount_pct,
                purchase_fen=original.purchase_fen,
                service_code=original.service_code, payment_method=original.payment_method,
                request_id=request_id, fingerprint=fingerprint, original=original,
            )  # fmt: skip

    return refusable(apply)


# ---------------------------------------------------------------- queries


def query(actor: Actor, card_no: object, pin: object, now: datetime | None = None) -> Card:
    """储值查询 / 积分查询: the card with its balance and points, for the right PIN.

    Moves nothing and writes no journal row; a wrong PIN still counts.
    """
    if actor.role not in CAN_TRANSACT:
        raise LedgerError("not_permitted")
    card_no, pin = card_no_arg(card_no), pin_arg(pin)
    now = now or utcnow()
    card = refusable(lambda: _usable_card(card_no, pin, now))
    return Card.get_by_id(card.id)


# ---------------------------------------------------------------- settlement


def settle(actor: Actor, now: datetime | None = None, batch_no: int | None = None) -> dict:
    """结算: close the terminal's current batch, keep its totals, open the next batch.

    With `batch_no` (the batch a screen showed), a batch that has moved on since is refused
    (`batch_settled`) instead of closing the next one: two taps settle once."""

    if actor.role not in CAN_TRANSACT or actor.terminal_pk is None:
        raise LedgerError("not_permitted")
    now = now or utcnow()

    def apply() -> dict:
        open_batch(actor.terminal_pk)  # the postings in flight at the terminal are in first
        terminal = Terminal.get_by_id(actor.terminal_pk)
        if batch_no is not None and terminal.batch_no != batch_no:
            raise LedgerError("batch_settled", batch_no=six(terminal.batch_no))
        totals = batch_totals(terminal, terminal.batch_no)
        totals["settled_at"] = runtime.local(now).isoformat(timespec="seconds")
        totals["settle_date"] = runtime.shop_date(now).isoformat()
        Settlement.create(
            terminal=terminal,
            batch_no=terminal.batch_no,
            operator=actor.staff_id,
            settled_at=now,
            settle_date=runtime.shop_date(now),
            totals=json.dumps(totals, ensure_ascii=False),
        )
        moved = (
            Terminal.update(batch_no=_wrapped_next(Terminal.batch_no))
            .where(Terminal.id == terminal.id, Terminal.batch_no == terminal.batch_no)
            .execute()
        )
        if moved != 1:
            raise RuntimeError("batch moved under the writer")
        return totals

    return write(apply)


# ---------------------------------------------------------------- opening entries


def record_opening(
    card: Card, balance_fen: int, points: int, now: datetime, branch_id: int
) -> Transaction:
    """An imported card's opening balance and points, as one `opening` journal row of the
    branch that imported it.

    Runs inside the caller's write transaction (cards are imported all or nothing).
    """
    if balance_fen < 0 or points < 0:
        raise ValueError("opening amounts are not negative")
    Card.update(balance_fen=Card.balance_fen + balance_fen, points=Card.points + points).where(
        Card.id == card.id
    ).execute()
    fresh = Card.get_by_id(card.id)
    return Transaction.create(
        type="opening",
        card=card.id,
        branch=branch_id,
        created_at=now,
        settle_date=runtime.shop_date(now),
        amount_fen=balance_fen,
        points=points,
        balance_after_fen=fresh.balance_fen,
        points_after=fresh.points,
    )


# ---------------------------------------------------------------- import


def import_cards(rows: list[dict], now: datetime | None = None, actor: Actor | None = None) -> int:
    """Activate the checked rows of an import (cards.parse_import) and record their opening
    balances and points, all in one transaction: a file is imported whole or not at all."""

    now = now or utcnow()

    def apply() -> int:
        branch_id = branches.acting(actor)
        for row in rows:
            card = activate_parsed(row)
            if row["balance_fen"] or row["points"]:
                record_opening(card, row["balance_fen"], row["points"], now, branch_id)
        audit.record(
            actor, "card.import", None, cards=len(rows),
            balance_fen=sum(r["balance_fen"] for r in rows),
            points=sum(r["points"] for r in rows),
        )  # fmt: skip
        return len(rows)

    return write(apply)


# ---------------------------------------------------------------- verify


def verify() -> list[str]:
    """Recompute every card's balance and points from the journal. Returns the problems found
    (an empty list when the books agree)."""
    problems = []
    running: dict[int, tuple[int, int]] = {}
    journal = Transaction.select(
        Transaction.id,
        Transaction.card,
        Transaction.type,
        Transaction.status,
        Transaction.amount_fen,
        Transaction.points,
        Transaction.balance_after_fen,
        Transaction.points_after,
        Transaction.original,
    ).order_by(Transaction.id)
    voided, voids = set(), {}
    for row in journal.namedtuples().iterator():
        balance, points = running.get(row.card, (0, 0))
        balance, points = balance + row.amount_fen, points + row.points
        running[row.card] = (balance, points)
        if (balance, points) != (row.balance_after_fen, row.points_after):
            problems.append(
                f"journal row {row.id}: after it the card holds {balance} fen / {points} points, "
                f"the row says {row.balance_after_fen} / {row.points_after}"
            )
        if row.status == "voided":
            voided.add(row.id)
        if row.type == "void":
            voids[row.original] = row.id
    for original in voided - set(voids):
        problems.append(f"journal row {original} is voided but no void points at it")
    for original, void_id in voids.items():
        if original not in voided:
            problems.append(f"void {void_id} points at row {original}, which is not voided")
    for card in Card.select(Card.id, Card.card_no, Card.balance_fen, Card.points).iterator():
        expected = running.get(card.id, (0, 0))
        if (card.balance_fen, card.points) != expected:
            problems.append(
                f"card {card.card_no}: holds {card.balance_fen} fen / {card.points} points, "
                f"the journal adds up to {expected[0]} fen / {expected[1]} points"
            )
        if card.balance_fen < 0 or card.points < 0:
            problems.append(f"card {card.card_no}: negative balance or points")
    problems += _offline_problems()
    problems += _branch_problems()
    problems += _daily_sum_problems()
    return problems


_WITHOUT_BRANCH = sql(
    "SELECT 'journal row ' || id FROM journal WHERE branch_id IS NULL"
    " UNION ALL SELECT 'terminal ' || terminal_id FROM terminal WHERE branch_id IS NULL"
)


def _branch_problems() -> list[str]:
    """Every terminal is a branch's, and every journal row says its branch."""
    return [f"{what} has no branch" for (what,) in db.execute_sql(_WITHOUT_BRANCH).fetchall()]


_KEPT_DAILY_SUMS = sql(
    "SELECT settle_date, branch_id, type, status, SUM(count), SUM(amount_fen), SUM(points)"
    " FROM journal_day GROUP BY settle_date, branch_id, type, status"
)


def _daily_sum_problems() -> list[str]:
    """The journal's daily sums (JournalDay, which the statistics and the journal's counts
    read) are what the journal adds up to, day by day, type by type, status by status."""
    added = {tuple(row[:4]): tuple(row[4:]) for row in db.execute_sql(sql(JOURNAL_DAY_SUMS))}
    kept = {
        tuple(row[:4]): tuple(row[4:])
        for row in db.execute_sql(_KEPT_DAILY_SUMS)
        if tuple(row[4:]) != (0, 0, 0)
    }
    return [
        f"daily sums {' '.join(map(str, key))}: kept {kept.get(key, (0, 0, 0))} "
        f"(count, fen, points), the journal adds up to {added.get(key, (0, 0, 0))}"
        for key in sorted(set(added) | set(kept), key=str)
        if added.get(key) != kept.get(key)
    ]


_OFFLINE_ROWS_WITHOUT_UPLOAD = sql(
    "SELECT journal.id FROM journal LEFT JOIN offline_upload ON offline_upload.transaction_id"
    " = journal.id WHERE journal.offline = ? AND offline_upload.id IS NULL"
)
_UPLOADS_OUT_OF_STEP = sql(
    "SELECT offline_upload.id FROM offline_upload LEFT JOIN journal"
    " ON journal.id = offline_upload.transaction_id"
    " WHERE (offline_upload.status = 'applied') != (journal.id IS NOT NULL)"
    " OR (journal.id IS NOT NULL AND journal.offline = ?)"
)


def _offline_problems() -> list[str]:
    """Each offline journal row comes from one applied upload, and each applied upload has
    its offline row (a failed, paid-other or written-off one has none)."""
    problems = [
        f"journal row {row_id} is offline but no upload applied it"
        for (row_id,) in db.execute_sql(_OFFLINE_ROWS_WITHOUT_UPLOAD, (True,)).fetchall()
    ]
    problems += [
        f"offline upload {upload_id}: its status and its journal row disagree"
        for (upload_id,) in db.execute_sql(_UPLOADS_OUT_OF_STEP, (False,)).fetchall()
    ]
    return problems
