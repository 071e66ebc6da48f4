"""A stateful test of the ledger.

Hypothesis drives long random sequences of consume, recharge, points_earn (both forms),
points_redeem, void, settle, replays of earlier request ids, queries, PIN changes and unlocks,
card status changes and settings changes, with valid and invalid inputs, against a fresh
SQLite database per example. A small model in plain integers, written from the rules and not
from the code, says what each step must do.

After every step: each card's balance, points, status and PIN state equal the model's, nothing
is negative, `ledger.verify()` finds nothing, and the journal holds exactly the model's rows.
Around every refused step: the database is exactly as before but for the wrong-PIN count.
(The supervisor-password attempt counter, table password_guard, is left out of that
comparison: a wrong supervisor password is meant to count.)
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from conftest import another_database
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import kakatong.factory
from kakatong.domain import branches, cards, ledger, staff
from kakatong.domain import settings as shop_settings
from kakatong.domain.actors import Actor
from kakatong.domain.errors import LedgerError
from kakatong.store.db import db
from kakatong.store.models import Card, Level, Staff, Terminal, Transaction
from kakatong.store.runtime import utcnow

# ---------------------------------------------------------------- the rules, in integers

LIMIT_FEN = 50_000_00
POINTS_UNIT_FEN = 1000
MAX_POINTS = 1_000_000
PIN_ATTEMPTS = 3  # the default; a rule changes it now and then
PIN_LOCK = timedelta(minutes=30)
KINDS = ("consume", "recharge", "points_earn", "points_redeem")
METHODS = ("cash", "bank_card", "wechat", "alipay", "other")
SUPERVISOR_PASSWORD = "135790"
DIGITS = "0123456789"
RID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")

GOLD = "6212260000000001"  # level 金卡 88 % ×150, PIN 123456, recharged 1000.00
PLAIN = "6212260000000002"  # default level, no PIN, recharged 500.00
IMPORTED = "6212260000000003"  # default level, PIN 888888, imported: opening 200.00 / 50 pts
UNKNOWN = "6212260000000099"  # well formed, no such card
MALFORMED_CARDS = [
    "1234567",
    "62122600000000011112",
    "621226000000000A",
    "６２１２２６００",
    6212260000000001,
]
MALFORMED_PINS = ["12345", "1234567", "abcdef", "１２３４５６", " 12345", 123456]
KNOWN_CARDS = (GOLD, PLAIN, IMPORTED)
CARD_STATUSES = ("inactive", "active", "frozen", "lost")
# (from, to) -> does the supervisor authorise it?
STATUS_CHANGES = {
    ("active", "frozen"): False,
    ("active", "lost"): False,
    ("frozen", "lost"): False,
    ("frozen", "active"): True,
    ("lost", "active"): True,
}


def digits(value: object, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value) <= high and all(c in DIGITS for c in value)


def model_amount(value: object) -> int | str:
    """Yuan text to fen, or "invalid_amount": "90", "90.5", "49.50"; not zero. (Whether it
    is over the single limit is the caller's question: the limit is a setting.)"""
    if not isinstance(value, str):
        return "invalid_amount"
    whole, dot, frac = value.partition(".")
    if not digits(whole, 1, len(whole)) or (len(whole) > 1 and whole[0] == "0"):
        return "invalid_amount"
    if dot and not digits(frac, 1, 2):
        return "invalid_amount"
    fen = int(whole) * 100 + (int((frac + "0")[:2]) if dot else 0)
    return "invalid_amount" if fen == 0 else fen


def points_ok(value: object) -> bool:
    return type(value) is int and 1 <= value <= MAX_POINTS


def rid_ok(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 64 and set(value) <= RID_CHARS


def model_pin(value: object) -> tuple[str | None, bool]:
    """(the PIN as meant, well formed?): None and "" are no PIN."""
    if value is None or value == "":
        return None, True
    return (value, True) if digits(value, 6, 6) else (None, False)


def pin_view(failures: int, locked_until: datetime | None, now: datetime) -> tuple:
    """What the wrong-PIN state means at `now`: locked until when, or how many wrong so far."""
    if locked_until is not None and locked_until > now:
        return ("locked", locked_until)
    return ("count", failures if locked_until is None else 0)


@dataclass
class CardModel:
    card_no: str
    discount_pct: int
    multiplier_pct: int
    pin: str | None
    balance: int = 0
    points: int = 0
    failures: int = 0
    locked_until: datetime | None = None
    status: str = "active"

    def judge_use(
        self, pin: str | None, now: datetime, limit: int, check_status: bool = True
    ) -> tuple[str, int | None] | None:
        """None if the card may be used with this PIN, else (refusal, attempts_left).
        The card's status first, then the PIN, which keeps the count."""
        if check_status and self.status != "active":
            return (f"card_{self.status}", None)
        if self.locked_until is not None and self.locked_until > now:
            return ("pin_locked", None)
        if self.locked_until is not None:  # the lock ran out: count afresh
            self.failures, self.locked_until = 0, None
        if self.pin is None or pin == self.pin:
            self.failures = 0
            return None
        self.failures += 1
        if self.failures >= limit:
            self.failures, self.locked_until = 0, now + PIN_LOCK
            return ("pin_locked", None)
        return ("wrong_pin", limit - self.failures)


@dataclass
class Entry:
    """A journal row with a voucher number."""

    kind: str
    card_no: str
    amount_fen: int
    points: int
    terminal_id: str
    batch_no: int
    price_fen: int | None = None
    purchase_fen: int | None = None
    payment_method: str | None = None
    status: str = "success"


@dataclass
class Refused:
    codes: set
    attempts_left: int | None = None


@dataclass
class Replay:
    voucher_no: int


@dataclass
class Post:
    kind: str
    card: CardModel
    amount_fen: int
    points: int
    content: tuple
    price_fen: int | None = None
    purchase_fen: int | None = None
    payment_method: str | None = None
    original: int | None = None  # voucher number of what a void reverses


@dataclass
class Claim:
    content: tuple
    voucher_no: int
    call: dict = field(default_factory=dict)  # how to send the same request again


_CARD_COLUMNS_BUT_PINS = ", ".join(
    f.column_name
    for f in Card._meta.sorted_fields
    if f.name not in ("pin_failures", "pin_locked_until")
)

# ---------------------------------------------------------------- strategies


def fen_text(fen: int, style: int) -> str:
    whole, frac = divmod(fen, 100)
    if style == 0 and frac == 0:
        return str(whole)
    if style == 1 and frac % 10 == 0:
        return f"{whole}.{frac // 10}"
    return f"{whole}.{frac:02d}"


valid_amounts = st.builds(
    fen_text,
    st.one_of(
        st.integers(1, 99),
        st.integers(100, 30_000),
        st.integers(100, 80_000).map(lambda f: f - f % 100),
        st.integers(80_000, LIMIT_FEN),
        st.sampled_from([1, 999, 1000, 4950, 6667, LIMIT_FEN]),
    ),
    st.integers(0, 2),
)
# fmt: off
BAD_AMOUNT_TEXTS = [
    "0", "0.0", "0.00", "-5", "-0.01", "1e3", " 5", "5 ", "5.", ".5", "5.123", "05", "+5",
    "5,00", "５", "٥", "", "NaN", "inf", "1_000", "0x10", "1.2.3", "5\n", "9" * 40,
    "50000.01", "50001", "99999999", "1234567890123",  # over the limit
]
# fmt: on
bad_amounts = st.one_of(
    st.sampled_from(BAD_AMOUNT_TEXTS),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.text(max_size=8),
)


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy, odds: int) -> st.SearchStrategy:
    """`good` about `odds` times as often as `bad` (one_of would flatten and even them out)."""
    return st.integers(0, odds).flatmap(lambda i: good if i else bad)


amounts = mostly(valid_amounts, bad_amounts, 6)
valid_points = st.one_of(
    st.integers(1, 40), st.integers(1, 400), st.sampled_from([1, 7, 3000, MAX_POINTS])
)
bad_points = st.sampled_from([0, -1, MAX_POINTS + 1, 10**12, True, False, 1.0, 5.5, "5", None, [5]])
points_values = mostly(valid_points, bad_points, 6)
card_choices = st.sampled_from([GOLD, PLAIN, IMPORTED] * 6 + [UNKNOWN, "malformed"])
pin_choices = st.sampled_from(["right"] * 20 + ["wrong", "wrong", "missing", "empty", "malformed"])
rid_choices = st.sampled_from(["fresh"] * 20 + ["refused", "claimed", "bad"])
password_choices = st.sampled_from(["right"] * 6 + ["wrong", "missing"])
method_choices = st.sampled_from([*METHODS] * 3 + ["cheque", None])
actor_choices = st.sampled_from([0, 0, 1, 2])  # op 01 @ T1, op 02 @ T2, owner @ T1
# The owner needs no supervisor password (each check of one is an argon2 hash, ~35 ms).
authorising_actors = st.sampled_from([0, 1, 2, 2])


# ---------------------------------------------------------------- the machine


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory(prefix="kakatong-stateful-")
        kakatong.factory.create_app(
            {"data_dir": self.tmp.name, "demo": False, "database_url": another_database()}
        )
        staff.set_password("00", SUPERVISOR_PASSWORD)
        gold_level = Level.create(name="金卡会员", discount_pct=88, points_multiplier_pct=150)
        Terminal.create(terminal_id="10000002", name="收银台 2", branch=branches.first())
        t1, t2 = Terminal.get(terminal_id="10000001"), Terminal.get(terminal_id="10000002")
        self.actors = []
        for staff_no, terminal in (("01", t1), ("02", t2), ("owner", t1)):
            member = Staff.get(staff_no=staff_no)
            self.actors.append(
                Actor(member.id, member.staff_no, member.role, terminal.id, terminal.terminal_id)
            )

        self.clock = utcnow().replace(microsecond=0) + timedelta(microseconds=123)
        self.cards = {
            GOLD: CardModel(GOLD, 88, 150, "123456"),
            PLAIN: CardModel(PLAIN, 100, 100, None),
            IMPORTED: CardModel(IMPORTED, 100, 100, "888888"),
        }
        cards.activate({"card_no": GOLD, "level": gold_level.name, "pin": "123456", "name": "李四"})
        cards.activate({"card_no": PLAIN, "name": "张三"})
        header = ",".join(cards.IMPORT_COLUMNS)
        ledger.import_cards(
            cards.parse_import(f"{header}\n{IMPORTED},,,王五,,,,,,888888,200.00,50\n")
        )
        self.cards[IMPORTED].balance, self.cards[IMPORTED].points = 200_00, 50
        self.card_ids = {c.card_no: c.id for c in Card.select()}

        self.journal_rows = 1  # the opening entry of the imported card
        self.entries: dict[int, Entry] = {}  # voucher number -> row
        self.last_voucher = 0
        self.trace = {t1.terminal_id: 0, t2.terminal_id: 0}
        self.batch = {t1.terminal_id: 1, t2.terminal_id: 1}
        self.settlements = 0
        self.claimed: dict[str, Claim] = {}
        self.refused_ids: list[str] = []
        self.refusals: dict[str, int] = {}  # code -> how often (for the report, and a sanity check)
        self.posts = 0
        self.supervisor_failures = 0
        self.limit_fen, self.enabled, self.pin_limit = LIMIT_FEN, set(KINDS), PIN_ATTEMPTS
        self.supervisor_limit = shop_settings.load().get("password_attempt_limit", 10**9)

        self._transact(0, "recharge", GOLD, self._rid(), amount="1000", pin="123456", method="cash")
        self._transact(0, "recharge", PLAIN, self._rid(), amount="500.00", method="wechat")

    def teardown(self):
        if not db.is_closed():
            db.close()
        self.tmp.cleanup()

    # ------------------------------------------------------------ helpers

    def _rid(self, choice: str = "fresh") -> object:
        if choice == "refused" and self.refused_ids:
            return self.refused_ids[-1]
        if choice == "claimed" and self.claimed:
            return next(reversed(self.claimed))
        if choice == "bad":
            return "bad id!"
        return uuid.uuid4().hex

    def _card(self, choice: str, salt: int = 0) -> object:
        return MALFORMED_CARDS[salt % len(MALFORMED_CARDS)] if choice == "malformed" else choice

    def _pin(self, card_no: object, choice: str, salt: int = 0) -> object:
        card = self.cards.get(card_no)
        right = card.pin if card is not None else "123456"
        if choice == "right":
            return right
        if choice == "wrong":
            return "000000" if right != "000000" else "111111"
        if choice == "missing":
            return None
        if choice == "empty":
            return ""
        return MALFORMED_PINS[salt % len(MALFORMED_PINS)]

    def _password(self, choice: str) -> object:
        return {"right": SUPERVISOR_PASSWORD, "wrong": "999999", "missing": None}[choice]

    @staticmethod
    def _snapshot(with_pins: bool) -> tuple:
        """Everything a request could touch (raw SQL: peewee's query building is slow)."""
        columns = "*" if with_pins else _CARD_COLUMNS_BUT_PINS
        return tuple(
            db.execute_sql(sql).fetchall()
            for sql in (
                f"SELECT {columns} FROM card ORDER BY id",
                "SELECT * FROM journal ORDER BY id",
                "SELECT * FROM terminal ORDER BY id",
                "SELECT * FROM merchant",
                "SELECT * FROM settlement ORDER BY id",
                "SELECT * FROM setting ORDER BY key",
            )
        )

    def _run(self, expected, send, rid: object, call: dict):
        """Run one request the model has judged; check the outcome and what it changed."""
        before = self._snapshot(with_pins=False)
        before_all = self._snapshot(with_pins=True)
        try:
            result = send()
        except LedgerError as exc:
            assert isinstance(expected, Refused), f"refused {exc.code!r}; the model: {expected}"
            assert exc.code in expected.codes, f"refused {exc.code!r}; the model: {expected}"
            if expected.attempts_left is not None:
                assert exc.details.get("attempts_left") == expected.attempts_left
            assert self._snapshot(with_pins=False) == before, f"{exc.code} changed the database"
            self.refusals[exc.code] = self.refusals.get(exc.code, 0) + 1
            if rid_ok(rid) and rid not in self.claimed:
                self.refused_ids.append(rid)
            return None
        assert not isinstance(expected, Refused), f"accepted; the model refuses: {expected}"
        if isinstance(expected, Replay):
            assert result.replayed is True
            assert result.record.voucher_no == expected.voucher_no
            assert result.record.request_id == rid
            assert self._snapshot(with_pins=True) == before_all, "a replay changed the database"
            return result
        assert result.replayed is False
        self._apply(expected, result.record, rid, call)
        return result

    def _apply(self, post: Post, record: Transaction, rid: str, call: dict) -> None:
        card = post.card
        card.balance += post.amount_fen
        card.points += post.points
        assert card.balance >= 0 and card.points >= 0, "the model let a balance go negative"
        actor = self.actors[call["actor_i"]]
        self.last_voucher += 1
        self.journal_rows += 1
        self.posts += 1
        self.trace[actor.terminal_id] += 1
        original_id = None
        if post.original is not None:
            original_id = self._one("SELECT id FROM journal WHERE voucher_no = ?", post.original)
        expected = {
            "type": post.kind,
            "status": "success",
            "card_id": self.card_ids[card.card_no],
            "terminal_id": actor.terminal_pk,
            "amount_fen": post.amount_fen,
            "points": post.points,
            "balance_after_fen": card.balance,
            "points_after": card.points,
            "price_fen": post.price_fen,
            "purchase_fen": post.purchase_fen,
            "payment_method": post.payment_method,
            "voucher_no": self.last_voucher,
            "trace_no": self.trace[actor.terminal_id],
            "batch_no": self.batch[actor.terminal_id],
            "request_id": rid,
            "original_id": original_id,
        }
        # What the ledger answered, and what it stored.
        assert {k: getattr(record, k) for k in expected} == expected
        stored = db.execute_sql(
            f"SELECT {', '.join(expected)} FROM journal WHERE id = ?", (record.id,)
        ).fetchone()
        assert dict(zip(expected, stored, strict=True)) == expected
        self.entries[self.last_voucher] = Entry(
            post.kind,
            card.card_no,
            post.amount_fen,
            post.points,
            actor.terminal_id,
            self.batch[actor.terminal_id],
            post.price_fen,
            post.purchase_fen,
            post.payment_method,
        )
        if post.original is not None:
            self.entries[post.original].status = "voided"
        self.claimed[rid] = Claim(post.content, self.last_voucher, call)

    @staticmethod
    def _one(query: str, *params):
        return db.execute_sql(query, params).fetchone()[0]

    # ------------------------------------------------------------ the model's judgement

    def judge_transact(self, actor, kind, card_no, rid, amount, points, pin, method):
        pin_value, pin_well_formed = model_pin(pin)
        formats = set()
        if not digits(card_no, 8, 19):
            formats.add("invalid_card_no")
        if not pin_well_formed:
            formats.add("invalid_pin")
        if not rid_ok(rid):
            formats.add("bad_request")
        if kind == "recharge" and method not in METHODS:
            formats.add("bad_request")
        if kind == "points_earn" and (amount is None) == (points is None):
            formats.add("bad_request")
        if formats:
            return Refused(formats)
        # The settings' refusals (a type switched off, an amount over the single limit): where
        # they come among the amount's format and the request_id the rules leave open, so the
        # model accepts either; but an exact replay answers its original whatever they say now.
        disabled = {"transaction_disabled"} if kind not in self.enabled else set()
        fen = fixed = None
        if kind in ("consume", "recharge") or (kind == "points_earn" and amount is not None):
            fen = model_amount(amount)
            if isinstance(fen, str):
                return Refused({fen} | disabled)
        if kind == "points_redeem" or (kind == "points_earn" and points is not None):
            if not points_ok(points):
                return Refused({"invalid_points"} | disabled)
            fixed = points
        settings_refusals = disabled | (
            {"over_limit"} if fen is not None and fen > self.limit_fen else set()
        )
        content = (kind, actor.terminal_id, card_no, fen, fixed, pin_value, method)
        if rid in self.claimed:
            claim = self.claimed[rid]
            if claim.content == content:
                return Replay(claim.voucher_no)
            return Refused({"request_id_reused"} | settings_refusals)
        if settings_refusals:
            return Refused(settings_refusals)
        card = self.cards.get(card_no)
        if card is None:
            return Refused({"card_not_found"})
        wrong = card.judge_use(pin_value, self.clock, self.pin_limit)
        if wrong:
            return Refused({wrong[0]}, wrong[1])
        if kind == "consume":
            paid = (fen * card.discount_pct + 50) // 100
            if card.balance < paid:
                return Refused({"insufficient_balance"})
            earned = paid * card.multiplier_pct // (100 * POINTS_UNIT_FEN)
            return Post(kind, card, -paid, earned, content, price_fen=fen)
        if kind == "recharge":
            return Post(kind, card, fen, 0, content, payment_method=method)
        if kind == "points_earn":
            if fen is not None:
                earned = fen * card.multiplier_pct // (100 * POINTS_UNIT_FEN)
                if earned == 0:
                    return Refused({"no_points"})
                return Post(kind, card, 0, earned, content, purchase_fen=fen)
            return Post(kind, card, 0, fixed, content)
        if card.points < fixed:
            return Refused({"insufficient_points"})
        return Post(kind, card, 0, -fixed, content)

    def judge_void(self, actor, voucher, password, rid, pin):
        pin_value, pin_well_formed = model_pin(pin)
        formats = set()
        if not digits(voucher, 1, 9):
            formats.add("bad_request")
        if not pin_well_formed:
            formats.add("invalid_pin")
        if not rid_ok(rid):
            formats.add("bad_request")
        if formats:
            return Refused(formats)
        refused = self.judge_supervisor(actor, password)
        if refused:
            return Refused({refused})
        number = int(voucher)
        content = ("void", actor.terminal_id, number, pin_value)
        if rid in self.claimed:
            claim = self.claimed[rid]
            return (
                Replay(claim.voucher_no)
                if claim.content == content
                else Refused({"request_id_reused"})
            )
        original = self.entries.get(number)
        # An operator sees (and voids) only the transactions of their own terminal, as a POS
        # holds only its own; the supervisor and the owner every terminal's.
        if original is None or (
            actor.role == "operator" and original.terminal_id != actor.terminal_id
        ):
            return Refused({"transaction_not_found"})
        if original.kind not in KINDS:
            return Refused({"not_voidable"})
        if original.status == "voided":
            return Refused({"already_voided"})
        if self.batch[original.terminal_id] != original.batch_no:
            return Refused({"batch_closed"})
        card = self.cards[original.card_no]
        # A void checks the PIN but not the card's status (ledger.void's docstring lists its
        # checks): a frozen or lost card's transaction can still be reversed.
        wrong = card.judge_use(pin_value, self.clock, self.pin_limit, check_status=False)
        if wrong:
            return Refused({wrong[0]}, wrong[1])
        if card.balance - original.amount_fen < 0 or card.points - original.points < 0:
            return Refused({"void_refused"})
        # The void row repeats what the original said it was for.
        return Post(
            "void",
            card,
            -original.amount_fen,
            -original.points,
            content,
            price_fen=original.price_fen,
            purchase_fen=original.purchase_fen,
            payment_method=original.payment_method,
            original=number,
        )

    def judge_supervisor(self, actor, password) -> str | None:
        """The supervisor's authorisation (the owner needs none). `password_attempt_limit`
        wrong passwords in a row lock it for 15 minutes of real time, longer than any example
        runs: from then on every authorisation is refused (`staff_locked`)."""
        if actor.role == "owner":
            return None
        if not isinstance(password, str) or not password:
            return "bad_request"
        if self.supervisor_failures >= self.supervisor_limit:
            return "staff_locked"
        if password == SUPERVISOR_PASSWORD:
            self.supervisor_failures = 0
            return None
        self.supervisor_failures += 1
        return "wrong_password"

    # ------------------------------------------------------------ sending requests

    def _transact(
        self, actor_i, kind, card_no, rid, amount=None, points=None, pin=None, method=None
    ):
        actor = self.actors[actor_i]
        expected = self.judge_transact(actor, kind, card_no, rid, amount, points, pin, method)
        call = dict(
            op="transact",
            actor_i=actor_i,
            kind=kind,
            card_no=card_no,
            amount=amount,
            points=points,
            pin=pin,
            method=method,
        )
        return self._run(
            expected,
            lambda: ledger.transact(
                actor,
                kind,
                card_no,
                request_id=rid,
                amount=amount,
                points=points,
                pin=pin,
                payment_method=method,
                now=self.clock,
            ),
            rid,
            call,
        )

    def _void(self, actor_i, voucher, password, rid, pin):
        actor = self.actors[actor_i]
        expected = self.judge_void(actor, voucher, password, rid, pin)
        call = dict(op="void", actor_i=actor_i, voucher=voucher, password=password, pin=pin)
        return self._run(
            expected,
            lambda: ledger.void(
                actor,
                voucher,
                supervisor_password=password,
                request_id=rid,
                pin=pin,
                now=self.clock,
            ),
            rid,
            call,
        )

    def _send(self, call: dict, rid: object):
        if call["op"] == "void":
            return self._void(call["actor_i"], call["voucher"], call["password"], rid, call["pin"])
        return self._transact(
            call["actor_i"],
            call["kind"],
            call["card_no"],
            rid,
            amount=call["amount"],
            points=call["points"],
            pin=call["pin"],
            method=call["method"],
        )

    # ------------------------------------------------------------ rules: the four transactions

    @rule(
        card=card_choices,
        amount=amounts,
        pin=pin_choices,
        rid=rid_choices,
        actor=actor_choices,
        salt=st.integers(0, 20),
    )
    def consume(self, card, amount, pin, rid, actor, salt):
        card_no = self._card(card, salt)
        self._transact(
            actor,
            "consume",
            card_no,
            self._rid(rid),
            amount=amount,
            pin=self._pin(card_no, pin, salt),
        )

    @rule(
        card=card_choices,
        amount=amounts,
        pin=pin_choices,
        rid=rid_choices,
        actor=actor_choices,
        method=method_choices,
        salt=st.integers(0, 20),
    )
    def recharge(self, card, amount, pin, rid, actor, method, salt):
        card_no = self._card(card, salt)
        self._transact(
            actor,
            "recharge",
            card_no,
            self._rid(rid),
            amount=amount,
            pin=self._pin(card_no, pin, salt),
            method=method,
        )

    @rule(
        card=card_choices,
        amount=amounts,
        pin=pin_choices,
        rid=rid_choices,
        actor=actor_choices,
        salt=st.integers(0, 20),
    )
    def points_earn_purchase(self, card, amount, pin, rid, actor, salt):
        card_no = self._card(card, salt)
        self._transact(
            actor,
            "points_earn",
            card_no,
            self._rid(rid),
            amount=amount,
            pin=self._pin(card_no, pin, salt),
        )

    @rule(
        card=card_choices,
        points=points_values,
        pin=pin_choices,
        rid=rid_choices,
        actor=actor_choices,
        salt=st.integers(0, 20),
    )
    def points_earn_points(self, card, points, pin, rid, actor, salt):
        card_no = self._card(card, salt)
        self._transact(
            actor,
            "points_earn",
            card_no,
            self._rid(rid),
            points=points,
            pin=self._pin(card_no, pin, salt),
        )

    @rule(
        card=card_choices,
        points=points_values,
        pin=pin_choices,
        rid=rid_choices,
        actor=actor_choices,
        salt=st.integers(0, 20),
    )
    def points_redeem(self, card, points, pin, rid, actor, salt):
        card_no = self._card(card, salt)
        self._transact(
            actor,
            "points_redeem",
            card_no,
            self._rid(rid),
            points=points,
            pin=self._pin(card_no, pin, salt),
        )

    @rule(card=st.sampled_from([GOLD, IMPORTED]), times=st.integers(1, 3), salt=st.integers(0, 5))
    def wrong_pins(self, card, times, salt):
        """A run of wrong or missing PINs on one card, to reach the lock often."""
        for i in range(times):
            pin = self._pin(card, "wrong" if (salt + i) % 3 else "missing")
            if (salt + i) % 2:
                self._transact(0, "consume", card, self._rid(), amount="1", pin=pin)
            else:
                self._query(0, card, pin)

    @rule(card=st.sampled_from(KNOWN_CARDS), what=st.sampled_from(["balance", "points", "both"]))
    def drain(self, card, what):
        """Spend (about) all of a card's balance or points, so that voiding an earlier recharge
        or award would take it below zero (`void_refused`)."""
        model = self.cards[card]
        if what in ("balance", "both") and model.balance > 0:
            price = min(model.balance * 100 // model.discount_pct, self.limit_fen)
            self._transact(
                0, "consume", card, self._rid(), amount=fen_text(price, 2), pin=model.pin
            )
        if what in ("points", "both") and model.points > 0:
            self._transact(
                0,
                "points_redeem",
                card,
                self._rid(),
                points=min(model.points, MAX_POINTS),
                pin=model.pin,
            )

    # ------------------------------------------------------------ rules: void and settle

    @rule(
        which=st.sampled_from(["open", "open", "any", "missing", "malformed"]),
        index=st.integers(0, 10**6),
        password=password_choices,
        pin=pin_choices,
        rid=rid_choices,
        actor=authorising_actors,
        salt=st.integers(0, 20),
    )
    def void(self, which, index, password, pin, rid, actor, salt):
        vouchers = list(self.entries)
        open_ones = [
            v
            for v, e in self.entries.items()
            if e.status == "success" and e.kind in KINDS and self.batch[e.terminal_id] == e.batch_no
        ]
        if which == "open" and open_ones:
            voucher = str(open_ones[index % len(open_ones)])
        elif which in ("open", "any") and vouchers:
            voucher = str(vouchers[index % len(vouchers)])
        elif which == "malformed":
            voucher = ["", "abc", "1234567890", "-1", " 1", 1][salt % 6]
        else:
            voucher = str(self.last_voucher + 1 + index % 1000)
        original = self.entries.get(int(voucher)) if digits(voucher, 1, 9) else None
        card_no = original.card_no if original else UNKNOWN
        self._void(
            actor, voucher, self._password(password), self._rid(rid), self._pin(card_no, pin, salt)
        )

    @rule(actor=actor_choices)
    def settle(self, actor):
        terminal_id = self.actors[actor].terminal_id
        batch_no = self.batch[terminal_id]
        totals = ledger.settle(self.actors[actor], now=self.clock)
        expected = {k: {"count": 0, "amount_fen": 0, "points": 0} for k in KINDS}
        voids = 0
        for entry in self.entries.values():
            if entry.terminal_id != terminal_id or entry.batch_no != batch_no:
                continue
            if entry.kind == "void":
                voids += 1
            elif entry.status == "success":
                row = expected[entry.kind]
                row["count"] += 1
                row["amount_fen"] += entry.amount_fen
                row["points"] += entry.points
        assert totals["batch_no"] == batch_no
        assert totals["types"] == expected
        assert totals["count"] == sum(row["count"] for row in expected.values())
        assert totals["void_count"] == voids
        self.batch[terminal_id] += 1
        self.settlements += 1

    # ------------------------------------------------------------ rules: replays

    @precondition(lambda self: self.claimed)
    @rule(
        index=st.integers(0, 10**6),
        change=st.sampled_from(
            ["none"] * 4
            + [
                "same_amount_other_text",
                "amount",
                "card",
                "pin",
                "terminal",
                "kind",
                "method",
                "voucher",
            ]
        ),
    )
    def replay(self, index, change):
        """An earlier request_id again: with the same content it answers the original and
        applies nothing; with other content it is refused (`request_id_reused`), unless the
        content only says the same thing another way ("90" and "90.00")."""
        rid = list(self.claimed)[index % len(self.claimed)]
        call = dict(self.claimed[rid].call)
        if change == "none":
            result = self._send(call, rid)
            assert result is not None and result.replayed
            return
        amount = call.get("amount")
        if change == "same_amount_other_text" and isinstance(amount, str):
            fen = model_amount(amount)
            call["amount"] = next(
                (t for t in (fen_text(fen, s) for s in (2, 1, 0)) if t != amount), amount
            )
        elif change == "amount" and isinstance(amount, str):
            call["amount"] = fen_text(min(model_amount(amount) + 1, LIMIT_FEN - 1), 2)
        elif change == "amount" and call.get("points") is not None:
            call["points"] = call["points"] % MAX_POINTS + 1
        elif change == "card" and call["op"] == "transact":
            call["card_no"] = KNOWN_CARDS[(KNOWN_CARDS.index(call["card_no"]) + 1) % 3]
            call["pin"] = self.cards[call["card_no"]].pin
        elif change == "pin":
            call["pin"] = "000000" if call["pin"] != "000000" else None
        elif change == "terminal":
            call["actor_i"] = 1 if call["actor_i"] != 1 else 0
        elif change == "kind" and call["op"] == "transact" and call["kind"] == "consume":
            call.update(kind="recharge", method="cash")
        elif change == "kind" and call["op"] == "transact" and call["kind"] == "recharge":
            call.update(kind="consume", method=None)
        elif change == "method" and call.get("method"):
            call["method"] = METHODS[(METHODS.index(call["method"]) + 1) % len(METHODS)]
        elif change == "voucher" and call["op"] == "void":
            call["voucher"] = str(int(call["voucher"]) + 1)
        self._send(call, rid)

    # ------------------------------------------------------------ rules: cards and the clock

    def _query(self, actor_i, card_no, pin):
        actor = self.actors[actor_i]
        pin_value, pin_well_formed = model_pin(pin)
        expected = None
        formats = set()
        if not digits(card_no, 8, 19):
            formats.add("invalid_card_no")
        if not pin_well_formed:
            formats.add("invalid_pin")
        card = self.cards.get(card_no)
        if formats:
            expected = Refused(formats)
        elif card is None:
            expected = Refused({"card_not_found"})
        else:
            wrong = card.judge_use(pin_value, self.clock, self.pin_limit)
            if wrong:
                expected = Refused({wrong[0]}, wrong[1])
        before = self._snapshot(with_pins=False)
        try:
            found = ledger.query(actor, card_no, pin, now=self.clock)
        except LedgerError as exc:
            assert isinstance(expected, Refused), f"query refused {exc.code!r}"
            assert exc.code in expected.codes, f"query refused {exc.code!r}; model: {expected}"
            if expected.attempts_left is not None:
                assert exc.details.get("attempts_left") == expected.attempts_left
            found = None
        else:
            assert expected is None, f"query answered; the model refuses: {expected}"
            assert (found.card_no, found.balance_fen, found.points) == (
                card.card_no,
                card.balance,
                card.points,
            )
        assert self._snapshot(with_pins=False) == before, "a query moved something"
        return found

    @rule(card=card_choices, pin=pin_choices, actor=actor_choices, salt=st.integers(0, 20))
    def query(self, card, pin, actor, salt):
        card_no = self._card(card, salt)
        self._query(actor, card_no, self._pin(card_no, pin, salt))

    @rule(
        card=card_choices,
        old=pin_choices,
        salt=st.integers(0, 20),
        new=st.sampled_from(["123456", "654321", "000000", "", None, "12345"]),
    )
    def change_pin(self, card, old, new, salt):
        card_no = self._card(card, salt)
        old_pin = self._pin(card_no, old, salt)
        old_value, old_ok = model_pin(old_pin)
        new_value, new_ok = model_pin(new)
        now = utcnow()  # change_pin reads the real clock
        model = self.cards.get(card_no)
        formats = set()
        if not digits(card_no, 8, 19):
            formats.add("invalid_card_no")
        if not (old_ok and new_ok):
            formats.add("invalid_pin")
        if formats:
            expected = Refused(formats)
        elif model is None:
            expected = Refused({"card_not_found"})
        else:
            expected = model.judge_use(old_value, now, self.pin_limit)
            expected = Refused({expected[0]}, expected[1]) if expected else None
        before = self._snapshot(with_pins=False)
        try:
            cards.change_pin(None, card_no, old_pin, new)
        except LedgerError as exc:
            assert isinstance(expected, Refused), f"change_pin refused {exc.code!r}"
            assert exc.code in expected.codes, f"change_pin refused {exc.code!r}; {expected}"
            assert self._snapshot(with_pins=False) == before
            if model is not None and model.locked_until is not None:
                # The lock began at the function's own utcnow(), a moment after ours.
                stored = Card.get(card_no=card_no).pin_locked_until
                assert abs(stored - model.locked_until) < timedelta(seconds=5)
                model.locked_until = stored
            return
        assert expected is None, f"change_pin accepted; the model refuses: {expected}"
        model.pin, model.failures, model.locked_until = new_value, 0, None

    @rule(
        card=card_choices,
        password=password_choices,
        actor=authorising_actors,
        salt=st.integers(0, 20),
    )
    def unlock_pin(self, card, password, actor, salt):
        card_no = self._card(card, salt)
        actor_obj = self.actors[actor]
        secret = self._password(password)
        if not digits(card_no, 8, 19):
            codes = {"invalid_card_no"}
        elif refused := self.judge_supervisor(actor_obj, secret):
            codes = {refused}
        elif card_no not in self.cards:
            codes = {"card_not_found"}
        else:
            codes = None
        before = self._snapshot(with_pins=True)
        try:
            cards.unlock_pin(actor_obj, card_no, secret)
        except LedgerError as exc:
            assert codes is not None and exc.code in codes, f"unlock refused {exc.code!r}"
            assert self._snapshot(with_pins=True) == before
            return
        assert codes is None, f"unlock accepted; the model refuses with {codes}"
        model = self.cards[card_no]
        model.failures, model.locked_until = 0, None

    @rule(
        card=card_choices,
        status=st.sampled_from(["active"] * 3 + ["frozen", "lost", "inactive", "gone"]),
        password=password_choices,
        actor=authorising_actors,
        salt=st.integers(0, 20),
    )
    def set_status(self, card, status, password, actor, salt):
        """Freeze, report lost, return to active (the supervisor authorises a return)."""
        card_no = self._card(card, salt)
        actor_obj = self.actors[actor]
        secret = self._password(password)
        model = self.cards.get(card_no)
        transition = (model.status, status) if model else None
        if not digits(card_no, 8, 19):
            codes = {"invalid_card_no"}
        elif status not in CARD_STATUSES:
            codes = {"bad_request"}
        elif model is None:
            codes = {"card_not_found"}
        elif transition not in STATUS_CHANGES:
            codes = {"invalid_status_change"}
        elif STATUS_CHANGES[transition] and (refused := self.judge_supervisor(actor_obj, secret)):
            codes = {refused}
        else:
            codes = None
        before = self._snapshot(with_pins=True)
        try:
            cards.set_status(actor_obj, card_no, status, secret)
        except LedgerError as exc:
            assert codes is not None and exc.code in codes, f"set_status refused {exc.code!r}"
            assert self._snapshot(with_pins=True) == before
            return
        assert codes is None, f"set_status accepted; the model refuses with {codes}"
        model.status = status

    @rule(
        limit=st.sampled_from([LIMIT_FEN] * 4 + [100_000, 2000]),
        disabled=st.sampled_from([None] * 5 + list(KINDS)),
        pin_limit=st.sampled_from([PIN_ATTEMPTS] * 4 + [5, 1]),
    )
    def change_settings(self, limit, disabled, pin_limit):
        """Now and then a smaller single limit, a type switched off, another PIN attempt limit
        (mostly the defaults come back)."""
        enabled = [kind for kind in KINDS if kind != disabled]
        shop_settings.update(
            {"single_limit_fen": limit, "enabled_types": enabled, "pin_attempt_limit": pin_limit}
        )
        self.limit_fen, self.enabled, self.pin_limit = limit, set(enabled), pin_limit

    @rule(minutes=st.sampled_from([1, 5, 10, 29, 30, 31, 45, 24 * 60]), seconds=st.integers(0, 59))
    def advance_clock(self, minutes, seconds):
        self.clock += timedelta(minutes=minutes, seconds=seconds)

    # ------------------------------------------------------------ after every step

    @invariant()
    def books_agree_with_the_model(self):
        rows = {
            row[0]: row[1:]
            for row in db.execute_sql(
                "SELECT card_no, balance_fen, points, pin_failures, pin_locked_until,"
                " pin_hash IS NOT NULL, status FROM card"
            )
        }
        assert set(rows) == set(self.cards)
        for card_no, model in self.cards.items():
            balance, points, failures, locked_until, has_pin, status = rows[card_no]
            assert status == model.status, card_no
            assert (balance, points) == (model.balance, model.points), card_no
            assert balance >= 0 and points >= 0 and model.balance >= 0 and model.points >= 0
            if isinstance(locked_until, str):  # (SQLite keeps times as text)
                locked_until = datetime.fromisoformat(locked_until)
            assert pin_view(failures, locked_until, self.clock) == pin_view(
                model.failures, model.locked_until, self.clock
            ), card_no
            assert bool(has_pin) == (model.pin is not None), card_no
        assert ledger.verify() == []
        assert self._one("SELECT COUNT(*) FROM journal") == self.journal_rows
        voided = {
            r[0] for r in db.execute_sql("SELECT voucher_no FROM journal WHERE status = 'voided'")
        }
        assert voided == {v for v, e in self.entries.items() if e.status == "voided"}
        terminals = {
            row[0]: (row[1], row[2])
            for row in db.execute_sql(
                "SELECT terminal_id, last_trace, batch_no FROM terminal WHERE kind = 'pos'"
            )
        }
        assert terminals == {t: (self.trace[t], self.batch[t]) for t in self.trace}
        # (the shop's counter on SQLite, the chain's sequence on PostgreSQL)
        assert ledger.last_voucher_no() == self.last_voucher
        assert self._one("SELECT COUNT(*) FROM settlement") == self.settlements


LedgerMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLedgerStateful = LedgerMachine.TestCase
