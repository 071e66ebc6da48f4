"""离线交易: what a terminal keeps to sell offline, its offline trace numbers, the upload of
what it sold (批量离线交易上传), and 离线对账 for the uploads that failed.

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

from flask import g, jsonify, request

from ...domain import offline
from ...domain.actors import CAN_RECONCILE, CAN_TRANSACT
from ...domain.formats import MAX_PAGE
from ...domain.money import format_fen
from ...domain.reports import MAX_PAGE_SIZE
from ...store.codes import OFFLINE_STATUSES, PAYMENT_METHODS
from .. import observe
from . import records
from .common import print_service, query_int
from .contract import body, operation
from .schemas import (
    REPLAYED,
    enum_schema,
    integer_schema,
    json_response,
    object_schema,
    parameter,
    ref_to,
    request_body,
    string_schema,
)

_UPLOAD_DESCRIPTION = """\
批量离线交易上传, one sale at a time: what a terminal sold while it could not reach the \
server, applied now with the ledger's rules (card found and usable, the PIN, balance or \
points) into the caller's terminal's open batch, with the sale's own time (`sold_at` on the \
journal row; `created_at` and `settle_date` are the upload's). The offline limits are the \
terminal's to enforce when it sells; the type's offline switch and the offline single limit \
are asked again here (`transaction_disabled`, `over_limit`, kept as failed).

Idempotent by terminal and offline trace number, across restarts and concurrent copies: the \
same sale again answers its first outcome (201, `Idempotent-Replayed: true`) and applies \
nothing; other content under the same number is `offline_trace_reused`.

The answer is the outcome, 201 either way: `applied` with its `transaction`, or `failed` \
with `error` and `message` (any refusal of the ledger, or `sale_time_in_future` beyond a \
5-minute skew, `sale_time_too_old` past the `offline_max_age_days` setting, \
`pin_unreadable`, `staff_not_found`…). A failed upload is kept for 离线对账 and is not sent \
again by the terminal. Refused without keeping anything (4xx): a body that is not one \
object of the known fields, another terminal's `terminal_id`, an offline trace number that \
is not a positive integer, and uploads switched off (`transaction_disabled`)."""


def _upload_path() -> dict:
    return parameter("upload_id", "path", string_schema("^[0-9]{1,18}$"), "离线对账 number (id)")


@operation(
    "GET",
    "/v1/offline/config",
    "offline",
    "What the terminal keeps to sell offline",
    "Fetched while online and kept by the terminal page: the offline switches and limits "
    "(settings `offline_*`), the cards it may not take offline (not active, or expiring), "
    "the public key it seals PINs typed offline to, and the server's clock.",
    roles=CAN_TRANSACT,
    errors=("terminal_required",),
    ok=json_response(ref_to("OfflineConfig"), "the terminal's offline configuration"),
)
def offline_config():
    return jsonify(offline.terminal_config(g.actor))


@operation(
    "POST",
    "/v1/offline/traces",
    "offline",
    "Reserve offline trace numbers",
    "Hands the caller's terminal the next `count` (1–1000, default "
    f"{offline.TRACE_BLOCK}) offline trace numbers, never handed out before: the terminal "
    "numbers its offline sales from them, so none repeats, even after its browser storage "
    "was lost.",
    roles=CAN_TRANSACT,
    body={
        **request_body(
            object_schema({"count": integer_schema(1, 1000, default=offline.TRACE_BLOCK)}),
            {"count": 100},
        ),
        "required": False,
    },
    errors=("terminal_required",),
    ok=json_response(ref_to("OfflineTraces"), "the block"),
    status=201,
)
def reserve_traces():
    data = body() if request.get_data() else {}
    first, last = offline.reserve_traces(g.actor, data.get("count", offline.TRACE_BLOCK))
    return jsonify({"first": first, "last": last}), 201


@operation(
    "POST",
    "/v1/offline/uploads",
    "offline",
    "Upload one offline sale (批量离线交易上传)",
    _UPLOAD_DESCRIPTION,
    roles=CAN_TRANSACT,
    body=request_body(
        ref_to("OfflineUploadRequest"),
        {
            "terminal_id": "10000001",
            "offline_trace_no": 1,
            "type": "consume",
            "card_no": "1680860097157114",
            "amount": "20.00",
            "operator_no": "01",
            "sold_at": "2026-12-05T10:20:30+08:00",
            "sealed_pin": None,
        },
    ),
    errors=(
        "bad_request",
        "invalid_terminal_id",
        "terminal_required",
        "transaction_disabled",
        "offline_trace_reused",
    ),
    ok=json_response(ref_to("OfflineUpload"), "the outcome: applied or failed", headers=REPLAYED),
    status=201,
)
def upload():
    result = offline.upload(g.actor, body(), address=request.remote_addr)
    response = jsonify(records.offline_upload(result.row))
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        observe.offline_outcome(result.row)  # said and printed when it was first answered
        print_service().offline_outcome(result.row)
    return response, 201


@operation(
    "GET",
    "/v1/offline/uploads",
    "offline",
    "离线对账: the uploads and their outcomes",
    "Every terminal's offline uploads, newest first; `status=failed` lists what is open. "
    "`totals` counts every upload by status, with the consume amounts (what is open, what "
    "was written off).",
    roles=CAN_RECONCILE,
    params=[
        parameter("status", "query", enum_schema(OFFLINE_STATUSES), "one status only"),
        parameter("page", "query", integer_schema(1, MAX_PAGE, default=1), "page number"),
        parameter("per_page", "query", integer_schema(1, MAX_PAGE_SIZE, default=50), "rows"),
    ],
    errors=("bad_request",),
    ok=json_response(ref_to("OfflineUploadPage"), "one page"),
)
def list_uploads():
    page = query_int("page", 1, 1, MAX_PAGE)
    per_page = query_int("per_page", 50, 1, MAX_PAGE_SIZE)
    rows, total = offline.uploads(request.args.get("status") or None, page, per_page)
    sums = offline.totals()
    return jsonify(
        {
            "uploads": [records.offline_upload(u) for u in rows],
            "total": total,
            "page": page,
            "per_page": per_page,
            "totals": {
                status: {
                    "count": sums.counts[status],
                    "amount": format_fen(sums.amounts_fen[status]),
                }
                for status in OFFLINE_STATUSES
            },
        }
    )


@operation(
    "GET",
    "/v1/offline/uploads/<upload_id>",
    "offline",
    "One offline upload",
    "An upload by its number in 离线对账.",
    roles=CAN_RECONCILE,
    params=[_upload_path()],
    errors=("bad_request", "offline_not_found"),
    ok=json_response(ref_to("OfflineUpload"), "the upload"),
)
def get_upload(upload_id: str):
    return jsonify(records.offline_upload(offline.get(upload_id)))


_RESOLVED = ("bad_request", "offline_not_found", "offline_resolved")


@operation(
    "POST",
    "/v1/offline/uploads/<upload_id>/retry",
    "offline",
    "离线对账: apply a failed upload now",
    "Applies a failed upload again with the ledger's rules as of now (after the member "
    "recharged, say), with its sealed PIN and its sale time. Applied, it is resolved; "
    "refused again, it stays open with the new reason. Audited (`offline.retry`). One that "
    "failed on its PIN (`wrong_pin`, `pin_unreadable`) is not tried again "
    "(`offline_not_retriable`): each try would count a wrong PIN against the card.",
    roles=CAN_RECONCILE,
    params=[_upload_path()],
    errors=(*_RESOLVED, "offline_not_retriable"),
    ok=json_response(ref_to("OfflineUpload"), "the upload, applied or still failed"),
)
def retry_upload(upload_id: str):
    row = offline.retry(g.actor, upload_id)
    observe.offline_outcome(row)
    return jsonify(records.offline_upload(row))


@operation(
    "POST",
    "/v1/offline/uploads/<upload_id>/paid-other",
    "offline",
    "离线对账: record a failed upload as paid another way",
    "The member paid the failed sale another way: closed with the payment method and an "
    "optional note; the card is not touched. Audited (`offline.paid_other`).",
    roles=CAN_RECONCILE,
    params=[_upload_path()],
    body=request_body(
        object_schema(
            {
                "payment_method": enum_schema(PAYMENT_METHODS, description="how it was paid"),
                "note": string_schema(None, nullable=True, maxLength=offline.MAX_NOTE),
            },
            ["payment_method"],
        ),
        {"payment_method": "cash", "note": "会员现金补付"},
    ),
    errors=_RESOLVED,
    ok=json_response(ref_to("OfflineUpload"), "the upload, resolved"),
)
def paid_other(upload_id: str):
    data = body()
    row = offline.record_paid_other(
        g.actor, upload_id, data.get("payment_method"), data.get("note")
    )
    return jsonify(records.offline_upload(row))


@operation(
    "POST",
    "/v1/offline/uploads/<upload_id>/write-off",
    "offline",
    "离线对账: write a failed upload off",
    "Gives the failed sale up, with the reason (required): closed, the card not touched. "
    "Audited (`offline.written_off`).",
    roles=CAN_RECONCILE,
    params=[_upload_path()],
    body=request_body(
        object_schema(
            {"reason": string_schema(None, minLength=1, maxLength=offline.MAX_NOTE)}, ["reason"]
        ),
        {"reason": "会员已离店，无法联系"},
    ),
    errors=_RESOLVED,
    ok=json_response(ref_to("OfflineUpload"), "the upload, resolved"),
)
def write_off(upload_id: str):
    row = offline.write_off(g.actor, upload_id, body().get("reason"))
    return jsonify(records.offline_upload(row))
