"""What several route modules share: query arguments (dates, digits, a report's branch), the
print service, and a posted transaction's answer."""

from __future__ import annotations

from datetime import date

from flask import current_app, g, jsonify, request

from ...domain import branches, cards, formats, ledger
from ...domain.formats import SQL_INT_MAX
from .. import observe
from . import records
from .schemas import integer_schema, parameter


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


def query_branch() -> int | None:
    """The branch a report shows (`branch_id` in the query): the one the caller is limited
    to, else the one asked for, else None (the whole chain); branches.report_branch."""
    return branches.report_branch(g.actor, query_int("branch_id", None, 1))


BRANCH_PARAMETER = parameter(
    "branch_id",
    "query",
    integer_schema(1),
    "门店: one branch's (GET /api/v1/branches); left out, the whole chain's. A caller limited "
    "to one branch gets theirs, and `not_permitted` for another",
)


def print_service():
    return current_app.extensions["kakatong.printing"]


def posted_response(result: ledger.Posted):
    observe.transaction(result.record, result.replayed)  # its line in the log
    print_service().after_transaction(result.record, result.replayed, result.printer_url)
    response = jsonify(records.transaction(result.record, result.branch_name))
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 201
