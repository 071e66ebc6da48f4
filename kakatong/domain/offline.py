"""离线交易 (the POS manual's section 6): what a terminal needs to sell while it cannot reach the
server, the upload of what it sold, applied exactly once, and 离线对账 for what failed.

While online a terminal fetches `terminal_config` (its offline switches and limits, the cards
it may not take, the public key it seals PINs to) and reserves offline trace numbers
(`reserve_traces`). Offline it keeps each sale in the browser with its terminal ID and an
offline trace number. Back online it uploads them one by one (`upload`): an idempotent request
keyed by terminal and offline trace number, judged by the ledger's rules as of the upload and
posted into the terminal's open batch with the sale's own time. A refused one is kept as
`failed`, never sent again by the terminal, and the back office resolves it (`retry`,
`record_paid_other`, `write_off`), each in the audit log.

A PIN typed offline is sealed at once in the browser (`seal` is the same in Python): ECDH on
P-256 with a new key per PIN, HKDF-SHA256, AES-256-GCM, bound to the terminal, the offline
trace number, the card and what was sold (`sealed_for`). Only the server's private key opens
it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..store import runtime
from ..store.codes import OFFLINE_STATUSES, OFFLINE_TYPES, PAYMENT_METHODS
from ..store.db import db, sql, write
from ..store.models import Card, OfflineUpload, Staff, Terminal
from ..store.runtime import utcnow
from . import audit, ledger
from . import settings as shop_settings
from .actors import CAN_RECONCILE, CAN_TRANSACT, Actor
from .cards import pin_arg, refusable
from .errors import ERRORS, LedgerError
from .formats import SQL_INT_MAX, TERMINAL_ID, card_no_arg, int_arg
from .money import format_fen

# A sale time ahead of the server's by more than this is refused: the terminal's clock is wrong.
CLOCK_SKEW = timedelta(minutes=5)
# Offline trace numbers handed to a terminal at a time; it asks for more while online.
TRACE_BLOCK = 100
SEAL_INFO = b"kakatong offline pin v1"
SEAL_PREFIX = "v1."
MAX_NOTE = 200


# ---------------------------------------------------------------- sealing the PIN


@cache
def _private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the offline sealing key is not an EC key")
    return key


def public_key() -> str:
    """The key terminals seal offline PINs to: SubjectPublicKeyInfo (DER), base64."""
    der = (
        _private_key(runtime.sealing_key)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


SEALED_FIELDS = (
    "terminal_id", "offline_trace_no", "card_no", "type", "amount", "points", "service_code",
    "sold_at",
)  # fmt: skip


def sealed_for(sale: dict) -> bytes:
    """What a sealed PIN is bound to (AES-GCM's associated data): the sale as the member
    confirmed it, its fields as sent joined by colons ("" for one not sent). A PIN sealed
    for one sale opens for no other, nor for this one changed (another amount, card, time)."""
    return ":".join(
        "" if sale.get(name) is None else str(sale[name]) for name in SEALED_FIELDS
    ).encode()


def _aes_key(shared: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO).derive(shared)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(pin: str, public_key_b64: str, bound_to: bytes) -> str:
    """Seal a PIN as the terminal page does (static/terminal/offline-store.js): for tests and
    for other clients of the upload API."""
    server = serialization.load_der_public_key(base64.b64decode(public_key_b64))
    if not isinstance(server, ec.EllipticCurvePublicKey):
        raise ValueError("not an EC public key")
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    key = _aes_key(ephemeral.exchange(ec.ECDH(), server))
    iv = os.urandom(12)
    sealed = AESGCM(key).encrypt(iv, pin.encode(), bound_to)
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return SEAL_PREFIX + ".".join(_b64(part) for part in (point, iv, sealed))


def unseal(sealed: str, bound_to: bytes) -> str:
    """The PIN a terminal sealed; `pin_unreadable` for anything that does not open with this
    server's key for this sale (another server's key, another sale's, a changed byte)."""
    try:
        if not sealed.startswith(SEAL_PREFIX):
            raise ValueError("unknown seal")
        point, iv, data = (_unb64(part) for part in sealed[len(SEAL_PREFIX) :].split("."))
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        shared = _private_key(runtime.sealing_key).exchange(ec.ECDH(), ephemeral)
        pin = AESGCM(_aes_key(shared)).decrypt(iv, data, bound_to).decode()
    except (ValueError, InvalidTag, UnicodeDecodeError):
        raise LedgerError("pin_unreadable") from None
    return pin


# ---------------------------------------------------------------- while online


def _terminal_actor(actor: Actor) -> None:
    if actor.role not in CAN_TRANSACT:
        raise LedgerError("not_permitted")
    if actor.terminal_pk is None:
        raise LedgerError("terminal_required")


def blocked_cards(today: datetime | None = None) -> list[dict]:
    """The cards a terminal may not take offline: every card not active (`inactive`, `frozen`,
    `lost`), and the active ones whose expiry date is today or tomorrow (`expired` from the
    day after it: the terminal judges it by its own date)."""
    day = runtime.shop_date(today or utcnow())
    rows = (
        Card.select(Card.card_no, Card.status, Card.expires_on)
        .where(
            (Card.status != "active")
            | (Card.expires_on.is_null(False) & (Card.expires_on <= day + timedelta(days=1)))
        )
        .order_by(Card.card_no)
    )
    listed = []
    for card in rows.iterator():
        if card.status != "active":
            listed.append({"card_no": card.card_no, "reason": card.status, "from": None})
        else:
            after = card.expires_on + timedelta(days=1)
            listed.append({"card_no": card.card_no, "reason": "expired", "from": after.isoformat()})
    return listed


def terminal_config(actor: Actor, now: datetime | None = None) -> dict:
    """What the terminal keeps for selling offline: which offline types are on, its limits,
    how long a sign-in may be reused offline, the cards it may not take, the key it seals
    PINs to, and the server's time (the terminal compares its clock)."""
    _terminal_actor(actor)
    now = now or utcnow()
    values = shop_settings.load()
    return {
        "types": values["offline_types"],
        "single_limit_fen": values["offline_single_limit_fen"],
        "card_total_fen": values["offline_card_total_fen"],
        "card_count": values["offline_card_count"],
        "signin_hours": values["offline_signin_hours"],
        "max_age_days": values["offline_max_age_days"],
        "blocked": blocked_cards(now),
        "public_key": public_key(),
        "server_time": runtime.local(now).isoformat(timespec="seconds"),
    }


_RESERVE = sql(
    "UPDATE terminal SET offline_trace_next = offline_trace_next + ?"
    " WHERE id = ? AND offline_trace_next + ? <= ? RETURNING offline_trace_next"
)


def reserve_traces(actor: Actor, count: object = TRACE_BLOCK) -> tuple[int, int]:
    """Hand the actor's terminal the next `count` offline trace numbers (first, last), never
    handed out before: the terminal numbers its offline sales from them."""
    _terminal_actor(actor)
    # A JSON integer: int_arg would also take the digits of a query string.
    count = int_arg(count if type(count) is int else None, "count", 1, 1000)

    def apply() -> tuple[int, int]:
        (first,) = db.execute_sql(
            _RESERVE, (count, actor.terminal_pk, count, SQL_INT_MAX)
        ).fetchone() or (None,)
        if first is None:
            raise LedgerError("bad_request", "离线流水号已用尽")
        return first - count, first - 1

    return write(apply)


# ---------------------------------------------------------------- the upload


@dataclass(frozen=True)
class Uploaded:
    """An upload's outcome: just judged, or found again (`replayed`)."""

    row: OfflineUpload
    replayed: bool = False


ITEM_FIELDS = (
    "terminal_id",
    "offline_trace_no",
    "type",
    "card_no",
    "amount",
    "points",
    "service_code",
    "operator_no",
    "sold_at",
    "sealed_pin",
)


def _key(actor: Actor, item: object) -> tuple[dict, int]:
    """The upload's key, checked before anything is kept: a JSON object of the known fields,
    for the actor's own terminal, with a whole offline trace number."""
    if not isinstance(item, dict):
        raise LedgerError("bad_request")
    unknown = sorted(set(item) - set(ITEM_FIELDS))
    if unknown:
        raise LedgerError("bad_request", f"未知字段：{', '.join(unknown)}", fields=unknown)
    terminal_id = item.get("terminal_id")
    if not isinstance(terminal_id, str) or TERMINAL_ID.fullmatch(terminal_id) is None:
        raise LedgerError("invalid_terminal_id")
    if terminal_id != actor.terminal_id:
        raise LedgerError("bad_request", "只能在做这笔离线交易的终端上传", field="terminal_id")
    trace = item.get("offline_trace_no")
    if type(trace) is not int or not 1 <= trace <= SQL_INT_MAX:
        raise LedgerError("bad_request", "离线流水号不正确", field="offline_trace_no")
    return item, trace


def _fingerprint(item: dict) -> str:
    text = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(runtime.pepper, text.encode(), hashlib.sha256).hexdigest()


# The refusals of a sale time that reads as one: a retry judges that time again.
SALE_TIME_ERRORS = ("sale_time_in_future", "sale_time_too_old")


def _sale_time(value: object) -> datetime:
    """The sale time the terminal captured, in UTC: ISO 8601 with its offset."""
    if not isinstance(value, str):
        raise LedgerError("bad_request", "离线交易时间不正确", field="sold_at")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise LedgerError("bad_request", "离线交易时间不正确", field="sold_at") from None
    if moment.tzinfo is None or moment.year not in runtime.YEARS:
        raise LedgerError("bad_request", "离线交易时间必须带时区", field="sold_at")
    return runtime.to_utc(moment)


def _judge_sale_time(sold: datetime, now: datetime, max_age_days: int) -> None:
    """Not ahead of the server beyond CLOCK_SKEW, not older than the upload period."""
    if sold > now + CLOCK_SKEW:
        raise LedgerError("sale_time_in_future")
    if sold < now - timedelta(days=max_age_days):
        raise LedgerError("sale_time_too_old")


def _seller(terminal: Terminal, operator_no: object, address: str | None) -> Actor:
    """Who made the sale, at this terminal: an active staff member who may transact."""
    if not isinstance(operator_no, str):
        raise LedgerError("staff_not_found")
    staff = Staff.get_or_none(Staff.staff_no == operator_no)
    if staff is None:
        raise LedgerError("staff_not_found")
    if not staff.active:
        raise LedgerError("staff_disabled")
    if staff.role not in CAN_TRANSACT:
        raise LedgerError("not_permitted")
    return Actor(
        staff.id, staff.staff_no, staff.role, terminal.id, terminal.terminal_id, staff.name, address
    )


def _described(item: dict) -> dict:
    """The columns 离线对账 shows, from what was sent, where they read as what they say."""

    def text(name: str, limit: int) -> str | None:
        value = item.get(name)
        return value[:limit] if isinstance(value, str) else None

    def fen() -> int | None:
        try:
            return ledger.amount_arg(item.get("amount"))
        except LedgerError:
            return None

    points = item.get("points")
    return {
        "type": item.get("type") if item.get("type") in OFFLINE_TYPES else None,
        "card_no": text("card_no", 19),
        "amount_fen": fen() if item.get("amount") is not None else None,
        "points": points if type(points) is int and 0 < points <= SQL_INT_MAX else None,
        "service_code": text("service_code", 20),
        "operator_no": text("operator_no", 20),  # "owner" too
    }


def _request_id(terminal_id: str, trace: int) -> str:
    """The journal row's request_id: one row per offline sale, UNIQUE in the journal too."""
    return f"{ledger.OFFLINE_REQUEST_PREFIX}{terminal_id}:{trace}"


def _within_offline_limits(item: dict, values: dict) -> None:
    """What the terminal enforced when it sold, asked again of what reaches the server: the
    type switched on for offline sale, the amount within the offline single limit."""
    if item["type"] not in values["offline_types"]:
        raise LedgerError("transaction_disabled", "该离线交易未开通")
    amount = item.get("amount")
    if amount is not None and ledger.amount_arg(amount) > values["offline_single_limit_fen"]:
        raise LedgerError("over_limit", "金额超过离线单笔限额")


def _apply(
    row: OfflineUpload, item: dict, now: datetime, address: str | None, limits: bool = True
) -> None:
    """Judge one offline sale by the ledger's rules as of `now` and post it, or say why not on
    the row (its status, error and message), which the caller saves. Runs inside the
    caller's write transaction. `limits`: the offline switches and single limit are asked
    too (an upload); a manager's retry takes the sale as it is."""
    terminal = Terminal.get_by_id(row.terminal_id)
    try:
        values = shop_settings.load()
        if item.get("type") not in OFFLINE_TYPES:
            raise LedgerError("bad_request", "离线交易类型不正确", field="type")
        if limits:
            _within_offline_limits(item, values)
        card_no = card_no_arg(item.get("card_no"))
        # The sale time is kept on the row once it reads as one, refused or not, for 离线对账
        # to show; a time that passed once is not judged again on a retry, a refused one is.
        judged = row.sold_at is not None and row.error not in SALE_TIME_ERRORS
        sold = row.sold_at if row.sold_at is not None else _sale_time(item.get("sold_at"))
        row.sold_at = sold
        if not judged:
            _judge_sale_time(sold, now, values["offline_max_age_days"])
        seller = _seller(terminal, item.get("operator_no"), address)
        sealed = item.get("sealed_pin")
        if sealed is not None and not isinstance(sealed, str):
            raise LedgerError("bad_request", "密码格式不正确", field="sealed_pin")
        pin = None
        if sealed is not None:
            pin = pin_arg(unseal(sealed, sealed_for(item)))
        posted = ledger.offline_sale(
            seller, item["type"], card_no,
            request_id=_request_id(terminal.terminal_id, row.offline_trace_no), sold_at=sold,
            amount=item.get("amount"), points=item.get("points"), pin=pin,
            service_code=item.get("service_code"), now=now,
        )  # fmt: skip
    except LedgerError as refused:
        # A wrong PIN's "N more tries" is about the card's lock at that moment, not the sale.
        said = ERRORS["wrong_pin"][1] if refused.code == "wrong_pin" else refused.message
        row.status, row.error, row.message = "failed", refused.code, said[:200]
        return
    row.status, row.error, row.message = "applied", None, None
    row.transaction = posted.record.id


def upload(
    actor: Actor, item: object, now: datetime | None = None, address: str | None = None
) -> Uploaded:
    """批量离线交易上传, one item: applied with the ledger's rules as of now, or kept as failed
    with the reason. The same terminal and offline trace number again answers the first
    outcome and applies nothing (`offline_trace_reused` if what was sent differs)."""
    _terminal_actor(actor)
    item, trace = _key(actor, item)
    fingerprint = _fingerprint(item)
    now = now or utcnow()
    if "upload" not in shop_settings.load()["offline_types"]:
        raise LedgerError("transaction_disabled", "批量离线交易上传未开通")

    def apply() -> Uploaded:
        earlier = OfflineUpload.get_or_none(
            OfflineUpload.terminal == actor.terminal_pk, OfflineUpload.offline_trace_no == trace
        )
        if earlier is not None:
            if not hmac.compare_digest(earlier.fingerprint, fingerprint):
                raise LedgerError("offline_trace_reused")
            return Uploaded(earlier, replayed=True)
        row = OfflineUpload(
            terminal=actor.terminal_pk,
            offline_trace_no=trace,
            fingerprint=fingerprint,
            payload=json.dumps(item, ensure_ascii=False),
            received_at=now,
            status="failed",
            uploaded_by=actor.staff_no,
            **_described(item),
        )
        _apply(row, item, now, address)
        row.save(force_insert=True)
        return Uploaded(row)

    return refusable(apply)


# ---------------------------------------------------------------- 离线对账


def get(upload_id: object) -> OfflineUpload:
    number = upload_id if type(upload_id) is int else int_arg(upload_id, "upload_id", 1)
    row = OfflineUpload.get_or_none(OfflineUpload.id == number)
    if row is None:
        raise LedgerError("offline_not_found")
    return row


def uploads(status: str | None = None, page: int = 1, per_page: int = 50) -> tuple[list, int]:
    """The uploads, newest first, of one status (`failed`: what is open) or all."""
    query = OfflineUpload.select(OfflineUpload, Terminal).join(Terminal)
    if status is not None:
        if status not in OFFLINE_STATUSES:
            raise LedgerError("bad_request", "状态不正确", field="status")
        query = query.where(OfflineUpload.status == status)
    total = query.count()
    rows = list(
        query.order_by(OfflineUpload.received_at.desc(), OfflineUpload.id.desc()).paginate(
            page, per_page
        )
    )
    return rows, total


@dataclass(frozen=True)
class Totals:
    """What 离线对账 totals: per status, the count and the amount sent (price or purchase)."""

    counts: dict
    amounts_fen: dict


def totals() -> Totals:
    counts = dict.fromkeys(OFFLINE_STATUSES, 0)
    amounts = dict.fromkeys(OFFLINE_STATUSES, 0)
    for status, count, amount in db.execute_sql(
        "SELECT status, COUNT(*), COALESCE(SUM(CASE WHEN type = 'consume' THEN amount_fen END), 0)"
        " FROM offline_upload GROUP BY status"
    ).fetchall():
        counts[status], amounts[status] = count, amount
    return Totals(counts, amounts)


def _resolvable(actor: Actor, upload_id: object) -> OfflineUpload:
    if actor.role not in CAN_RECONCILE:
        raise LedgerError("not_permitted")
    row = get(upload_id)
    if row.status != "failed":
        raise LedgerError("offline_resolved", status=row.status)
    return row


# A sale whose sealed PIN was wrong (or did not open) would only be refused again, and each try
# would count another wrong PIN against the member's card: it is paid another way or written off.
NOT_RETRIABLE = ("wrong_pin", "pin_unreadable")


def retry(actor: Actor, upload_id: object, now: datetime | None = None) -> OfflineUpload:
    """Apply a failed upload again, with the ledger's rules as of now (after the member
    recharged, say); still refused, it stays open with the new reason. One that failed on its
    PIN is not tried again (`offline_not_retriable`)."""
    now = now or utcnow()

    def apply() -> OfflineUpload:
        row = _resolvable(actor, upload_id)
        if row.error in NOT_RETRIABLE:
            raise LedgerError("offline_not_retriable", last_error=row.error)
        was = row.error
        _apply(row, json.loads(row.payload), now, actor.address, limits=False)
        if row.status == "applied":
            row.resolved_at, row.resolved_by = now, actor.staff_no
        row.save(only=_OUTCOME)
        audit.record(
            actor, "offline.retry", _target(row), outcome=row.status, was=was, error=row.error,
            voucher_no=row.transaction.voucher_no if row.transaction_id else None,
        )  # fmt: skip
        return row

    return refusable(apply)


_OUTCOME = [
    OfflineUpload.status,
    OfflineUpload.error,
    OfflineUpload.message,
    OfflineUpload.transaction,
    OfflineUpload.sold_at,
    OfflineUpload.resolved_at,
    OfflineUpload.resolved_by,
]


def _target(row: OfflineUpload) -> str:
    return f"{row.terminal.terminal_id}/{row.offline_trace_no:06d}"


def _note(value: object, required: bool, field: str = "note") -> str | None:
    """paid-other's note or write-off's reason (`field`, as the request names it)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise LedgerError("bad_request", "请填写原因", field=field)
        return None
    if not isinstance(value, str) or len(value.strip()) > MAX_NOTE:
        raise LedgerError("bad_request", f"说明最多 {MAX_NOTE} 个字", field=field)
    return value.strip()


def record_paid_other(
    actor: Actor, upload_id: object, payment_method: object, note: object = None,
    now: datetime | None = None,
) -> OfflineUpload:  # fmt: skip
    """The member paid the failed sale another way (cash, …): closed with the method and a
    note; the card is not touched."""
    if payment_method not in PAYMENT_METHODS:
        raise LedgerError("bad_request", "请选择支付方式", field="payment_method")
    text = _note(note, required=False)
    return _resolve(actor, upload_id, "paid_other", now, payment_method=payment_method, note=text)


def write_off(
    actor: Actor, upload_id: object, reason: object, now: datetime | None = None
) -> OfflineUpload:
    """Give the failed sale up, with the reason: closed, the card not touched."""
    note = _note(reason, required=True, field="reason")
    return _resolve(actor, upload_id, "written_off", now, note=note)


def _resolve(
    actor: Actor, upload_id: object, status: str, now: datetime | None,
    payment_method: str | None = None, note: str | None = None,
) -> OfflineUpload:  # fmt: skip
    now = now or utcnow()

    def apply() -> OfflineUpload:
        row = _resolvable(actor, upload_id)
        changed = (
            OfflineUpload.update(
                status=status, resolved_at=now, resolved_by=actor.staff_no,
                payment_method=payment_method, note=note,
            )
            .where(OfflineUpload.id == row.id, OfflineUpload.status == "failed")
            .execute()
        )  # fmt: skip
        if changed != 1:
            raise LedgerError("offline_resolved")
        audit.record(
            actor, f"offline.{status}", _target(row), card_no=row.card_no, type=row.type,
            amount=format_fen(row.amount_fen) if row.amount_fen is not None else None,
            error=row.error, payment_method=payment_method, note=note,
        )  # fmt: skip
        return OfflineUpload.get_by_id(row.id)

    return write(apply)
