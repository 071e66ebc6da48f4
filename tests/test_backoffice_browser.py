"""The back office in real headless Chromium against the real server on loopback, used the way
the owner uses it on a tablet: first run, sign-in (and the captcha after a failure), member
transactions, activation, reports and their exports. Screenshots at 1024×768 go to
tests/screenshots/ (git-ignored)."""

import os
from pathlib import Path

import pytest
from conftest import PASSWORDS, ensure_password

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent / "screenshots"
TABLET = {"width": 1024, "height": 768}

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip(f"no {CHROMIUM} here (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport=TABLET, locale="zh-CN", accept_downloads=True)
    yield context
    context.close()


@pytest.fixture
def page(context, live_server):
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and "Failed to load resource" not in msg.text
            and errors.append(msg.text)
        ),
    )
    page.base = live_server.url
    yield page
    assert errors == [], errors


def shoot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"backoffice-{name}-1024x768.png"), full_page=True)


def sign_in(page, account="owner", password=None):
    ensure_password("owner")
    ensure_password(account)
    page.goto(page.base + "/login")
    page.get_by_label("管理员账户").fill(account)
    page.get_by_label("管理员密码").fill(password or PASSWORDS[account])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="首页")).to_be_visible()


def test_first_run_sets_the_owners_password_then_the_dashboard(page):
    page.goto(page.base + "/")
    expect(page).to_have_url(page.base + "/setup")
    page.get_by_label("店主密码").fill("owner-pass-1")
    page.get_by_label("确认密码").fill("owner-pass-2")
    page.get_by_role("button", name="设置密码并登录").click()
    expect(page.locator(".error")).to_contain_text("两次输入的密码不一致")
    page.get_by_label("店主密码").fill("owner-pass-1")
    page.get_by_label("确认密码").fill("owner-pass-1")
    page.get_by_role("button", name="设置密码并登录").click()
    expect(page.get_by_role("heading", name="首页")).to_be_visible()
    expect(page.locator("#balance-float")).to_have_text("1700.00")
    shoot(page, "dashboard")


def test_a_failed_sign_in_brings_the_captcha(page, app):
    # The answer reaches the test through the server's test-only configuration, never the page.
    app.config["KAKATONG_CAPTCHA_TEXT"] = lambda: "H4NM"
    ensure_password("owner")
    page.goto(page.base + "/login")
    expect(page.locator("#captcha-image")).to_have_count(0)
    page.get_by_label("管理员账户").fill("owner")
    page.get_by_label("管理员密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".errors")).to_contain_text("账户或密码错误")
    image = page.locator("#captcha-image")
    expect(image).to_be_visible()
    assert page.evaluate("document.getElementById('captcha-image').naturalWidth") == 160
    assert "H4NM" not in page.content()
    page.get_by_label("管理员账户").fill("owner")
    page.get_by_label("管理员密码").fill(PASSWORDS["owner"])
    page.get_by_label("输入验证码").fill("h4nm")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="首页")).to_be_visible()


def test_sign_out_returns_to_the_sign_in_page(page):
    sign_in(page)
    page.locator("details.who summary").click()
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    page.goto(page.base + "/")
    expect(page).to_have_url(page.base + "/login?next=%2F")
