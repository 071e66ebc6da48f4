"""The slip's new lines where a person reads them on a screen: the terminal page's on-screen
slip (重印 without a printer) and the back office's receipt page, in real headless Chromium.
Each is photographed (tests/screenshots/) to be looked at."""

from __future__ import annotations

import pytest
from browser import SHOTS, chromium, expect, key, page_errors, screen, shoot, sign_in, type_keys
from conftest import GOLD, PASSWORDS, PINS, ensure_password, rid
from test_slips import FOOTER


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def test_the_terminal_slip_shows_the_discount_the_holder_and_the_footer(
    browser, live_server, live_api
):
    assert live_api.put("/api/v1/settings", FOOTER, as_="99").ok
    ensure_password("01")
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    try:
        page.goto(live_server.url + "/terminal")
        sign_in(page)
        key(page, "enter")
        screen(page, "menu")
        key(page, "0")
        screen(page, "card")
        type_keys(page, GOLD)
        key(page, "enter")
        screen(page, "confirm")
        key(page, "enter")
        screen(page, "amount")
        type_keys(page, "10000")
        key(page, "enter")
        screen(page, "service-code")
        key(page, "enter")
        screen(page, "pin")
        type_keys(page, PINS[GOLD])
        key(page, "enter")
        screen(page, "success")
        key(page, "reprint")  # no printer: the slip on screen
        screen(page, "slip")
        slip = page.locator("#slip-paper")
        for text in (
            "持卡人 CARDHOLDER李*",
            "会员等级 LEVEL金卡会员",
            "有效期 EXP. DATE2099-12-31",
            "支付方式 PAYMENT储值支付",
            "原价 PRICE100.00",
            "会员折扣 DISCOUNT88折",
            "优惠 SAVED12.00",
            "金额 AMOUNTRMB 88.00",
            "地址：深圳市南山区科技园南路 18 号一楼",
            "电话：0755-8888 6666",
            FOOTER["receipt_footer"],
        ):
            expect(slip).to_contain_text(text)
        expect(slip).not_to_contain_text("李四")
        shoot(page, "slip-terminal")
        slip.locator(".slip-footer").scroll_into_view_if_needed()  # the slip's end
        shoot(page, "slip-terminal-end")
    finally:
        context.close()
    assert errors == [], errors


def test_the_back_office_receipt_page_shows_the_new_lines(browser, live_server, live_api):
    assert live_api.put("/api/v1/settings", FOOTER, as_="99").ok
    posted = live_api.transact("consume", GOLD, amount="100").json()
    ensure_password("00")
    void = live_api.post(
        f"/api/v1/transactions/{posted['voucher_no']}/void",
        {"supervisor_password": PASSWORDS["00"], "request_id": rid(), "pin": PINS[GOLD]},
    )
    assert void.status_code == 201, void.text
    ensure_password("owner")
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    try:
        page.goto(live_server.url + "/login")
        page.get_by_label("管理员账户").fill("owner")
        page.get_by_label("管理员密码").fill(PASSWORDS["owner"])
        page.get_by_role("button", name="登录").click()
        page.goto(f"{live_server.url}/receipts/{posted['voucher_no']}")
        receipt = page.locator(".receipt").first
        for text in ("李*", "金卡会员", "2099-12-31", "储值支付", "88折", "12.00", "88.00"):
            expect(receipt).to_contain_text(text)
        expect(receipt.locator(".slip-footer")).to_contain_text("电话：0755-8888 6666")
        page.screenshot(path=str(SHOTS / "backoffice-receipt-consume-1024x768.png"), full_page=True)
        page.goto(f"{live_server.url}/receipts/{void.json()['voucher_no']}")
        receipt = page.locator(".receipt").first
        expect(receipt.locator("dd.amount")).to_have_text("RMB +88.00")
        expect(receipt.locator("dd.original-voucher-no")).to_have_text(posted["voucher_no"])
        expect(receipt).to_contain_text("持卡人签名")
        page.screenshot(path=str(SHOTS / "backoffice-receipt-void-1024x768.png"), full_page=True)
    finally:
        context.close()
    assert errors == [], errors
