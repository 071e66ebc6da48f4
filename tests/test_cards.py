"""Cards: activation, finding, binding, PINs and status, through the API."""

import pytest
from conftest import GOLD, INACTIVE, PLAIN, SILVER, body

from kakatong.store.models import Card

NEW = "6222000011112222"


def test_activate_a_new_card_with_every_field_of_seed_003(api):
    r = api.post(
        "/api/v1/cards",
        {
            "card_no": NEW, "external_no": "EXT9", "phone": "13712345678", "name": "赵六",
            "gender": "female", "birthday": "1988-08-08", "id_number": "11010519491231002X",
            "level": "金卡会员", "expires_on": "2099-01-01", "pin": "246810",
        },
    )  # fmt: skip
    assert r.status_code == 201, body(r)
    c = body(r)
    assert (c["status"], c["has_pin"], c["level"]["name"], c["expires_on"]) == (
        "active", True, "金卡会员", "2099-01-01",
    )  # fmt: skip
    assert "balance" not in c  # not without the PIN, unless the caller is the owner
    assert (
        api.transact("recharge", NEW, amount="10", payment_method="cash", pin="246810").status_code
        == 201
    )


def test_activate_a_card_from_the_shops_stock(api):
    r = api.post("/api/v1/cards", {"card_no": INACTIVE, "phone": "13612345678"})
    assert (r.status_code, body(r)["status"], body(r)["has_pin"]) == (201, "active", False)
    assert body(r)["level"]["name"] == "普通会员"


@pytest.mark.parametrize("key", [GOLD, "A0001", "13800138000"])
def test_a_card_is_found_by_card_number_external_number_or_phone(api, key):
    r = api.get(f"/api/v1/cards?find={key}")
    assert body(r)["card_no"] == GOLD


def test_the_owner_sees_balances_operators_do_not(api):
    assert "balance" not in body(api.get(f"/api/v1/cards/{GOLD}"))
    owner = body(api.get(f"/api/v1/cards/{GOLD}", as_="owner"))
    assert (owner["balance"], owner["points"]) == ("1000.00", 300)


def test_bind_and_unbind_a_phone(api):
    r = api.put(f"/api/v1/cards/{SILVER}/phone", {"phone": "13566667777", "pin": "888888"})
    assert body(r)["phone"] == "13566667777"
    assert body(api.get("/api/v1/cards?find=13566667777"))["card_no"] == SILVER
    r = api.put(f"/api/v1/cards/{SILVER}/phone", {"phone": "", "pin": "888888"})
    assert body(r)["phone"] is None
    r = api.put(f"/api/v1/cards/{SILVER}/phone", {"phone": "13566667777", "pin": "000000"})
    assert body(r)["error"] == "wrong_pin"
    assert Card.get(Card.card_no == SILVER).phone is None


def test_bind_an_id_number(api):
    r = api.put(f"/api/v1/cards/{PLAIN}/id_number", {"id_number": "11010519491231002X"})
    assert body(r)["id_number"] == "11010519491231002X"


def test_change_pin_needs_the_old_one(api):
    r = api.post(f"/api/v1/cards/{GOLD}/pin", {"old_pin": "000000", "new_pin": "654321"})
    assert (body(r)["error"], body(r)["attempts_left"]) == ("wrong_pin", 2)
    r = api.post(f"/api/v1/cards/{GOLD}/pin", {"old_pin": "123456", "new_pin": "654321"})
    assert r.status_code == 200
    assert body(api.transact("consume", GOLD, amount="1", pin="123456"))["error"] == "wrong_pin"
    assert api.transact("consume", GOLD, amount="1", pin="654321").status_code == 201


def test_an_empty_new_pin_removes_the_pin(api):
    api.post(f"/api/v1/cards/{GOLD}/pin", {"old_pin": "123456", "new_pin": ""})
    assert api.transact("consume", GOLD, amount="1", pin=None).status_code == 201


def test_reset_pin_with_the_supervisor_password_clears_a_lock(api, supervisor):
    for _ in range(3):
        api.transact("consume", GOLD, amount="1", pin="000000")
    r = api.post(
        f"/api/v1/cards/{GOLD}/pin/reset",
        {"new_pin": "111222", "supervisor_password": supervisor},
    )
    assert r.status_code == 200, body(r)
    assert api.transact("consume", GOLD, amount="1", pin="111222").status_code == 201


def test_the_owner_resets_a_pin_without_the_supervisor(api):
    r = api.post(f"/api/v1/cards/{GOLD}/pin/reset", {"new_pin": "111222"}, as_="owner")
    assert r.status_code == 200, body(r)


def test_freeze_report_lost_and_restore(api, supervisor):
    url = f"/api/v1/cards/{PLAIN}/status"
    assert body(api.post(url, {"status": "frozen"}))["status"] == "frozen"
    assert body(api.transact("consume", PLAIN, amount="1"))["error"] == "card_frozen"
    assert body(api.post(url, {"status": "lost"}))["status"] == "lost"
    assert body(api.transact("consume", PLAIN, amount="1"))["error"] == "card_lost"
    r = api.post(url, {"status": "active"})
    assert (r.status_code, body(r)["error"]) == (400, "bad_request")
    r = api.post(url, {"status": "active", "supervisor_password": "000000"})
    assert body(r)["error"] == "wrong_password"
    r = api.post(url, {"status": "active", "supervisor_password": supervisor})
    assert body(r)["status"] == "active"
    assert api.transact("consume", PLAIN, amount="1").status_code == 201


def test_any_staff_may_freeze_even_the_system_operator(api):
    r = api.post(f"/api/v1/cards/{PLAIN}/status", {"status": "frozen"}, as_="99")
    assert body(r)["status"] == "frozen"


@pytest.mark.parametrize("role", ["99"])
def test_the_system_operator_cannot_move_money(api, role):
    r = api.transact("consume", PLAIN, amount="1", as_=role)
    assert (r.status_code, body(r)["error"]) == (403, "not_permitted")


def test_the_api_activates_a_member_by_phone_with_a_card_number_the_shop_issues(api):
    r = api.post(
        "/api/v1/cards", {"activation_type": "phone", "phone": "13600136000", "name": "钱七"}
    )
    assert r.status_code == 201, r.json
    issued = r.json["card_no"]
    assert len(issued) == 16 and issued.startswith("8") and r.json["phone"] == "13600136000"
    r = api.post("/api/v1/cards", {"activation_type": "phone", "card_no": "6200000000000055",
                                   "phone": "13600136001"})  # fmt: skip
    assert r.json["error"] == "bad_request"
    r = api.post("/api/v1/cards", {"activation_type": "external_no"})
    assert r.json["error"] == "bad_request"
    r = api.post("/api/v1/cards", {"activation_type": "nfc", "card_no": "6200000000000055"})
    assert r.json["error"] == "bad_request"
