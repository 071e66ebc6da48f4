"""Staff: default passwords, password changes, hashes, sessions and roles."""

import pytest
from conftest import GOLD, PASSWORDS, body

from kakatong.store.models import Staff


def sign_in(client, staff_no, password, **extra):
    return client.post(
        "/api/v1/session", json={"operator_no": staff_no, "password": password, **extra}
    )


@pytest.mark.parametrize(
    "staff_no, default", [("01", "0000"), ("05", "0000"), ("00", "123456"), ("99", "00000000")]
)
def test_a_default_password_opens_no_session_until_changed(client, staff_no, default):
    r = sign_in(client, staff_no, default)
    assert (r.status_code, body(r)["error"]) == (403, "password_change_required")
    assert "token" not in body(r)
    r = client.post(
        f"/api/v1/staff/{staff_no}/password",
        json={"old_password": default, "new_password": "97531864"[: len(default)]},
    )
    assert r.status_code == 200, body(r)
    r = sign_in(client, staff_no, "97531864"[: len(default)])
    assert r.status_code == 201 and body(r)["token"]


@pytest.mark.parametrize(
    "staff_no, old, new, code",
    [
        ("01", "0000", "0000", "invalid_password"),  # the default again
        ("01", "0000", "123", "invalid_password"),  # too short
        ("01", "0000", "123456789", "invalid_password"),  # too long
        ("01", "0000", "12ab", "invalid_password"),  # not digits
        ("01", "9999", "2580", "wrong_password"),
        ("42", "0000", "2580", "wrong_password"),  # no such staff: the same answer
        ("owner", "", "long-enough-1", "password_not_set"),
    ],
)
def test_password_change_refusals(client, staff_no, old, new, code):
    r = client.post(
        f"/api/v1/staff/{staff_no}/password", json={"old_password": old, "new_password": new}
    )
    assert body(r)["error"] == code
    assert Staff.select().where(Staff.password_hash.is_null(False)).count() == 0


def test_passwords_are_stored_as_argon2id_of_at_least_19_mib_and_t2(client):
    client.post("/api/v1/staff/01/password", json={"old_password": "0000", "new_password": "2580"})
    stored = Staff.get(Staff.staff_no == "01").password_hash
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2
    assert "2580" not in stored


def test_the_owner_needs_a_password_of_eight_characters(runner, client):
    assert body(sign_in(client, "owner", ""))["error"] == "password_not_set"
    result = runner.invoke(args=["set-password", "owner", "short"])
    assert result.exit_code != 0 and "8" in result.output
    result = runner.invoke(args=["set-password", "owner", "long-enough-1"])
    assert result.exit_code == 0, result.output
    assert sign_in(client, "owner", "long-enough-1").status_code == 201


def test_wrong_password_and_unknown_staff_answer_alike(client):
    a = sign_in(client, "01", "1111")
    b = sign_in(client, "77", "1111")
    assert body(a) == body(b) and a.status_code == b.status_code == 403


def test_a_disabled_staff_member_cannot_sign_in(api):
    api.token("01")
    Staff.update(active=False).where(Staff.staff_no == "02").execute()
    from conftest import ensure_password

    ensure_password("02")
    r = sign_in(api.client, "02", PASSWORDS["02"])
    assert body(r)["error"] == "staff_disabled"


def test_sign_out_ends_the_session(api):
    assert api.get("/api/v1/session").status_code == 200
    assert api.delete("/api/v1/session").status_code == 204
    r = api.get("/api/v1/session")
    assert (r.status_code, body(r)["error"]) == (401, "not_signed_in")


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc", "Bearer "])
def test_no_valid_session_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    r = client.post("/api/v1/transactions", json={}, headers=headers)
    assert (r.status_code, body(r)["error"]) == (401, "not_signed_in")


def test_a_password_change_ends_the_staff_members_sessions(api):
    api.token("01")
    api.client.post(
        "/api/v1/staff/01/password", json={"old_password": "2580", "new_password": "8520"}
    )
    assert api.get("/api/v1/session").status_code == 401


@pytest.mark.parametrize(
    "path, allowed",
    [
        ("/api/v1/transactions", {"00", "owner"}),
        ("/api/v1/stats/daily", {"00", "owner"}),
        ("/api/v1/settings", {"99", "owner"}),
        ("/api/v1/batch", {"01", "00", "owner"}),
    ],
)
def test_who_may_read_what(api, path, allowed):
    for staff_no in ("01", "00", "99", "owner"):
        r = api.get(path, as_=staff_no)
        if staff_no in allowed:
            assert r.status_code == 200, (staff_no, body(r))
        else:
            assert (r.status_code, body(r)["error"]) == (403, "not_permitted"), staff_no


def test_settings_change_through_the_api(api):
    r = api.put("/api/v1/settings", {"single_limit_fen": 10000, "pin_attempt_limit": 5}, as_="99")
    assert r.status_code == 200 and body(r)["single_limit_fen"] == 10000
    assert body(api.transact("consume", GOLD, amount="100.01"))["error"] == "over_limit"
    r = api.put("/api/v1/settings", {"enabled_types": ["recharge"]}, as_="owner")
    assert body(api.transact("consume", GOLD, amount="1"))["error"] == "transaction_disabled"


@pytest.mark.parametrize(
    "change",
    [
        {"single_limit_fen": 0},
        {"single_limit_fen": "100"},
        {"pin_attempt_limit": True},
        {"enabled_types": ["consume", "refund"]},
        {"merchant_id": "12345"},
        {"merchant_name": ""},
        {"no_such_setting": 1},
        {},
    ],
)
def test_bad_settings_are_refused_whole(api, change):
    before = body(api.get("/api/v1/settings", as_="99"))
    r = api.put("/api/v1/settings", {**change}, as_="99")
    assert r.status_code == 400
    assert body(api.get("/api/v1/settings", as_="99")) == before


@pytest.mark.parametrize("staff_no", ["01", "77"])
def test_five_wrong_passwords_lock_a_staff_number_known_or_not(client, staff_no):
    from kakatong.store.models import PasswordGuard

    client.post("/api/v1/staff/01/password", json={"old_password": "0000", "new_password": "2580"})
    for _ in range(4):
        assert body(sign_in(client, staff_no, "1111"))["error"] == "wrong_password"
    r = sign_in(client, staff_no, "1111")
    assert body(r)["error"] == "wrong_password"
    r = sign_in(client, staff_no, "2580")  # right or not, it waits now
    assert (r.status_code, body(r)["error"]) == (403, "staff_locked")
    assert body(r)["minutes_left"] == 15
    from datetime import datetime

    PasswordGuard.update(locked_until=datetime(2000, 1, 1)).execute()  # the wait is over
    if staff_no == "01":
        assert sign_in(client, "01", "2580").status_code == 201


def test_the_supervisor_password_cannot_be_guessed_through_voids(api, supervisor):
    for _ in range(5):
        r = api.post(f"/api/v1/cards/{GOLD}/pin/unlock", {"supervisor_password": "000000"})
        assert body(r)["error"] == "wrong_password"
    r = api.post(f"/api/v1/cards/{GOLD}/pin/unlock", {"supervisor_password": supervisor})
    assert body(r)["error"] == "staff_locked"


def test_guessing_at_the_sign_in_door_does_not_lock_the_supervisors_authorisation(api, supervisor):
    for _ in range(6):
        api.client.post("/api/v1/session", json={"operator_no": "00", "password": "000000"})
    r = api.client.post("/api/v1/session", json={"operator_no": "00", "password": supervisor})
    assert body(r)["error"] == "staff_locked"
    r = api.post(f"/api/v1/cards/{GOLD}/pin/unlock", {"supervisor_password": supervisor})
    assert r.status_code == 200, body(r)
