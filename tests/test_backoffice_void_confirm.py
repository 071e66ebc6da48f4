"""交易撤销 in the back office asks to confirm: the original (type, amount, card, time, operator)
is shown first, as the terminal shows it (manual 图3-5-3), and only the confirmation posts."""

from __future__ import annotations

import re

import pytest
from browser import chromium, expect, page_errors, shoot
from conftest import GOLD, PINS, SUPERVISOR_PASSWORD, html
from test_backoffice_trade import (
    consume,
    field_errors,
    form_errors,
    hidden,
    posted,
    state,
    submit,
)

from kakatong.domain import ledger
from kakatong.store.models import Transaction


def first_step(office, original: Transaction, **extra):
    fields = {"card_no": original.card.card_no, "by": "voucher"}
    return submit(office, "void", fields | {"original": f"{original.voucher_no:06d}"} | extra)


def facts(page: str) -> dict[str, str]:
    block = re.search(r'<dl class="facts void-original" id="void-original">(.*?)</dl>', page, re.S)
    assert block, "no original shown"
    return dict(re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", block.group(1)))


def test_the_original_is_shown_and_nothing_is_posted_until_confirmed(office):
    original = posted(consume(office))  # 100.00 at 88 %: 88.00
    before = state()
    r = first_step(office, original)
    assert r.status_code == 200
    page = html(r)
    shown = facts(page)
    assert shown["交易类型"] == "储值消费"
    assert shown["金额"] == "88.00"
    assert shown["卡号"] == GOLD
    assert shown["凭证号"] == f"{original.voucher_no:06d}"
    assert shown["操作员"].startswith("owner")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", shown["交易时间"])
    assert "确认撤销" in page and 'id="field-pin"' in page
    # Nothing moved, nothing was voided.
    assert state() == before
    assert Transaction.get_by_id(original.id).status == "success"

    confirm = {
        "voucher_no": hidden(page, "voucher_no"),
        "card_no": hidden(page, "card_no"),
        "pin": PINS[GOLD],
    }
    void = posted(submit(office, "void", confirm, page=page))
    assert void.type == "void" and void.original_id == original.id
    assert ledger.verify() == []


def test_a_wrong_pin_shows_the_original_again(office):
    original = posted(consume(office))
    page = html(first_step(office, original))
    before = state()
    confirm = {"voucher_no": hidden(page, "voucher_no"), "card_no": GOLD, "pin": "000000"}
    again = html(submit(office, "void", confirm, page=page))
    assert field_errors(again, "pin") == ["密码错误，还可以尝试 2 次"]
    assert facts(again)["凭证号"] == f"{original.voucher_no:06d}"
    assert state() == before


def test_the_first_step_refuses_what_the_void_would_refuse(office):
    original = posted(consume(office))
    posted(consume(office, amount="1"))
    # Another card than the original's: refused before anything is shown or tried.
    page = html(first_step(office, original, card_no="1680860079316804"))
    assert field_errors(page, "card_no") == ["此卡不是原交易的卡，请刷原交易的卡"]
    assert 'id="void-original"' not in page


def test_a_confirmation_for_another_card_says_so_above_the_form(office):
    original = posted(consume(office))
    page = html(first_step(office, original))
    before = state()
    confirm = {"voucher_no": hidden(page, "voucher_no"), "card_no": "1680860079316804"}
    again = html(submit(office, "void", confirm | {"pin": PINS[GOLD]}, page=page))
    assert "此卡不是原交易的卡，请刷原交易的卡" in form_errors(again)
    assert state() == before


def test_back_leads_to_the_form_as_it_was(office):
    original = posted(consume(office))
    page = html(first_step(office, original))
    back = re.search(r'<a href="([^"]+)" id="void-back">', page).group(1).replace("&amp;", "&")
    form = html(office.get(back))
    assert f'value="{original.voucher_no:06d}"' in form and f'value="{GOLD}"' in form


def test_an_altered_voucher_posts_nothing(office):
    original = posted(consume(office))
    page = html(first_step(office, original))
    before = state()
    for voucher in ("", "abc", "999999"):
        confirm = {"voucher_no": voucher, "card_no": GOLD, "pin": PINS[GOLD]}
        assert submit(office, "void", confirm, page=page).status_code == 400
    assert state() == before


def test_an_operator_confirms_with_the_supervisor_password(office_as, supervisor):
    cashier = office_as("01")
    original = posted(consume(cashier, "1680106700000018", "10"))
    page = html(first_step(cashier, original))
    assert facts(page)["操作员"].startswith("01")
    confirm = {"voucher_no": hidden(page, "voucher_no"), "card_no": hidden(page, "card_no")}
    again = html(submit(cashier, "void", confirm, page=page))
    assert field_errors(again, "supervisor_password") == ["请输入主管密码"]
    confirm["supervisor_password"] = SUPERVISOR_PASSWORD
    assert posted(submit(cashier, "void", confirm, page=again)).operator_no == "01"


# ---------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.mark.parametrize("viewport", [(1024, 768), (390, 844)])
def test_the_void_asks_to_confirm_in_a_browser(browser, live_server, office, viewport):
    original = posted(consume(office))
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live_server.url + "/login")
    page.get_by_label("管理员账户").fill("owner")
    page.get_by_label("管理员密码").fill("owner-pass-1")
    page.get_by_role("button", name="登录").click()
    page.goto(live_server.url + f"/receipts/{original.voucher_no:06d}")
    page.get_by_role("link", name="撤销此交易").click()
    page.get_by_label("卡号码").fill(GOLD)
    page.get_by_role("button", name="撤销").click()
    shown = page.locator("#void-original")
    expect(shown).to_contain_text("储值消费")
    expect(shown).to_contain_text("88.00")
    expect(shown).to_contain_text(GOLD)
    assert Transaction.get_by_id(original.id).status == "success"
    shoot(page, "backoffice-void-confirm")
    page.get_by_label("密码", exact=True).fill(PINS[GOLD])
    page.get_by_role("button", name="确认撤销").click()
    expect(page.locator(".receipt").first).to_contain_text("VOID")
    assert Transaction.get_by_id(original.id).status == "voided"
    context.close()
    assert errors == [], errors
