"""Cards and their holders: activation, binding, PINs and the wrong-PIN count, status.

Nothing here moves money or points (ledger.py does); the PIN check lives here because every
PIN-taking operation, money-moving or not, counts wrong PINs the same way.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from peewee import JOIN, fn

from ..store import runtime
from ..store.codes import CARD_STATUSES, GENDERS
from ..store.db import T, db, for_update, write
from ..store.models import NAMES_WITH_DIGITS, Card, Level
from ..store.runtime import utcnow
from . import audit
from . import settings as shop_settings
from .actors import CAN_EDIT_MEMBERS, Actor
from .errors import LedgerError
from .exports import unguard
from .formats import MAX_PAGE, SQL_INT_MAX, card_no_arg
from .money import AmountError, format_fen, parse_amount
from .staff import authorise_supervisor

PIN = re.compile(r"[0-9]{6}", re.ASCII)
PHONE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
EXTERNAL_NO = re.compile(r"[0-9A-Za-z]{1,32}", re.ASCII)
ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]|[0-9]{15}", re.ASCII)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

ACTIVATION_FIELDS = (
    "card_no",
    "external_no",
    "phone",
    "name",
    "gender",
    "birthday",
    "id_number",
    "level",
    "expires_on",
    "pin",
)


def refusable(fn: Callable[[], T]) -> T:
    """A write transaction in which a refusal still keeps what the PIN check wrote.

    Every PIN-taking operation counts a wrong PIN (and resets the count on a right one) even
    when the request is then refused for another reason; that count is the only thing a
    refused request may change. So the checks run first, writing nothing but the count, and
    the money moves afterwards inside a savepoint (`db.atomic()`), which a refusal undoes.
    """
    return write(fn, commit_on=(LedgerError,))


# ---------------------------------------------------------------- input formats


def pin_arg(value: object) -> str | None:
    """A PIN as sent: None or "" for none, else exactly 6 digits."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or PIN.fullmatch(value) is None:
        raise LedgerError("invalid_pin")
    return value


def _optional_text(value: object, pattern: re.Pattern, code: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise LedgerError(code)
    return value


def phone_arg(value: object) -> str | None:
    return _optional_text(value, PHONE, "invalid_phone")


def id_number_arg(value: object) -> str | None:
    number = _optional_text(value, ID_NUMBER, "invalid_id_number")
    if number is not None and len(number) == 18:
        total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
        if _ID_CHECK[total % 11] != number[17]:
            raise LedgerError("invalid_id_number", "身份证号码校验位不正确")
    return number


def date_arg(value: object, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value, re.ASCII):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            pass
        else:
            if day.year in runtime.YEARS:
                return day
    raise LedgerError("invalid_date", field=field)


_FIELD_LABELS = {"name": "姓名"}


def _text_arg(value: object, field: str, max_len: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_len or not value.strip():
        label = _FIELD_LABELS.get(field, field)
        raise LedgerError(
            "bad_request", f"{label}格式不正确（不能为空白，最多 {max_len} 个字符）", field=field
        )
    return value.strip()


# ---------------------------------------------------------------- PINs


def _digest(salt: str, pin: str) -> str:
    return hmac.new(runtime.pepper, f"{salt}:{pin}".encode(), hashlib.sha256).hexdigest()


def hash_pin(pin: str | None) -> tuple[str | None, str | None]:
    """(salt, keyed hash) for a PIN, or (None, None) for no PIN."""
    if pin is None:
        return None, None
    salt = secrets.token_hex(16)
    return salt, _digest(salt, pin)


def pin_locked(card: Card, now: datetime) -> bool:
    return card.pin_locked_until is not None and card.pin_locked_until > now


def _when(moment: datetime) -> str:
    return runtime.local(moment).isoformat(timespec="seconds")


def check_pin(card: Card, pin: str | None, now: datetime) -> None:
    """Judge a PIN and keep the count. Runs inside `refusable()`, so the count survives a refusal.

    A missing PIN on a card that has one is a wrong one. The limit-th wrong PIN in a row locks
    the PIN; while locked, every attempt answers `pin_locked`, right PIN or not.
    """
    if pin_locked(card, now):
        raise LedgerError("pin_locked", locked_until=_when(card.pin_locked_until))
    failures = card.pin_failures if card.pin_locked_until is None else 0
    if card.pin_hash is None or (
        pin is not None and hmac.compare_digest(_digest(card.pin_salt, pin), card.pin_hash)
    ):
        if card.pin_failures or card.pin_locked_until is not None:
            Card.update(pin_failures=0, pin_locked_until=None).where(Card.id == card.id).execute()
        return
    values = shop_settings.load()
    limit, minutes = values["pin_attempt_limit"], values["pin_lock_minutes"]
    failures += 1
    if failures >= limit:
        until = now + timedelta(minutes=minutes)
        Card.update(pin_failures=0, pin_locked_until=until).where(Card.id == card.id).execute()
        raise LedgerError("pin_locked", locked_until=_when(until))
    Card.update(pin_failures=failures, pin_locked_until=None).where(Card.id == card.id).execute()
    left = limit - failures
    raise LedgerError("wrong_pin", f"密码错误，还可以尝试 {left} 次", attempts_left=left)


# ---------------------------------------------------------------- finding cards


LOOKUP_FIELDS = ("card_no", "external_no", "phone")


@dataclass(frozen=True)
class Candidate:
    """A card an entry names, and by which of its numbers."""

    card: Card
    matched_by: str  # one of LOOKUP_FIELDS


def lookup(entry: object) -> list[Candidate]:
    """Every card an entry typed where a card is asked for names: by its card number, its
    external number (外卡号) or its bound phone, in that order, each card once. A member
    activated by phone is served by that phone; an entry that is one card's number and another
    card's phone names both, and the one who typed it chooses among them.

    Raises `bad_request` for an empty entry, `card_not_found` when it names no card."""
    if not isinstance(entry, str) or not entry.strip():
        raise LedgerError("bad_request", "请输入卡号、外卡号或手机号码")
    entry = entry.strip()
    found: dict[int, Candidate] = {}
    rows = (
        Card.select(Card, Level)
        .join(Level, JOIN.LEFT_OUTER)
        .where((Card.card_no == entry) | (Card.external_no == entry) | (Card.phone == entry))
    )
    for card in rows:
        by = next(name for name in LOOKUP_FIELDS if getattr(card, name) == entry)
        found[card.id] = Candidate(card, by)
    if not found:
        raise LedgerError("card_not_found", "卡号、外卡号或手机号码不存在")
    return sorted(found.values(), key=lambda c: LOOKUP_FIELDS.index(c.matched_by))


def find_card(key: object) -> Card:
    """A card by its card number, external number or bound phone, the first of `lookup` in
    that order (`card_not_found` else)."""
    return lookup(key)[0].card


# The card with its level's discount and multiplier (a card without a level: none, ×1).
# Every transaction reads it, so it is fixed SQL turned into a Card by the fields themselves
# (peewee's own query and row machinery cost six times what SQLite takes to answer).
_CARD_FIELDS = Card._meta.sorted_fields
_LOCKED_CARD = for_update(
    "SELECT "
    + ", ".join(f"card.{f.column_name}" for f in _CARD_FIELDS)
    + ", COALESCE(level.discount_pct, 100), COALESCE(level.points_multiplier_pct, 100)"
    " FROM card LEFT JOIN level ON level.id = card.level_id WHERE card.card_no = ?",
    "card",
)


def locked_card(card_no: str) -> Card:
    """The card and its level's `discount_pct` and `points_multiplier_pct`, read inside a
    write transaction (and locked where the database can)."""
    row = db.execute_sql(_LOCKED_CARD, (card_no,)).fetchone()
    if row is None:
        raise LedgerError("card_not_found")
    card = Card(**{f.name: f.python_value(v) for f, v in zip(_CARD_FIELDS, row, strict=False)})
    card.discount_pct, card.points_multiplier_pct = row[-2:]
    return card


def check_usable(card: Card, today: date) -> None:
    """Refuse a card that is not active or is past its expiry date."""
    if card.status != "active":
        raise LedgerError(f"card_{card.status}")
    if card.expires_on is not None and card.expires_on < today:
        raise LedgerError("card_expired")


def default_level() -> Level:
    return Level.select().order_by(Level.id).first()


def level_arg(value: object) -> Level:
    if value is None or value == "":
        return default_level()
    level = Level.get_or_none(Level.name == value) if isinstance(value, str) else None
    if level is None:
        raise LedgerError("level_not_found")
    return level


# ---------------------------------------------------------------- activation


def parse_activation(
    fields: dict, allow_past_expiry: bool = False, card_no_issued: bool = False
) -> dict:
    """Check the fields of 会员激活; returns the values to store. Raises on the first bad one.

    With `card_no_issued` the shop issues the card number at the write (`issue_card_no`), so
    the values carry none yet."""
    if not isinstance(fields, dict):
        raise LedgerError("bad_request")
    unknown = set(fields) - set(ACTIVATION_FIELDS)
    if unknown:
        raise LedgerError("bad_request", f"未知字段：{', '.join(sorted(unknown))}")
    gender = fields.get("gender")
    if gender not in (None, "", *GENDERS):
        raise LedgerError("bad_request", "性别只能是 male、female 或 secret", field="gender")
    birthday = date_arg(fields.get("birthday"), "birthday")
    today = runtime.shop_date(utcnow())
    if birthday is not None and birthday > today:
        raise LedgerError("invalid_date", "生日不能晚于今天", field="birthday")
    expires_on = date_arg(fields.get("expires_on"), "expires_on")
    if expires_on is not None and expires_on < today and not allow_past_expiry:
        raise LedgerError("invalid_date", "会员有效期已过", field="expires_on")
    return {
        "card_no": None if card_no_issued else card_no_arg(fields.get("card_no")),
        "external_no": _optional_text(fields.get("external_no"), EXTERNAL_NO, "bad_request"),
        "phone": phone_arg(fields.get("phone")),
        "name": _text_arg(fields.get("name"), "name", 40),
        "gender": gender or None,
        "birthday": birthday,
        "id_number": id_number_arg(fields.get("id_number")),
        "level": fields.get("level"),
        "expires_on": expires_on,
        "pin": pin_arg(fields.get("pin")),
    }


def activate(fields: dict, actor: Actor | None = None, activation_type: str = "card_no") -> Card:
    """Activate a card (会员激活): a new card, or one of the shop's stock still inactive.

    `activation_type` (激活类型) is what the member is known by. "card_no": a card of ours,
    its number in `fields`. "external_no" or "phone": a member with no card of ours yet, so
    that field is required, `card_no` must be left empty, and the shop issues the card
    number itself (`issue_card_no`); the member is then found by any of the three.
    """
    if activation_type not in ACTIVATION_TYPES:
        raise LedgerError("bad_request", "激活类型不正确", field="activation_type")
    issued = activation_type != "card_no"
    if issued and isinstance(fields, dict):
        if fields.get("card_no"):
            raise LedgerError("bad_request", "卡号由系统生成，请留空", field="card_no")
        if not fields.get(activation_type):
            raise LedgerError("bad_request", _KEY_REQUIRED[activation_type], field=activation_type)
    values = parse_activation(fields, card_no_issued=issued)

    def apply() -> Card:
        row = {**values, "card_no": issue_card_no()} if issued else values
        card = activate_parsed(row)
        details = {"level": card.level.name}
        if issued:
            details["activation_type"] = activation_type
        audit.record(actor, "card.activate", card.card_no, **details)
        return card

    return write(apply)


ACTIVATION_TYPES = ("card_no", "external_no", "phone")
_KEY_REQUIRED = {"external_no": "按外卡号激活须填写外卡号", "phone": "按手机号码激活须填写手机号码"}
ISSUED_PREFIX = "8"
ISSUED_LENGTH = 16


def issue_card_no() -> str:
    """A card number the shop issues itself, for a member activated by external number or
    phone: "8" and 15 random digits, 16 in all like the seeds' card numbers, no check digit
    (theirs have none either).

    Random, not sequential: a member's number tells nothing of how many members there are
    and does not lead to the next one's. Runs inside the write transaction that stores the
    card (the only writer), so no one can take the number between the check and the insert;
    a number already in use (one in 10^15 per card) is simply drawn again.
    """
    if not db.in_transaction():
        raise RuntimeError("issue_card_no() runs inside the write that stores the card")
    while True:
        digits = ISSUED_LENGTH - len(ISSUED_PREFIX)
        number = ISSUED_PREFIX + f"{secrets.randbelow(10**digits):0{digits}d}"
        if not Card.select().where(Card.card_no == number).exists():
            return number


def activate_parsed(values: dict) -> Card:
    """The write half of `activate`, for a caller already inside a write transaction."""
    level = level_arg(values["level"])
    card = Card.get_or_none(Card.card_no == values["card_no"])
    if card is not None and card.status != "inactive":
        raise LedgerError("card_exists")
    _check_unique(card, values["phone"], values["external_no"])
    salt, pin_hash = hash_pin(values["pin"])
    row = {
        **{k: values[k] for k in ("external_no", "phone", "name", "gender", "birthday")},
        "id_number": values["id_number"],
        "expires_on": values["expires_on"],
        "level": level,
        "pin_salt": salt,
        "pin_hash": pin_hash,
        "status": "active",
        "activated_at": utcnow(),
    }
    if card is None:
        return Card.create(card_no=values["card_no"], **row)
    Card.update(**row).where(Card.id == card.id, Card.status == "inactive").execute()
    return Card.get_by_id(card.id)


def _check_unique(card: Card | None, phone: str | None, external_no: str | None) -> None:
    own = card.id if card is not None else 0
    if phone and Card.select().where(Card.phone == phone, Card.id != own).exists():
        raise LedgerError("phone_taken")
    if external_no and (
        Card.select().where(Card.external_no == external_no, Card.id != own).exists()
    ):
        raise LedgerError("external_no_taken")


# ---------------------------------------------------------------- holder changes


_UNSET = object()


def bind(
    actor: Actor | None,
    card_no: object,
    pin: object,
    phone: object = _UNSET,
    id_number: object = _UNSET,
) -> Card:
    """Bind a phone or an ID number to a card (卡号绑定); an empty phone unbinds it. The change
    is audited (card.bind) with each number before and after."""
    card_no = card_no_arg(card_no)
    pin = pin_arg(pin)
    changes = {}
    if phone is not _UNSET:
        changes["phone"] = phone_arg(phone)
    if id_number is not _UNSET:
        changes["id_number"] = id_number_arg(id_number)
    if not changes:
        raise LedgerError("bad_request")
    now = utcnow()

    def apply() -> Card:
        card = locked_card(card_no)
        check_usable(card, runtime.shop_date(now))
        check_pin(card, pin, now)
        if changes.get("phone"):
            _check_unique(card, changes["phone"], None)
        Card.update(**changes).where(Card.id == card.id).execute()
        _audit_changes(actor, "card.bind", card, changes)
        return Card.get_by_id(card.id)

    return refusable(apply)


def _audit_changes(actor: Actor | None, action: str, card: Card, changes: dict) -> None:
    """An audit row of what changed on a card, each field {"from", "to"}; none if nothing did."""
    changed = {
        key: {"from": _audited(getattr(card, key)), "to": _audited(value)}
        for key, value in changes.items()
        if _audited(getattr(card, key)) != _audited(value)
    }
    if changed:
        audit.record(actor, action, card.card_no, **changed)


def _audited(value: object) -> object:
    """A card's field as the audit log keeps it: a level by its name, a date as ISO text."""
    if isinstance(value, Level):
        return value.name
    if isinstance(value, date):
        return value.isoformat()
    return value


def change_pin(actor: Actor | None, card_no: object, old_pin: object, new_pin: object) -> None:
    """Change a PIN (修改密码): the old PIN is the proof. An empty new PIN removes it. Audited
    (card.pin_change) with whether the card had a PIN and has one now; never the PIN."""
    card_no = card_no_arg(card_no)
    old_pin, new_pin = pin_arg(old_pin), pin_arg(new_pin)
    now = utcnow()

    def apply() -> None:
        card = locked_card(card_no)
        check_usable(card, runtime.shop_date(now))
        check_pin(card, old_pin, now)
        _store_pin(card, new_pin)
        audit.record(
            actor, "card.pin_change", card_no, had_pin=card.has_pin, pin_set=new_pin is not None
        )

    refusable(apply)


def reset_pin(actor: Actor, card_no: object, new_pin: object, supervisor_password: object) -> None:
    """Reset a PIN without the old one (密码重置): staff confirm the holder; the supervisor
    authorises. Clears a PIN lock too."""
    card_no = card_no_arg(card_no)
    new_pin = pin_arg(new_pin)
    authorise_supervisor(actor, supervisor_password)

    def apply() -> None:
        card = locked_card(card_no)
        if card.status == "inactive":
            raise LedgerError("card_inactive")
        _store_pin(card, new_pin)
        audit.record(actor, "card.pin_reset", card_no, pin_set=new_pin is not None)

    write(apply)


def unlock_pin(actor: Actor, card_no: object, supervisor_password: object) -> None:
    card_no = card_no_arg(card_no)
    authorise_supervisor(actor, supervisor_password)

    def apply() -> None:
        card = locked_card(card_no)
        if card.status == "inactive":
            raise LedgerError("card_inactive")
        Card.update(pin_failures=0, pin_locked_until=None).where(Card.id == card.id).execute()
        audit.record(actor, "card.pin_unlock", card_no)

    write(apply)


def _store_pin(card: Card, pin: str | None) -> None:
    salt, pin_hash = hash_pin(pin)
    Card.update(pin_salt=salt, pin_hash=pin_hash, pin_failures=0, pin_locked_until=None).where(
        Card.id == card.id
    ).execute()


MEMBER_FIELDS = ("name", "gender", "birthday", "id_number", "level", "expires_on")


def update_member(actor: Actor | None, card_no: object, fields: dict) -> tuple[Card, list[str]]:
    """Change a member's details after activation (修改会员资料): any of MEMBER_FIELDS, checked
    as activation checks them; "" or None clears one, but for the level, which must name one.
    An expiry may not be moved into the past (one already past may stay as it is). Each field
    that changes is audited (card.update) with its value before and after.

    Returns the card as it is now and the names of the fields that changed (none: nothing was
    written). Who may: CAN_EDIT_MEMBERS (no actor: the box's own commands)."""
    if actor is not None and actor.role not in CAN_EDIT_MEMBERS:
        raise LedgerError("not_permitted")
    card_no = card_no_arg(card_no)
    if not isinstance(fields, dict) or not fields:
        raise LedgerError("bad_request", "请填写要修改的会员资料")
    unknown = set(fields) - set(MEMBER_FIELDS)
    if unknown:
        raise LedgerError("bad_request", f"未知字段：{', '.join(sorted(unknown))}")
    values = {}
    today = runtime.shop_date(utcnow())
    if "name" in fields:
        values["name"] = _text_arg(fields["name"], "name", 40)
    if "gender" in fields:
        if fields["gender"] not in (None, "", *GENDERS):
            raise LedgerError("bad_request", "性别只能是 male、female 或 secret", field="gender")
        values["gender"] = fields["gender"] or None
    if "birthday" in fields:
        values["birthday"] = date_arg(fields["birthday"], "birthday")
        if values["birthday"] is not None and values["birthday"] > today:
            raise LedgerError("invalid_date", "生日不能晚于今天", field="birthday")
    if "id_number" in fields:
        values["id_number"] = id_number_arg(fields["id_number"])
    if "expires_on" in fields:
        values["expires_on"] = date_arg(fields["expires_on"], "expires_on")
    if "level" in fields and not (isinstance(fields["level"], str) and fields["level"]):
        raise LedgerError("bad_request", "请选择会员等级", field="level")

    def apply() -> tuple[Card, list[str]]:
        card = get_card(card_no)
        if card.status == "inactive":
            raise LedgerError("card_inactive")
        if "level" in fields:
            values["level"] = level_arg(fields["level"])
        moved = values.get("expires_on", card.expires_on)
        if moved != card.expires_on and moved is not None and moved < today:
            raise LedgerError("invalid_date", "会员有效期已过", field="expires_on")
        changed = [k for k, v in values.items() if _audited(getattr(card, k)) != _audited(v)]
        if changed:
            Card.update(**{k: values[k] for k in changed}).where(Card.id == card.id).execute()
            _audit_changes(actor, "card.update", card, values)
        return get_card(card_no), changed

    return write(apply)


# Which status a card may go to from which, and whether the supervisor must authorise it.
_TRANSITIONS = {
    ("active", "frozen"): False,
    ("active", "lost"): False,
    ("frozen", "lost"): False,
    ("frozen", "active"): True,
    ("lost", "active"): True,
}


def set_status(
    actor: Actor, card_no: object, status: object, supervisor_password: object = None
) -> Card:
    """Freeze, report lost, or return to active (冻结 / 挂失 / 解挂)."""
    card_no = card_no_arg(card_no)
    if status not in CARD_STATUSES:
        raise LedgerError("bad_request", "卡状态只能是 active、frozen 或 lost")
    card = Card.get_or_none(Card.card_no == card_no)
    if card is None:
        raise LedgerError("card_not_found")
    needs_supervisor = _TRANSITIONS.get((card.status, status))
    if needs_supervisor is None:
        raise LedgerError("invalid_status_change", current_status=card.status)
    if needs_supervisor:
        authorise_supervisor(actor, supervisor_password)

    def apply() -> Card:
        changed = (
            Card.update(status=status)
            .where(Card.id == card.id, Card.status == card.status)
            .execute()
        )
        if changed != 1:  # someone else changed it since we read it
            raise LedgerError("invalid_status_change")
        audit.record(actor, "card.status", card_no, status=status, was=card.status)
        return Card.get_by_id(card.id)

    return write(apply)


# ---------------------------------------------------------------- import


IMPORT_COLUMNS = (
    "card_no", "external_no", "phone", "name", "gender", "birthday", "id_number", "level",
    "expires_on", "pin", "balance", "points",
)  # fmt: skip
# What the pages call the file's columns (the file keeps its English header).
IMPORT_COLUMN_NAMES = {
    "card_no": "卡号", "external_no": "外卡号", "phone": "手机号码", "name": "姓名",
    "gender": "性别", "birthday": "生日", "id_number": "身份证", "level": "会员等级",
    "expires_on": "会员有效期", "pin": "密码", "balance": "余额", "points": "积分",
}  # fmt: skip
MAX_IMPORT_POINTS = 1_000_000_000


class ImportProblem(NamedTuple):
    line: int
    message: str
    column: str | None = None  # of IMPORT_COLUMNS; None: the line as a whole


class ImportRefused(Exception):
    """A file with bad lines: every problem of every line. Nothing from it was imported."""

    def __init__(self, problems: list[ImportProblem]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def parse_import(text: str) -> list[dict]:
    """Check a whole members CSV (the import-cards format) and return its rows ready for
    ledger.import_cards; raise ImportRefused listing every problem of every line."""

    problems: list[ImportProblem] = []
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != IMPORT_COLUMNS:
        raise ImportRefused([ImportProblem(1, "表头必须是 " + ",".join(IMPORT_COLUMNS))])
    rows, seen = [], {"card_no": {}, "phone": {}, "external_no": {}}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(IMPORT_COLUMNS):
            problems.append(
                ImportProblem(line, f"应有 {len(IMPORT_COLUMNS)} 列，实有 {len(cells)} 列")
            )
            continue
        raw = {k: unguard(v.strip()) for k, v in zip(IMPORT_COLUMNS, cells, strict=True)}
        values, found = _import_line(raw)
        problems.extend(ImportProblem(line, message, column) for column, message in found)
        if values is None:
            continue
        duplicate = False
        for key in seen:
            if values[key] and values[key] in seen[key]:
                problems.append(ImportProblem(line, f"与第 {seen[key][values[key]]} 行重复", key))
                duplicate = True
            elif values[key]:
                seen[key][values[key]] = line
        if not duplicate:
            rows.append(values)
    if problems:
        raise ImportRefused(problems)
    return rows


def _import_line(raw: dict[str, str]) -> tuple[dict | None, list[tuple[str, str]]]:
    """One line's values, or every problem in it as (column, message): each column is checked
    on its own, by the rules of 会员激活, so that one bad cell hides no other."""
    found: list[tuple[str, str]] = []

    def check(column: str, rule: Callable[[], T]) -> T | None:
        try:
            return rule()
        except AmountError:
            found.append((column, "余额格式不正确"))
        except LedgerError as exc:
            found.append((column, exc.message))
        return None

    check("card_no", lambda: card_no_arg(raw["card_no"]))
    for column in ACTIVATION_FIELDS[1:]:
        # That one field through parse_activation: the card number aside, all are optional.
        check(
            column,
            lambda c=column: parse_activation(
                {c: raw[c]}, allow_past_expiry=True, card_no_issued=True
            ),
        )
    check("level", lambda: level_arg(raw["level"]))
    balance = check("balance", lambda: _import_balance(raw["balance"]))
    points = check("points", lambda: _import_points(raw["points"]))
    if found:
        return None, sorted(found, key=lambda problem: IMPORT_COLUMNS.index(problem[0]))
    values = parse_activation({k: raw[k] for k in ACTIVATION_FIELDS}, allow_past_expiry=True)
    values["balance_fen"], values["points"] = balance, points
    existing = Card.get_or_none(Card.card_no == values["card_no"])
    if existing is not None and existing.status != "inactive":
        found.append(("card_no", LedgerError("card_exists").message))
    check("phone", lambda: _check_unique(existing, values["phone"], None))
    check("external_no", lambda: _check_unique(existing, None, values["external_no"]))
    return (None, found) if found else (values, [])


def _import_balance(value: str) -> int:
    if value and value.strip("0.") != "":
        return parse_amount(value)
    return 0


def _import_points(value: str) -> int:
    if value and (not value.isascii() or not value.isdigit() or int(value) > MAX_IMPORT_POINTS):
        raise LedgerError("invalid_points", "积分必须是非负整数")
    return int(value or 0)


def decode_import(data: bytes) -> str:
    """An uploaded members CSV as text: UTF-8, with or without a BOM (Excel's "CSV UTF-8"
    writes one), and not empty."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise LedgerError(
            "bad_request", "文件不是 UTF-8 编码的文本，请另存为“CSV UTF-8”后再上传", field="file"
        ) from None
    if not text.strip():
        raise LedgerError("bad_request", "文件是空的", field="file")
    return text


@dataclass(frozen=True)
class ImportPreview:
    """What an import would do, before anything is written."""

    lines: list[tuple[int, list[str]]]  # every data line as written: (line number, cells)
    problems: list[ImportProblem]  # none: the file can be imported
    rows: list[dict]  # the checked rows for ledger.import_cards (none while there are problems)


def preview_import(text: str) -> ImportPreview:
    """Check a members CSV as `parse_import` does, and keep its lines to show beside the
    problems. Writes nothing."""

    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    next(reader, None)
    lines = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    try:
        return ImportPreview(lines, [], parse_import(text))
    except ImportRefused as refused:
        return ImportPreview(lines, refused.problems, [])


def export_rows(actor: Actor | None = None) -> Iterator[list]:
    """Every activated card in the import format (IMPORT_COLUMNS), so that an export can be
    imported into another shop: the PIN column is empty (only its hash is kept), the balance
    is in yuan with two decimals. The format has no status: a frozen or lost card would be
    imported as active. The export of members' personal data is audited (card.export)."""

    query = (
        Card.select(Card, Level)
        .join(Level, JOIN.LEFT_OUTER)
        .where(Card.status != "inactive")
        .order_by(Card.id)
    )
    write(lambda: audit.record(actor, "card.export", None, cards=query.count()))
    for card in query.iterator():
        yield [
            card.card_no, card.external_no or "", card.phone or "", card.name or "",
            card.gender or "", _iso(card.birthday), card.id_number or "",
            card.level.name if card.level_id else "", _iso(card.expires_on), "",
            format_fen(card.balance_fen), card.points,
        ]  # fmt: skip


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


# ---------------------------------------------------------------- the member list


def get_card(card_no: object) -> Card:
    """A card by its own number (with its level), else `invalid_card_no` / `card_not_found`."""
    card = (
        Card.select(Card, Level)
        .join(Level, JOIN.LEFT_OUTER)
        .where(Card.card_no == card_no_arg(card_no))
        .get_or_none()
    )
    if card is None:
        raise LedgerError("card_not_found")
    return card


MAX_PAGE_SIZE = 200


def search(
    text: str | None = None,
    level_name: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Card], int]:
    """The member list (会员), newest first, one page of it, and how many cards match in all.

    `text` is a card number, an external number or a phone (whole), or part of a name.
    """
    if status not in (None, "", *CARD_STATUSES):
        raise LedgerError("bad_request", "卡状态不正确", field="status")
    if type(page) is not int or not 1 <= page <= MAX_PAGE or not 1 <= per_page <= MAX_PAGE_SIZE:
        raise LedgerError("bad_request", "分页参数不正确")
    query = Card.select(Card, Level).join(Level, JOIN.LEFT_OUTER)
    text = (text or "").strip()
    if text:
        query = query.where(Card.id.in_(_matching(text)))
    if level_name:
        query = query.where(Card.level == level_arg(level_name))
    if status:
        query = query.where(Card.status == status)
    total = query.count()
    rows = list(query.order_by(Card.id.desc()).paginate(page, per_page))
    return rows, total


def _matching(text: str):
    """The ids of the cards whose card number, external number or phone is `text`, or whose
    name holds it: each by its own index (an OR of them all would read every card). A text
    with a digit in it can only be in a name that has one: those few have an index of their
    own (models.NAMES_WITH_DIGITS), so a phone or a card number reads no other name."""
    in_name = Card.name.contains(text)
    if any(c.isdigit() for c in text):
        in_name &= NAMES_WITH_DIGITS
    by_number = [Card.card_no == text, Card.external_no == text, Card.phone == text]
    found = [Card.select(Card.id).where(condition) for condition in (*by_number, in_name)]
    return found[0] | found[1] | found[2] | found[3]


# ---------------------------------------------------------------- levels (会员等级)


LEVEL_NAME_MAX = 20
_LEVEL_NUMBERS = {
    # field: (lowest, highest, message)
    "discount_pct": (1, 100, "折扣必须是 1 到 100 之间的整数（100 为不打折）"),
    "points_multiplier_pct": (0, 10000, "积分倍率必须是 0 到 10000 之间的整数（100 为 1 倍）"),
}


def level_names() -> list[str]:
    """The member levels' names in the order they were made: what a form offers, without
    counting every card as `levels` does."""
    return [name for (name,) in Level.select(Level.name).order_by(Level.id).tuples()]


def levels() -> list[Level]:
    """Every member level in the order they were made, each with `card_count`: how many
    activated cards are at it."""
    counted = (Card.level == Level.id) & (Card.status != "inactive")
    return list(
        Level.select(Level, fn.COUNT(Card.id).alias("card_count"))
        .join(Card, JOIN.LEFT_OUTER, on=counted)
        .group_by(Level.id)
        .order_by(Level.id)
    )


def _level_name(value: object) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(name) <= LEVEL_NAME_MAX:
        raise LedgerError("bad_request", f"等级名称须为 1 到 {LEVEL_NAME_MAX} 个字", field="name")
    return name


def _level_number(field: str, value: object) -> int:
    low, high, message = _LEVEL_NUMBERS[field]
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) <= 6 else None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LedgerError("invalid_setting", message, field=field, setting=field)
    return value


def _name_free(name: str, own_id: int = 0) -> None:
    if Level.select().where(Level.name == name, Level.id != own_id).exists():
        raise LedgerError("level_exists", field="name")


def create_level(
    actor: Actor | None,
    name: object,
    discount_pct: object = 100,
    points_multiplier_pct: object = 100,
) -> Level:
    """A new member level: its name (1–20 characters, unique), the discount a consume gets
    (88 = pay 88 %) and the points multiplier (150 = ×1.5)."""
    name = _level_name(name)
    discount = _level_number("discount_pct", discount_pct)
    multiplier = _level_number("points_multiplier_pct", points_multiplier_pct)

    def apply() -> Level:
        _name_free(name)
        level = Level.create(name=name, discount_pct=discount, points_multiplier_pct=multiplier)
        audit.record(
            actor, "level.create", name, discount_pct=discount, points_multiplier_pct=multiplier
        )
        return level

    return write(apply)


def update_level(actor: Actor | None, level: int | str, **changes: object) -> Level:
    """Rename a level or change its discount or points multiplier (the keyword arguments of
    `create_level`). Its cards keep it: what they get changes with it."""
    unknown = set(changes) - {"name", *_LEVEL_NUMBERS}
    if unknown:
        raise LedgerError("bad_request", f"未知字段：{', '.join(sorted(unknown))}")
    values = {
        key: _level_name(value) if key == "name" else _level_number(key, value)
        for key, value in changes.items()
    }

    def apply() -> Level:
        if isinstance(level, int) and not isinstance(level, bool):
            # A number beyond SQLite's INTEGER names no level (and must not reach the query).
            found = Level.get_or_none(Level.id == level) if 0 < level <= SQL_INT_MAX else None
        else:
            found = Level.get_or_none(Level.name == level) if isinstance(level, str) else None
        if found is None:
            raise LedgerError("level_not_found")
        changed = {k: v for k, v in values.items() if getattr(found, k) != v}
        if not changed:
            return found
        if "name" in changed:
            _name_free(changed["name"], found.id)
        Level.update(**changed).where(Level.id == found.id).execute()
        audit.record(
            actor, "level.update", found.name,
            **{k: {"from": getattr(found, k), "to": v} for k, v in changed.items()},
        )  # fmt: skip
        return Level.get_by_id(found.id)

    return write(apply)
