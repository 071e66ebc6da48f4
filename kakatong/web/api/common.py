"""What several route modules share: query arguments (dates, digits), the print service, and a
posted transaction's answer."""

from __future__ import annotations

from datetime import date

from flask import current_app, jsonify, request

from ...domain import cards, formats, ledger
from ...domain.formats import SQL_INT_MAX
from .. import observe
from . import records


def query_date(name: str) -> date | None:
    """YYYY-MM-DD, and nothing else date.fromisoformat would take (20111212, 2011-W50-1)."""
    return cards.date_arg(request.args.get(name), name)


def query_int(
    name: str, default: int | None = None, low: int = 0, high: int = SQL_INT_MAX
) -> int | None:
    """A whole number from the query string, from `low` to `high` (formats.int_arg)."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    return formats.int_arg(text, name, low, high)


def print_service():
    return current_app.extensions["kakatong.printing"]


def posted_response(result: ledger.Posted):
    observe.transaction(result.record, result.replayed)  # its line in the log
    print_service().after_transaction(result.record, result.replayed)
    response = jsonify(records.transaction(result.record))
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 201
