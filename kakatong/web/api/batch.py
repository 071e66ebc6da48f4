"""The terminal's batch (批次): the open batch, settlement (结算), and the daily statistics.

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

from flask import g, jsonify, request

from ...domain import ledger, reports
from ...domain.actors import CAN_READ_JOURNAL, CAN_TRANSACT
from ...domain.errors import LedgerError
from ...domain.formats import SIX_DIGITS
from ...domain.reports import MAX_RANGE_DAYS
from ...store.models import Terminal
from ...store.runtime import shop_date, utcnow
from . import records
from .common import BRANCH_PARAMETER, print_service, query_branch, query_date
from .contract import body, operation
from .schemas import (
    full_match,
    json_response,
    object_schema,
    parameter,
    ref_to,
    request_body,
    string_schema,
)


@operation(
    "GET",
    "/v1/batch",
    "batch",
    "The open batch of the caller's terminal",
    "Totals by type and the batch's journal (newest first), as settlement would print them now.",
    roles=CAN_TRANSACT,
    ok=json_response(ref_to("Batch"), "the open batch, with `transactions`"),
)
def current_batch():
    # The list starts at the terminal's 清流水, if any; the totals are the whole batch's.
    totals, rows = reports.batch_view(Terminal.get_by_id(g.actor.terminal_pk))
    return jsonify(
        {**records.batch(totals), "transactions": [records.transaction(t) for t in rows]}
    )


@operation(
    "POST",
    "/v1/settlements",
    "batch",
    "Settle (结算)",
    "Closes the caller's terminal's batch, keeps its totals and opens the next "
    "batch. Its transactions can no longer be voided (`batch_closed`). The body is "
    "optional: `batch_no`, the batch the confirming screen showed (GET /api/v1/batch), "
    "settles that batch only; one settled since (a second tap, another session) is "
    "`batch_settled` instead of closing the next.",
    roles=CAN_TRANSACT,
    body={
        **request_body(
            object_schema(
                {
                    "batch_no": string_schema(
                        full_match(SIX_DIGITS),
                        description="批次号: the batch shown before settling",
                    )
                }
            ),
            {"batch_no": "000001"},
        ),
        "required": False,
    },
    errors=("bad_request", "batch_settled"),
    ok=json_response(ref_to("Batch"), "the closed batch, with `settled_at` and `settle_date`"),
    status=201,
)
def settle():
    data = body() if request.get_data() else {}
    shown = data.get("batch_no")
    if shown is not None and (not isinstance(shown, str) or SIX_DIGITS.fullmatch(shown) is None):
        raise LedgerError("bad_request", "批次号必须是 6 位以内的数字", field="batch_no")
    totals = ledger.settle(g.actor, batch_no=int(shown) if shown is not None else None)
    terminal = Terminal.get_by_id(g.actor.terminal_pk)
    print_service().settlement(terminal, totals, g.actor.staff_no)
    return jsonify(records.batch(totals)), 201


@operation(
    "GET",
    "/v1/stats/daily",
    "reports",
    "Daily statistics (交易统计)",
    f"One row per settlement date from `from` to `to` (days without transactions "
    f"as zeros) and the totals, of one branch (`branch_id`) or of the whole chain. At most "
    f"{MAX_RANGE_DAYS} days; `to` before `from` is `bad_request`.",
    roles=CAN_READ_JOURNAL,
    params=[
        parameter(
            "from",
            "query",
            string_schema(None, format="date"),
            "YYYY-MM-DD; default the first day of this month",
        ),
        parameter("to", "query", string_schema(None, format="date"), "YYYY-MM-DD; default today"),
        BRANCH_PARAMETER,
    ],
    errors=("bad_request", "invalid_date", "branch_not_found"),
    ok=json_response(ref_to("DailyStats"), "the days and the totals"),
)
def daily_stats():
    today = shop_date(utcnow())
    date_from = query_date("from") or today.replace(day=1)
    date_to = query_date("to") or today
    days, totals = reports.daily_stats(date_from, date_to, query_branch())
    return jsonify(
        {"days": [records.day_stats(d) for d in days], "totals": records.day_stats(totals)}
    )
