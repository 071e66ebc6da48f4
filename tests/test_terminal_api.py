"""What the terminal page's screens need from the API: the terminal's last receipt (重印 without
a printer), the 员工管理 entries checked one by one, the system operator's session opened from
an operator's (系统设置 from the main menu), and a settlement of the batch the screen showed."""

from __future__ import annotations

from datetime import timedelta

from conftest import GOLD, PASSWORDS, PLAIN, body, ensure_password

from kakatong.store.models import StaffSession, Terminal
from kakatong.store.runtime import utcnow

RECEIPT = "/api/v1/terminal/receipt"


# ---------------------------------------------------------------- GET /api/v1/terminal/receipt


def test_the_terminals_last_receipt_is_the_one_reprint_prints(api):
    r = api.get(RECEIPT)
    assert (r.status_code, body(r)["error"]) == (404, "no_receipt")
    first = body(api.transact("consume", GOLD, amount="100"))
    # Made in another session at the same terminal: still this terminal's last receipt.
    second = body(api.transact("recharge", PLAIN, as_="00", amount="20", payment_method="cash"))
    r = api.get(RECEIPT)
    assert r.status_code == 200
    assert body(r) == body(api.get(f"/api/v1/transactions/{second['voucher_no']}/receipt"))
    assert body(r)["voucher_no"] == second["voucher_no"] != first["voucher_no"]
    assert body(r)["card_no"] == "168010******0018"
    # The system operator transacts nothing and reads no receipts.
    assert body(api.get(RECEIPT, as_="99"))["error"] == "not_permitted"


def test_another_terminals_receipt_is_not_this_ones(api, client):
    from kakatong.domain import terminals

    body(api.transact("consume", GOLD, amount="10"))
    _, key = terminals.register("10000002", "收银台 2")
    r = client.post(
        "/api/v1/session",
        json={"operator_no": "01", "password": PASSWORDS["01"], "terminal_id": "10000002",
              "terminal_key": key},
    )  # fmt: skip
    token = body(r)["token"]
    r = client.get(RECEIPT, headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, body(r)["error"]) == (404, "no_receipt")


# ---------------------------------------------------------------- POST /api/v1/staff/authorise

AUTHORISE = "/api/v1/staff/authorise"


def test_staff_management_is_checked_entry_by_entry(api, supervisor):
    ensure_password("02")
    ok = api.post(AUTHORISE, {"supervisor_password": supervisor})
    assert (ok.status_code, body(ok)) == (
        200,
        {"authorised": True, "operator_no": None, "name": None},
    )
    ok = api.post(AUTHORISE, {"supervisor_password": supervisor, "operator_no": "02"})
    assert body(ok) == {"authorised": True, "operator_no": "02", "name": "操作员02"}
    for operator_no, code in (("42", "staff_not_found"), ("99", "not_permitted"),
                              ("00", "not_permitted"), ("", "staff_not_found")):  # fmt: skip
        r = api.post(AUTHORISE, {"supervisor_password": supervisor, "operator_no": operator_no})
        assert body(r)["error"] == code, operator_no
    missing = api.post(AUTHORISE, {})
    assert (missing.status_code, body(missing)["error"]) == (400, "bad_request")
    # Nothing was set: 02 still signs in with their password.
    assert (
        api.client.post(
            "/api/v1/session", json={"operator_no": "02", "password": PASSWORDS["02"]}
        ).status_code
        == 201
    )


def test_wrong_supervisor_passwords_count_as_every_authorisation_does(api, supervisor, client):
    from kakatong.domain import settings

    settings.update({"password_attempt_limit": 3})
    for _ in range(2):
        r = api.post(AUTHORISE, {"supervisor_password": "000000"})
        assert (r.status_code, body(r)["error"]) == (403, "wrong_password")
    # The third wrong one is at the door of a void's authorisation: the same count.
    r = api.post(f"/api/v1/cards/{GOLD}/pin/unlock", {"supervisor_password": "000000"})
    assert body(r)["error"] == "wrong_password"
    r = api.post(AUTHORISE, {"supervisor_password": supervisor})
    assert body(r)["error"] == "staff_locked"
    # Sign-in is another door: the supervisor still signs in.
    assert (
        client.post(
            "/api/v1/session", json={"operator_no": "00", "password": supervisor}
        ).status_code
        == 201
    )


def test_the_supervisors_own_session_needs_no_password(api, supervisor):
    r = api.post(AUTHORISE, {"operator_no": "01"}, as_="00")
    assert body(r) == {"authorised": True, "operator_no": "01", "name": "操作员01"}
    assert body(api.post(AUTHORISE, {}, as_="99"))["error"] == "not_permitted"


# ---------------------------------------------------------------- POST /api/v1/session/system

SYSTEM = "/api/v1/session/system"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_system_settings_from_an_operators_session_keep_that_session(api, client):
    ensure_password("99")
    operator = api.token("01")
    r = api.post(SYSTEM, {"password": PASSWORDS["99"]})
    assert r.status_code == 201
    system = body(r)
    assert (system["operator_no"], system["role"], system["terminal_id"]) == (
        "99", "sysadmin", "10000001",
    )  # fmt: skip
    assert system["idle_seconds"] == 600
    # The system operator's session does what 99 does; the operator's is still the operator's.
    r = client.put(
        "/api/v1/terminals/10000001", json={"receipt_copies": 1}, headers=bearer(system["token"])
    )
    assert r.status_code == 200 and Terminal.get(Terminal.kind == "pos").receipt_copies == 1
    assert body(client.get("/api/v1/session", headers=bearer(operator)))["operator_no"] == "01"
    r = client.put(
        "/api/v1/terminals/10000001", json={"receipt_copies": 2}, headers=bearer(operator)
    )
    assert body(r)["error"] == "not_permitted"
    # Leaving: its sign-out ends it alone.
    assert client.delete("/api/v1/session", headers=bearer(system["token"])).status_code == 204
    assert client.get("/api/v1/session", headers=bearer(system["token"])).status_code == 401
    assert client.get("/api/v1/session", headers=bearer(operator)).status_code == 200


def test_the_system_session_ends_with_the_operators(api, client):
    ensure_password("99")
    operator = api.token("01")
    system = body(api.post(SYSTEM, {"password": PASSWORDS["99"]}))["token"]
    assert client.delete("/api/v1/session", headers=bearer(operator)).status_code == 204
    assert client.get("/api/v1/session", headers=bearer(system)).status_code == 401


def test_a_changed_system_password_ends_the_system_session_not_the_operators(api, client):
    ensure_password("99")
    operator = api.token("01")
    system = body(api.post(SYSTEM, {"password": PASSWORDS["99"]}))["token"]
    r = client.post(
        "/api/v1/staff/99/password",
        json={"old_password": PASSWORDS["99"], "new_password": "13572468"},
    )
    assert r.status_code == 200
    assert client.get("/api/v1/session", headers=bearer(system)).status_code == 401
    assert client.get("/api/v1/session", headers=bearer(operator)).status_code == 200


def test_the_system_session_is_short_lived(app, api, client):
    ensure_password("99")
    system = body(api.post(SYSTEM, {"password": PASSWORDS["99"]}))["token"]
    store = app.extensions["kakatong.sessions"]
    StaffSession.update(last_seen_at=utcnow() - timedelta(seconds=601)).where(
        StaffSession.key == store._key(system)
    ).execute()
    assert client.get("/api/v1/session", headers=bearer(system)).status_code == 401
    assert client.get("/api/v1/session", headers=bearer(api.token("01"))).status_code == 200


def test_the_system_password_is_checked_as_at_sign_in(api, client):
    from kakatong.domain import settings

    r = api.post(SYSTEM, {"password": "00000000"})  # the manual's default
    assert body(r)["error"] == "password_change_required"
    ensure_password("99")
    settings.update({"password_attempt_limit": 2})
    assert body(api.post(SYSTEM, {"password": "11111111"}))["error"] == "wrong_password"
    # The second wrong one is at the sign-in door: the same count.
    r = client.post("/api/v1/session", json={"operator_no": "99", "password": "11111111"})
    assert body(r)["error"] == "wrong_password"
    assert body(api.post(SYSTEM, {"password": PASSWORDS["99"]}))["error"] == "staff_locked"
    # Locked from every session: the supervisor's too.
    r = api.post(SYSTEM, {"password": PASSWORDS["99"]}, as_="00")
    assert body(r)["error"] == "staff_locked"


def test_the_system_operator_cannot_open_a_second_system_session(api):
    ensure_password("99")
    r = api.post(SYSTEM, {"password": PASSWORDS["99"]}, as_="99")
    assert body(r)["error"] == "not_permitted"


# ---------------------------------------------------------------- POST /api/v1/settlements


def test_a_settlement_of_the_batch_shown_settles_once(api):
    body(api.transact("consume", GOLD, amount="10"))
    shown = body(api.get("/api/v1/batch"))["batch_no"]
    r = api.post("/api/v1/settlements", {"batch_no": shown})
    assert r.status_code == 201 and body(r)["batch_no"] == shown
    again = api.post("/api/v1/settlements", {"batch_no": shown})  # a second tap
    assert (again.status_code, body(again)["error"]) == (409, "batch_settled")
    assert Terminal.get(Terminal.kind == "pos").batch_no == 2
    for bad in ("1234567", "abc", 1):
        r = api.post("/api/v1/settlements", {"batch_no": bad})
        assert body(r)["error"] == "bad_request", bad
    assert api.post("/api/v1/settlements").status_code == 201  # no body: the open batch
    assert Terminal.get(Terminal.kind == "pos").batch_no == 3
