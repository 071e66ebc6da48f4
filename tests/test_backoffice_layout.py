"""The back office on a landscape tablet (1024×768), a portrait tablet (768×1024) and a phone
(390×844), in real headless Chromium: no page scrolls sideways, the menu says where one is,
the columns most wanted are in sight (a wide table scrolls inside itself, with a cue), the
journal's filters fold away. And the things said on those pages: the captcha whenever the
server wants one, one name for the service code, the unbinding of a phone, the import's
preview in the shop's words. Screenshots go to tests/screenshots/ (git-ignored)."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import chromium, expect, page_errors
from conftest import GOLD, PASSWORDS, PINS, PLAIN, SILVER, ensure_password

from kakatong.domain import branches
from kakatong.domain.cards import IMPORT_COLUMNS
from kakatong.web.backoffice.web import NAV

SHOTS = Path(__file__).resolve().parent / "screenshots"
LANDSCAPE = {"width": 1024, "height": 768}
PORTRAIT = {"width": 768, "height": 1024}
PHONE = {"width": 390, "height": 844}
SIZES = [LANDSCAPE, PORTRAIT, PHONE]


def size_id(size):
    return f"{size['width']}x{size['height']}"


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def open_page(browser, live_server):
    """A new page in a browser of its own (its own cookies) at that size."""
    contexts, errors = [], []

    def make(size=LANDSCAPE):
        context = browser.new_context(viewport=size, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        errors.append(page_errors(page))
        page.base = live_server.url
        return page

    yield make
    for context in contexts:
        context.close()
    assert all(e == [] for e in errors), errors


def shoot(page, name):
    SHOTS.mkdir(exist_ok=True)
    size = page.viewport_size
    path = SHOTS / f"layout-{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path), full_page=True)


def sign_in(page, account="owner"):
    ensure_password("owner")
    ensure_password(account)
    page.goto(page.base + "/login")
    page.get_by_label("管理员账户").fill(account)
    page.get_by_label("管理员密码").fill(PASSWORDS[account])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="首页")).to_be_visible()


@pytest.fixture
def traded(live_api):
    """A few transactions, so that the journal, the statistics and the audit log have rows."""
    assert live_api.transact("recharge", GOLD, amount="100", payment_method="cash").ok
    assert live_api.transact("consume", PLAIN, amount="12.34").ok
    assert live_api.transact("points_redeem", GOLD, points=50).ok
    assert live_api.transact("consume", SILVER, amount="8", pin=PINS[SILVER]).ok


def fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def current_entry(page) -> str:
    """The menu's name of the page shown, as the owner sees it (it must be on screen)."""
    if page.viewport_size["width"] >= 1024:
        here = page.locator("nav.side a[aria-current]")
    else:
        expect(page.locator("nav.side")).to_be_hidden()
        here = page.locator("nav.fold summary .here")
    expect(here).to_have_count(1)
    expect(here).to_be_in_viewport()
    return here.inner_text().strip()


# What the owner reads in a cell: in sight means inside the window and inside the table's
# scrolling box (a cell scrolled out of its box is not seen).
IN_SIGHT = """el => {
  const r = el.getBoundingClientRect();
  const wrap = el.closest('.table-wrap');
  const box = wrap ? wrap.getBoundingClientRect() : {left: 0, right: innerWidth};
  return r.width > 0 && r.left >= Math.max(0, box.left) - 1
    && r.right <= Math.min(innerWidth, box.right) + 1;
}"""


def in_sight(locator) -> bool:
    return locator.evaluate(IN_SIGHT)


def scroll_cue(wrap) -> str:
    """The words shown above a table that scrolls inside itself ("" if none shows)."""
    return wrap.evaluate(
        """w => { const s = getComputedStyle(w, '::before');
                  return s.display === 'none' || s.content === 'none' ? '' : s.content; }"""
    )


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_every_page_fits_the_width_and_the_menu_says_where_one_is(open_page, traded, app, size):
    second = branches.create(None, "二店（东街分店）", "东街 1 号")  # a chain: 门店 in the menu
    page = open_page(size)
    sign_in(page)
    app.extensions["kakatong.backups"].run()  # 备份与恢复 lists one, with its long path
    entries = page.eval_on_selector_all(
        "nav.side a", "links => links.map(a => [a.textContent.trim(), a.href])"
    )
    # Every entry of the menu, for the owner (系统状态 among them); the last: 设备证书 (/tls).
    assert [label for label, _url in entries] == [str(label) for _e, label, _r in NAV]
    pages = [*entries]
    # Pages under a menu entry name that entry.
    pages += [
        ("会员", f"{page.base}/members/{GOLD}"),
        ("会员", f"{page.base}/members/import"),
        ("员工", f"{page.base}/staff/01"),
        ("终端", f"{page.base}/terminals/10000001"),
        ("门店", f"{page.base}/branches/{second.id}"),
        ("员工", f"{page.base}/staff/00"),
        ("会员卡操作", f"{page.base}/cards/pin"),
    ]
    for label, url in pages:
        page.goto(url)
        assert fits_the_width(page), (url, size)
        assert current_entry(page) == label, url
        for wrap in page.locator(".table-wrap").all():
            if wrap.evaluate("w => w.scrollWidth > w.clientWidth + 1"):
                # It scrolls inside itself: the cue shows, and the far side fades.
                assert "左右滑动查看更多" in scroll_cue(wrap), url
                assert "more-right" in wrap.get_attribute("class"), url
        name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or "dashboard"
        if name in (
            "dashboard", "members", "journal", "stats", "audit", "settings", "system", "backups",
            "branches", "10000001",
        ):  # fmt: skip
            shoot(page, name)


@pytest.mark.parametrize("size", [PORTRAIT, PHONE], ids=size_id)
def test_the_folded_menu_opens_and_leads_to_a_page(open_page, size):
    page = open_page(size)
    sign_in(page)
    menu = page.get_by_role("navigation", name="导航")
    expect(menu.get_by_role("link", name="交易流水")).to_be_hidden()
    menu.locator("summary").click()
    for name in ("首页", "会员交易", "会员", "交易流水", "设置", "审计日志"):
        expect(menu.get_by_role("link", name=name, exact=True)).to_be_in_viewport()
    assert fits_the_width(page)
    shoot(page, "menu-open")
    menu.get_by_role("link", name="交易流水").click()
    expect(page.get_by_role("heading", name="交易流水")).to_be_visible()
    assert current_entry(page) == "交易流水"
    expect(menu.get_by_role("link", name="交易流水")).to_be_hidden()  # folded again


# The columns each list is for: they must be in sight without scrolling anything sideways.
WANTED = {
    "/members": ("#members", ["余额", "积分", "状态"]),
    "/reports/journal": ("#journal", ["交易金额", "交易类型", "交易状态", "凭证号"]),
    "/audit": ("table.audit", ["时间", "操作", "详情"]),
}


@pytest.mark.parametrize("size", [PORTRAIT, PHONE], ids=size_id)
@pytest.mark.parametrize("path", list(WANTED))
def test_the_wanted_columns_are_in_sight(open_page, traded, size, path):
    page = open_page(size)
    sign_in(page)
    page.goto(page.base + path)
    table, labels = WANTED[path]
    columns = page.eval_on_selector_all(
        f"{table} thead th", "ths => ths.map(th => th.textContent.trim())"
    )
    row = page.locator(f"{table} tbody tr").first
    if path == "/audit":  # a row with 详情 (a sign-in has none): the import of the demo cards
        row = page.locator(f"{table} tbody tr").filter(has=page.locator("td.c-details div")).first
    for label in labels:
        cell = row.locator("td").nth(columns.index(label))
        expect(cell).to_be_visible()
        assert in_sight(cell), (path, label)
    if path == "/audit":
        # 详情 reads as lines ("储值: 1700.00"), not a character a line.
        line = row.locator("td.c-details div").first
        assert line.evaluate("div => div.getClientRects().length") == 1
        assert line.evaluate("div => div.scrollWidth <= div.getBoundingClientRect().width + 1")
        assert line.evaluate("div => div.getBoundingClientRect().height") < 30


@pytest.mark.parametrize("size", [PORTRAIT, PHONE], ids=size_id)
def test_the_statistics_show_their_points_columns(open_page, traded, size):
    page = open_page(size)
    sign_in(page)
    page.goto(page.base + "/reports/stats")
    wrap = page.locator("#stats").locator("xpath=..")
    heads = page.locator("#stats thead th")
    points = [heads.nth(i) for i in (5, 6, 7)]
    assert [p.inner_text() for p in points] == ["积分奖励总额", "积分兑换总额", "积分沉淀"]
    if size is PORTRAIT:
        assert all(in_sight(p) for p in points)
    else:
        # A phone is too narrow for eight columns: the table scrolls inside itself, says so,
        # and keeps the date in place.
        assert "左右滑动查看更多" in scroll_cue(wrap)
        assert not in_sight(points[-1])
        wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
        expect(wrap).to_have_class("table-wrap scrolls more-left")
        assert in_sight(points[-1])
        assert in_sight(heads.first)
    assert fits_the_width(page)


def test_the_journal_filters_fold_away_on_a_phone(open_page, traded):
    page = open_page(PHONE)
    sign_in(page)
    page.goto(page.base + "/reports/journal")
    first_row = page.locator("#journal tbody tr").first
    expect(first_row).to_be_in_viewport()
    card = page.get_by_label("卡号")
    expect(card).to_be_hidden()
    page.locator("details.filter-fold summary").click()
    card.fill(GOLD)
    page.get_by_role("button", name="查询").click()
    # A filter in use keeps the filters open, and the line above them says which.
    expect(page.locator("details.filter-fold")).to_have_attribute("open", "")
    expect(page.locator("details.filter-fold summary")).to_contain_text(f"卡号：{GOLD}")
    expect(page.locator("#journal tbody tr")).to_have_count(3)  # opening, recharge, redeem
    page.get_by_label("交易类型").select_option(label="积分消费")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("details.filter-fold summary")).to_contain_text("交易类型：积分消费")
    expect(page.locator("#journal tbody tr")).to_have_count(1)
    shoot(page, "journal-filtered")
    page.get_by_role("link", name="清除筛选").click()
    expect(page.locator("details.filter-fold")).not_to_have_attribute("open", "")


def test_a_second_browser_shows_the_captcha_the_server_wants(open_page, app):
    app.config["KAKATONG_CAPTCHA_TEXT"] = lambda: "H4NM"
    ensure_password("owner")
    first = open_page()
    first.goto(first.base + "/login")
    first.get_by_label("管理员账户").fill("owner")
    first.get_by_label("管理员密码").fill("not-the-password")
    first.get_by_role("button", name="登录").click()
    expect(first.locator(".errors")).to_contain_text("账户或密码错误")

    second = open_page(PHONE)
    second.goto(second.base + "/login")
    image = second.locator("#captcha-image")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 160
    assert fits_the_width(second)
    shoot(second, "login-captcha")
    second.get_by_label("管理员账户").fill("owner")
    second.get_by_label("管理员密码").fill(PASSWORDS["owner"])
    second.get_by_label("输入验证码").fill("h4nm")
    second.get_by_role("button", name="登录").click()
    expect(second.get_by_role("heading", name="首页")).to_be_visible()


def test_the_service_code_has_one_name_on_the_form_and_the_slip(open_page):
    page = open_page()
    sign_in(page)
    page.goto(page.base + "/trade/consume")
    page.get_by_label("卡号码").fill(PLAIN)
    page.get_by_label("消费金额").fill("10")
    page.get_by_label("服务代码").fill("A01")
    expect(page.locator("main")).not_to_contain_text("商品代码")
    page.get_by_role("button", name="消费").click()
    receipt = page.locator(".receipt").first
    expect(receipt).to_contain_text("服务代码")
    expect(receipt).to_contain_text("A01")
    page.goto(page.base + "/trade/points_redeem")
    expect(page.get_by_label("服务代码")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("商户代码")


def test_unbinding_a_phone_says_unbound(open_page):
    page = open_page(PHONE)
    sign_in(page)
    page.goto(page.base + f"/cards/phone?card_no={SILVER}")
    page.get_by_label("绑定手机号").fill("")
    page.get_by_label("密码", exact=True).fill(PINS[SILVER])
    page.get_by_role("button", name="绑定").click()
    expect(page.locator(".flash")).to_have_text(f"卡 {SILVER} 的手机号码已解绑")
    page.goto(page.base + f"/cards/phone?card_no={SILVER}")
    page.get_by_label("绑定手机号").fill("13900139001")
    page.get_by_label("密码", exact=True).fill(PINS[SILVER])
    page.get_by_role("button", name="绑定").click()
    expect(page.locator(".flash")).to_have_text(f"卡 {SILVER} 的手机号码已绑定")


HEADER = ",".join(IMPORT_COLUMNS)


def test_the_import_preview_speaks_chinese_and_lists_every_problem(open_page, tmp_path):
    page = open_page(PORTRAIT)
    sign_in(page)
    page.goto(page.base + "/members/import")
    bad = tmp_path / "members.csv"
    bad.write_text(
        HEADER
        + "\n6222000011110001,,13711110001,周一,female,,,普通会员,,,12.50,5"
        + "\n6222000011110002,,,吴二,woman,,,钻石会员,,,abc,-3\n",
        encoding="utf-8",
    )
    page.get_by_label("会员 CSV 文件").set_input_files(str(bad))
    page.get_by_role("button", name="上传并预览").click()
    lines = page.locator("#import-lines")
    heads = lines.locator("thead th")
    expect(heads.nth(1)).to_contain_text("卡号")
    expect(heads.nth(5)).to_contain_text("性别")
    expect(lines.locator("thead")).not_to_contain_text("card_no")
    first = lines.locator("tbody tr").first
    expect(first.locator("td").nth(5)).to_have_text("女")
    # Line 3 has four problems: every one is listed, with its column, and its cells marked.
    problems = page.locator("#import-problems tbody tr")
    expect(problems).to_have_count(4)
    for column in ("性别", "会员等级", "余额", "积分"):
        expect(page.locator("#import-problems")).to_contain_text(column)
    expect(lines.locator("tbody tr").nth(1).locator("td.bad")).to_have_count(4)
    expect(page.locator("#import-summary")).to_contain_text("发现 4 处错误")
    assert fits_the_width(page)
    shoot(page, "import-preview")
