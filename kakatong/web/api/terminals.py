"""Terminals (终端): the caller's own, its receipt printer and its card reader's swipes (pushed
or polled); the shop's terminals, their keys (终端密钥) and parameters (终端参数设置).

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

import json
import time

from flask import Response, current_app, g, jsonify, request

from ...domain import settings as shop_settings
from ...domain import terminals
from ...domain.actors import ALL_ROLES, CAN_CHANGE_SETTINGS, CAN_TRANSACT
from ...domain.errors import LedgerError
from ...domain.formats import TERMINAL_ID
from ...domain.terminals import KEY_DIGITS
from ...store.models import Terminal
from . import records
from .common import print_service, query_int
from .contract import body, operation
from .schemas import (
    TERMINAL_KEY,
    TERMINAL_PARAMETERS,
    enum_schema,
    full_match,
    integer_schema,
    json_response,
    object_schema,
    parameter,
    ref_to,
    request_body,
    string_schema,
)

# How long a stream stays open (the page reconnects), how often it says it is alive, how long
# a poll waits for a swipe; the tests shorten them through app.config.
STREAM_SECONDS = 25


HEARTBEAT_SECONDS = 5


POLL_SECONDS = 5


def _timing(name: str, default: float) -> float:
    return current_app.config.get(f"KAKATONG_{name}", default)


def _swipe_event(event) -> dict:
    if event.kind == "swipe":
        return {"id": event.id, "event": "swipe", **event.data, "count": None}
    return {"id": event.id, "event": "retry", "card_no": None, "expires": None, **event.data}


def _cursor(text: str | None, hub) -> int:
    """Where a page's events start: after the id it names, or after now. An id beyond the
    hub's (the server restarted since) starts after now too."""
    last = hub.last_id()
    if text is None or not text.isascii() or not text.isdigit():
        return last
    return min(int(text), last)


@operation(
    "GET",
    "/v1/terminal",
    "terminals",
    "The caller's terminal",
    "The terminal this session is signed in at, with its parameters (终端参数) "
    "and what its screens need of the shop's settings.",
    roles=ALL_ROLES,
    ok=json_response(ref_to("OwnTerminal"), "the terminal"),
)
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
            "printer": print_service().status(terminal),
        }
    )


@operation(
    "GET",
    "/v1/terminal/printer",
    "terminals",
    "The terminal's receipt printer",
    "Whether the caller's terminal's printer answered, and its last job. Asked "
    "about a printer not yet tried, the server tests the connection (the answer "
    "comes as an `event: printer` on the stream).",
    roles=ALL_ROLES,
    ok=json_response(ref_to("PrinterStatus"), "the printer"),
)
def printer_status():
    return jsonify(print_service().status(Terminal.get_by_id(g.actor.terminal_pk)))


@operation(
    "POST",
    "/v1/terminal/printer/jobs",
    "terminals",
    "Print on the terminal's printer",
    "`reprint` (重印: what failed to print since the printer last worked, again; "
    "else the terminal's last receipt, marked 重印 REPRINT; with `voucher_no` the "
    "receipt of that transaction of this terminal), "
    "`settlement` (the terminal's last settlement slip again), `feed` (送纸), "
    "`journal` or `totals` (管理 → 打印: the open batch's transactions, or its "
    "totals by type) or `test` (a test page). Queued and "
    "answered at once; the outcome comes as an `event: printer` on the stream and "
    "in GET /api/v1/terminal/printer. Receipts of transactions and the settlement "
    "slip are printed without asking, on terminals that have a printer. Any "
    "signed-in role may feed paper or print a test page; the others are for "
    "`actors.CAN_TRANSACT` (else `not_permitted`).",
    roles=ALL_ROLES,
    errors=(
        "bad_request",
        "not_permitted",
        "printer_not_configured",
        "no_receipt",
        "transaction_not_found",
        "no_settlement",
    ),
    body=request_body(
        object_schema(
            {
                "kind": enum_schema(["reprint", "settlement", "feed", "journal", "totals", "test"]),
                "voucher_no": string_schema(
                    "^[0-9]{1,9}$",
                    description="reprint only: the voucher (凭证号) of a "
                    "transaction of this terminal",
                ),
            },
            ["kind"],
        ),
        {"kind": "reprint"},
    ),
    ok=json_response(ref_to("PrintJob"), "the job, queued"),
    status=202,
    writes=False,  # the print queues live in memory
)
def print_job():
    """重印, 送纸, 打印 (the batch's journal or totals), or a test page, on this terminal's
    printer. Answered at once (202) with the queued job; its outcome comes as a printer event.
    Anyone at the terminal may feed paper or print a test page (the system operator sets the
    printer up); what shows transactions is for those who make them."""
    data = body()
    kind = data.get("kind")
    if kind in ("reprint", "journal", "totals", "settlement") and g.actor.role not in CAN_TRANSACT:
        raise LedgerError("not_permitted")
    terminal = Terminal.get_by_id(g.actor.terminal_pk)
    job = print_service().request(terminal, kind, g.actor.staff_no, data.get("voucher_no"))
    return jsonify(job), 202


@operation(
    "GET",
    "/v1/terminal/swipes/stream",
    "terminals",
    "The card reader's swipes, pushed (Server-Sent Events)",
    "The swipes of the card reader (刷卡器, `KAKATONG_MSR`) bound to the caller's "
    "terminal, as `text/event-stream`: first an `event: status` with "
    '`{"reader": "connected"|"disconnected"|"none"}`, then `event: swipe` with '
    '`{"id", "card_no", "expires"}` (expires: YYMM as on the stripe), `event: retry` '
    'with `{"count"}` for bad reads (请重新刷卡; bad reads in a row are one event, '
    "`count` the number of them not sent before) and `event: status` when the "
    "reader comes or goes; "
    "an `event: printer` (a PrinterStatus) first and whenever a print job moves; "
    "each with an `id:`, and a comment line as a heartbeat every 5 s. The stream "
    "ends after 25 s: reconnect, sending the last id seen as `Last-Event-ID` to get "
    "what came in between. Read it with fetch() (an EventSource cannot send the "
    "bearer token; never put the token in the URL). Open streams are capped at a "
    "quarter of the server's threads: beyond that `too_many_streams`, and the page "
    "polls GET /api/v1/terminal/swipes instead.",
    roles=ALL_ROLES,
    errors=("too_many_streams",),
    params=[
        parameter(
            "Last-Event-ID",
            "header",
            string_schema("^[0-9]+$"),
            "the last event id seen: events after it are sent first",
        )
    ],
    ok={
        "description": "the event stream",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
)
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

    printer = print_service().status(Terminal.get_by_id(g.actor.terminal_pk))

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


@operation(
    "GET",
    "/v1/terminal/swipes",
    "terminals",
    "The card reader's swipes, polled",
    "The fallback of the stream: the swipes and bad reads (`retry`) of the "
    "reader bound to the caller's terminal newer than `after`, waiting up to 5 s "
    "for one (while a stream's slot is free, else answering at once), and the "
    "reader's status. Without `after`, answers at once with no swipes and the "
    "`last_id` to poll after.",
    roles=ALL_ROLES,
    errors=("bad_request",),
    params=[
        parameter(
            "after",
            "query",
            integer_schema(0),
            "the `last_id` of the previous answer",
        )
    ],
    ok=json_response(
        object_schema(
            {
                "swipes": {
                    "type": "array",
                    "items": object_schema(
                        {
                            "id": integer_schema(1),
                            "event": enum_schema(["swipe", "retry"]),
                            "card_no": string_schema(
                                "^[0-9]{8,19}$",
                                nullable=True,
                                description="the card number (null for a retry)",
                            ),
                            "expires": string_schema(
                                "^[0-9]{4}$",
                                nullable=True,
                                description="YYMM as on the stripe",
                            ),
                            "count": integer_schema(
                                1,
                                nullable=True,
                                description="a retry: how many bad reads in a row it "
                                "stands for, since `after` (null for a swipe)",
                            ),
                        },
                        ["id", "event", "card_no", "expires", "count"],
                    ),
                },
                "reader": enum_schema(["connected", "disconnected", "none"]),
                "printer": ref_to("PrinterStatus"),
                "last_id": integer_schema(0),
            },
            ["swipes", "reader", "printer", "last_id"],
        ),
        "the swipes since `after`",
    ),
)
def poll_swipes():
    hub = current_app.extensions["kakatong.swipes"]
    terminal_id = g.actor.terminal_id
    after = query_int("after")
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
            "printer": print_service().status(Terminal.get_by_id(g.actor.terminal_pk)),
            "last_id": max([cursor, *(e.id for e in new)]),
        }
    )


@operation(
    "GET",
    "/v1/terminals",
    "terminals",
    "The terminals",
    "Every terminal with its parameters, by terminal ID.",
    roles=CAN_CHANGE_SETTINGS,
    ok=json_response(
        object_schema(
            {"terminals": {"type": "array", "items": ref_to("Terminal")}},
            ["terminals"],
        ),
        "the terminals",
    ),
)
def list_terminals():
    rows = Terminal.select().order_by(Terminal.terminal_id)
    return jsonify({"terminals": [records.terminal(t) for t in rows]})


@operation(
    "POST",
    "/v1/terminals",
    "terminals",
    "Register a terminal (终端)",
    "A new POS terminal with the default parameters and a key (终端密钥) of "
    f"{KEY_DIGITS} digits, answered this once and kept only as a keyed hash: "
    "from now on sessions at this terminal open only with the key. Checks, in "
    "order: the fields, the terminal ID (`invalid_terminal_id`: 8 digits), the "
    "name (`invalid_setting` with `setting`), the ID free (`terminal_exists`).",
    roles=CAN_CHANGE_SETTINGS,
    body=request_body(
        object_schema(
            {
                "terminal_id": string_schema(full_match(TERMINAL_ID), description="终端号"),
                "name": TERMINAL_PARAMETERS["name"],
            },
            ["terminal_id", "name"],
        ),
        {"terminal_id": "10000002", "name": "收银台 2"},
    ),
    errors=("bad_request", "invalid_terminal_id", "invalid_setting", "terminal_exists"),
    ok=json_response(ref_to("NewTerminal"), "the terminal and its key"),
    status=201,
)
def register_terminal():
    data = body()
    terminal, key = terminals.register(data.get("terminal_id"), data.get("name"), g.actor)
    return jsonify({**records.terminal(terminal), "terminal_key": key}), 201


@operation(
    "POST",
    "/v1/terminals/<terminal_id>/key",
    "terminals",
    "A new terminal key (终端密钥管理)",
    "Gives the terminal a new key, answered this once and kept only as a keyed "
    "hash; the old key stops working at once (sessions already open go on). A "
    "terminal that had no key has one from now on. Takes no body.",
    roles=CAN_CHANGE_SETTINGS,
    params=[parameter("terminal_id", "path", string_schema(None), "终端号")],
    errors=("terminal_not_found",),
    ok=json_response(
        object_schema(
            {
                "terminal_id": string_schema(None, description="终端号"),
                "terminal_key": string_schema(
                    TERMINAL_KEY, description="终端密钥, shown this once"
                ),
            },
            ["terminal_id", "terminal_key"],
        ),
        "the new key",
    ),
)
def rotate_terminal_key(terminal_id: str):
    key = terminals.rotate_key(terminal_id, g.actor)
    return jsonify({"terminal_id": terminal_id, "terminal_key": key})


@operation(
    "POST",
    "/v1/terminals/<terminal_id>/bind",
    "terminals",
    "Check a terminal key (bind a browser to a terminal)",
    "Checks the key of a terminal, so that a browser can become that terminal "
    "before anyone signs in there. A terminal without a key (the one terminal of "
    "a fresh shop) takes any call. Wrong keys count per terminal, together with "
    "those sent to sign-in there: after `password_attempt_limit` in a row every "
    "attempt is `staff_locked` (with `minutes_left`) for `password_lock_minutes`, "
    "right key or not. Checks, in order: the terminal found "
    "(`terminal_not_found`), the fields, the key.",
    roles=None,
    params=[parameter("terminal_id", "path", string_schema(None), "终端号")],
    body=request_body(
        object_schema(
            {
                "terminal_key": string_schema(
                    None,
                    nullable=True,
                    description="终端密钥; may be left out at a terminal without one",
                )
            }
        ),
        {"terminal_key": "3385192015828982"},
    ),
    errors=(
        "terminal_not_found",
        "bad_request",
        "terminal_key_required",
        "staff_locked",
        "wrong_terminal_key",
    ),
    ok=json_response(ref_to("TerminalKeyChecked"), "the key is right: this is the terminal"),
)
def bind_terminal(terminal_id: str):
    """A browser becomes this terminal: the key is checked (no session needed yet)."""
    terminal = terminals.for_sign_in(terminal_id)
    terminals.check_key(terminal, body().get("terminal_key"))
    return jsonify({"terminal_id": terminal.terminal_id, "name": terminal.name})


@operation(
    "PUT",
    "/v1/terminals/<terminal_id>",
    "terminals",
    "Change terminal parameters (终端参数设置)",
    "Changes the parameters given (any non-empty subset), all or none: every "
    "change is checked before any is written. A field that is not a parameter is "
    "`bad_request`; a value a parameter does not take is `invalid_setting` (with "
    "`setting`). `next_trace_no` sets the 流水号 the next transaction at this "
    "terminal gets, as on the POS. Checks, in order: the fields, the terminal "
    "found (`terminal_not_found`), the values.",
    roles=CAN_CHANGE_SETTINGS,
    params=[parameter("terminal_id", "path", string_schema(None), "终端号")],
    body=request_body(ref_to("TerminalChange"), {"receipt_copies": 1, "next_trace_no": 100}),
    errors=("bad_request", "terminal_not_found", "invalid_setting", "branch_not_found"),
    ok=json_response(ref_to("Terminal"), "the terminal after the change"),
)
def update_terminal(terminal_id: str):
    changes = body()
    changed = terminals.update(terminal_id, changes, g.actor)
    if any(key in changes for key in terminals.PRINTER_PARAMETERS):
        print_service().settings_changed(changed)
    return jsonify(records.terminal(changed))
