"""Member cards (会员卡): activation, look-up, the holder's phone and ID number, the PIN, the
status, and the balance query.

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

from flask import g, jsonify, request

from ...domain import cards, ledger
from ...domain.actors import ALL_ROLES, CAN_EDIT_MEMBERS, CAN_TRANSACT
from ...domain.cards import ID_NUMBER, PHONE
from ...domain.errors import LedgerError
from ...domain.money import format_fen
from ...store.codes import CARD_STATUSES
from . import records
from .contract import body, operation
from .schemas import (
    CARD_STATUS_REFUSALS,
    PIN_REFUSALS,
    SUPERVISOR_REFUSALS,
    card_response,
    enum_schema,
    flag_response,
    full_match,
    json_response,
    object_schema,
    parameter,
    path_card_no,
    ref_to,
    request_body,
    string_schema,
)


def _card_record(card, with_balance: bool | None = None):
    if with_balance is None:
        with_balance = g.actor.role == "owner"
    return jsonify(records.card(card, with_balance=with_balance))


_HOLDER_CHANGE = "Checks, in order: formats, card found, card status, PIN (a wrong one counts)."


@operation(
    "POST",
    "/v1/cards",
    "cards",
    "Activate a card (会员激活)",
    "A new card number, or one of the shop's stock still `inactive`. Nothing "
    "moves: the balance and points start at zero.",
    roles=CAN_TRANSACT,
    body=request_body(
        ref_to("ActivateCardRequest"),
        {"card_no": "1680106700000034", "phone": "13700137000", "pin": "246810"},
    ),
    errors=(
        "bad_request",
        "invalid_date",
        "invalid_card_no",
        "invalid_phone",
        "invalid_id_number",
        "invalid_pin",
        "level_not_found",
        "card_exists",
        "phone_taken",
        "external_no_taken",
    ),
    ok=card_response("the activated card"),
    status=201,
)
def activate_card():
    data = body()
    kind = data.pop("activation_type", None) or "card_no"
    return _card_record(cards.activate(data, g.actor, kind)), 201


@operation(
    "GET",
    "/v1/cards",
    "cards",
    "Find a card",
    "By card number, external card number (外卡号) or bound phone, in that order.",
    roles=ALL_ROLES,
    params=[
        parameter(
            "find",
            "query",
            string_schema(None, minLength=1),
            "卡号, 外卡号 or 手机号码",
            required=True,
        )
    ],
    errors=("bad_request", "card_not_found"),
    ok=card_response(),
)
def find_card():
    return _card_record(cards.find_card(request.args.get("find", "")))


@operation(
    "GET",
    "/v1/cards/lookup",
    "cards",
    "Look a card up by what the member gives (卡号, 外卡号 or 手机号码)",
    "Every card `q` names: by card number, external card number (外卡号) or bound phone, "
    "each card once, in that order, with the number it matched (`matched_by`). One "
    "candidate is the card; several (one card's number is another's phone) are for the "
    "cashier to choose from. What a typed card entry resolves through before the card "
    "number goes into a request.",
    roles=ALL_ROLES,
    params=[
        parameter(
            "q",
            "query",
            string_schema(None, minLength=1),
            "卡号, 外卡号 or 手机号码, as typed",
            required=True,
        )
    ],
    errors=("bad_request", "card_not_found"),
    ok=json_response(ref_to("CardCandidates"), "the candidates, at least one"),
)
def lookup_card():
    with_balance = g.actor.role == "owner"
    return jsonify(
        {
            "candidates": [
                {
                    "matched_by": c.matched_by,
                    "card": records.card(c.card, with_balance=with_balance),
                }
                for c in cards.lookup(request.args.get("q", ""))
            ]
        }
    )


@operation(
    "GET",
    "/v1/cards/<card_no>",
    "cards",
    "Get a card",
    "The card with exactly this card number.",
    roles=ALL_ROLES,
    params=[path_card_no()],
    errors=("invalid_card_no", "card_not_found"),
    ok=card_response(),
)
def get_card(card_no: str):
    return _card_record(cards.get_card(card_no))


@operation(
    "PATCH",
    "/v1/cards/<card_no>",
    "cards",
    "Edit a member's details (修改会员资料)",
    "After activation: any of name, gender, birthday, id_number, level, expires_on, checked as "
    'activation checks them; null or "" clears one (the level must name one). An expiry '
    "may not be moved into the past. Each field that changes is audited (card.update) with "
    "its value before and after; the phone and the PIN stay the holder's (their own calls). "
    "Checks: formats, card found, card not inactive, level found, expiry.",
    roles=CAN_EDIT_MEMBERS,
    params=[path_card_no()],
    body=request_body(ref_to("EditMemberRequest"), {"name": "李四", "expires_on": "2030-12-31"}),
    errors=(
        "bad_request",
        "invalid_card_no",
        "invalid_date",
        "invalid_id_number",
        "card_not_found",
        "card_inactive",
        "level_not_found",
    ),
    ok=card_response("the card as it is now"),
)
def edit_member(card_no: str):
    card, changed_response = cards.update_member(g.actor, card_no, body())
    return _card_record(card)


@operation(
    "PUT",
    "/v1/cards/<card_no>/phone",
    "cards",
    "Bind a phone (绑定手机)",
    'Binds a phone number to the card; null or "" unbinds it. ' + _HOLDER_CHANGE,
    roles=CAN_TRANSACT,
    params=[path_card_no()],
    body=request_body(
        object_schema(
            {
                "phone": string_schema(full_match(PHONE), nullable=True),
                "pin": ref_to("Pin"),
            },
            ["phone"],
        ),
        {"phone": "13600136000", "pin": "123456"},
    ),
    errors=(
        "bad_request",
        "invalid_card_no",
        "invalid_pin",
        "invalid_phone",
        "card_not_found",
        *CARD_STATUS_REFUSALS,
        *PIN_REFUSALS,
        "phone_taken",
    ),
    ok=card_response(),
)
def bind_phone(card_no: str):
    data = body()
    if "phone" not in data:
        raise LedgerError("bad_request", "请输入手机号码（为空则解绑）")
    return _card_record(cards.bind(g.actor, card_no, data.get("pin"), phone=data["phone"]))


@operation(
    "PUT",
    "/v1/cards/<card_no>/id_number",
    "cards",
    "Bind an ID number (绑定身份证)",
    'Binds a national ID number to the card; null or "" unbinds it. ' + _HOLDER_CHANGE,
    roles=CAN_TRANSACT,
    params=[path_card_no()],
    body=request_body(
        object_schema(
            {
                "id_number": string_schema(full_match(ID_NUMBER), nullable=True),
                "pin": ref_to("Pin"),
            },
            ["id_number"],
        ),
    ),
    errors=(
        "bad_request",
        "invalid_card_no",
        "invalid_pin",
        "invalid_id_number",
        "card_not_found",
        *CARD_STATUS_REFUSALS,
        *PIN_REFUSALS,
    ),
    ok=card_response(),
)
def bind_id_number(card_no: str):
    data = body()
    if "id_number" not in data:
        raise LedgerError("bad_request", "请输入身份证号码（为空则解绑）")
    card = cards.bind(g.actor, card_no, data.get("pin"), id_number=data["id_number"])
    return _card_record(card)


@operation(
    "POST",
    "/v1/cards/<card_no>/pin",
    "cards",
    "Change the PIN (修改密码)",
    'The old PIN is the proof (null/"" for a card without one); a null or '
    "empty new PIN removes the PIN. " + _HOLDER_CHANGE,
    roles=CAN_TRANSACT,
    params=[path_card_no()],
    body=request_body(
        object_schema({"old_pin": ref_to("Pin"), "new_pin": ref_to("Pin")}),
        {"old_pin": "123456", "new_pin": "654321"},
    ),
    errors=(
        "invalid_card_no",
        "invalid_pin",
        "card_not_found",
        *CARD_STATUS_REFUSALS,
        *PIN_REFUSALS,
    ),
    ok=flag_response("changed"),
)
def change_pin(card_no: str):
    data = body()
    cards.change_pin(g.actor, card_no, data.get("old_pin"), data.get("new_pin"))
    return jsonify({"card_no": card_no, "changed": True})


@operation(
    "POST",
    "/v1/cards/<card_no>/pin/reset",
    "cards",
    "Reset the PIN (密码重置)",
    "Without the old PIN: staff confirm the holder, the supervisor authorises. "
    "Clears a PIN lock too. Checks: formats, supervisor password, card found, "
    "card not inactive (a frozen or lost card may be reset).",
    roles=CAN_TRANSACT,
    params=[path_card_no()],
    body=request_body(
        object_schema(
            {
                "new_pin": ref_to("Pin"),
                "supervisor_password": ref_to("SupervisorPassword"),
            },
        ),
        {"new_pin": "246810", "supervisor_password": "135790"},
    ),
    errors=(
        "invalid_card_no",
        "invalid_pin",
        *SUPERVISOR_REFUSALS,
        "card_not_found",
        "card_inactive",
    ),
    ok=flag_response("reset"),
)
def reset_pin(card_no: str):
    data = body()
    cards.reset_pin(g.actor, card_no, data.get("new_pin"), data.get("supervisor_password"))
    return jsonify({"card_no": card_no, "reset": True})


@operation(
    "POST",
    "/v1/cards/<card_no>/pin/unlock",
    "cards",
    "Unlock the PIN",
    "Clears the wrong-PIN count and lock; the supervisor authorises. An inactive "
    "card has no PIN to unlock.",
    roles=CAN_TRANSACT,
    params=[path_card_no()],
    body=request_body(
        object_schema({"supervisor_password": ref_to("SupervisorPassword")}),
        {"supervisor_password": "135790"},
    ),
    errors=(
        "invalid_card_no",
        *SUPERVISOR_REFUSALS,
        "card_not_found",
        "card_inactive",
    ),
    ok=flag_response("unlocked"),
)
def unlock_pin(card_no: str):
    cards.unlock_pin(g.actor, card_no, body().get("supervisor_password"))
    return jsonify({"card_no": card_no, "unlocked": True})


@operation(
    "POST",
    "/v1/cards/<card_no>/status",
    "cards",
    "Freeze, report lost, restore (冻结 / 挂失 / 解挂)",
    "Allowed changes: active → frozen, active → lost, frozen → lost (no "
    "authorisation); frozen → active and lost → active (the supervisor "
    "authorises). Anything else is `invalid_status_change` (with "
    "`current_status`).",
    roles=ALL_ROLES,
    params=[path_card_no()],
    body=request_body(
        object_schema(
            {
                "status": enum_schema(CARD_STATUSES),
                "supervisor_password": ref_to("SupervisorPassword"),
            },
            ["status"],
        ),
        {"status": "frozen"},
    ),
    errors=(
        "invalid_card_no",
        "bad_request",
        "card_not_found",
        "invalid_status_change",
        *SUPERVISOR_REFUSALS,
    ),
    ok=card_response("the card with its new status"),
)
def set_card_status(card_no: str):
    data = body()
    card = cards.set_status(g.actor, card_no, data.get("status"), data.get("supervisor_password"))
    return _card_record(card)


@operation(
    "POST",
    "/v1/cards/<card_no>/query",
    "cards",
    "Balance and points query (储值查询 / 积分查询)",
    "The card's balance and points for the holder's PIN. Writes no journal row; "
    "a wrong PIN still counts. Checks: formats, card found, card status, PIN.",
    roles=CAN_TRANSACT,
    params=[path_card_no()],
    body=request_body(object_schema({"pin": ref_to("Pin")}), {"pin": "123456"}),
    errors=(
        "invalid_card_no",
        "invalid_pin",
        "card_not_found",
        *CARD_STATUS_REFUSALS,
        *PIN_REFUSALS,
    ),
    ok=json_response(ref_to("Balance"), "the balance and points"),
)
def query_card(card_no: str):
    card = ledger.query(g.actor, card_no, body().get("pin"))
    return jsonify(
        {
            "card_no": card.card_no,
            "balance": format_fen(card.balance_fen),
            "points": card.points,
        }
    )
