"""Staff management (员工管理): the staff list, adding and removing operators, and staff
passwords (a change with the old password, a reset by the supervisor or the owner).

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

from flask import g, jsonify, request

from ...domain import branches, staff
from ...domain.actors import CAN_MANAGE_STAFF, CAN_TRANSACT, OWNER_ONLY
from ...domain.errors import LedgerError
from ...domain.formats import SQL_INT_MAX
from ..sessions import end_sessions_of
from . import records
from .contract import body, operation
from .schemas import (
    NEW_OPERATOR_NO,
    SUPERVISOR_REFUSALS,
    TERMINAL_PASSWORD,
    changed_response,
    integer_schema,
    json_response,
    object_schema,
    path_operator_no,
    ref_to,
    request_body,
    string_schema,
)

_STAFF_AUTHORITY = (
    "Authorised by a supervisor's or the owner's session, or from an operator's session by "
    "`supervisor_password` (the supervisor's authorisation, with its lock)."
)


@operation(
    "GET",
    "/v1/staff",
    "staff",
    "The staff (员工管理)",
    "Every staff member by number, removed operators too (`active` false). No "
    "passwords: `password_set` is false while one is still on the role's default "
    "(the owner: none set).",
    roles=CAN_MANAGE_STAFF,
    ok=json_response(
        object_schema({"staff": {"type": "array", "items": ref_to("StaffMember")}}, ["staff"]),
        "the staff",
    ),
)
def list_staff():
    return jsonify({"staff": [records.staff(s) for s in staff.list_staff()]})


@operation(
    "POST",
    "/v1/staff",
    "staff",
    "Add an operator (添加操作员)",
    "A new operator number, two digits other than 00 (supervisor) and 99 (system "
    "operator), with a password of the operator's own: 4 to 8 digits, not the "
    "default 0000, so they can sign in at once. `name` defaults to 操作员NN. A "
    "removed operator's number may be given again: the operator is back, active, "
    "with the new name and password. " + _STAFF_AUTHORITY + " Checks, in order: "
    "the operator number (`invalid_staff_no`), the name (`bad_request` with "
    "`field`), the password (`invalid_password`), the authorisation, the number "
    "free (`staff_exists`).",
    roles=CAN_TRANSACT,
    body=request_body(
        object_schema(
            {
                "operator_no": string_schema(NEW_OPERATOR_NO, description="操作员号"),
                "name": string_schema(
                    None, nullable=True, maxLength=40, description="default 操作员NN"
                ),
                "password": string_schema(TERMINAL_PASSWORD, description="4 to 8 digits, not 0000"),
                "supervisor_password": ref_to("SupervisorPassword"),
            },
            ["operator_no", "password"],
        ),
        {
            "operator_no": "06",
            "name": "陈七",
            "password": "6060",
            "supervisor_password": "135790",
        },
    ),
    errors=(
        "invalid_staff_no",
        "invalid_password",
        *SUPERVISOR_REFUSALS,
        "staff_exists",
    ),
    ok=json_response(ref_to("StaffMember"), "the operator"),
    status=201,
)
def add_operator():
    data = body()
    member = staff.add_operator(
        g.actor,
        data.get("operator_no"),
        data.get("password"),
        data.get("name"),
        data.get("supervisor_password"),
    )
    return jsonify(records.staff(member)), 201


@operation(
    "POST",
    "/v1/staff/authorise",
    "staff",
    "Check a password reset's authority, entry by entry (员工管理)",
    "What PUT /api/v1/staff/{operator_no}/password checks before the new password, without "
    "setting anything, so the terminal refuses each entry when it is typed: first "
    "`supervisor_password` alone, then with `operator_no`. "
    + _STAFF_AUTHORITY
    + " Wrong supervisor passwords count as every authorisation's do (`staff_locked`). Checks, "
    "in order: the authorisation, then, with `operator_no`, the staff member found "
    "(`staff_not_found`) and whose it is (`not_permitted`). The password reset itself checks "
    "all of it again.",
    roles=CAN_TRANSACT,
    body=request_body(
        object_schema(
            {
                "supervisor_password": ref_to("SupervisorPassword"),
                "operator_no": string_schema(
                    None, nullable=True, description="操作员号, once typed"
                ),
            },
        ),
        {"supervisor_password": "135790", "operator_no": "02"},
    ),
    errors=(*SUPERVISOR_REFUSALS, "staff_not_found"),
    ok=json_response(
        object_schema(
            {
                "authorised": {"type": "boolean", "enum": [True]},
                "operator_no": string_schema(None, nullable=True),
                "name": string_schema(None, nullable=True, description="the operator's name"),
            },
            ["authorised", "operator_no", "name"],
        ),
        "authorised, and the operator of `operator_no` (both null without one)",
    ),
)
def authorise_staff():
    data = body()
    member = staff.check_password_reset(
        g.actor, data.get("supervisor_password"), data.get("operator_no")
    )
    return jsonify(
        {
            "authorised": True,
            "operator_no": member.staff_no if member is not None else None,
            "name": member.name if member is not None else None,
        }
    )


@operation(
    "DELETE",
    "/v1/staff/<operator_no>",
    "staff",
    "Remove an operator (删除操作员)",
    "Disables the operator: they can no longer sign in (`staff_disabled`) and "
    "every session of theirs ends; their journal rows keep naming them, and the "
    "number may be given again with POST /api/v1/staff. Only operators are "
    "removed. The body is optional. " + _STAFF_AUTHORITY + " Checks, in order: "
    "the authorisation, an active staff member of this number "
    "(`staff_not_found`), an operator (`not_permitted`).",
    roles=CAN_TRANSACT,
    params=[path_operator_no()],
    body={
        **request_body(
            object_schema({"supervisor_password": ref_to("SupervisorPassword")}),
            {"supervisor_password": "135790"},
        ),
        "required": False,
    },
    errors=(*SUPERVISOR_REFUSALS, "staff_not_found"),
    ok={"description": "removed (no body)"},
    status=204,
)
def remove_operator(operator_no: str):
    data = body() if request.get_data() else {}
    staff.remove_operator(g.actor, operator_no, data.get("supervisor_password"))
    end_sessions_of(operator_no)
    return "", 204


@operation(
    "POST",
    "/v1/staff/<operator_no>/password",
    "session",
    "Change a staff password",
    "The old password is the proof, so no session is needed; this is how a "
    "default password is replaced before the first sign-in. Operators, the "
    "supervisor and the system operator take 4 to 8 digits, the owner 8 to 128 "
    "characters; never the role's default. A wrong old password counts toward "
    "the same lock as sign-in (`staff_locked`). Ends every session of that "
    "staff member.",
    roles=None,
    params=[path_operator_no()],
    body=request_body(
        object_schema(
            {"old_password": string_schema(None), "new_password": string_schema(None)},
            ["old_password", "new_password"],
        ),
        {"old_password": "0000", "new_password": "2580"},
    ),
    errors=("password_not_set", "staff_locked", "wrong_password", "invalid_password"),
    ok=changed_response(),
)
def change_staff_password(operator_no: str):
    data = body()
    staff.change_password(
        operator_no, data.get("old_password"), data.get("new_password"), request.remote_addr
    )
    end_sessions_of(operator_no)
    return jsonify({"operator_no": operator_no, "changed": True})


@operation(
    "PUT",
    "/v1/staff/<operator_no>/password",
    "staff",
    "Set a staff password (改密)",
    "Without the old password: an operator's, authorised by the supervisor; "
    "anyone's, by the owner. The rules of the new password are those of the "
    "change above. Ends every session of that staff member. "
    + _STAFF_AUTHORITY
    + " Checks, in order: the authorisation, the staff member found "
    "(`staff_not_found`), whose it is (`not_permitted`: the supervisor sets "
    "operators' passwords only), the new password (`invalid_password`).",
    roles=CAN_TRANSACT,
    params=[path_operator_no()],
    body=request_body(
        object_schema(
            {
                "new_password": string_schema(None),
                "supervisor_password": ref_to("SupervisorPassword"),
            },
            ["new_password"],
        ),
        {"new_password": "7070"},
    ),
    errors=(*SUPERVISOR_REFUSALS, "staff_not_found", "invalid_password"),
    ok=changed_response(),
)
def reset_staff_password(operator_no: str):
    data = body()
    staff.reset_password(
        g.actor, operator_no, data.get("new_password"), data.get("supervisor_password")
    )
    end_sessions_of(operator_no)
    return jsonify({"operator_no": operator_no, "changed": True})


@operation(
    "PUT",
    "/v1/staff/<operator_no>/branch",
    "staff",
    "Limit a staff member to a branch (所属门店)",
    "The one branch (门店) a staff member works at: they sign in only at its terminals "
    "(`wrong_branch` elsewhere), their authority for voids and PIN resets applies there, and "
    "their reports show that branch. `null` frees them for the whole chain. Not the owner "
    "(`not_permitted`). Ends every session of that staff member. Checks, in order: the "
    "fields, the staff member found (`staff_not_found`), the branch found "
    "(`branch_not_found`).",
    roles=OWNER_ONLY,
    params=[path_operator_no()],
    body=request_body(
        object_schema(
            {
                "branch_id": {
                    **integer_schema(1, SQL_INT_MAX),
                    "nullable": True,
                    "description": "the branch's id (GET /api/v1/branches); null: every branch",
                }
            },
            ["branch_id"],
        ),
        {"branch_id": 2},
    ),
    errors=("bad_request", "staff_not_found", "branch_not_found"),
    ok=json_response(ref_to("StaffMember"), "the staff member after the change"),
)
def set_staff_branch(operator_no: str):
    data = body()
    chosen = data.get("branch_id", 0)
    if not (chosen is None or (type(chosen) is int and 0 < chosen <= SQL_INT_MAX)):
        raise LedgerError("bad_request", "门店不正确", field="branch_id")
    member = staff.find(operator_no)
    if member is None:
        raise LedgerError("staff_not_found")
    if branches.set_staff_branch(g.actor, member, chosen) != member.branch_id:
        end_sessions_of(member.staff_no)
    return jsonify(records.staff(staff.find(operator_no)))
