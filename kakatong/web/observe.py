"""What the log says of each request and each transaction (logs.py writes the lines).

Every request gets an id: the client's X-Request-ID when it sent a sane one, else a new one,
answered in the X-Request-ID header. Once answered, one line `event=request` says its method,
its route (the URL rule, `/api/v1/cards/<card_no>`: never the path, which may hold a card
number, nor the query string), status, duration, the signed-in staff number and terminal, and
the refusal's code. Each transaction posted (or offline sale uploaded) says `event=transaction`
with its numbers and the card masked as on a slip. No PIN, password, token or full card number
is ever put in a line: only the fields named here are.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, has_request_context, request

from ..domain.formats import six
from ..domain.receipts import mask_card_no
from ..store.models import OfflineUpload, Transaction

requests_log = logging.getLogger("kakatong.requests")
transactions_log = logging.getLogger("kakatong.transactions")

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is taken as it is when it is short and plain: nothing that could break a log
# line or pass for another field.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z", re.ASCII)
TERMINAL_ID = re.compile(r"[0-9]{8}\Z", re.ASCII)


def init_app(app: Flask) -> None:
    """Before every other hook (the HTTPS redirect's too), so that every request is timed
    and logged, and after every other, so that its line says what was answered."""
    app.before_request(_started)
    app.after_request(_answered)


def request_id() -> str | None:
    """This request's id (None outside a request)."""
    return g.get("request_id") if has_request_context() else None


def route() -> str | None:
    """The URL rule this request matched (None: none did)."""
    rule = request.url_rule if has_request_context() else None
    return rule.rule if rule is not None else None


def _started() -> None:
    g.started = time.perf_counter()
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = sent if SANE_REQUEST_ID.match(sent) else uuid.uuid4().hex


def _signed_in():
    """The actor of this request, if one signed in: an API session's (the guard sets
    g.actor), else the back office's user once flask-login has loaded it. Never loads it
    here: a request that did not need the user (a health check) must not read the database
    for its log line."""
    actor = g.get("actor")
    if actor is not None:
        return actor
    user = g.get("_login_user")  # where flask-login keeps the user it loaded
    return user.actor if user is not None and getattr(user, "is_authenticated", False) else None


def _error_code(response) -> str | None:
    if response.status_code < 400 or response.is_streamed or not response.is_json:
        return None
    data = response.get_json(silent=True)
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) and code.isidentifier() else None


def _answered(response):
    try:
        rid = g.get("request_id") or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = rid
        started = g.get("started")
        actor = _signed_in()
        terminal = actor.terminal_id if actor is not None else None
        if terminal is None:
            named = (request.view_args or {}).get("terminal_id")
            terminal = named if isinstance(named, str) and TERMINAL_ID.match(named) else None
        fields = {
            "event": "request",
            "request_id": rid,
            "method": request.method,
            "route": route(),
            "status": response.status_code,
            "duration_ms": (
                round((time.perf_counter() - started) * 1000, 1) if started is not None else None
            ),
            "staff": actor.staff_no if actor is not None else None,
            "terminal": terminal,
            "client": request.remote_addr,
            "error": _error_code(response),
        }
        requests_log.info(
            "%s %s %s", request.method, fields["route"] or "-", response.status_code,
            extra={"fields": fields},
        )  # fmt: skip
    except Exception:  # the answer stands whatever its log line met
        requests_log.exception("the request's log line failed")
    return response


def transaction(record: Transaction, replayed: bool = False) -> None:
    """The line of a transaction just posted (not of a request_id answered again: it was
    said when it was posted). Never raises: the money has moved."""
    if replayed:
        return
    try:
        original = record.original if record.original_id is not None else None
        fields = {
            "event": "transaction",
            "type": record.type,
            "voucher_no": six(record.voucher_no),
            "trace_no": six(record.trace_no),
            "batch_no": six(record.batch_no),
            "terminal": record.terminal.terminal_id,
            "operator": record.operator_no,
            "amount_fen": record.amount_fen,
            "points": record.points,
            "status": record.status,
            "card": mask_card_no(record.card.card_no),
            "offline": True if record.offline else None,
            "original_voucher_no": six(original.voucher_no) if original is not None else None,
            "request_id": request_id(),
        }
        transactions_log.info(
            "%s %s %s", record.type, fields["voucher_no"], record.status, extra={"fields": fields}
        )
    except Exception:
        transactions_log.exception("the transaction's log line failed")


def offline_outcome(row: OfflineUpload) -> None:
    """The line of an offline sale uploaded or retried: applied, the transaction it posted;
    refused, what was sold and why not (status failed, the refusal's code)."""
    try:
        if row.status == "applied" and row.transaction_id is not None:
            transaction(row.transaction)
            return
        fields = {
            "event": "transaction",
            "type": row.type,
            "terminal": row.terminal.terminal_id,
            "offline_trace_no": six(row.offline_trace_no),
            "operator": row.operator_no,
            "amount_fen": row.amount_fen,
            "points": row.points,
            "status": row.status,
            "error": row.error,
            "card": mask_card_no(row.card_no) if row.card_no else None,
            "offline": True,
            "request_id": request_id(),
        }
        transactions_log.info(
            "offline %s %s", fields["offline_trace_no"], row.status, extra={"fields": fields}
        )
    except Exception:
        transactions_log.exception("the offline upload's log line failed")
