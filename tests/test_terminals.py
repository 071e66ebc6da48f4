"""Terminal parameters, operator management, the terminal lock and the version screen."""

import pytest
from conftest import PASSWORDS, PLAIN, body

from kakatong.store.models import Staff, Terminal


def test_the_terminal_parameters_of_the_manual(api):
    t = body(api.get("/api/v1/terminal"))
    assert t == {
        "terminal_id": "10000001", "name": "收银台 1", "kind": "pos", "batch_no": "000001",
        "next_trace_no": "000001", "receipt_copies": 2, "standby_type": "consume",
        "manual_entry": True, "service_code_prompt": True, "language": "zh",
        "branch_id": 1, "branch_name": "本店", "journal_view_from": None,
        "printer_url": "none", "printer_encoding": "gb18030", "printer_chinese_mode": True,
        "paper_mm": 58, "printer_image": False, "printer_cut": True,
        "enabled_types": ["consume", "recharge", "points_earn", "points_redeem"],
        "merchant_id": "898100000000001", "merchant_name": "卡卡通示范商户",
        "receipt_title": "卡卡通会员签购单",
        "printer": {"printer": "none", "error": None, "reason": None, "message": None, "job": None},
    }  # fmt: skip
    r = api.put(
        "/api/v1/terminals/10000001",
        {"receipt_copies": 1, "standby_type": "points_earn", "manual_entry": False,
         "service_code_prompt": False, "next_trace_no": 500, "name": "前台"},
        as_="99",
    )  # fmt: skip
    assert r.status_code == 200, body(r)
    changed = body(api.get("/api/v1/terminal"))
    shop = ("enabled_types", "merchant_id", "merchant_name", "receipt_title", "printer")
    assert {k: changed[k] for k in t if k not in shop and not k.startswith(("printer", "paper"))} == {
        "terminal_id": "10000001", "name": "前台", "kind": "pos", "batch_no": "000001",
        "next_trace_no": "000500", "receipt_copies": 1, "standby_type": "points_earn",
        "manual_entry": False, "service_code_prompt": False, "language": "zh",
        "branch_id": 1, "branch_name": "本店", "journal_view_from": None,
    }  # fmt: skip
    assert body(api.transact("consume", PLAIN, amount="1"))["trace_no"] == "000500"


@pytest.mark.parametrize(
    "change",
    [
        {"receipt_copies": 3},
        {"receipt_copies": True},
        {"standby_type": "recharge"},
        {"manual_entry": 1},
        {"next_trace_no": 0},
        {"next_trace_no": 1_000_000},
        {"name": " "},
        {"receipt_copies": 1, "colour": "red"},
        {},
        {"printer_url": "lpt1"},
        {"printer_url": "tcp://"},
        {"printer_url": "tcp://10.0.0.5:99999"},
        {"printer_url": "usb://04b8"},
        {"printer_url": "serial:///dev/ttyS0?baudrate=fast"},
        {"printer_url": "file://relative"},
        {"printer_url": 9100},
        {"printer_url": "tcp://" + "a" * 200},
        {"printer_encoding": "big5"},
        {"printer_chinese_mode": "yes"},
        {"paper_mm": 76},
        {"paper_mm": 58.0},
        {"printer_image": 0},
        {"printer_cut": None},
        {"paper_mm": 80, "printer_url": "http://printer"},  # all or nothing
    ],
)
def test_bad_terminal_parameters_change_nothing(api, change):
    before = body(api.get("/api/v1/terminal"))
    r = api.put("/api/v1/terminals/10000001", change, as_="99")
    assert r.status_code == 400 and body(r)["error"] in ("invalid_setting", "bad_request")
    assert body(api.get("/api/v1/terminal")) == before


def test_only_the_system_operator_or_owner_sets_terminal_parameters(api):
    for staff_no in ("01", "00"):
        r = api.put("/api/v1/terminals/10000001", {"receipt_copies": 1}, as_=staff_no)
        assert body(r)["error"] == "not_permitted"
    r = api.put("/api/v1/terminals/99999999", {"receipt_copies": 1}, as_="owner")
    assert body(r)["error"] == "terminal_not_found"
    assert [
        t["terminal_id"] for t in body(api.get("/api/v1/terminals", as_="owner"))["terminals"]
    ] == ["10000001", "99000001"]


# ---------------------------------------------------------------- operators (员工管理)


def test_the_supervisor_adds_lists_changes_and_removes_operators(api, client):
    r = api.post(
        "/api/v1/staff", {"operator_no": "06", "name": "小王", "password": "4711"}, as_="00"
    )
    assert r.status_code == 201 and body(r)["name"] == "小王"
    r = client.post("/api/v1/session", json={"operator_no": "06", "password": "4711"})
    assert r.status_code == 201, body(r)
    listed = {s["operator_no"]: s for s in body(api.get("/api/v1/staff", as_="00"))["staff"]}
    assert listed["06"]["active"] and listed["06"]["password_set"]
    r = api.put("/api/v1/staff/06/password", {"new_password": "8642"}, as_="00")
    assert r.status_code == 200
    assert (
        client.post("/api/v1/session", json={"operator_no": "06", "password": "4711"}).status_code
        == 403
    )
    assert api.delete("/api/v1/staff/06", as_="00").status_code == 204
    r = client.post("/api/v1/session", json={"operator_no": "06", "password": "8642"})
    assert body(r)["error"] == "staff_disabled"
    r = api.post("/api/v1/staff", {"operator_no": "06", "password": "1357"}, as_="00")
    assert r.status_code == 201  # a removed number may be given again


def test_an_operator_manages_staff_with_the_supervisor_password(api, supervisor):
    r = api.post("/api/v1/staff", {"operator_no": "07", "password": "4711"})
    assert body(r)["error"] == "bad_request"  # no supervisor password
    r = api.post(
        "/api/v1/staff", {"operator_no": "07", "password": "4711", "supervisor_password": "000000"}
    )
    assert body(r)["error"] == "wrong_password"
    r = api.post(
        "/api/v1/staff",
        {"operator_no": "07", "password": "4711", "supervisor_password": supervisor},
    )
    assert r.status_code == 201
    assert body(api.get("/api/v1/staff"))["error"] == "not_permitted"


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"operator_no": "00", "password": "4711"}, "invalid_staff_no"),
        ({"operator_no": "99", "password": "4711"}, "invalid_staff_no"),
        ({"operator_no": "7", "password": "4711"}, "invalid_staff_no"),
        ({"operator_no": "01", "password": "4711"}, "staff_exists"),
        ({"operator_no": "08", "password": "0000"}, "invalid_password"),
        ({"operator_no": "08", "password": "12"}, "invalid_password"),
        ({"operator_no": "08", "password": "4711", "name": "x" * 41}, "bad_request"),
    ],
)
def test_bad_operators_are_refused(api, fields, code):
    count = Staff.select().count()
    assert body(api.post("/api/v1/staff", fields, as_="00"))["error"] == code
    assert Staff.select().count() == count


def test_the_supervisor_cannot_remove_or_reset_other_roles(api):
    assert body(api.delete("/api/v1/staff/99", as_="00"))["error"] == "not_permitted"
    r = api.put("/api/v1/staff/99/password", {"new_password": "86428642"}, as_="00")
    assert body(r)["error"] == "not_permitted"
    r = api.put("/api/v1/staff/99/password", {"new_password": "86428642"}, as_="owner")
    assert r.status_code == 200
    assert body(api.delete("/api/v1/staff/42", as_="00"))["error"] == "staff_not_found"


def test_removing_an_operator_ends_their_sessions(api):
    api.token("02")
    api.delete("/api/v1/staff/02", as_="00")
    assert body(api.get("/api/v1/session", as_="02"))["error"] == "not_signed_in"


# ---------------------------------------------------------------- lock (锁定), version


def test_a_locked_terminal_refuses_everything_until_its_operator_unlocks_it(api):
    assert body(api.post("/api/v1/session/lock", {}))["locked"] is True
    r = api.transact("consume", PLAIN, amount="1")
    assert (r.status_code, body(r)["error"]) == (423, "terminal_locked")
    assert body(api.get("/api/v1/session"))["locked"] is True
    r = api.post("/api/v1/session/unlock", {"password": "9999"})
    assert body(r)["error"] == "wrong_password"
    r = api.post("/api/v1/session/unlock", {"password": PASSWORDS["01"]})
    assert body(r)["locked"] is False
    assert api.transact("consume", PLAIN, amount="1").status_code == 201


def test_a_reload_cannot_escape_the_lock(api):
    """The lock is kept by the server, not by the page."""
    token = api.token("01")
    api.post("/api/v1/session/lock", {})
    r = api.client.get("/api/v1/batch", headers={"Authorization": "Bearer " + token})
    assert r.status_code == 423


def test_version(api):
    from kakatong import __version__

    v = body(api.get("/api/v1/version"))
    assert v == {"version": __version__, "terminal_id": "10000001",
                 "merchant_id": "898100000000001", "merchant_name": "卡卡通示范商户"}  # fmt: skip
    assert Terminal.select().where(Terminal.kind == "pos").count() == 1


def test_a_new_password_from_the_supervisor_ends_a_sign_in_lock(api, client):
    for _ in range(5):
        client.post("/api/v1/session", json={"operator_no": "02", "password": "1111"})
    r = client.post("/api/v1/session", json={"operator_no": "02", "password": PASSWORDS["02"]})
    assert body(r)["error"] == "staff_locked"
    api.put("/api/v1/staff/02/password", {"new_password": "5151"}, as_="00")
    assert (
        client.post("/api/v1/session", json={"operator_no": "02", "password": "5151"}).status_code
        == 201
    )


def test_a_removed_operators_password_cannot_be_reset(api):
    api.delete("/api/v1/staff/03", as_="00")
    r = api.put("/api/v1/staff/03/password", {"new_password": "5151"}, as_="00")
    assert body(r)["error"] == "staff_not_found"


def test_unlock_without_a_password_is_a_bad_request_not_a_guess(api):
    api.post("/api/v1/session/lock", {})
    for _ in range(6):
        assert body(api.post("/api/v1/session/unlock", {}))["error"] == "bad_request"
    assert (
        body(api.post("/api/v1/session/unlock", {"password": PASSWORDS["01"]}))["locked"] is False
    )


# ---------------------------------------------------------------- terminal keys (终端密钥)


def test_a_new_terminal_opens_sessions_only_with_its_key(api, client):
    api.token("01")  # operator 01's password set
    r = api.post("/api/v1/terminals", {"terminal_id": "10000002", "name": "收银台 2"}, as_="99")
    assert r.status_code == 201, body(r)
    key = body(r)["terminal_key"]
    assert len(key) == 16 and key.isdigit()
    assert Terminal.get(Terminal.terminal_id == "10000002").key_hash not in (None, key)
    sign = {"operator_no": "01", "password": PASSWORDS["01"], "terminal_id": "10000002"}
    assert body(client.post("/api/v1/session", json=sign))["error"] == "terminal_key_required"
    r = client.post("/api/v1/session", json={**sign, "terminal_key": "0" * 16})
    assert (r.status_code, body(r)["error"]) == (403, "wrong_terminal_key")
    r = client.post("/api/v1/session", json={**sign, "terminal_key": key})
    assert r.status_code == 201 and body(r)["terminal_id"] == "10000002"


def test_binding_checks_the_key_and_a_rotated_key_replaces_the_old(api, client):
    api.token("99")  # signed in while the shop still has one terminal
    key = body(
        api.post("/api/v1/terminals", {"terminal_id": "10000002", "name": "2"}, as_="owner")
    )["terminal_key"]
    r = client.post("/api/v1/terminals/10000002/bind", json={"terminal_key": key})
    assert body(r) == {"terminal_id": "10000002", "name": "2"}
    new = body(api.post("/api/v1/terminals/10000002/key", {}, as_="99"))["terminal_key"]
    assert new != key
    assert (
        body(client.post("/api/v1/terminals/10000002/bind", json={"terminal_key": key}))["error"]
        == "wrong_terminal_key"
    )
    assert (
        client.post("/api/v1/terminals/10000002/bind", json={"terminal_key": new}).status_code
        == 200
    )


def test_guessing_a_terminal_key_is_limited(api, client):
    key = body(api.post("/api/v1/terminals", {"terminal_id": "10000002", "name": "2"}, as_="99"))[
        "terminal_key"
    ]
    for _ in range(5):
        client.post("/api/v1/terminals/10000002/bind", json={"terminal_key": "1" * 16})
    r = client.post("/api/v1/terminals/10000002/bind", json={"terminal_key": key})
    assert body(r)["error"] == "staff_locked"


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"terminal_id": "1234567", "name": "x"}, "invalid_terminal_id"),
        ({"terminal_id": "1000000A", "name": "x"}, "invalid_terminal_id"),
        ({"terminal_id": "10000001", "name": "x"}, "terminal_exists"),
        ({"terminal_id": "10000003", "name": " "}, "invalid_setting"),
    ],
)
def test_bad_terminals_are_refused(api, fields, code):
    count = Terminal.select().count()
    assert body(api.post("/api/v1/terminals", fields, as_="99"))["error"] == code
    assert Terminal.select().count() == count


def test_only_the_system_operator_or_owner_registers_terminals_and_keys(api):
    for path in ("/api/v1/terminals", "/api/v1/terminals/10000001/key"):
        assert (
            body(
                api.post(
                    path,
                    {"terminal_id": "10000009", "name": "x"} if path.endswith("s") else {},
                    as_="00",
                )
            )["error"]
            == "not_permitted"
        )


def test_clearing_the_journal_view_empties_the_list_not_the_totals(api):
    api.transact("consume", PLAIN, amount="1")
    r = api.put("/api/v1/terminals/10000001", {"clear_journal_view": True}, as_="99")
    assert body(r)["journal_view_from"] is not None
    batch = body(api.get("/api/v1/batch"))
    assert batch["transactions"] == [] and batch["types"]["consume"]["count"] == 1
    api.transact("consume", PLAIN, amount="2")
    assert [t["amount"] for t in body(api.get("/api/v1/batch"))["transactions"]] == ["-2.00"]
    assert (
        body(api.put("/api/v1/terminals/10000001", {"clear_journal_view": False}, as_="99"))[
            "error"
        ]
        == "invalid_setting"
    )


def test_the_terminals_language(api):
    r = api.put("/api/v1/terminals/10000001", {"language": "en"}, as_="99")
    assert body(r)["language"] == "en"
    assert (
        body(api.put("/api/v1/terminals/10000001", {"language": "fr"}, as_="99"))["error"]
        == "invalid_setting"
    )
