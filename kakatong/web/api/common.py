"""What several route modules share: query arguments (dates, digits), the print service, and a
posted transaction's answer."""

from __future__ import annotations

from datetime import date

from flask import current_app, jsonify, request

from ...domain import cards, ledger
from ...domain.errors import LedgerError
from . import records


def query_date(name: str) -> date | None:
    """YYYY-MM-DD, and nothing else date.fromisoformat would take (20111212, 2011-W50-1)."""
    return cards.date_arg(request.args.get(name), name)


def query_int(name: str, default: int | None = None) -> int | None:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit():
        raise LedgerError("bad_request", f"{name} 必须是数字", field=name)
    return int(text)


def print_service():
    return current_app.extensions["kakatong.printing"]


def posted_response(result: ledger.Posted):
    print_service().after_transaction(result.record, result.replayed)
    response = jsonify(records.transaction(result.record))
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 201
