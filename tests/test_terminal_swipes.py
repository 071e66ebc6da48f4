"""Swipes on the terminal page from a keyboard-wedge card reader, typed as keyboard events in
headless Chromium against the real server: a bad read and the swipe after it, bad reads in a
row, a reader set up without its trailing Enter, a swipe on a screen that takes none, and
the reader and the printer in the status bar."""

import test_terminal_page
from browser import expect, key, screen, shoot, sign_in, type_keys
from conftest import GOLD, SILVER, ensure_password

# The page fixtures of test_terminal_page (its module-scoped browser with them).
browser, page = test_terminal_page.browser, test_terminal_page.page

TRACK1 = f"%B{GOLD}^LI/SI^4912101000000000000?"
TRACK2 = f";{GOLD}=49121010000000000?"
BAD = ";1234?"  # a track 2 cut short: 请重新刷卡


def wedge(page, text: str, enter: bool = True) -> None:
    """What a keyboard-wedge reader types: the stripe, fast, and (as set up) an Enter."""
    page.keyboard.type(text)
    if enter:
        page.keyboard.press("Enter")


def to_amount(page, digits: str) -> None:
    """储值消费 from standby with the card typed, to its amount screen, with digits typed."""
    key(page, "enter")
    key(page, "0")
    type_keys(page, GOLD)
    key(page, "enter")
    screen(page, "confirm")
    key(page, "enter")
    screen(page, "amount")
    type_keys(page, digits)


# ---------------------------------------------------------------- a bad read, then a good one


def test_the_good_swipe_after_a_bad_read_is_taken(page):
    ensure_password("01")
    sign_in(page)
    wedge(page, BAD)
    screen(page, "misread")
    expect(page.locator("#lines")).to_contain_text("请重新刷卡")
    wedge(page, TRACK1 + TRACK2)
    screen(page, "confirm")  # the standby's default transaction, as if it had come first
    expect(page.locator("#code")).to_have_text("SALE")
    expect(page.locator("#lines")).to_contain_text(f"CARD: {GOLD}")


def test_a_bad_read_in_a_flow_then_a_good_swipe_goes_on_with_that_flow(page):
    ensure_password("01")
    sign_in(page)
    key(page, "enter")
    key(page, "2")  # 积分累加
    screen(page, "card")
    wedge(page, BAD)
    screen(page, "misread")
    wedge(page, f";{SILVER}=30011010000?")
    screen(page, "confirm")
    expect(page.locator("#title")).to_have_text("积分累加")
    expect(page.locator("#lines")).to_contain_text(f"CARD: {SILVER}")


def test_bad_reads_in_a_row_are_one_screen_with_a_count_and_one_cancel_leaves_it(page):
    ensure_password("01")
    sign_in(page)
    to_amount(page, "4950")
    for _ in range(4):
        wedge(page, BAD)
    screen(page, "misread")
    expect(page.locator("#lines")).to_contain_text("读卡失败次数 4")
    shoot(page, "misread-count")
    key(page, "cancel")  # once: back where the swipes came, with what was typed
    screen(page, "amount")
    expect(page.locator("#field")).to_have_text("49.50")
    wedge(page, BAD)  # a new bad read counts from one again
    screen(page, "misread")
    expect(page.locator("#lines")).not_to_contain_text("读卡失败次数")
    key(page, "enter")
    screen(page, "amount")
    expect(page.locator("#field")).to_have_text("49.50")


# ---------------------------------------------------------------- a reader without its Enter


def test_a_complete_track_without_enter_is_a_swipe(page):
    ensure_password("01")
    sign_in(page)
    wedge(page, TRACK2, enter=False)
    screen(page, "confirm")
    expect(page.locator("#lines")).to_contain_text(f"CARD: {GOLD}")
    expect(page.locator("#lines")).to_contain_text("EXP DATA: 12/49")
    key(page, "cancel")
    screen(page, "standby")
    wedge(page, TRACK1 + TRACK2, enter=False)  # both tracks, one swipe
    screen(page, "confirm")
    key(page, "enter")
    screen(page, "amount")
    expect(page.locator("#field")).to_have_text("0.00")  # the swipe typed no digits


def test_an_enter_that_comes_late_after_a_swipe_is_the_readers_own(page):
    ensure_password("01")
    sign_in(page)
    wedge(page, TRACK1 + TRACK2, enter=False)
    page.wait_for_timeout(800)
    page.keyboard.press("Enter")  # the reader's Enter, 0.8 s late: not a bad read, not 输入
    page.wait_for_timeout(300)
    screen(page, "confirm")
    expect(page.locator("#lines")).to_contain_text(f"CARD: {GOLD}")
    page.keyboard.press("Enter")  # the cashier's, after that: 输入 as ever
    screen(page, "amount")


def test_a_swipe_cut_short_says_swipe_again_by_itself_and_keys_after_it_are_keys(page):
    ensure_password("01")
    sign_in(page)
    to_amount(page, "12")
    wedge(page, f";{GOLD[:6]}", enter=False)
    screen(page, "misread")  # without a key after it
    page.keyboard.press("Escape")
    screen(page, "amount")
    page.keyboard.press("3")  # the cashier's key, not swallowed as the end of a swipe
    expect(page.locator("#field")).to_have_text("1.23")


# ---------------------------------------------------------------- a swipe no screen takes


def test_a_swipe_on_a_screen_that_takes_none_says_so_and_keeps_the_screen(page):
    ensure_password("01")
    sign_in(page)
    notice = page.locator("#notice")
    expect(notice).to_be_hidden()
    to_amount(page, "4950")
    wedge(page, TRACK2)
    expect(notice).to_be_visible()
    expect(notice).to_have_text("当前界面不能刷卡")
    shoot(page, "swipe-not-taken")
    screen(page, "amount")  # the screen stays, with what was typed, and takes keys
    expect(page.locator("#field")).to_have_text("49.50")
    page.keyboard.press("0")
    expect(page.locator("#field")).to_have_text("495.00")
    expect(notice).to_be_hidden(timeout=5000)  # a short notice
    key(page, "cancel")
    screen(page, "standby")
    key(page, "enter")
    screen(page, "menu")
    wedge(page, TRACK2, enter=False)
    expect(notice).to_be_visible()
    screen(page, "menu")


def test_a_swipe_before_sign_in_says_so_too(page):
    screen(page, "welcome")
    wedge(page, TRACK2)
    expect(page.locator("#notice")).to_have_text("当前界面不能刷卡")
    screen(page, "welcome")


# ---------------------------------------------------------------- the status bar


def test_the_status_bar_says_the_reader_and_the_printer_are_not_configured(page):
    ensure_password("01")
    sign_in(page)
    reader, printer = page.locator("#st-reader"), page.locator("#st-printer")
    expect(reader).to_have_text("刷卡器 未配置")  # no serial reader (KAKATONG_MSR)
    expect(printer).to_have_text("打印机 未配置")
    shoot(page, "status-not-configured")
    wedge(page, TRACK2)  # a keyboard-wedge reader needs none: once it swipes, it works
    screen(page, "confirm")
    expect(reader).to_have_text("刷卡器 正常")
    expect(reader).to_have_attribute("data-ok", "1")
