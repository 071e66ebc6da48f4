"""Branches (门店): the chain's branches, each with its terminals; the owner adds and renames
them. A single shop has one. Where a staff member is limited to one branch, and which branch a
report shows, is in staff.py and in the reports' `branch_id` parameter.

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

from flask import g, jsonify

from ...domain import branches
from ...domain.actors import CAN_LIST_BRANCHES, OWNER_ONLY
from ...domain.formats import SQL_INT_MAX
from . import records
from .contract import body, operation
from .schemas import (
    integer_schema,
    json_response,
    object_schema,
    parameter,
    ref_to,
    request_body,
    string_schema,
)

_BRANCH_BODY = object_schema(
    {
        "name": string_schema(
            r"\S", maxLength=branches.NAME_MAX, description="门店名称, unique in the chain"
        ),
        "address": string_schema(
            None, maxLength=branches.ADDRESS_MAX, description="地址, printed on its slips"
        ),
    },
    ["name"],
)


def _answer(branch, status: int = 200):
    return jsonify(records.branch(branch, branches.terminal_counts().get(branch.id, 0))), status


@operation(
    "GET",
    "/v1/branches",
    "branches",
    "The branches (门店)",
    "Every branch of the chain, oldest first, with how many terminals each has. A single "
    "shop has one. Its `id` is the `branch_id` of terminals, staff, journal rows and the "
    "reports' filter.",
    roles=CAN_LIST_BRANCHES,
    ok=json_response(
        object_schema({"branches": {"type": "array", "items": ref_to("Branch")}}, ["branches"]),
        "the branches",
    ),
)
def list_branches():
    counts = branches.terminal_counts()
    return jsonify({"branches": [records.branch(b, counts.get(b.id, 0)) for b in branches.every()]})


@operation(
    "POST",
    "/v1/branches",
    "branches",
    "Add a branch (新建门店)",
    "A shop joining the chain: a name no other branch has (`branch_exists`) and the address "
    "its slips print (may be empty). Then move its terminals to it (PUT "
    "/api/v1/terminals/{terminal_id} with `branch_id`) and limit its staff to it (PUT "
    "/api/v1/staff/{operator_no}/branch). Checks, in order: the fields, the values "
    "(`invalid_setting` with `setting`), the name free.",
    roles=OWNER_ONLY,
    body=request_body(_BRANCH_BODY, {"name": "二店", "address": "北京路 8 号"}),
    errors=("bad_request", "invalid_setting", "branch_exists"),
    ok=json_response(ref_to("Branch"), "the new branch"),
    status=201,
)
def create_branch():
    data = body()
    return _answer(branches.create(g.actor, data.get("name"), data.get("address", "")), 201)


@operation(
    "PUT",
    "/v1/branches/<int:branch_id>",
    "branches",
    "Change a branch (修改门店)",
    "Its name and address, both given (an address left out is emptied). Its slips print "
    "the new ones from the next transaction. Checks, in order: the fields, the values "
    "(`invalid_setting`), the branch found (`branch_not_found`), the name free "
    "(`branch_exists`).",
    roles=OWNER_ONLY,
    params=[parameter("branch_id", "path", integer_schema(1, SQL_INT_MAX), "the branch's id")],
    body=request_body(_BRANCH_BODY, {"name": "二店（北京路）", "address": "北京路 8 号"}),
    errors=("bad_request", "invalid_setting", "branch_not_found", "branch_exists"),
    ok=json_response(ref_to("Branch"), "the branch after the change"),
)
def update_branch(branch_id: int):
    data = body()
    # Beyond the database's integers no branch is (0: none, found after the values' checks).
    known = branch_id if branch_id <= SQL_INT_MAX else 0
    return _answer(branches.update(g.actor, known, data.get("name"), data.get("address", "")))
