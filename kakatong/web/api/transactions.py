"""The ledger's transactions: post one of the four, look one up by voucher number, void it, and
the journal (交易流水).

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

import dataclasses

from flask import g, jsonify, request

from ...devices import printing
from ...domain import ledger, receipts, reports
from ...domain.actors import CAN_READ_JOURNAL, CAN_TRANSACT
from ...domain.errors import LedgerError
from ...domain.formats import MAX_PAGE
from ...domain.reports import MAX_PAGE_SIZE
from ...store.codes import JOURNAL_TYPES
from ...store.models import Terminal
from . import records
from .common import BRANCH_PARAMETER, posted_response, query_branch, query_int
from .contract import body, operation
from .schemas import (
    CARD_STATUS_REFUSALS,
    PIN_REFUSALS,
    REPLAYED,
    REQUEST_OF_TYPE,
    enum_schema,
    integer_schema,
    json_response,
    object_schema,
    parameter,
    path_voucher_no,
    ref_to,
    request_body,
    string_schema,
)

_TRANSACT_DESCRIPTION = """\
One of the four transactions, by `type`: 储值消费 `consume`, 储值充值 `recharge`, 积分累加 \
`points_earn`, 积分消费 `points_redeem`. Each is one database transaction.

Checks, in this order (the first failure answers): request format (fields, type, card number, \
PIN format, request_id, service code, payment method), the type is enabled \
(`transaction_disabled`), amount or points (`invalid_amount`, `over_limit`, \
`invalid_points`), the request_id (replay or `request_id_reused`), card found, card status, \
PIN (a wrong PIN counts toward the lock even though the request is refused), balance or \
points.

Idempotency: the same `request_id` with the same content returns the original transaction \
(as it is now: it may since have been voided) with status 201 and `Idempotent-Replayed: \
true`; with different content (another card, amount, PIN, terminal…) `request_id_reused`. A \
refused request claims nothing."""


_VOID_DESCRIPTION = """\
交易撤销: reverses a transaction of a still-open batch, exactly once, as a new `void` row \
(posted to the caller's terminal and batch).

Checks, in this order: request format, supervisor password (the owner needs none), \
request_id (replay or `request_id_reused`), original found (`transaction_not_found`, also \
for another terminal's transaction when the caller is an operator: see GET \
/api/v1/transactions/{voucher_no}), voidable (`not_voidable` for a \
void or an opening entry), already voided, batch closed (the original's terminal has \
settled since), the card's PIN (on the card that holds the original), and that the \
reversal leaves no balance or points negative (`void_refused`). The card's status is not \
checked. Idempotent like POST /api/v1/transactions."""


_JOURNAL_PARAMS = [
    parameter("card_no", "query", string_schema(None), "卡号"),
    parameter(
        "time_from",
        "query",
        string_schema(None),
        "ISO 8601 date-time, inclusive; without an offset it is shop time. Percent-"
        "encode a `+` offset as %2B",
    ),
    parameter("time_to", "query", string_schema(None), "ISO 8601 date-time, inclusive"),
    parameter(
        "date_from", "query", string_schema(None, format="date"), "清算日期 from, YYYY-MM-DD"
    ),
    parameter("date_to", "query", string_schema(None, format="date"), "清算日期 to, inclusive"),
    parameter("status", "query", enum_schema(["success", "voided"]), "交易状态"),
    parameter("type", "query", enum_schema(JOURNAL_TYPES), "交易类型"),
    parameter("trace_no", "query", integer_schema(0), "流水号 (digits)"),
    parameter("terminal_id", "query", string_schema(None), "终端号"),
    parameter("batch_no", "query", integer_schema(0), "批次号 (digits)"),
    BRANCH_PARAMETER,
    parameter("page", "query", integer_schema(1, MAX_PAGE, default=1), "page number, from 1"),
    parameter("per_page", "query", integer_schema(1, MAX_PAGE_SIZE, default=50), "rows per page"),
]


@operation(
    "POST",
    "/v1/transactions",
    "transactions",
    "Post a transaction (消费 / 充值 / 积分累加 / 积分消费)",
    _TRANSACT_DESCRIPTION,
    roles=CAN_TRANSACT,
    body=request_body(
        {
            "oneOf": [ref_to(name) for name in REQUEST_OF_TYPE.values()],
            "discriminator": {
                "propertyName": "type",
                "mapping": {
                    kind: f"#/components/schemas/{name}" for kind, name in REQUEST_OF_TYPE.items()
                },
            },
        },
        {
            "type": "consume",
            "card_no": "1680860097157114",
            "amount": "100.00",
            "pin": "123456",
            "request_id": "pos1-20250301-0001",
        },
    ),
    errors=(
        "bad_request",
        "invalid_card_no",
        "invalid_pin",
        "transaction_disabled",
        "invalid_amount",
        "over_limit",
        "invalid_points",
        "request_id_reused",
        "card_not_found",
        *CARD_STATUS_REFUSALS,
        *PIN_REFUSALS,
        "insufficient_balance",
        "insufficient_points",
        "no_points",
    ),
    ok=json_response(
        ref_to("Transaction"),
        "posted, or the original of a replayed request_id",
        headers=REPLAYED,
    ),
    status=201,
)
def post_transaction():
    data = body()
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
    return posted_response(result)


@operation(
    "GET",
    "/v1/transactions",
    "transactions",
    "The journal (交易流水)",
    "Every terminal's journal, newest first, filtered and paged. All filters are "
    "optional and combine with AND.",
    roles=CAN_READ_JOURNAL,
    params=_JOURNAL_PARAMS,
    errors=(
        "bad_request",
        "invalid_date",
        "invalid_card_no",
        "invalid_terminal_id",
        "branch_not_found",
    ),
    ok=json_response(ref_to("TransactionPage"), "one page"),
)
def list_transactions():
    filters = reports.journal_filter(request.args)
    filters = dataclasses.replace(filters, branch_id=query_branch())
    page = query_int("page", 1, 1, MAX_PAGE)
    per_page = query_int("per_page", 50, 1, MAX_PAGE_SIZE)
    rows, total = reports.journal(filters, page, per_page)
    return jsonify(
        {
            "transactions": [records.transaction(t) for t in rows],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )


@operation(
    "GET",
    "/v1/transactions/<voucher_no>",
    "transactions",
    "A transaction by voucher number",
    "What the void screen shows before the void: the transaction this 凭证号 names. "
    "The supervisor and the owner see every terminal's; an operator only those of the "
    "terminal they are signed in at (the POS's own journal): another terminal's answers "
    "`transaction_not_found`, as if it did not exist.",
    roles=CAN_TRANSACT,
    params=[path_voucher_no()],
    errors=("bad_request", "transaction_not_found"),
    ok=json_response(ref_to("Transaction"), "the transaction"),
)
def get_transaction(voucher_no: str):
    return jsonify(records.transaction(ledger.find_voucher(g.actor, voucher_no)))


@operation(
    "GET",
    "/v1/transactions/<voucher_no>/receipt",
    "transactions",
    "A transaction's receipt (签购单)",
    "What the slip of the transaction this 凭证号 names says, as data (visible as in GET "
    "/api/v1/transactions/{voucher_no}: an operator's own terminal's only): the "
    "card number masked, the type in Chinese with the POS's code, the numbers as six digits, "
    "the shop-local date and time, money as yuan, a void's original, the copies the "
    "terminal prints, and the slip's labelled lines in their order (`lines`: what the printer, "
    "the terminal page and the back office all show). The layout is left to whoever draws it. "
    "An import's opening entry has none (`transaction_not_found`).",
    roles=CAN_TRANSACT,
    params=[path_voucher_no()],
    errors=("bad_request", "transaction_not_found"),
    ok=json_response(ref_to("Receipt"), "the receipt"),
)
def get_receipt(voucher_no: str):
    return jsonify(records.receipt(receipts.for_voucher(g.actor, voucher_no)))


@operation(
    "GET",
    "/v1/terminal/receipt",
    "transactions",
    "The terminal's last receipt (重印)",
    "The receipt of the caller's terminal's last transaction, from any session there: the one "
    "the printer's 重印 prints again, so a terminal without a printer shows on screen what "
    "one with a printer would print, after a reload or a power cut too. The same answer as "
    "GET /api/v1/transactions/{voucher_no}/receipt; `no_receipt` while the terminal has made "
    "no transaction.",
    roles=CAN_TRANSACT,
    errors=("no_receipt",),
    ok=json_response(ref_to("Receipt"), "the receipt"),
)
def last_receipt():
    record = printing.last_receipt(Terminal.get_by_id(g.actor.terminal_pk))
    if record is None:
        raise LedgerError("no_receipt")
    return jsonify(records.receipt(receipts.build(record)))


@operation(
    "POST",
    "/v1/transactions/<voucher_no>/void",
    "transactions",
    "Void a transaction (交易撤销)",
    _VOID_DESCRIPTION,
    roles=CAN_TRANSACT,
    params=[path_voucher_no()],
    body=request_body(
        object_schema(
            {
                "supervisor_password": ref_to("SupervisorPassword"),
                "request_id": ref_to("RequestId"),
                "pin": ref_to("Pin"),
            },
            ["request_id"],
        ),
        {
            "supervisor_password": "135790",
            "request_id": "pos1-20250301-0002",
            "pin": "123456",
        },
    ),
    errors=(
        "bad_request",
        "invalid_pin",
        "staff_locked",
        "wrong_password",
        "password_change_required",
        "request_id_reused",
        "transaction_not_found",
        "not_voidable",
        "already_voided",
        "batch_closed",
        *PIN_REFUSALS,
        "void_refused",
    ),
    ok=json_response(
        ref_to("Transaction"),
        "the void row (type `void`), or the original of a replayed request_id",
        headers=REPLAYED,
    ),
    status=201,
)
def void_transaction(voucher_no: str):
    data = body()
    result = ledger.void(
        g.actor,
        voucher_no,
        supervisor_password=data.get("supervisor_password"),
        request_id=data.get("request_id"),
        pin=data.get("pin"),
    )
    return posted_response(result)
