"""The audit log has a line for binding and unbinding a phone (and an ID number), with the number
before and after, and for a card's PIN change, with whether there was and is a PIN: never the
PIN itself. A refused change leaves no line."""

from __future__ import annotations

from conftest import GOLD, PINS, SILVER, body, html

from kakatong.domain import audit
from kakatong.store.models import AuditLog


def lines(action: str) -> list[tuple[str, str, dict]]:
    rows = AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id)
    return [(r.staff_no, r.target, audit.details_of(r)) for r in rows]


def test_binding_and_unbinding_a_phone_through_the_api(api):
    r = api.put(f"/api/v1/cards/{SILVER}/phone", {"phone": "13512345678", "pin": PINS[SILVER]})
    assert r.status_code == 200, body(r)
    r = api.put(f"/api/v1/cards/{SILVER}/phone", {"phone": None, "pin": PINS[SILVER]})
    assert r.status_code == 200, body(r)
    assert lines("card.bind") == [
        ("01", SILVER, {"phone": {"from": "13900139000", "to": "13512345678"}}),
        ("01", SILVER, {"phone": {"from": "13512345678", "to": None}}),
    ]
    row = AuditLog.select().where(AuditLog.action == "card.bind").get()
    assert row.terminal_id == "10000001"


def test_binding_an_id_number_is_audited_too(api):
    r = api.put(
        f"/api/v1/cards/{SILVER}/id_number",
        {"id_number": "11010519491231002X", "pin": PINS[SILVER]},
    )
    assert r.status_code == 200, body(r)
    assert lines("card.bind") == [
        ("01", SILVER, {"id_number": {"from": None, "to": "11010519491231002X"}})
    ]


def test_a_refused_binding_leaves_no_line(api):
    r = api.put(f"/api/v1/cards/{SILVER}/phone", {"phone": "13512345678", "pin": "000000"})
    assert body(r)["error"] == "wrong_pin"
    r = api.put(f"/api/v1/cards/{SILVER}/phone", {"phone": "13800138000", "pin": PINS[SILVER]})
    assert body(r)["error"] == "phone_taken"  # the gold member's
    assert lines("card.bind") == []


def test_the_same_phone_again_changes_nothing_and_says_nothing(api):
    r = api.put(f"/api/v1/cards/{SILVER}/phone", {"phone": "13900139000", "pin": PINS[SILVER]})
    assert r.status_code == 200
    assert lines("card.bind") == []


def test_a_pin_change_is_audited_without_the_pin(api):
    r = api.post(f"/api/v1/cards/{GOLD}/pin", {"old_pin": "123456", "new_pin": "654321"})
    assert r.status_code == 200, body(r)
    r = api.post(f"/api/v1/cards/{GOLD}/pin", {"old_pin": "654321", "new_pin": None})
    assert r.status_code == 200, body(r)
    assert lines("card.pin_change") == [
        ("01", GOLD, {"had_pin": True, "pin_set": True}),
        ("01", GOLD, {"had_pin": True, "pin_set": False}),
    ]
    for row in AuditLog.select():
        assert "123456" not in row.details and "654321" not in row.details


def test_a_refused_pin_change_leaves_no_line(api):
    r = api.post(f"/api/v1/cards/{GOLD}/pin", {"old_pin": "000000", "new_pin": "654321"})
    assert body(r)["error"] == "wrong_pin"
    assert lines("card.pin_change") == []


def test_the_back_office_forms_leave_lines_the_owner_reads(office):
    r = office.post("/cards", {"card_no": SILVER, "pin": PINS[SILVER], "phone": ""})
    assert r.status_code == 302, html(r)
    r = office.post(
        "/cards/pin",
        {"card_no": GOLD, "old_pin": "123456", "new_pin": "135790", "confirm": "135790"},
    )
    assert r.status_code == 302, html(r)
    assert [(s, t) for s, t, _ in lines("card.bind") + lines("card.pin_change")] == [
        ("owner", SILVER),
        ("owner", GOLD),
    ]
    page = html(office.get("/audit"))
    assert "卡号绑定" in page and "手机号码: 13900139000 → —" in page
    assert "修改卡密码" in page and "原来有密码: 是" in page and "设置了新密码: 是" in page
    assert "135790" not in page and "123456" not in page
