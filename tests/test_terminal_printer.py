"""The terminal page and its receipt printer: real headless Chromium against the real server,
with a real TCP 'printer' (conftest.Listener) on loopback. The server prints each receipt and
settlement slip by itself; the page shows how that went (status bar, hints, standby) and asks
for 重印, 送纸, 管理 → 打印 and the test page. Also the receipt as a printable page (交易查询)
and the printer's settings (终端参数设置 3/3)."""

from __future__ import annotations

import re
import time

import pytest
import requests
from browser import chromium, expect, key, page_errors, screen, shoot, type_keys
from browser import sign_in as terminal_sign_in
from conftest import GOLD, PLAIN, Api, Listener, body, ensure_password, free_port

from kakatong.factory import create_app
from kakatong.store.db import db

TERMINAL = "/api/v1/terminals/10000001"


@pytest.fixture
def app(tmp_path):
    app = create_app({"data_dir": tmp_path, "demo": True})
    app.config["TESTING"] = True
    # Short streams and heartbeats: a closed page frees its server thread at once.
    app.config["KAKATONG_STREAM_SECONDS"] = 2
    app.config["KAKATONG_HEARTBEAT_SECONDS"] = 0.5
    app.config["KAKATONG_POLL_SECONDS"] = 2
    yield app
    app.extensions["kakatong.printing"].stop()
    if not db.is_closed():
        db.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    page = context.new_page()
    seen = page_errors(page)
    page.goto(live_server.url + "/terminal")
    yield page
    context.close()
    assert seen == [], seen


@pytest.fixture
def owner(live_server):
    session = requests.Session()
    yield Api(session, base=live_server.url)
    session.close()


def slips(listener: Listener, count: int = 1, timeout: float = 8.0) -> list[str]:
    """What the printer got, one text per connection (the connection tests are empty)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [b.decode("gb18030", errors="replace") for b in listener.received if b]
        if len(got) >= count:
            return got
        time.sleep(0.02)
    raise AssertionError(f"the printer got {len(got)} slips, not {count}")


def sign_in(page, operator="01", password="2580", home="standby"):
    ensure_password(operator)
    terminal_sign_in(page, operator, password, home)


def consume(page, card=GOLD, amount="10000", pin="123456"):
    key(page, "enter")
    screen(page, "menu")
    key(page, "0")
    type_keys(page, card)
    key(page, "enter")
    screen(page, "confirm")
    key(page, "enter")
    type_keys(page, amount)
    key(page, "enter")
    screen(page, "service-code")
    key(page, "enter")
    type_keys(page, pin)
    key(page, "enter")
    screen(page, "success")


def to_management(page):
    key(page, "enter")
    screen(page, "menu")
    for _ in range(2):
        key(page, "enter")
    key(page, "7")
    screen(page, "management")


def test_a_consume_prints_its_receipt_and_the_hint_follows_it(page, owner, listener):
    owner.put(TERMINAL, {"printer_url": f"tcp://127.0.0.1:{listener.port}"}, as_="99")
    sign_in(page)
    expect(page.locator("#st-printer")).to_have_text("打印机 正常")
    expect(page.locator("#st-printer")).to_have_attribute("data-ok", "1")
    consume(page)
    expect(page.locator("#lines")).to_contain_text("余额 912.00")
    expect(page.locator("#hint")).to_have_text("签购单已打印")
    text = slips(listener)[0]
    shop = body(owner.get("/api/v1/terminal", as_="01"))
    assert shop["merchant_name"] in text
    assert "168086******7114" in text and GOLD not in text
    assert "88.00" in text
    assert "商户存根" in text and "持卡人存根" in text
    key(page, "enter")
    screen(page, "standby")
    expect(page.locator("#lines")).not_to_contain_text("打印失败")


def test_a_refused_printer_keeps_the_sale_says_so_and_reprint_prints_it(page, owner):
    port = free_port()  # nothing listens there yet
    owner.put(TERMINAL, {"printer_url": f"tcp://127.0.0.1:{port}"}, as_="99")
    sign_in(page)
    expect(page.locator("#st-printer")).to_have_text("打印机 故障")
    consume(page)
    expect(page.locator("#lines")).to_contain_text("打印失败")
    # Why, in words the cashier can act on; never the device's English.
    expect(page.locator("#lines")).to_contain_text("打印机未连接：请检查电源和连线")
    expect(page.locator("#lines")).not_to_contain_text("refused")
    expect(page.locator("#hint")).to_have_text("按[重印]键重新打印")
    expect(page.locator("#st-printer")).to_have_text("打印机 故障")
    expect(page.locator("#st-printer")).to_have_attribute("data-ok", "0")
    expect(page.locator("#st-printer")).to_have_attribute("title", "打印机未连接：请检查电源和连线")
    shoot(page, "printer-failed-success")
    # The money moved all the same.
    assert body(owner.get(f"/api/v1/cards/{GOLD}", as_="owner"))["balance"] == "912.00"
    # Standby keeps saying it, with 重印 to try again.
    key(page, "enter")
    screen(page, "standby")
    expect(page.locator("#lines")).to_contain_text("打印失败：签购单")
    expect(page.locator("#lines")).to_contain_text("打印机未连接：请检查电源和连线")
    expect(page.locator("#hint")).to_contain_text("重印")
    shoot(page, "printer-failed-standby")
    printer = Listener(port)
    try:
        key(page, "reprint")
        screen(page, "print-job")
        expect(page.locator("#lines")).to_contain_text("已发送重印")
        expect(page.locator("#lines")).to_contain_text("打印完成")
        text = slips(printer)[0]  # the slip that failed, as it was: nobody got it yet
        assert "商户存根" in text and "168086******7114" in text and "重印" not in text
        expect(page.locator("#st-printer")).to_have_text("打印机 正常")
        key(page, "enter")
        screen(page, "standby")
        expect(page.locator("#lines")).not_to_contain_text("打印失败")
    finally:
        printer.close()


def test_feed_journal_totals_and_settlement_print_over_the_polling_fallback(page, owner, listener):
    # No stream to spare: the page polls, and the printer's state comes with each answer.
    page.route("**/api/v1/terminal/swipes/stream", lambda route: route.fulfill(status=503))
    owner.put(TERMINAL, {"printer_url": f"tcp://127.0.0.1:{listener.port}"}, as_="99")
    owner.transact("consume", GOLD, amount="100.00")
    sign_in(page)
    expect(page.locator("#st-printer")).to_have_text("打印机 正常")
    before = len(slips(listener))  # the consume's receipt
    key(page, "feed")
    screen(page, "print-job")
    expect(page.locator("#lines")).to_contain_text("打印完成")
    fed = slips(listener, before + 1)[-1]
    assert "\x1bd\x05" in fed  # ESC d 5: blank lines
    key(page, "enter")
    to_management(page)
    key(page, "8")
    screen(page, "print-menu")
    expect(page.locator("#lines")).to_contain_text("1.打印流水")
    key(page, "1")
    expect(page.locator("#lines")).to_contain_text("打印完成")
    journal = slips(listener, before + 2)[-1]
    assert "交易流水 JOURNAL" in journal and "168086******7114" in journal
    key(page, "enter")
    screen(page, "management")
    key(page, "8")
    key(page, "2")
    expect(page.locator("#lines")).to_contain_text("打印完成")
    assert "交易汇总 TOTALS" in slips(listener, before + 3)[-1]
    key(page, "enter")
    key(page, "cancel")
    key(page, "cancel")
    screen(page, "standby")
    key(page, "settle")
    screen(page, "settle-confirm")  # (a key pressed while the batch is read is not taken)
    key(page, "enter")
    screen(page, "settled")
    expect(page.locator("#hint")).to_have_text("结算单已打印")
    assert "结算单 SETTLEMENT" in slips(listener, before + 4)[-1]


def test_the_printer_settings_page(browser, live_server, owner, listener):
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="zh-CN")
    page = context.new_page()
    seen = page_errors(page)
    page.goto(live_server.url + "/terminal")
    sign_in(page, "99", "24680135", home="system-menu")

    def terminal():
        return body(owner.get("/api/v1/terminal", as_="99"))

    key(page, "1")
    screen(page, "terminal-parameters")
    key(page, "enter")
    screen(page, "terminal-parameters-2")
    key(page, "enter")
    screen(page, "terminal-parameters-3")
    expect(page.locator("#title")).to_have_text("终端参数设置 3/3")
    expect(page.locator("#lines")).to_contain_text("地址 none")
    key(page, "1")
    expect(page.locator("#lines")).to_contain_text("纸宽 80mm")
    assert terminal()["paper_mm"] == 80
    key(page, "2")
    expect(page.locator("#lines")).to_contain_text("编码 gbk")
    assert terminal()["printer_encoding"] == "gbk"
    key(page, "5")
    expect(page.locator("#lines")).to_contain_text("切纸 关")
    # 6: the IP, typed with the digits and 功能 for "."
    key(page, "6")
    screen(page, "printer-ip")
    for part in ("127", "func", "0", "func", "0", "func", "1"):
        type_keys(page, [part] if part == "func" else part)
    expect(page.locator("#field")).to_have_text("127.0.0.1")
    key(page, "enter")
    screen(page, "terminal-parameters-3")
    expect(page.locator("#lines")).to_contain_text("地址 tcp://127.0.0.1:9100")
    assert terminal()["printer_url"] == "tcp://127.0.0.1:9100"
    key(page, "6")
    type_keys(page, "300")
    key(page, "func")
    type_keys(page, "1")
    key(page, "enter")
    screen(page, "bad-ip")
    expect(page.locator("#lines")).to_contain_text("IP 地址不正确")
    key(page, "cancel")
    screen(page, "terminal-parameters-3")
    assert terminal()["printer_url"] == "tcp://127.0.0.1:9100"  # unchanged
    shoot(page, "printer-settings")
    # 7: a test page, on the printer the address now names.
    owner.put(TERMINAL, {"printer_url": f"tcp://127.0.0.1:{listener.port}"}, as_="99")
    key(page, "7")
    screen(page, "print-job")
    expect(page.locator("#lines")).to_contain_text("打印完成")
    assert "打印测试 TEST PAGE" in slips(listener)[-1]
    key(page, "enter")
    screen(page, "terminal-parameters-3")
    # An empty IP: no printer.
    key(page, "6")
    key(page, "enter")
    screen(page, "terminal-parameters-3")
    expect(page.locator("#lines")).to_contain_text("地址 none")
    assert terminal()["printer_url"] == "none"
    key(page, "enter")
    screen(page, "terminal-parameters")
    expect(page.locator("#title")).to_have_text("终端参数设置 1/3")
    page.set_viewport_size({"width": 1024, "height": 768})
    key(page, "enter")
    key(page, "enter")
    screen(page, "terminal-parameters-3")
    shoot(page, "printer-settings")
    context.close()
    assert seen == [], seen


def open_receipt_page(page):
    to_management(page)
    key(page, "7")
    screen(page, "batch-list")
    expect(page.locator("#lines")).to_contain_text("1.000001 储值消费 -88.00")
    key(page, "1")
    screen(page, "transaction")
    expect(page.locator("#lines")).to_contain_text("168086******7114")
    key(page, "reprint")
    screen(page, "slip")


def test_the_receipt_as_a_printable_page_from_the_transaction_query(browser, page, owner):
    owner.transact("consume", GOLD, amount="100.00")
    shop = body(owner.get("/api/v1/terminal", as_="01"))
    sign_in(page)
    open_receipt_page(page)
    slip = page.locator("#slip-paper")
    expect(page.locator("#slip")).to_be_visible()
    expect(slip).to_contain_text("168086******7114")
    expect(slip).not_to_contain_text(GOLD)
    for text in (shop["merchant_name"], shop["merchant_id"], "储值消费 SALE", "RMB 88.00",
                 "912.00", "重印 REPRINT", "持卡人签名", "10000001", "000001"):  # fmt: skip
        expect(slip).to_contain_text(text)
    shoot(page, "receipt-page")
    # 打印 opens the browser's print dialog; printed, only the slip shows.
    page.evaluate("() => { window.print = () => { window.printed = (window.printed || 0) + 1; }; }")
    page.locator("#slip-print").click()
    assert page.evaluate("window.printed") == 1
    page.emulate_media(media="print")
    expect(slip).to_be_visible()
    expect(page.locator(".display")).to_be_hidden()
    expect(page.locator(".slip-actions")).to_be_hidden()
    page.emulate_media(media="screen")
    page.locator("#slip-close").click()
    screen(page, "transaction")
    expect(page.locator("#slip")).to_be_hidden()
    # On a phone.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    phone = context.new_page()
    seen = page_errors(phone)
    phone.goto(page.url)
    sign_in(phone)
    open_receipt_page(phone)
    box = phone.locator("#slip-paper").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    shoot(phone, "receipt-page")
    context.close()
    assert seen == [], seen


def test_without_a_printer_reprint_shows_the_receipt_and_feed_says_so(page):
    sign_in(page)
    expect(page.locator("#st-printer")).to_have_text("打印机 未配置")
    consume(page)
    expect(page.locator("#hint")).to_contain_text("未配置打印机")
    key(page, "reprint")
    screen(page, "slip")
    expect(page.locator("#slip-paper")).to_contain_text("重印 REPRINT")
    page.locator("#slip-close").click()  # the keypad is under the slip: its own button
    screen(page, "success")  # back where 重印 was pressed
    key(page, "enter")
    screen(page, "standby")
    key(page, "feed")
    screen(page, "no-printer")
    expect(page.locator("#lines")).to_contain_text("未配置打印机")
    key(page, "enter")
    to_management(page)
    key(page, "8")
    screen(page, "no-printer")


def test_a_past_receipt_and_a_failed_settlement_slip_print_again(page, owner):
    port = free_port()  # nothing listens there yet
    owner.put(TERMINAL, {"printer_url": f"tcp://127.0.0.1:{port}"}, as_="99")
    owner.transact("consume", GOLD, amount="100.00")  # voucher 000001
    owner.transact("consume", PLAIN, amount="5.00")  # the terminal's last receipt
    sign_in(page)
    printer = Listener(port)
    try:
        # 交易查询 → the older transaction → its slip → 重印: that slip, not the last one.
        to_management(page)
        key(page, "7")
        expect(page.locator("#lines")).to_contain_text("2.000001 储值消费 -88.00")
        key(page, "2")
        screen(page, "transaction")
        key(page, "reprint")
        screen(page, "slip")
        expect(page.locator("#hint")).to_have_text("按[重印]键在打印机上打印")
        page.locator("#slip-printer").click()  # the keypad is under the slip: its own button
        screen(page, "print-job")
        expect(page.locator("#lines")).to_contain_text("打印完成")
        text = slips(printer)[0]
        assert "重印 REPRINT" in text and "168086******7114" in text and "￥88.00" in text
        key(page, "enter")
        screen(page, "transaction")
    finally:
        printer.close()
    for name in ("batch-list", "management", "menu", "standby"):
        key(page, "cancel")
        screen(page, name)
    # The printer goes away as the batch settles: the slip fails, 重印 prints it again.
    key(page, "settle")
    screen(page, "settle-confirm")  # (a key pressed while the batch is read is not taken)
    key(page, "enter")
    screen(page, "settled")
    expect(page.locator("#hint")).to_contain_text("打印失败")
    expect(page.locator("#hint")).to_contain_text("按[重印]键重新打印")
    printer = Listener(port)
    try:
        key(page, "reprint")
        screen(page, "print-job")
        expect(page.locator("#lines")).to_contain_text("打印完成")
        text = slips(printer)[0]
        assert "结算单 SETTLEMENT" in text and "重印 REPRINT" in text
        assert re.search(r"合计 TOTAL +2笔", text)
    finally:
        printer.close()


def test_feed_in_the_middle_of_a_sale_comes_back_to_what_was_typed(page, owner, listener):
    owner.put(TERMINAL, {"printer_url": f"tcp://127.0.0.1:{listener.port}"}, as_="99")
    sign_in(page)
    key(page, "enter")
    screen(page, "menu")
    key(page, "0")
    type_keys(page, GOLD)
    key(page, "enter")
    screen(page, "confirm")
    key(page, "enter")
    screen(page, "amount")
    type_keys(page, "4950")
    key(page, "feed")
    screen(page, "print-job")
    expect(page.locator("#lines")).to_contain_text("打印完成")
    key(page, "enter")
    screen(page, "amount")
    expect(page.locator("#field")).to_have_text("49.50")
    key(page, "0")  # and the cashier types on
    expect(page.locator("#field")).to_have_text("495.00")
