"""What several route modules share: query arguments (dates, times, digits), the terminal a
sign-in or a key check names, the print service, and a posted transaction's answer."""

from __future__ import annotations

import re
from datetime import date, datetime

from flask import current_app, jsonify, request

from ...domain import cards, ledger
from ...domain.errors import LedgerError
from ...store import runtime
from ...store.models import Terminal
from . import records


def _args_date(name: str) -> date | None:
    """YYYY-MM-DD, and nothing else date.fromisoformat would take (20111212, 2011-W50-1)."""
    return cards.date_arg(request.args.get(name), name)


_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)


def _args_time(name: str) -> datetime | None:
    """YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]; without a zone, the shop's."""
    text = request.args.get(name)
    if not text:
        return None
    if _TIME.fullmatch(text) is None:
        raise LedgerError("invalid_date", field=name)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise LedgerError("invalid_date", field=name) from None
    if moment.year not in runtime.YEARS:
        raise LedgerError("invalid_date", field=name)
    return moment


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
