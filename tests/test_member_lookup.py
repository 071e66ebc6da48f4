"""A member is found by what they give: the card number, the external number or the bound phone.

A member activated by phone (激活类型 手机号码) has a card number the shop issued and never
told them; every form that asks for a card takes the phone (cards.lookup), and an entry that
names several cards asks which one is meant.
"""

from __future__ import annotations

import pytest
import requests
from browser import chromium, expect, key, page_errors, screen, shoot, sign_in, type_keys
from conftest import GOLD, PINS, Api, body, ensure_password, html, operator_actor
from test_backoffice_trade import field_errors, posted, state, submit
from test_openapi import check

from kakatong.domain import cards, ledger
from kakatong.domain.errors import LedgerError
from kakatong.store.models import Card, Transaction

PHONE = "13912345678"


def by_phone(name: str = "王五", phone: str = PHONE) -> Card:
    """A member activated by phone, PIN 246810: the shop issued the card number."""
    return cards.activate(
        {"phone": phone, "name": name, "pin": "246810"}, operator_actor(), "phone"
    )


def twin(phone: str = PHONE) -> Card:
    """A card whose own card number is that phone number: the entry names two cards."""
    return cards.activate({"card_no": phone, "name": "赵六"}, operator_actor())


# ---------------------------------------------------------------- the domain


def test_lookup_finds_a_card_by_each_of_its_numbers(app):
    member = by_phone()
    for entry in (member.card_no, PHONE, f" {PHONE} "):
        [found] = cards.lookup(entry)
        assert found.card.card_no == member.card_no
    assert cards.lookup(PHONE)[0].matched_by == "phone"
    assert cards.lookup(member.card_no)[0].matched_by == "card_no"
    assert [c.matched_by for c in cards.lookup("A0001")] == ["external_no"]
    assert cards.find_card(PHONE).card_no == member.card_no


def test_lookup_lists_every_card_an_entry_names_card_number_first(app):
    member, other = by_phone(), twin()
    found = cards.lookup(PHONE)
    assert [(c.card.card_no, c.matched_by) for c in found] == [
        (other.card_no, "card_no"),
        (member.card_no, "phone"),
    ]
    assert cards.find_card(PHONE).card_no == other.card_no  # ?find= keeps its order


@pytest.mark.parametrize(("entry", "code"), [("", "bad_request"), (None, "bad_request"),
                                              ("  ", "bad_request"), (5, "bad_request"),
                                              ("13700000000", "card_not_found")])  # fmt: skip
def test_lookup_refuses_nothing_and_an_unknown_entry(app, entry, code):
    with pytest.raises(LedgerError) as refused:
        cards.lookup(entry)
    assert refused.value.code == code


# ---------------------------------------------------------------- the API


def test_the_api_lookup(api):
    member = by_phone()
    data = check(api.get(f"/api/v1/cards/lookup?q={PHONE}"), "/api/v1/cards/lookup", "get")
    assert [(c["matched_by"], c["card"]["card_no"]) for c in data["candidates"]] == [
        ("phone", member.card_no)
    ]
    assert "balance" not in data["candidates"][0]["card"]  # the owner's view only
    owner = body(api.get(f"/api/v1/cards/lookup?q={PHONE}", as_="owner"))
    assert owner["candidates"][0]["card"]["balance"] == "0.00"
    other = twin()
    data = check(api.get(f"/api/v1/cards/lookup?q={PHONE}"), "/api/v1/cards/lookup", "get")
    assert [c["card"]["card_no"] for c in data["candidates"]] == [other.card_no, member.card_no]
    for query, code in (("?q=13700000000", "card_not_found"), ("?q=", "bad_request"),
                        ("", "bad_request")):  # fmt: skip
        refused = check(api.get(f"/api/v1/cards/lookup{query}"), "/api/v1/cards/lookup", "get")
        assert refused["error"] == code


def test_the_lookup_does_not_shadow_a_card_numbered_lookup(api):
    # /api/v1/cards/lookup is its own route: a card number is digits, never "lookup".
    assert body(api.get(f"/api/v1/cards/{GOLD}"))["card_no"] == GOLD


# ---------------------------------------------------------------- the back office


def test_query_by_the_phone_a_member_was_activated_by(office):
    member = by_phone()
    page = html(submit(office, "query", {"card_no": PHONE, "pin": "246810"}))
    assert 'id="query-result"' in page, page
    assert member.card_no in page and "王五" in page


def test_a_consume_by_phone_posts_to_that_card(office):
    before = Card.get(Card.card_no == GOLD).balance_fen
    record = posted(submit(office, "consume", {"card_no": "13800138000", "amount": "10",
                                               "pin": PINS[GOLD]}))  # fmt: skip
    assert record.card.card_no == GOLD
    assert Card.get(Card.card_no == GOLD).balance_fen == before - 880


def test_an_external_number_names_the_card_too(office):
    page = html(submit(office, "query", {"card_no": "A0001", "pin": PINS[GOLD]}))
    assert 'id="query-result"' in page and GOLD in page


def test_an_ambiguous_entry_asks_which_card_then_posts_once(office):
    member, other = by_phone(), twin()
    ledger.recharge(
        operator_actor(), member.card_no, "50.00", "cash", request_id="r1", pin="246810"
    )
    before = state()
    shown = html(submit(office, "consume", {"card_no": PHONE, "amount": "10", "pin": "246810"}))
    assert field_errors(shown, "card_no") == ["该号码对应多张会员卡，请选择一张"]
    assert 'id="field-card_choice"' in shown
    assert f'value="{member.card_no}"' in shown and f'value="{other.card_no}"' in shown
    assert "（手机号码）" in shown and "（卡号）" in shown
    assert state() == before  # nothing posted, no PIN tried
    assert Card.get_by_id(member.id).pin_failures == 0
    fields = {"card_no": PHONE, "card_choice": member.card_no, "amount": "10", "pin": "246810"}
    record = posted(submit(office, "consume", fields, page=shown))
    assert record.card.card_no == member.card_no
    assert Card.get_by_id(other.id).balance_fen == 0


def test_a_choice_that_is_not_among_the_candidates_chooses_nothing(office):
    by_phone()
    twin()
    before = state()
    fields = {"card_no": PHONE, "card_choice": GOLD, "amount": "10", "pin": PINS[GOLD]}
    shown = html(submit(office, "consume", fields))
    assert field_errors(shown, "card_no") == ["该号码对应多张会员卡，请选择一张"]
    assert state() == before


def test_the_card_operations_take_the_phone(office):
    member = by_phone()
    r = office.post("/cards/pin", {"card_no": PHONE, "old_pin": "246810", "new_pin": "135790",
                                   "confirm": "135790"})  # fmt: skip
    assert r.status_code == 302, html(r)
    assert r.headers["Location"].endswith(f"/members/{member.card_no}")
    assert ledger.query(operator_actor(), member.card_no, "135790").card_no == member.card_no
    r = office.post("/cards/status", {"card_no": PHONE, "status": "frozen"})
    assert r.status_code == 302
    assert Card.get_by_id(member.id).status == "frozen"


def test_a_void_by_the_members_phone(office):
    member = by_phone()
    ledger.recharge(
        operator_actor(), member.card_no, "50.00", "cash", request_id="r2", pin="246810"
    )
    original = Transaction.select().order_by(Transaction.id.desc()).first()
    page = html(submit(office, "void", {"card_no": PHONE, "original": str(original.voucher_no)}))
    assert 'id="void-original"' in page and member.card_no in page


def test_an_unknown_entry_says_so(office):
    page = html(submit(office, "query", {"card_no": "13700000000"}))
    assert field_errors(page, "card_no") == ["卡号、外卡号或手机号码不存在"]


# ---------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.mark.parametrize("viewport", [(1024, 768), (390, 844)])
def test_the_back_office_query_by_phone_in_a_browser(browser, live_server, office, viewport):
    member = by_phone()
    twin("13811112222")  # another member, nothing to do with this one
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live_server.url + "/login")
    page.get_by_label("管理员账户").fill("owner")
    page.get_by_label("管理员密码").fill("owner-pass-1")
    page.get_by_role("button", name="登录").click()
    page.goto(live_server.url + "/trade/query")
    page.get_by_label("卡号码").fill(PHONE)
    page.get_by_label("密码", exact=True).fill("246810")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#query-result")).to_contain_text(member.card_no)
    expect(page.locator("#query-balance")).to_have_text("0.00")
    shoot(page, "backoffice-query-by-phone")
    context.close()
    assert errors == [], errors


def test_the_back_office_asks_which_card_in_a_browser(browser, live_server, office):
    member, other = by_phone(), twin()
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live_server.url + "/login")
    page.get_by_label("管理员账户").fill("owner")
    page.get_by_label("管理员密码").fill("owner-pass-1")
    page.get_by_role("button", name="登录").click()
    page.goto(live_server.url + "/trade/query")
    page.get_by_label("卡号码").fill(PHONE)
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#field-card_no .error")).to_contain_text("请选择一张")
    shoot(page, "backoffice-card-choice")
    page.get_by_label(f"{other.card_no} 赵六").check()
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#query-result")).to_contain_text(other.card_no)
    assert member.card_no != other.card_no
    context.close()
    assert errors == [], errors


def test_the_terminal_takes_the_phone_typed_and_asks_which_card(browser, live_server):
    member, other = by_phone(), twin()
    ensure_password("01")
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live_server.url + "/terminal")
    sign_in(page)
    # 余额查询 by the phone: two cards answer to it; the cashier picks the member's.
    key(page, "enter")
    screen(page, "menu")
    key(page, "enter")  # the second page of the menu
    key(page, "5")
    screen(page, "card")
    expect(page.locator("#hint")).to_have_text("可输入卡号或手机号码")
    type_keys(page, PHONE)
    key(page, "enter")
    screen(page, "card-choice")
    expect(page.locator("#lines")).to_contain_text(f"1.卡号 {other.card_no}")
    expect(page.locator("#lines")).to_contain_text(f"2.手机号码 {member.card_no}")
    shoot(page, "terminal-card-choice")
    key(page, "2")
    screen(page, "confirm")
    expect(page.locator("#lines")).to_contain_text(f"CARD: {member.card_no}")
    key(page, "enter")
    screen(page, "pin")
    type_keys(page, "246810")
    key(page, "enter")
    screen(page, "query-result")
    expect(page.locator("#lines")).to_contain_text("0.00")
    # An entry that names nothing is refused at once, before the PIN.
    key(page, "enter")
    screen(page, "standby")
    key(page, "enter")
    key(page, "enter")
    key(page, "5")
    type_keys(page, "13700000000")
    key(page, "enter")
    screen(page, "refusal")
    expect(page.locator("#lines")).to_contain_text("卡号、外卡号或手机号码不存在")
    context.close()
    assert errors == [], errors


def test_the_terminal_consumes_by_the_phone_alone(browser, live_server):
    ensure_password("01")
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live_server.url + "/terminal")
    sign_in(page)
    key(page, "enter")
    key(page, "0")
    screen(page, "card")
    type_keys(page, "13800138000")  # the gold member's phone
    key(page, "enter")
    screen(page, "confirm")
    expect(page.locator("#lines")).to_contain_text(f"CARD: {GOLD}")
    shoot(page, "terminal-card-by-phone")
    key(page, "enter")
    type_keys(page, "10000")
    key(page, "enter")
    screen(page, "service-code")
    key(page, "enter")
    type_keys(page, PINS[GOLD])
    key(page, "enter")
    screen(page, "success")
    expect(page.locator("#lines")).to_contain_text("余额 912.00")
    context.close()
    assert errors == [], errors
    owner = Api(requests.Session(), base=live_server.url)
    assert body(owner.get(f"/api/v1/cards/{GOLD}", as_="owner"))["balance"] == "912.00"
