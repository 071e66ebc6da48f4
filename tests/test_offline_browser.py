"""离线交易 at the counter, in real headless Chromium on a tablet's HTTPS origin (shop.test, the
shop's CA trusted as on a kiosk): the manual's section 6 walked as a cashier would, with the
browser context set offline (context.set_offline), and back online the batch upload."""

from __future__ import annotations

import json

import pytest
import requests
from browser import expect, key, page_errors, screen, shoot, sign_in, type_keys
from conftest import GOLD, PLAIN, SILVER, ensure_password
from test_https import Shop
from test_https_browser import tablet

from kakatong.domain import ledger
from kakatong.store.models import Card, OfflineUpload, Transaction


@pytest.fixture
def shop(tmp_path):
    shop = Shop(tmp_path / "data")
    yield shop
    shop.stop()


def balance(card_no):
    card = Card.get(Card.card_no == card_no)
    return card.balance_fen, card.points


def open_terminal(browser, shop):
    context = browser.new_context(viewport={"width": 800, "height": 480})
    page = context.new_page()
    page.goto(f"https://shop.test:{shop.https_port}/terminal")
    return context, page


def wait_for_worker(page):
    """The service worker has taken over the page: its files are kept."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def offline_menu(page):
    screen(page, "offline-standby")
    key(page, "enter")
    screen(page, "offline-menu")


def offline_sale(page, item, card_no, figure, pin=None):
    offline_menu(page)
    key(page, item)
    screen(page, "card")
    type_keys(page, card_no)
    key(page, "enter")
    screen(page, "confirm")
    key(page, "enter")
    screen(page, "amount")
    type_keys(page, figure)
    key(page, "enter")
    screen(page, "service-code")
    key(page, "enter")
    screen(page, "pin")
    if pin:
        type_keys(page, pin)
    key(page, "enter")
    screen(page, "offline-success")


def test_a_cashier_sells_offline_reloads_and_uploads_when_back(tmp_path, shop):
    ensure_password("01")
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = open_terminal(browser, shop)
        errors = page_errors(page)
        sign_in(page)
        wait_for_worker(page)
        expect(page.locator("#st-offline")).to_have_text("离线待传 0")
        context.set_offline(True)
        expect(page.locator("#terminal")).to_have_attribute("data-screen", "offline-standby")
        shoot(page, "offline-standby")
        offline_sale(page, "1", GOLD, "2000", "123456")
        shoot(page, "offline-success")
        key(page, "enter")
        offline_sale(page, "1", GOLD, "1000", "123456")
        key(page, "enter")
        offline_sale(page, "1", PLAIN, "5000")
        key(page, "enter")
        offline_sale(page, "2", PLAIN, "30")
        expect(page.locator("#st-offline")).to_have_text("离线待传 4")
        # A reload while offline: the page comes from the service worker, signed in offline.
        page.reload()
        screen(page, "offline-standby")
        expect(page.locator("#st-offline")).to_have_text("离线待传 4")
        offline_menu(page)
        key(page, "3")
        screen(page, "offline-list")
        expect(page.locator("#lines")).to_contain_text("000001")
        shoot(page, "offline-list")
        assert balance(GOLD) == (100000, 300)
        context.set_offline(False)
        key(page, "cancel")
        key(page, "cancel")
        screen(page, "back-online")
        key(page, "enter")  # the page starts again online, in its session (the token is good)
        screen(page, "standby")
        expect(page.locator("#lines")).to_contain_text("4 笔待上传")
        key(page, "func")
        screen(page, "upload-results")
        shoot(page, "offline-upload-results")
        expect(page.locator("#st-offline")).to_have_text("离线待传 0")
        assert errors == []
    assert balance(GOLD) == (100000 - 1760 - 880, 300 + 2 + 1)
    assert balance(PLAIN) == (50000 - 5000, 120 + 5 + 30)
    assert Transaction.select().where(Transaction.offline).count() == 4
    assert ledger.verify() == []


STORAGE_DUMP = """async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("kakatong-offline");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const all = async (name) => {
    const tx = db.transaction(name);
    const store = tx.objectStore(name);
    const [keys, values] = await Promise.all([store.getAllKeys(), store.getAll()].map(
      (r) => new Promise((ok) => { r.onsuccess = () => ok(r.result); })));
    return keys.map((k, i) => [k, values[i]]);
  };
  const cached = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) cached.push(await (await cache.match(request)).text());
  }
  return JSON.stringify({
    meta: await all("meta"), sales: await all("sales"),
    local: Object.entries(localStorage), session: Object.entries(sessionStorage), cached,
  });
}"""


def signed_in_offline(tmp_path, shop, browser):
    """A terminal signed in while online (which keeps what it needs), then cut off."""
    context, page = open_terminal(browser, shop)
    sign_in(page)
    wait_for_worker(page)
    context.set_offline(True)
    screen(page, "offline-standby")
    return context, page


def test_no_pin_is_kept_in_clear_and_a_wrong_one_fails_at_upload(tmp_path, shop):
    ensure_password("01")
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = signed_in_offline(tmp_path, shop, browser)
        offline_sale(page, "1", GOLD, "1200", "123456")
        key(page, "enter")
        offline_sale(page, "1", SILVER, "1500", "654321")  # SILVER's PIN is 888888
        dump = page.evaluate(STORAGE_DUMP)
        assert "123456" not in dump and "654321" not in dump
        sales = [value for _key, value in json.loads(dump)["sales"]]
        assert [s["item"]["sealed_pin"][:3] for s in sales] == ["v1.", "v1."]
        context.set_offline(False)
        key(page, "enter")
        screen(page, "standby")
        key(page, "func")
        screen(page, "upload-results")
        expect(page.locator("#lines")).to_contain_text("000001 交易成功")
        expect(page.locator("#lines")).to_contain_text("000002 密码错误")
        key(page, "enter")
        screen(page, "upload-done")
        expect(page.locator("#lines")).to_contain_text("上传失败 1 笔")
        shoot(page, "offline-upload-done")
    failed = OfflineUpload.get(OfflineUpload.status == "failed")
    assert (failed.card_no, failed.error) == (SILVER, "wrong_pin")
    assert balance(SILVER) == (20000, 0)
    assert balance(GOLD)[0] == 100000 - 1056


def test_the_cards_on_the_list_and_the_limits_are_refused_offline(tmp_path, shop):
    from kakatong.domain import cards, settings
    from kakatong.domain.actors import Actor
    from kakatong.store.models import Staff

    ensure_password("01")
    owner = Staff.get(Staff.role == "owner")
    cards.set_status(Actor(owner.id, "owner", "owner", None, None), SILVER, "frozen")
    settings.update({"offline_single_limit_fen": 5000, "offline_card_count": 2,
                     "offline_card_total_fen": 8000})  # fmt: skip
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = signed_in_offline(tmp_path, shop, browser)
        offline_menu(page)
        key(page, "1")
        type_keys(page, SILVER)
        key(page, "enter")
        key(page, "enter")
        screen(page, "refusal")
        expect(page.locator("#lines")).to_have_text("该卡已冻结，不能离线交易")
        key(page, "cancel")
        offline_menu(page)
        key(page, "1")
        type_keys(page, GOLD)
        key(page, "enter")
        key(page, "enter")
        type_keys(page, "5001")  # 50.01 > the single limit of 50.00
        key(page, "enter")
        screen(page, "refusal")
        expect(page.locator("#lines")).to_have_text("金额超过离线单笔限额 50.00")
        shoot(page, "offline-over-limit")
        key(page, "cancel")
        offline_sale(page, "1", GOLD, "5000", "123456")
        key(page, "enter")
        offline_menu(page)
        key(page, "1")
        type_keys(page, GOLD)
        key(page, "enter")
        key(page, "enter")
        type_keys(page, "3001")  # 50.00 + 30.01 > 80.00 for the card
        key(page, "enter")
        expect(page.locator("#lines")).to_have_text("该卡离线累计金额超过限额 80.00")
        key(page, "enter")  # 输入: the amount again
        screen(page, "amount")
        key(page, "cancel")
        offline_sale(page, "2", GOLD, "10")
        key(page, "enter")
        offline_menu(page)
        key(page, "2")
        type_keys(page, GOLD)
        key(page, "enter")
        key(page, "enter")
        type_keys(page, "10")
        key(page, "enter")
        expect(page.locator("#lines")).to_have_text("该卡离线交易笔数已达上限 2 笔")
        expect(page.locator("#st-offline")).to_have_text("离线待传 2")


def test_offline_types_switched_off_leave_the_menu(tmp_path, shop):
    from kakatong.domain import settings

    ensure_password("01")
    settings.update({"offline_types": ["points_earn"]})
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = open_terminal(browser, shop)
        sign_in(page)
        key(page, "enter")
        key(page, "enter")
        key(page, "enter")
        key(page, "7")
        screen(page, "management")
        expect(page.locator("#lines")).to_contain_text("9.离线交易")
        key(page, "9")
        screen(page, "offline-menu")
        expect(page.locator("#lines")).to_have_text("2.离线积分累加3.离线交易查询")
        key(page, "1")  # switched off: nothing
        screen(page, "offline-menu")


def test_an_online_sale_the_server_cannot_be_reached_for_turns_offline_as_typed(tmp_path, shop):
    ensure_password("01")
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = open_terminal(browser, shop)
        sign_in(page)
        wait_for_worker(page)
        key(page, "trade")
        type_keys(page, GOLD)
        key(page, "enter")
        screen(page, "confirm")
        key(page, "enter")
        type_keys(page, "1500")
        key(page, "enter")
        key(page, "enter")  # no service code
        type_keys(page, "123456")
        context.set_offline(True)  # the cable is pulled as the cashier confirms
        key(page, "enter")
        screen(page, "comms-error")
        expect(page.locator("#lines")).to_contain_text("正在建立连接…")
        expect(page.locator("#hint")).to_contain_text("按[功能]键转离线交易")
        expect(page.locator("#lines")).to_contain_text("正在自动重试 (2)")  # by itself
        shoot(page, "offline-comms-error")
        key(page, "func")
        screen(page, "offline-success")
        expect(page.locator("#lines")).to_contain_text("金额 15.00")
        key(page, "reprint")
        screen(page, "slip")
        expect(page.locator("#slip-paper")).to_contain_text("离线 OFFLINE")
        expect(page.locator("#slip-paper")).to_contain_text("168086******7114")
        expect(page.locator("#slip-paper")).to_contain_text("离线凭证号")
        shoot(page, "offline-slip")
        page.locator("#slip-close").click()
        screen(page, "offline-success")
        # Nothing was sent: the sale is offline only, and the outbox is empty.
        assert page.evaluate("sessionStorage.getItem('kkt.pending')") is None
    assert (
        Transaction.select().count()
        == Transaction.select().where(Transaction.type == "opening").count()
    )


def test_a_closed_tab_reopened_offline_reuses_the_last_sign_in_for_a_while(tmp_path, shop):
    from kakatong.domain import settings

    ensure_password("01")
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = signed_in_offline(tmp_path, shop, browser)
        page.close()
        page = context.new_page()  # a new tab: no session of its own
        page.goto(f"https://shop.test:{shop.https_port}/terminal")
        screen(page, "offline-standby")
        expect(page.locator("#st-operator")).to_contain_text("01")
        # Past the time a sign-in may be reused: the offline sign-in is refused.
        page.evaluate("""() => new Promise((ok) => {
          const r = indexedDB.open("kakatong-offline");
          r.onsuccess = () => {
            const tx = r.result.transaction("meta", "readwrite");
            const store = tx.objectStore("meta");
            store.get("signin").onsuccess = (e) => {
              store.put({ ...e.target.result, at: Date.now() - 13 * 3600 * 1000 }, "signin");
            };
            tx.oncomplete = () => ok(true);
          };
        })""")
        page.reload()
        screen(page, "welcome")
        # No new sign-in offline either: it fails as any sign-in without the server does.
        settings.update({"offline_signin_hours": 24})  # the terminal still keeps the old limit
        key(page, "enter")
        type_keys(page, "01")
        key(page, "enter")
        type_keys(page, "2580")
        key(page, "enter")
        screen(page, "refusal")
        expect(page.locator("#lines")).to_contain_text("网络中断")


def lose_the_answer(shop, route):
    """The request reaches the box, which answers it, and the page hears nothing: sent here
    to the box's own address (Playwright's resolver does not know shop.test), then aborted."""
    request = route.request
    path = request.url.split(f":{shop.https_port}", 1)[1]
    requests.post(
        f"https://127.0.0.1:{shop.https_port}{path}",
        data=request.post_data,
        headers={"Authorization": request.headers["authorization"],
                 "Content-Type": "application/json"},
        verify=str(shop.ca), timeout=10,
    )  # fmt: skip
    route.abort()


def three_sales_offline(page, context):
    offline_sale(page, "1", GOLD, "1000", "123456")
    key(page, "enter")
    offline_sale(page, "1", PLAIN, "2000")
    key(page, "enter")
    offline_sale(page, "2", PLAIN, "5")
    key(page, "enter")
    context.set_offline(False)
    # Signed in before the network went: the same session goes on, and the upload is offered.
    expect(page.locator("#terminal")).to_have_attribute("data-screen", "standby", timeout=10000)
    expect(page.locator("#lines")).to_contain_text("3 笔待上传")


def test_an_upload_cut_off_and_repeated_applies_each_sale_once(tmp_path, shop):
    ensure_password("01")
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = signed_in_offline(tmp_path, shop, browser)
        three_sales_offline(page, context)
        sent = []

        def cut(route):
            sent.append(json.loads(route.request.post_data)["offline_trace_no"])
            if len(sent) == 1:
                return route.continue_()
            # The second one reaches the server, which applies it, but its answer is lost.
            lose_the_answer(shop, route)

        page.route("**/api/v1/offline/uploads", cut)
        key(page, "func")
        screen(page, "upload-results")
        expect(page.locator("#lines")).to_contain_text("000001 交易成功")
        key(page, "enter")
        screen(page, "upload-done")
        expect(page.locator("#lines")).to_contain_text("未上传 2 笔")
        expect(page.locator("#lines")).to_contain_text("网络中断")
        expect(page.locator("#st-offline")).to_have_text("离线待传 2")
        page.unroute("**/api/v1/offline/uploads")
        key(page, "enter")  # 输入: upload again
        screen(page, "upload-results")
        expect(page.locator("#lines")).to_contain_text("000002 交易成功")
        expect(page.locator("#lines")).to_contain_text("000003 交易成功")
        expect(page.locator("#st-offline")).to_have_text("离线待传 0")
    assert sent == [1, 2]
    assert Transaction.select().where(Transaction.offline).count() == 3
    assert balance(GOLD) == (100000 - 880, 301)
    assert balance(PLAIN) == (50000 - 2000, 120 + 2 + 5)
    assert ledger.verify() == []


def test_two_tabs_uploading_the_same_kept_sales_apply_them_once(tmp_path, shop):
    ensure_password("01")
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = signed_in_offline(tmp_path, shop, browser)
        three_sales_offline(page, context)
        other = context.new_page()
        other.set_viewport_size({"width": 800, "height": 480})
        other.goto(f"https://shop.test:{shop.https_port}/terminal")
        sign_in(other)
        expect(other.locator("#st-offline")).to_have_text("离线待传 3")
        # Both tabs read the same kept sales and send them at once.
        page.locator('[data-key="func"]').click(no_wait_after=True)
        other.locator('[data-key="func"]').click(no_wait_after=True)
        for tab in (page, other):
            expect(tab.locator("#terminal")).to_have_attribute(
                "data-screen", "upload-results", timeout=15000
            )
            expect(tab.locator("#st-offline")).to_have_text("离线待传 0")
    assert OfflineUpload.select().count() == 3
    assert Transaction.select().where(Transaction.offline).count() == 3
    assert balance(PLAIN) == (50000 - 2000, 120 + 2 + 5)
    assert ledger.verify() == []


def test_a_sale_the_balance_no_longer_covers_fails_and_waits_for_reconciliation(tmp_path, shop):
    from kakatong.domain import offline

    ensure_password("01")
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = signed_in_offline(tmp_path, shop, browser)
        offline_sale(page, "1", SILVER, "15000", "888888")  # 150.00 of 200.00, offline
        key(page, "enter")
        # Meanwhile the member spends at the counter of the back office: 100.00.
        from conftest import operator_actor

        ledger.consume(operator_actor(), SILVER, "100.00", request_id="elsewhere", pin="888888")
        context.set_offline(False)
        expect(page.locator("#terminal")).to_have_attribute("data-screen", "standby", timeout=10000)
        key(page, "func")
        screen(page, "upload-results")
        expect(page.locator("#lines")).to_contain_text("000001 余额不足")
    row = OfflineUpload.get()
    assert (row.status, row.error, row.amount_fen) == ("failed", "insufficient_balance", 15000)
    assert balance(SILVER) == (10000, 10)  # the consume made elsewhere, and nothing else
    assert offline.totals().counts["failed"] == 1


def test_signing_in_without_the_server_offers_only_the_last_sign_in(tmp_path, shop):
    ensure_password("01")
    ensure_password("02")
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = open_terminal(browser, shop)
        sign_in(page)
        wait_for_worker(page)
        key(page, "enter")
        key(page, "7")
        key(page, "2")  # 管理 → 签到: back to the welcome screen
        screen(page, "welcome")
        context.set_offline(True)
        for operator, password, offered in (("02", "3691", False), ("01", "2580", True)):
            key(page, "enter")
            type_keys(page, operator)
            key(page, "enter")
            type_keys(page, password)
            key(page, "enter")
            if not offered:  # another operator: no sign-in without the server
                screen(page, "refusal")
                expect(page.locator("#lines")).to_have_text("网络中断，请稍后重试")
                key(page, "cancel")
                screen(page, "welcome")
        screen(page, "offline-signin")
        key(page, "enter")
        screen(page, "offline-standby")
        expect(page.locator("#st-operator")).to_contain_text("01")


def test_a_sale_sent_and_unanswered_holds_offline_selling_until_it_is_settled(tmp_path, shop):
    ensure_password("01")
    with tablet(tmp_path, shop, trusts=True) as browser:
        context, page = open_terminal(browser, shop)
        sign_in(page)
        wait_for_worker(page)
        # 管理 → 9 while the box answers: sell online.
        key(page, "enter")
        for _ in range(2):
            key(page, "enter")
        key(page, "7")
        key(page, "9")
        key(page, "1")
        screen(page, "refusal")
        expect(page.locator("#lines")).to_have_text("网络正常，请做联网交易")
        key(page, "cancel")
        screen(page, "management")
        key(page, "cancel")
        key(page, "cancel")
        page.route("**/api/v1/transactions", lambda route: lose_the_answer(shop, route))
        screen(page, "standby")
        key(page, "trade")
        type_keys(page, GOLD)
        key(page, "enter")
        key(page, "enter")
        type_keys(page, "1000")
        key(page, "enter")
        key(page, "enter")
        type_keys(page, "123456")
        key(page, "enter")
        screen(page, "unanswered")
        context.set_offline(True)
        key(page, "cancel")
        screen(page, "offline-standby")
        key(page, "trade")  # 离线储值消费 from standby
        screen(page, "refusal")
        expect(page.locator("#lines")).to_contain_text("上一笔交易结果未确认")
        page.unroute("**/api/v1/transactions")
        context.set_offline(False)
        expect(page.locator("#st-signal")).to_have_text("信号正常", timeout=10000)
        key(page, "enter")
        # Back online, the unanswered sale is settled by its request_id: applied once.
        expect(page.locator("#terminal")).to_have_attribute("data-screen", "success", timeout=15000)
    assert balance(GOLD) == (100000 - 880, 301)
    assert Transaction.select().where(Transaction.type == "consume").count() == 1
