"""The API of branches (门店): listing, adding and renaming them, a terminal moved to one, a
staff member limited to one (sign-in, journal, statistics), and each branch's statistics
adding up to the chain's. Every answer is checked against the OpenAPI document."""

from __future__ import annotations

import pytest
from conftest import PASSWORDS, PLAIN, ensure_password, rid
from test_openapi import check

from kakatong.domain import staff
from kakatong.domain.actors import Actor
from kakatong.store.models import Branch, Staff, Terminal
from kakatong.store.schema import DEFAULT_BRANCH

BRANCHES, ONE = "/api/v1/branches", "/api/v1/branches/{branch_id}"
STATS = "/api/v1/stats/daily"


@pytest.fixture
def second(api):
    """A second branch with its till 10000002 (registered and moved through the API)."""
    made = check(api.post(BRANCHES, {"name": "二店", "address": "北京路 8 号"}, as_="owner"),
                 BRANCHES, "post")  # fmt: skip
    till = api.post("/api/v1/terminals", {"terminal_id": "10000002", "name": "二店收银台"},
                    as_="owner")  # fmt: skip
    assert till.status_code == 201
    moved = api.put("/api/v1/terminals/10000002", {"branch_id": made["id"]}, as_="owner")
    moved = check(moved, "/api/v1/terminals/{terminal_id}", "put")
    assert (moved["branch_id"], moved["branch_name"]) == (made["id"], "二店")
    return made | {"key": till.get_json()["terminal_key"]}


def sign_in_at(client, staff_no: str, terminal_id: str, key: str | None = None):
    ensure_password(staff_no)
    payload = {"operator_no": staff_no, "password": PASSWORDS[staff_no], "terminal_id": terminal_id}
    if key:
        payload["terminal_key"] = key
    return client.post("/api/v1/session", json=payload)


def test_the_owner_lists_adds_and_renames_branches(api):
    listed = check(api.get(BRANCHES, as_="owner"), BRANCHES, "get")
    assert [(b["name"], b["terminals"]) for b in listed["branches"]] == [(DEFAULT_BRANCH, 2)]
    made = check(api.post(BRANCHES, {"name": " 二店 ", "address": ""}, as_="owner"),
                 BRANCHES, "post")  # fmt: skip
    assert (made["name"], made["terminals"]) == ("二店", 0)
    path = f"/api/v1/branches/{made['id']}"
    renamed = check(api.put(path, {"name": "二店（东）", "address": "东街 1 号"}, as_="owner"),
                    ONE, "put")  # fmt: skip
    assert renamed["address"] == "东街 1 号" and Branch.get_by_id(made["id"]).name == "二店（东）"
    # Refusals change nothing.
    taken = check(api.post(BRANCHES, {"name": DEFAULT_BRANCH}, as_="owner"), BRANCHES, "post")
    assert taken["error"] == "branch_exists"
    blank = check(api.post(BRANCHES, {"name": "  "}, as_="owner"), BRANCHES, "post")
    assert blank["error"] == "invalid_setting"
    unknown = check(api.post(BRANCHES, {"name": "三店", "city": "x"}, as_="owner"), BRANCHES,
                    "post")  # fmt: skip
    assert unknown["error"] == "bad_request"
    missing = check(api.put("/api/v1/branches/999", {"name": "x"}, as_="owner"), ONE, "put")
    assert missing["error"] == "branch_not_found"
    assert Branch.select().count() == 2
    # The supervisor reads them; only the owner makes or changes them.
    assert len(check(api.get(BRANCHES, as_="00"), BRANCHES, "get")["branches"]) == 2
    assert len(check(api.get(BRANCHES, as_="99"), BRANCHES, "get")["branches"]) == 2
    refused = check(api.post(BRANCHES, {"name": "三店"}, as_="00"), BRANCHES, "post")
    assert refused["error"] == "not_permitted"
    refused = check(api.put(path, {"name": "三店"}, as_="99"), ONE, "put")
    assert refused["error"] == "not_permitted" and Branch.get_by_id(made["id"]).name == "二店（东）"
    assert check(api.get(BRANCHES, as_="01"), BRANCHES, "get")["error"] == "not_permitted"


def test_a_moved_terminal_posts_its_sales_at_its_new_branch(api, client, second):
    token = sign_in_at(client, "01", "10000002", second["key"]).get_json()["token"]
    posted = client.post(
        "/api/v1/transactions",
        json={"type": "consume", "card_no": PLAIN, "amount": "3.00", "request_id": rid()},
        headers={"Authorization": f"Bearer {token}"},
    )
    posted = check(posted, "/api/v1/transactions", "post")
    assert posted["branch_id"] == second["id"] and posted["terminal_id"] == "10000002"
    assert posted["branch_name"] == "二店"
    # The journal row stays the second branch's; its name follows a rename.
    path = f"/api/v1/branches/{second['id']}"
    check(api.put(path, {"name": "二店（北）"}, as_="owner"), ONE, "put")
    found = api.get(f"/api/v1/transactions/{posted['voucher_no']}", as_="owner")
    found = check(found, "/api/v1/transactions/{voucher_no}", "get")
    assert (found["branch_id"], found["branch_name"]) == (second["id"], "二店（北）")
    listed = check(api.get("/api/v1/terminals", as_="owner"), "/api/v1/terminals", "get")
    assert {t["terminal_id"]: t["branch_name"] for t in listed["terminals"]}["10000002"] \
        == "二店（北）"  # fmt: skip
    forged = api.put("/api/v1/terminals/10000002", {"branch_id": 999}, as_="owner")
    assert check(forged, "/api/v1/terminals/{terminal_id}", "put")["error"] == "branch_not_found"
    wrong = api.put("/api/v1/terminals/10000002", {"branch_id": "2"}, as_="owner")
    assert check(wrong, "/api/v1/terminals/{terminal_id}", "put")["error"] == "invalid_setting"
    assert Terminal.get(Terminal.terminal_id == "10000002").branch_id == second["id"]


def test_a_staff_member_limited_to_a_branch(api, client, second):
    path = "/api/v1/staff/{operator_no}/branch"
    limited = api.put("/api/v1/staff/02/branch", {"branch_id": second["id"]}, as_="owner")
    assert check(limited, path, "put")["branch_id"] == second["id"]
    listed = check(api.get("/api/v1/staff", as_="owner"), "/api/v1/staff", "get")["staff"]
    assert {m["operator_no"]: m["branch_id"] for m in listed}["02"] == second["id"]
    # Signs in at the second branch's till only.
    refused = check(sign_in_at(client, "02", "10000001"), "/api/v1/session", "post")
    assert refused["error"] == "wrong_branch"
    session = check(sign_in_at(client, "02", "10000002", second["key"]), "/api/v1/session",
                    "post")  # fmt: skip
    mine = {"Authorization": f"Bearer {session['token']}"}
    assert client.get("/api/v1/session", headers=mine).status_code == 200
    # Only the owner limits staff.
    api.tokens["00"] = sign_in_at(client, "00", "10000001").get_json()["token"]
    refused = check(api.put("/api/v1/staff/02/branch", {"branch_id": None}, as_="00"), path,
                    "put")  # fmt: skip
    assert refused["error"] == "not_permitted"
    assert client.get("/api/v1/session", headers=mine).status_code == 200
    # Bad values and the owner refused; null frees.
    for body in ({"branch_id": 999}, {"branch_id": "2"}, {}):
        answer = check(api.put("/api/v1/staff/02/branch", body, as_="owner"), path, "put")
        assert answer["error"] in ("branch_not_found", "bad_request"), body
    owner = check(api.put("/api/v1/staff/owner/branch", {"branch_id": 1}, as_="owner"), path,
                  "put")  # fmt: skip
    assert owner["error"] == "not_permitted"
    nobody = check(api.put("/api/v1/staff/77/branch", {"branch_id": None}, as_="owner"), path,
                   "put")  # fmt: skip
    assert nobody["error"] == "staff_not_found"
    assert check(api.put("/api/v1/staff/02/branch", {"branch_id": None}, as_="owner"), path,
                 "put")["branch_id"] is None  # fmt: skip
    assert Staff.get(Staff.staff_no == "02").branch_id is None
    # A change of branch ended the member's session; signing in anywhere works again.
    ended = check(client.get("/api/v1/session", headers=mine), "/api/v1/session", "get")
    assert ended["error"] == "not_signed_in"
    assert sign_in_at(client, "02", "10000001").status_code == 201


def test_each_branchs_statistics_and_journal_add_up_to_the_chains(api, client, second):
    api.tokens["01"] = sign_in_at(client, "01", "10000001").get_json()["token"]
    api.transact("recharge", PLAIN, amount="100.00", payment_method="cash")  # at 10000001
    token = sign_in_at(client, "01", "10000002", second["key"]).get_json()["token"]
    spent = client.post(
        "/api/v1/transactions",
        json={"type": "consume", "card_no": PLAIN, "amount": "30.00", "request_id": rid()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert spent.status_code == 201  # 通存通兑: recharged at one branch, spent at the other
    first_id = Branch.get(Branch.name == DEFAULT_BRANCH).id
    whole = check(api.get(STATS, as_="owner"), STATS, "get")["totals"]
    one = check(api.get(f"{STATS}?branch_id={first_id}", as_="owner"), STATS, "get")["totals"]
    two = check(api.get(f"{STATS}?branch_id={second['id']}", as_="owner"), STATS, "get")["totals"]
    assert (one["recharge_total"], two["consume_total"]) == ("100.00", "30.00")
    assert one["count"] + two["count"] == whole["count"]
    assert whole["balance_net"] == "70.00"
    journal = "/api/v1/transactions"
    rows = check(api.get(f"{journal}?branch_id={second['id']}", as_="owner"), journal, "get")
    assert {t["branch_id"] for t in rows["transactions"]} == {second["id"]}
    assert check(api.get(f"{STATS}?branch_id=999", as_="owner"), STATS, "get")["error"] \
        == "branch_not_found"  # fmt: skip
    assert check(api.get(f"{STATS}?branch_id=x", as_="owner"), STATS, "get")["error"] \
        == "bad_request"  # fmt: skip
    # A supervisor limited to the second branch reads that branch's, whatever is asked.
    owner = Staff.get(Staff.staff_no == "owner")
    ten = staff.add_operator(Actor(owner.id, "owner", "owner", None, None), "10", "86420",
                             role="supervisor")  # fmt: skip
    Staff.update(branch=second["id"]).where(Staff.id == ten.id).execute()
    PASSWORDS["10"] = "86420"
    try:
        api.tokens["10"] = sign_in_at(client, "10", "10000002", second["key"]).get_json()["token"]
        theirs = check(api.get(STATS, as_="10"), STATS, "get")["totals"]
        assert theirs == two
        other = check(api.get(f"{STATS}?branch_id={first_id}", as_="10"), STATS, "get")
        assert other["error"] == "not_permitted"
        listed = check(api.get(journal, as_="10"), journal, "get")["transactions"]
        assert listed and {t["branch_id"] for t in listed} == {second["id"]}
        assert {t["branch_name"] for t in listed} == {"二店"}
        other = check(api.get(f"{journal}?branch_id={first_id}", as_="10"), journal, "get")
        assert other["error"] == "not_permitted"
        same = check(api.get(f"{journal}?branch_id={second['id']}", as_="10"), journal, "get")
        assert same["transactions"] == listed
    finally:
        del PASSWORDS["10"]
