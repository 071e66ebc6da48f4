"""The terminal page's screens as the cashier sees them, in real headless Chromium against the
real server: 重印 after a power cut, refusals under their flow's title, 员工管理 checked entry by
entry, 结算 confirmed with the batch's totals on screen, 系统设置 from the operator's menu and
back, and the display using its room at 800×480 (and at 1024×768 and 390×844)."""

from __future__ import annotations

import pytest
import requests
from browser import expect, key, page_errors, screen, shoot, sign_in, type_keys
from conftest import GOLD, PASSWORDS, PLAIN, SILVER, Api, body, ensure_password
from test_terminal_page import browser, consume, page, to_management  # noqa: F401 (fixtures)

SIZES = [(800, 480), (1024, 768), (390, 844)]


def new_page(browser, live_server, size=(800, 480)):  # noqa: F811 (the fixture, as an argument)
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="zh-CN")
    page = context.new_page()  # noqa: F811
    errors = page_errors(page)
    page.goto(live_server.url + "/terminal")
    return context, page, errors


def title(page, text: str, code: str = "") -> None:  # noqa: F811
    expect(page.locator("#title")).to_have_text(text)
    expect(page.locator("#code")).to_have_text(code)


# ---------------------------------------------------------------- 重印 without a printer


def test_reprint_after_a_power_cut_shows_the_terminals_last_receipt(browser, live_server):  # noqa: F811
    ensure_password("01")
    context, page, errors = new_page(browser, live_server)  # noqa: F811
    sign_in(page)
    key(page, "reprint")
    screen(page, "no-receipt")
    title(page, "重印")
    expect(page.locator("#lines")).to_have_text("没有可重印的签购单")
    key(page, "enter")
    screen(page, "standby")
    consume(page, GOLD, "10000", "123456")
    key(page, "enter")
    screen(page, "success")
    voucher = page.locator("#lines div").nth(1).inner_text().split()[-1]
    context.close()
    assert errors == []

    # The power comes back: a new browser, nothing kept in it.
    context, page, errors = new_page(browser, live_server)
    sign_in(page)
    key(page, "reprint")
    screen(page, "slip")
    slip = page.locator("#slip-paper")
    expect(slip).to_contain_text(f"凭证号 VOUCHER NO.{voucher}")
    expect(slip).to_contain_text("168086******7114")
    expect(slip).to_contain_text("RMB 88.00")
    page.locator("#slip-close").click()
    screen(page, "standby")

    # Another session at this terminal transacts: its receipt is the terminal's last, the one
    # a printer's 重印 would print.
    api = Api(requests.Session(), base=live_server.url)
    later = body(api.transact("recharge", PLAIN, as_="00", amount="20", payment_method="cash"))
    key(page, "reprint")
    screen(page, "slip")
    expect(slip).to_contain_text(f"凭证号 VOUCHER NO.{later['voucher_no']}")
    expect(slip).to_contain_text("168010******0018")
    context.close()
    assert errors == []


# ---------------------------------------------------------------- refusals keep their title


def test_a_wrong_sign_in_password_is_refused_under_the_sign_in(page):  # noqa: F811
    ensure_password("01")
    screen(page, "welcome")
    key(page, "enter")
    type_keys(page, "01")
    key(page, "enter")
    type_keys(page, "1111")
    key(page, "enter")
    screen(page, "refusal")
    title(page, "操作员签到", "LOGON")
    expect(page.locator("#lines")).to_contain_text("密码错误")
    key(page, "enter")  # again
    screen(page, "operator")
    key(page, "cancel")
    screen(page, "welcome")


def test_a_wrong_unlock_password_is_refused_under_the_lock(page):  # noqa: F811
    ensure_password("01")
    sign_in(page)
    to_management(page)
    key(page, "4")
    screen(page, "locked")
    type_keys(page, "1111")
    key(page, "enter")
    screen(page, "refusal")
    title(page, "锁定")
    key(page, "enter")
    screen(page, "locked")


def test_a_transaction_is_still_refused_as_a_failed_transaction(page):  # noqa: F811
    ensure_password("01")
    sign_in(page)
    consume(page, SILVER, "99999", "888888")
    key(page, "enter")
    screen(page, "refusal")
    title(page, "交易失败")


# ---------------------------------------------------------------- 员工管理, entry by entry


def test_staff_management_checks_each_entry_when_it_is_typed(page, live_server, supervisor):  # noqa: F811
    ensure_password("01")
    ensure_password("02")
    sign_in(page)
    to_management(page)
    key(page, "5")
    screen(page, "supervisor")
    type_keys(page, "999999")
    key(page, "enter")
    # Refused at once, before the operator's number is asked.
    screen(page, "refusal")
    title(page, "员工管理")
    expect(page.locator("#lines")).to_contain_text("主管密码错误")
    key(page, "enter")  # again
    screen(page, "supervisor")
    type_keys(page, supervisor)
    key(page, "enter")
    screen(page, "operator-no")
    type_keys(page, "42")
    key(page, "enter")
    # An operator who does not exist, before the new password.
    screen(page, "refusal")
    title(page, "员工管理")
    expect(page.locator("#lines")).to_contain_text("员工号不存在")
    key(page, "enter")
    screen(page, "operator-no")
    type_keys(page, "02")
    key(page, "enter")
    screen(page, "operator-password")
    expect(page.locator("#lines")).to_contain_text("02 操作员02")
    type_keys(page, "4242")
    key(page, "enter")
    type_keys(page, "4242")
    key(page, "enter")
    screen(page, "saved")
    r = requests.post(
        live_server.url + "/api/v1/session", json={"operator_no": "02", "password": "4242"}
    )
    assert r.status_code == 201


# ---------------------------------------------------------------- 结算 with its totals


def test_settlement_shows_the_batchs_totals_before_settling(page):  # noqa: F811
    from kakatong.store.models import Terminal

    ensure_password("01")
    sign_in(page)
    consume(page, GOLD, "10000", "123456")
    key(page, "enter")
    screen(page, "success")
    key(page, "enter")
    key(page, "settle")
    screen(page, "settle-confirm")
    title(page, "结算", "SETTLE")
    lines = page.locator("#lines")
    expect(lines).to_contain_text("批次号 000001")
    expect(lines).to_contain_text("储值消费 1笔 -88.00")
    expect(lines).to_contain_text("储值充值 0笔 0.00")
    expect(lines).to_contain_text("积分累加 0笔 0")
    expect(lines).to_contain_text("撤销 0笔")
    shoot(page, "settle-confirm")
    assert Terminal.get(Terminal.kind == "pos").batch_no == 1  # nothing settled yet
    key(page, "cancel")
    screen(page, "standby")
    assert Terminal.get(Terminal.kind == "pos").batch_no == 1
    key(page, "settle")
    screen(page, "settle-confirm")
    key(page, "enter")
    screen(page, "settled")
    assert Terminal.get(Terminal.kind == "pos").batch_no == 2


# ---------------------------------------------------------------- 系统设置 from the menu


def to_system_settings(page, password=PASSWORDS["99"]):  # noqa: F811
    key(page, "enter")
    for _ in range(2):
        key(page, "enter")
    key(page, "8")
    screen(page, "system-password")
    type_keys(page, password)
    key(page, "enter")


def whoami(page, live_server) -> str:  # noqa: F811
    """Who the page's own session (its token in sessionStorage) belongs to."""
    token = page.evaluate("sessionStorage.getItem('kkt.token')")
    r = requests.get(
        live_server.url + "/api/v1/session", headers={"Authorization": f"Bearer {token}"}
    )
    return r.json().get("operator_no") if r.status_code == 200 else None


def test_system_settings_from_the_menu_return_to_the_operator(page, live_server):  # noqa: F811
    from kakatong.store.models import Terminal

    ensure_password("01")
    ensure_password("99")
    sign_in(page)
    to_system_settings(page, "11111111")
    screen(page, "refusal")
    title(page, "系统设置")
    key(page, "cancel")
    screen(page, "menu")

    to_system_settings(page)
    screen(page, "system-menu")
    expect(page.locator("#st-operator")).to_have_text("99 系统操作员")
    expect(page.locator("#lines")).to_contain_text("9.返回")
    key(page, "1")
    screen(page, "terminal-parameters")
    key(page, "1")  # receipt copies 2 -> 1, as the system operator
    expect(page.locator("#lines")).to_contain_text("签购单联数 1")
    assert Terminal.get(Terminal.kind == "pos").receipt_copies == 1
    key(page, "cancel")
    screen(page, "system-menu")
    key(page, "cancel")  # 取消 leaves
    screen(page, "menu")
    expect(page.locator("#st-operator")).to_have_text("01 操作员01")
    assert whoami(page, live_server) == "01"
    # Still the operator: a transaction goes through.
    key(page, "cancel")
    screen(page, "standby")
    consume(page, GOLD, "100", "123456")
    key(page, "enter")
    screen(page, "success")
    key(page, "enter")

    # 9.返回 leaves too.
    to_system_settings(page)
    screen(page, "system-menu")
    key(page, "9")
    screen(page, "menu")
    expect(page.locator("#st-operator")).to_have_text("01 操作员01")


def test_changing_the_system_password_from_the_menu_returns_to_the_operator(page, live_server):  # noqa: F811
    ensure_password("01")
    ensure_password("99")
    sign_in(page)
    to_system_settings(page)
    screen(page, "system-menu")
    key(page, "5")
    screen(page, "old-password")
    type_keys(page, PASSWORDS["99"])
    key(page, "enter")
    type_keys(page, "13572468")
    key(page, "enter")
    type_keys(page, "13572468")
    key(page, "enter")
    screen(page, "saved")
    title(page, "修改管理员密码")
    key(page, "enter")
    screen(page, "menu")
    expect(page.locator("#st-operator")).to_have_text("01 操作员01")
    assert whoami(page, live_server) == "01"
    r = requests.post(
        live_server.url + "/api/v1/session", json={"operator_no": "99", "password": "13572468"}
    )
    assert r.status_code == 201


def test_a_reload_in_the_system_settings_is_back_in_the_operators_session(page, live_server):  # noqa: F811
    ensure_password("01")
    ensure_password("99")
    sign_in(page)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/session/system")) as opening:
        to_system_settings(page)
    screen(page, "system-menu")
    assert opening.value.status == 201
    opened = [opening.value.json()["token"]]
    # The system operator's token is kept in memory only, in no storage of the browser.
    stored = page.evaluate(
        "[...Object.values(sessionStorage), ...Object.values(localStorage)].join(' ')"
    )
    assert opened[0] not in stored
    page.reload()
    screen(page, "standby")
    expect(page.locator("#st-operator")).to_have_text("01 操作员01")
    assert whoami(page, live_server) == "01"


# ---------------------------------------------------------------- the room at 800×480


def _lines_font(page) -> float:  # noqa: F811
    return page.locator("#lines").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")


def _fits(page) -> None:  # noqa: F811
    """Nothing on the display is cut off: every line within the display."""
    over = page.locator("#lines").evaluate(
        "e => [e.scrollHeight - e.clientHeight, e.scrollWidth - e.clientWidth]"
    )
    assert over[0] <= 1 and over[1] <= 1, over


@pytest.mark.parametrize("size", SIZES)
def test_the_display_uses_its_room(browser, live_server, size):  # noqa: F811
    ensure_password("01")
    context, page, errors = new_page(browser, live_server, size)  # noqa: F811
    sign_in(page)
    wide = size[0] > size[1]
    display = page.locator(".display").bounding_box()
    if wide:  # beside the keys, the display has most of the width
        assert display["width"] >= 0.6 * size[0], display
    # Standby and the menu in large type, the lines filling the display's height.
    shoot(page, "standby")
    assert _lines_font(page) >= 36, _lines_font(page)
    text = page.locator("#lines div").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect()).map(r => [r.top, r.bottom])"
    )
    assert text[-1][1] - text[0][0] >= 0.4 * display["height"], (text, display)
    _fits(page)
    key(page, "enter")
    screen(page, "menu")
    assert _lines_font(page) >= 36
    _fits(page)
    shoot(page, "menu")
    key(page, "cancel")
    consume(page, GOLD, "10000", "")
    screen(page, "pin")
    # The amount screen went by; the PIN's stars: large, in the middle of the display.
    type_keys(page, "123456")
    field = page.locator("#field").evaluate(
        """e => { const r = document.createRange(); r.selectNodeContents(e);
                  const t = r.getBoundingClientRect(), f = e.getBoundingClientRect();
                  return [t.left - f.left, f.right - t.right, parseFloat(getComputedStyle(e).fontSize)]; }"""
    )
    assert field[2] >= 48, field
    # Centred (the letter spacing after the last star aside), not right-aligned.
    assert abs(field[0] - field[1]) <= 0.4 * field[2], field
    shoot(page, "pin")
    key(page, "enter")
    screen(page, "success")
    assert _lines_font(page) >= 36
    _fits(page)
    shoot(page, "success")
    # The slip on screen, in type read at arm's length.
    key(page, "reprint")
    screen(page, "slip")
    slip = page.locator("#slip-paper")
    font = slip.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font >= 18, font
    box = slip.bounding_box()
    assert box["width"] >= (0.6 if wide else 0.9) * size[0], box
    for button in ("#slip-print", "#slip-close"):  # its buttons in sight, not scrolled away
        b = page.locator(button).bounding_box()
        assert b["y"] + b["height"] <= size[1] and b["height"] >= 48, (button, b)
    shoot(page, "slip")
    page.locator("#slip-close").click()
    screen(page, "success")
    key(page, "enter")
    # A refusal, and the settlement's totals: many lines, still all on the display.
    consume(page, SILVER, "99999", "888888")
    key(page, "enter")
    screen(page, "refusal")
    assert _lines_font(page) >= 36
    shoot(page, "refusal")
    key(page, "cancel")
    key(page, "settle")
    screen(page, "settle-confirm")
    _fits(page)
    assert _lines_font(page) >= 20
    shoot(page, "settle-confirm")
    context.close()
    assert errors == []
