"""A member's details after activation (修改会员资料): name, gender, birthday, ID number, level and
expiry, by the supervisor or the owner (actors.CAN_EDIT_MEMBERS), from the member's page or
PATCH /api/v1/cards/{card_no}; each change audited with its value before and after."""

from __future__ import annotations

import pytest
from browser import chromium, expect, page_errors, shoot
from conftest import GOLD, INACTIVE, PLAIN, SILVER, html, operator_actor
from test_openapi import check

from kakatong.domain import audit, cards
from kakatong.domain.actors import actor_of
from kakatong.domain.errors import LedgerError
from kakatong.store.models import AuditLog, Card, Staff


def owner():
    return actor_of(Staff.get(Staff.staff_no == "owner"))


def updates() -> list[dict]:
    rows = AuditLog.select().where(AuditLog.action == "card.update").order_by(AuditLog.id)
    return [audit.details_of(r) for r in rows]


def holder(card_no: str) -> tuple:
    c = Card.get(Card.card_no == card_no)
    return (c.name, c.gender, c.birthday, c.id_number, c.level_id, c.expires_on)


# ---------------------------------------------------------------- the domain


def test_each_field_changes_and_is_audited_before_and_after(app):
    before = Card.get(Card.card_no == PLAIN)
    card, changed = cards.update_member(
        owner(),
        PLAIN,
        {"name": "张三丰", "gender": "secret", "birthday": "1980-02-29",
         "id_number": "11010519491231002X", "level": "金卡会员", "expires_on": "2031-01-31"},
    )  # fmt: skip
    assert sorted(changed) == sorted(cards.MEMBER_FIELDS)
    assert (card.name, card.gender, str(card.birthday), card.id_number) == (
        "张三丰", "secret", "1980-02-29", "11010519491231002X",
    )  # fmt: skip
    assert (card.level.name, str(card.expires_on)) == ("金卡会员", "2031-01-31")
    [row] = updates()
    assert row["name"] == {"from": before.name, "to": "张三丰"}
    assert row["level"] == {"from": before.level.name, "to": "金卡会员"}
    assert row["expires_on"]["to"] == "2031-01-31"
    assert row["id_number"] == {"from": before.id_number, "to": "11010519491231002X"}
    entry = AuditLog.select().where(AuditLog.action == "card.update").get()
    assert (entry.staff_no, entry.target) == ("owner", PLAIN)


def test_clearing_and_unchanged_fields(app):
    cards.update_member(owner(), PLAIN, {"name": "张三丰", "gender": "female"})
    card, changed = cards.update_member(owner(), PLAIN, {"name": "", "gender": "female"})
    assert changed == ["name"] and card.name is None and card.gender == "female"
    assert updates()[-1] == {"name": {"from": "张三丰", "to": None}}
    count = len(updates())
    assert cards.update_member(owner(), PLAIN, {"gender": "female"})[1] == []
    assert len(updates()) == count  # nothing changed, nothing audited


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({}, "bad_request"),
        ({"phone": "13512345678"}, "bad_request"),
        ({"pin": "123456"}, "bad_request"),
        ({"gender": "x"}, "bad_request"),
        ({"name": " "}, "bad_request"),
        ({"name": "长" * 41}, "bad_request"),
        ({"birthday": "2999-01-01"}, "invalid_date"),
        ({"birthday": "1990-02-30"}, "invalid_date"),
        ({"expires_on": "2000-01-01"}, "invalid_date"),
        ({"id_number": "110105194912310021"}, "invalid_id_number"),
        ({"level": "钻石会员"}, "level_not_found"),
        ({"level": ""}, "bad_request"),
        ({"level": None}, "bad_request"),
    ],
)
def test_refusals_change_nothing(app, fields, code):
    before = holder(GOLD), len(updates())
    with pytest.raises(LedgerError) as refused:
        cards.update_member(owner(), GOLD, fields)
    assert refused.value.code == code
    assert (holder(GOLD), len(updates())) == before


def test_an_inactive_card_or_an_operator_is_refused(app):
    with pytest.raises(LedgerError) as refused:
        cards.update_member(owner(), INACTIVE, {"name": "x"})
    assert refused.value.code == "card_inactive"
    with pytest.raises(LedgerError) as refused:
        cards.update_member(operator_actor("01"), GOLD, {"name": "x"})
    assert refused.value.code == "not_permitted"
    assert updates() == []


def test_an_expiry_already_past_may_stay_but_not_be_moved_into_the_past(app):
    Card.update(expires_on="2001-01-01").where(Card.card_no == SILVER).execute()
    card, changed = cards.update_member(
        owner(), SILVER, {"name": "王六", "expires_on": "2001-01-01"}
    )
    assert changed == ["name"]
    with pytest.raises(LedgerError):
        cards.update_member(owner(), SILVER, {"expires_on": "2001-01-02"})
    card, changed = cards.update_member(owner(), SILVER, {"expires_on": ""})  # 长期
    assert changed == ["expires_on"] and card.expires_on is None


# ---------------------------------------------------------------- the API


def test_patch_a_card(api, supervisor):
    path = "/api/v1/cards/{card_no}"
    r = api._call("patch", f"/api/v1/cards/{SILVER}", "00", json={"level": "金卡会员"})
    data = check(r, path, "patch")
    assert data["level"]["name"] == "金卡会员"
    assert updates()[-1] == {"level": {"from": "普通会员", "to": "金卡会员"}}
    assert AuditLog.select().order_by(AuditLog.id.desc()).get().terminal_id == "10000001"
    refused = check(
        api._call("patch", f"/api/v1/cards/{SILVER}", "01", json={"name": "x"}), path, "patch"
    )
    assert refused["error"] == "not_permitted"
    for body, code in (({"phone": "13512345678"}, "bad_request"), ({}, "bad_request"),
                       ({"birthday": "tomorrow"}, "invalid_date"),
                       ({"level": "钻石会员"}, "level_not_found")):  # fmt: skip
        r = api._call("patch", f"/api/v1/cards/{SILVER}", "owner", json=body)
        assert check(r, path, "patch")["error"] == code
    r = api._call("patch", f"/api/v1/cards/{INACTIVE}", "owner", json={"name": "x"})
    assert check(r, path, "patch")["error"] == "card_inactive"
    r = api._call("patch", "/api/v1/cards/9999999999999999", "owner", json={"name": "x"})
    assert check(r, path, "patch")["error"] == "card_not_found"


# ---------------------------------------------------------------- the back office


def edit(office, card_no: str, **changes):
    page = html(office.get(f"/members/{card_no}/edit"))
    card = Card.get(Card.card_no == card_no)
    fields = {
        "name": card.name or "",
        "gender": card.gender or "",
        "birthday": card.birthday.isoformat() if card.birthday else "",
        "id_number": card.id_number or "",
        "level": card.level.name,
        "expires_on": card.expires_on.isoformat() if card.expires_on else "",
    }
    assert f'value="{fields["name"]}"' in page  # the form shows what the card holds
    return office.post(f"/members/{card_no}/edit", fields | changes)


def test_the_member_page_offers_the_edit_form(office):
    page = html(office.get(f"/members/{GOLD}"))
    assert f'href="/members/{GOLD}/edit"' in page
    assert f'href="/members/{INACTIVE}/edit"' not in html(office.get(f"/members/{INACTIVE}"))


def test_the_edit_form_changes_and_audits(office):
    r = edit(office, GOLD, name="李四娘", level="普通会员", expires_on="2035-06-30")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/members/{GOLD}")
    card = Card.get(Card.card_no == GOLD)
    assert (card.name, card.level.name, str(card.expires_on)) == (
        "李四娘",
        "普通会员",
        "2035-06-30",
    )
    assert updates()[-1] == {
        "name": {"from": "李四", "to": "李四娘"},
        "level": {"from": "金卡会员", "to": "普通会员"},
        "expires_on": {"from": "2099-12-31", "to": "2035-06-30"},
    }
    assert "的资料已修改" in html(office.get(r.headers["Location"]))
    log = html(office.get("/audit?action=card.update"))
    assert "修改会员资料" in log and "李四 → 李四娘" in log and "金卡会员 → 普通会员" in log


def test_the_edit_form_refuses_beside_the_field(office):
    before = holder(GOLD)
    r = edit(office, GOLD, birthday="2999-01-01")
    assert r.status_code == 200 and "生日不能晚于今天" in html(r)
    r = edit(office, GOLD, id_number="123")
    assert r.status_code == 200 and "身份证号码格式不正确" in html(r)
    assert holder(GOLD) == before and updates() == []


def test_only_the_supervisor_and_the_owner_edit(office_as, supervisor):
    cashier = office_as("01")
    assert cashier.get(f"/members/{GOLD}/edit").status_code == 403
    r = cashier.client.post(f"/members/{GOLD}/edit", data={"name": "x"})
    assert r.status_code in (400, 403)
    manager = office_as("00")
    assert edit(manager, GOLD, name="李四娘").status_code == 303
    assert AuditLog.select().order_by(AuditLog.id.desc()).get().staff_no == "00"


def test_an_unknown_or_inactive_card_has_no_edit_form(office):
    assert office.get("/members/9999999999999999/edit").status_code == 404
    assert office.get(f"/members/{INACTIVE}/edit").status_code == 404


# ---------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.mark.parametrize("viewport", [(1024, 768), (390, 844)])
def test_the_owner_edits_a_member_in_a_browser(browser, live_server, office, viewport):
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live_server.url + "/login")
    page.get_by_label("管理员账户").fill("owner")
    page.get_by_label("管理员密码").fill("owner-pass-1")
    page.get_by_role("button", name="登录").click()
    page.goto(live_server.url + f"/members/{GOLD}")
    page.get_by_role("link", name="修改资料").click()
    expect(page.get_by_label("姓名")).to_have_value("李四")
    shoot(page, "backoffice-member-edit")
    page.get_by_label("姓名").fill("李四娘")
    page.get_by_label("会员等级").select_option(label="普通会员")
    page.get_by_label("会员有效期").fill("2035-06-30")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("heading", name=f"会员 {GOLD} · 李四娘")).to_be_visible()
    expect(page.locator("main")).to_contain_text("2035-06-30")
    page.goto(live_server.url + "/audit")
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("修改会员资料")
    expect(row).to_contain_text("金卡会员 → 普通会员")
    shoot(page, "backoffice-audit-member-edit")
    context.close()
    assert errors == [], errors
