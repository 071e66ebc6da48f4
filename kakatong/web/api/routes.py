"""The JSON API, /api/v1: the contract the terminal page, offline upload and integrations use.

Each view reads its arguments, calls one domain function and returns a record; refusals come
back from the domain as LedgerError and are turned into `{"error", "message"}` once, here.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import date

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ... import __version__
from ...domain import cards, formats, ledger, reports, staff, terminals
from ...domain import settings as shop_settings
from ...domain.actors import (
    CAN_CHANGE_SETTINGS,
    CAN_MANAGE_STAFF,
    CAN_READ_JOURNAL,
    CAN_TRANSACT,
    Actor,
)
from ...domain.errors import LedgerError
from ...domain.money import format_fen
from ...store.models import Card, Terminal
from ...store.runtime import shop_date, utcnow
from ..sessions import end_sessions_of
from . import records
from .openapi import document

bp = Blueprint("api", __name__, url_prefix="/api")

ALL_ROLES = frozenset({"operator", "supervisor", "sysadmin", "owner"})


# ---------------------------------------------------------------- plumbing


@bp.errorhandler(LedgerError)
def _refused(exc: LedgerError):
    return jsonify(exc.as_dict()), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    error = LedgerError.for_http(exc.code)
    return jsonify(error.as_dict()), error.status


def _sessions():
    return current_app.extensions["kakatong.sessions"]


def _token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def signed_in(roles: frozenset[str] = ALL_ROLES, while_locked: bool = False):
    """The view needs a session (Authorization: Bearer …) of one of these roles. A locked
    session (锁定) reaches only the views marked `while_locked` (unlock, sign-out, whoami)."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            token = _token()
            session = _sessions().get(token) if token else None
            if session is None:
                raise LedgerError("not_signed_in")
            if session.locked and not while_locked:
                raise LedgerError("terminal_locked")
            if session.actor.role not in roles:
                raise LedgerError("not_permitted")
            g.actor = session.actor
            g.locked = session.locked
            return view(*args, **kwargs)

        return inner

    return wrap


def body(*fields: str) -> dict:
    """The JSON object sent. With `fields`, a field not among them is refused: a typo such as
    `"supervisor_pasword"` must not be silently ignored."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise LedgerError("bad_request", "请求体必须是 JSON 对象")
    unknown = set(data) - set(fields) if fields else set()
    if unknown:
        raise LedgerError("bad_request", f"未知字段：{', '.join(sorted(unknown))}")
    return data


def _args_date(name: str) -> date | None:
    """YYYY-MM-DD, and nothing else date.fromisoformat would take (20111212, 2011-W50-1)."""
    return cards.date_arg(request.args.get(name), name)


def _args_int(name: str, default: int | None = None) -> int | None:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit():
        raise LedgerError("bad_request", f"{name} 必须是数字", field=name)
    return int(text)


def _printing():
    return current_app.extensions["kakatong.printing"]


def _posted(result: ledger.Posted):
    _printing().after_transaction(result.record, result.replayed)
    response = jsonify(records.transaction(result.record))
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 201


# ---------------------------------------------------------------- service


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())


@bp.get("/v1/health")
def health():
    return jsonify({"status": "ok"})


# ---------------------------------------------------------------- sessions and staff


@bp.post("/v1/session")
def sign_in():
    data = body("terminal_id", "terminal_key", "operator_no", "password")
    terminal = _terminal_for(data.get("terminal_id"))
    terminals.check_key(terminal, data.get("terminal_key"))
    member = staff.authenticate(data.get("operator_no"), data.get("password"))
    actor = Actor(
        member.id, member.staff_no, member.role, terminal.id, terminal.terminal_id, member.name,
        request.remote_addr,
    )  # fmt: skip
    token = _sessions().open(actor)
    return jsonify(
        {
            "token": token,
            "operator_no": member.staff_no,
            "name": member.name,
            "role": member.role,
            "terminal_id": terminal.terminal_id,
            "batch_no": formats.six(terminal.batch_no),
        }
    ), 201


def _terminal_for(terminal_id: object) -> Terminal:
    if terminal_id is None:
        terminals = list(Terminal.select().where(Terminal.kind == "pos").limit(2))
        if len(terminals) != 1:
            raise LedgerError("terminal_required")
        return terminals[0]
    if not isinstance(terminal_id, str):
        raise LedgerError("bad_request")
    # The back office is a terminal of its own for the ledger; no screen signs in to it here.
    terminal = Terminal.get_or_none(Terminal.terminal_id == terminal_id, Terminal.kind == "pos")
    if terminal is None:
        raise LedgerError("terminal_not_found")
    return terminal


@bp.get("/v1/session")
@signed_in(while_locked=True)
def whoami():
    a = g.actor
    return jsonify(
        {
            "operator_no": a.staff_no,
            "name": a.name,
            "role": a.role,
            "terminal_id": a.terminal_id,
            "locked": g.locked,
        }
    )


@bp.delete("/v1/session")
@signed_in(while_locked=True)
def sign_out():
    _sessions().close(_token())
    return "", 204


@bp.post("/v1/session/lock")
@signed_in()
def lock_session():
    _sessions().set_locked(_token(), True)
    return jsonify({"locked": True})


@bp.post("/v1/session/unlock")
@signed_in(while_locked=True)
def unlock_session():
    staff.check_own_password(g.actor, body("password").get("password"))
    _sessions().set_locked(_token(), False)
    return jsonify({"locked": False})


@bp.get("/v1/version")
@signed_in()
def version():

    shop = shop_settings.load()
    return jsonify(
        {
            "version": __version__,
            "terminal_id": g.actor.terminal_id,
            "merchant_id": shop["merchant_id"],
            "merchant_name": shop["merchant_name"],
        }
    )


# ---------------------------------------------------------------- terminals


@bp.get("/v1/terminal")
@signed_in()
def own_terminal():
    # With what the terminal's screens need of the shop's settings (a type switched off is
    # not on the menu).
    shop = shop_settings.load()
    terminal = Terminal.get_by_id(g.actor.terminal_pk)
    return jsonify(
        {
            **records.terminal(terminal),
            "enabled_types": shop["enabled_types"],
            "merchant_id": shop["merchant_id"],
            "merchant_name": shop["merchant_name"],
            "receipt_title": shop["receipt_title"],
            "printer": _printing().status(terminal),
        }
    )


# ---------------------------------------------------------------- the receipt printer


@bp.get("/v1/terminal/printer")
@signed_in()
def printer_status():
    return jsonify(_printing().status(Terminal.get_by_id(g.actor.terminal_pk)))


@bp.post("/v1/terminal/printer/jobs")
@signed_in()
def print_job():
    """重印, 送纸, 打印 (the batch's journal or totals), or a test page, on this terminal's
    printer. Answered at once (202) with the queued job; its outcome comes as a printer event.
    Anyone at the terminal may feed paper or print a test page (the system operator sets the
    printer up); what shows transactions is for those who make them."""
    data = body("kind", "voucher_no")
    kind = data.get("kind")
    if kind in ("reprint", "journal", "totals", "settlement") and g.actor.role not in CAN_TRANSACT:
        raise LedgerError("not_permitted")
    terminal = Terminal.get_by_id(g.actor.terminal_pk)
    job = _printing().request(terminal, kind, g.actor.staff_no, data.get("voucher_no"))
    return jsonify(job), 202


# ---------------------------------------------------------------- the card reader's swipes

# How long a stream stays open (the page reconnects), how often it says it is alive, how long
# a poll waits for a swipe; the tests shorten them through app.config.
STREAM_SECONDS = 25
HEARTBEAT_SECONDS = 5
POLL_SECONDS = 5


def _timing(name: str, default: float) -> float:
    return current_app.config.get(f"KAKATONG_{name}", default)


def _swipe_event(event) -> dict:
    if event.kind == "swipe":
        return {"id": event.id, "event": "swipe", **event.data}
    return {"id": event.id, "event": "retry", "card_no": None, "expires": None}


def _cursor(text: str | None, hub) -> int:
    """Where a page's events start: after the id it names, or after now. An id beyond the
    hub's (the server restarted since) starts after now too."""
    last = hub.last_id()
    if text is None or not text.isascii() or not text.isdigit():
        return last
    return min(int(text), last)


@bp.get("/v1/terminal/swipes/stream")
@signed_in()
def swipe_stream():
    slots = current_app.extensions["kakatong.stream_slots"]
    if not slots.acquire(blocking=False):
        raise LedgerError("too_many_streams")
    held = [slots]

    def release():
        if held:  # once, whether the stream ended or the server closed it first
            held.pop().release()

    hub = current_app.extensions["kakatong.swipes"]
    terminal_id = g.actor.terminal_id
    cursor = _cursor(request.headers.get("Last-Event-ID"), hub)
    seconds = _timing("STREAM_SECONDS", STREAM_SECONDS)
    heartbeat = _timing("HEARTBEAT_SECONDS", HEARTBEAT_SECONDS)

    printer = _printing().status(Terminal.get_by_id(g.actor.terminal_pk))

    def sse(event_id: int, kind: str, data: dict) -> str:
        return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    def events(cursor: int):
        try:
            yield "retry: 2000\n" + sse(cursor, "status", {"reader": hub.status(terminal_id)})
            yield sse(cursor, "printer", printer)
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                new = hub.wait(terminal_id, cursor, min(heartbeat, left))
                if not new:
                    yield ": heartbeat\n\n"  # a closed connection shows up on this write
                for event in new:
                    cursor = event.id
                    if event.kind == "swipe":
                        yield sse(event.id, "swipe", {"id": event.id, **event.data})
                    else:
                        yield sse(event.id, event.kind, event.data)
        finally:
            release()

    response = Response(events(cursor), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    response.call_on_close(release)
    return response


@bp.get("/v1/terminal/swipes")
@signed_in()
def poll_swipes():
    hub = current_app.extensions["kakatong.swipes"]
    terminal_id = g.actor.terminal_id
    after = _args_int("after")
    cursor = _cursor(None if after is None else str(after), hub)
    new = []
    slots = current_app.extensions["kakatong.stream_slots"]
    # A long poll holds a thread like a stream: it waits only while a stream's slot is free,
    # and otherwise answers at once.
    if after is not None and slots.acquire(blocking=False):
        try:
            new = hub.wait(terminal_id, cursor, _timing("POLL_SECONDS", POLL_SECONDS))
        finally:
            slots.release()
    elif after is not None:
        new = hub.after(terminal_id, cursor)
    return jsonify(
        {
            "swipes": [_swipe_event(e) for e in new if e.kind in ("swipe", "retry")],
            "reader": hub.status(terminal_id),
            "printer": _printing().status(Terminal.get_by_id(g.actor.terminal_pk)),
            "last_id": max([cursor, *(e.id for e in new)]),
        }
    )


@bp.get("/v1/terminals")
@signed_in(CAN_CHANGE_SETTINGS)
def list_terminals():
    rows = Terminal.select().order_by(Terminal.terminal_id)
    return jsonify({"terminals": [records.terminal(t) for t in rows]})


@bp.post("/v1/terminals")
@signed_in(CAN_CHANGE_SETTINGS)
def register_terminal():
    data = body("terminal_id", "name")
    terminal, key = terminals.register(data.get("terminal_id"), data.get("name"), g.actor)
    return jsonify({**records.terminal(terminal), "terminal_key": key}), 201


@bp.post("/v1/terminals/<terminal_id>/key")
@signed_in(CAN_CHANGE_SETTINGS)
def rotate_terminal_key(terminal_id: str):
    key = terminals.rotate_key(terminal_id, g.actor)
    return jsonify({"terminal_id": terminal_id, "terminal_key": key})


@bp.post("/v1/terminals/<terminal_id>/bind")
def bind_terminal(terminal_id: str):
    """A browser becomes this terminal: the key is checked (no session needed yet)."""
    terminal = _terminal_for(terminal_id)
    terminals.check_key(terminal, body("terminal_key").get("terminal_key"))
    return jsonify({"terminal_id": terminal.terminal_id, "name": terminal.name})


@bp.put("/v1/terminals/<terminal_id>")
@signed_in(CAN_CHANGE_SETTINGS)
def update_terminal(terminal_id: str):
    changes = body(*terminals.PARAMETERS)
    changed = terminals.update(terminal_id, changes, g.actor)
    if any(key in changes for key in terminals.PRINTER_PARAMETERS):
        _printing().settings_changed(changed)
    return jsonify(records.terminal(changed))


# ---------------------------------------------------------------- staff management


@bp.get("/v1/staff")
@signed_in(CAN_MANAGE_STAFF)
def list_staff():
    return jsonify({"staff": [records.staff(s) for s in staff.list_staff()]})


@bp.post("/v1/staff")
@signed_in(CAN_TRANSACT)
def add_operator():
    data = body("operator_no", "name", "password", "supervisor_password")
    member = staff.add_operator(
        g.actor,
        data.get("operator_no"),
        data.get("password"),
        data.get("name"),
        data.get("supervisor_password"),
    )
    return jsonify(records.staff(member)), 201


@bp.delete("/v1/staff/<operator_no>")
@signed_in(CAN_TRANSACT)
def remove_operator(operator_no: str):
    data = body("supervisor_password") if request.get_data() else {}
    staff.remove_operator(g.actor, operator_no, data.get("supervisor_password"))
    end_sessions_of(operator_no)
    return "", 204


@bp.put("/v1/staff/<operator_no>/password")
@signed_in(CAN_TRANSACT)
def reset_staff_password(operator_no: str):
    data = body("new_password", "supervisor_password")
    staff.reset_password(
        g.actor, operator_no, data.get("new_password"), data.get("supervisor_password")
    )
    end_sessions_of(operator_no)
    return jsonify({"operator_no": operator_no, "changed": True})


@bp.post("/v1/staff/<operator_no>/password")
def change_staff_password(operator_no: str):
    data = body("old_password", "new_password")
    staff.change_password(
        operator_no, data.get("old_password"), data.get("new_password"), request.remote_addr
    )
    end_sessions_of(operator_no)
    return jsonify({"operator_no": operator_no, "changed": True})


# ---------------------------------------------------------------- cards


def _card_record(card, with_balance: bool | None = None):
    if with_balance is None:
        with_balance = g.actor.role == "owner"
    return jsonify(records.card(card, with_balance=with_balance))


@bp.post("/v1/cards")
@signed_in(CAN_TRANSACT)
def activate_card():
    data = body(*cards.ACTIVATION_FIELDS, "activation_type")
    kind = data.pop("activation_type", None) or "card_no"
    return _card_record(cards.activate(data, g.actor, kind)), 201


@bp.get("/v1/cards")
@signed_in()
def find_card():
    key = request.args.get("find", "")
    if not key:
        raise LedgerError("bad_request", "请输入卡号、外卡号或手机号码")
    card = cards.find_card(key)
    if card is None:
        raise LedgerError("card_not_found")
    return _card_record(card)


@bp.get("/v1/cards/<card_no>")
@signed_in()
def get_card(card_no: str):
    card = Card.get_or_none(Card.card_no == formats.card_no_arg(card_no))
    if card is None:
        raise LedgerError("card_not_found")
    return _card_record(card)


@bp.put("/v1/cards/<card_no>/phone")
@signed_in(CAN_TRANSACT)
def bind_phone(card_no: str):
    data = body("phone", "pin")
    if "phone" not in data:
        raise LedgerError("bad_request", "请输入手机号码（为空则解绑）")
    return _card_record(cards.bind(card_no, data.get("pin"), phone=data["phone"]))


@bp.put("/v1/cards/<card_no>/id_number")
@signed_in(CAN_TRANSACT)
def bind_id_number(card_no: str):
    data = body("id_number", "pin")
    if "id_number" not in data:
        raise LedgerError("bad_request", "请输入身份证号码（为空则解绑）")
    return _card_record(cards.bind(card_no, data.get("pin"), id_number=data["id_number"]))


@bp.post("/v1/cards/<card_no>/pin")
@signed_in(CAN_TRANSACT)
def change_pin(card_no: str):
    data = body("old_pin", "new_pin")
    cards.change_pin(card_no, data.get("old_pin"), data.get("new_pin"))
    return jsonify({"card_no": card_no, "changed": True})


@bp.post("/v1/cards/<card_no>/pin/reset")
@signed_in(CAN_TRANSACT)
def reset_pin(card_no: str):
    data = body("new_pin", "supervisor_password")
    cards.reset_pin(g.actor, card_no, data.get("new_pin"), data.get("supervisor_password"))
    return jsonify({"card_no": card_no, "reset": True})


@bp.post("/v1/cards/<card_no>/pin/unlock")
@signed_in(CAN_TRANSACT)
def unlock_pin(card_no: str):
    cards.unlock_pin(g.actor, card_no, body("supervisor_password").get("supervisor_password"))
    return jsonify({"card_no": card_no, "unlocked": True})


@bp.post("/v1/cards/<card_no>/status")
@signed_in()
def set_card_status(card_no: str):
    data = body("status", "supervisor_password")
    card = cards.set_status(g.actor, card_no, data.get("status"), data.get("supervisor_password"))
    return _card_record(card)


@bp.post("/v1/cards/<card_no>/query")
@signed_in(CAN_TRANSACT)
def query_card(card_no: str):
    card = ledger.query(g.actor, card_no, body("pin").get("pin"))
    return jsonify(
        {
            "card_no": card.card_no,
            "balance": format_fen(card.balance_fen),
            "points": card.points,
        }
    )


# ---------------------------------------------------------------- transactions


TRANSACTION_FIELDS = {
    "type", "card_no", "amount", "points", "pin", "service_code", "payment_method", "request_id",
}  # fmt: skip


@bp.post("/v1/transactions")
@signed_in(CAN_TRANSACT)
def post_transaction():
    data = body(*TRANSACTION_FIELDS)
    result = ledger.transact(
        g.actor,
        data.get("type"),
        data.get("card_no"),
        request_id=data.get("request_id"),
        amount=data.get("amount"),
        points=data.get("points"),
        pin=data.get("pin"),
        service_code=data.get("service_code"),
        payment_method=data.get("payment_method"),
    )
    return _posted(result)


@bp.get("/v1/transactions/<voucher_no>")
@signed_in(CAN_TRANSACT)
def get_transaction(voucher_no: str):
    return jsonify(records.transaction(ledger.find_voucher(voucher_no)))


@bp.post("/v1/transactions/<voucher_no>/void")
@signed_in(CAN_TRANSACT)
def void_transaction(voucher_no: str):
    data = body("supervisor_password", "pin", "request_id")
    result = ledger.void(
        g.actor,
        voucher_no,
        supervisor_password=data.get("supervisor_password"),
        request_id=data.get("request_id"),
        pin=data.get("pin"),
    )
    return _posted(result)


@bp.get("/v1/transactions")
@signed_in(CAN_READ_JOURNAL)
def list_transactions():
    filters = reports.journal_filter(request.args)
    page, per_page = _args_int("page", 1), _args_int("per_page", 50)
    rows, total = reports.journal(filters, page, per_page)
    return jsonify(
        {
            "transactions": [records.transaction(t) for t in rows],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )


@bp.get("/v1/batch")
@signed_in(CAN_TRANSACT)
def current_batch():
    # The list starts at the terminal's 清流水, if any; the totals are the whole batch's.
    totals, rows = reports.batch_view(Terminal.get_by_id(g.actor.terminal_pk))
    return jsonify(
        {**records.batch(totals), "transactions": [records.transaction(t) for t in rows]}
    )


@bp.post("/v1/settlements")
@signed_in(CAN_TRANSACT)
def settle():
    totals = ledger.settle(g.actor)
    terminal = Terminal.get_by_id(g.actor.terminal_pk)
    _printing().settlement(terminal, totals, g.actor.staff_no)
    return jsonify(records.batch(totals)), 201


@bp.get("/v1/stats/daily")
@signed_in(CAN_READ_JOURNAL)
def daily_stats():
    today = shop_date(utcnow())
    date_from = _args_date("from") or today.replace(day=1)
    date_to = _args_date("to") or today
    days, totals = reports.daily_stats(date_from, date_to)
    return jsonify(
        {"days": [records.day_stats(d) for d in days], "totals": records.day_stats(totals)}
    )


# ---------------------------------------------------------------- settings


@bp.get("/v1/settings")
@signed_in(CAN_CHANGE_SETTINGS)
def get_settings():
    return jsonify(shop_settings.load())


@bp.put("/v1/settings")
@signed_in(CAN_CHANGE_SETTINGS)
def put_settings():
    return jsonify(shop_settings.update(body(), g.actor))
