"""HTTPS as a tablet on the shop's Wi-Fi sees it, in real headless Chromium.

The browser reaches the box by a name of the shop's network (`shop.test`, mapped with
--host-resolver-rules to the box's LAN address or to loopback), never as 127.0.0.1, where a
page is a secure context anyway. "Trusting the shop's CA" is done as on a Linux kiosk: the CA
certificate added to the browser's NSS database ($HOME/.pki/nssdb) with certutil.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager

import pytest
from browser import CHROMIUM, expect, page_errors, playwright_api, shoot, sign_in
from conftest import ensure_password
from test_https import Shop, lan_address

CERTUTIL = shutil.which("certutil")
if CERTUTIL is None:
    if os.environ.get("CI"):
        raise RuntimeError("certutil is missing: .ci/run installs libnss3-tools")
    pytest.skip("no certutil here (apt-get install libnss3-tools)", allow_module_level=True)

SECURE_FEATURES = (
    "[window.isSecureContext, !!(window.crypto && window.crypto.subtle),"
    " 'serviceWorker' in navigator]"
)


@pytest.fixture
def shop(tmp_path):
    shop = Shop(tmp_path / "data")
    yield shop
    shop.stop()


@contextmanager
def tablet(tmp_path, shop: Shop, *, trusts: bool, address: str = "127.0.0.1"):
    """Chromium with `shop.test` resolving to `address`; `trusts`: the shop's CA installed."""
    home = tmp_path / ("home-trusting" if trusts else "home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True, exist_ok=True)
    if trusts:
        subprocess.run(
            [CERTUTIL, "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True
        )  # fmt: skip
        subprocess.run(
            [CERTUTIL, "-A", "-d", f"sql:{nssdb}", "-t", "C,,", "-n", "kakatong",
             "-i", str(shop.ca)],
            check=True,
        )  # fmt: skip
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run",
                  f"--host-resolver-rules=MAP shop.test {address}"],
            env={**os.environ, "HOME": str(home)},
        )  # fmt: skip
        try:
            yield browser
        finally:
            browser.close()


def test_a_trusting_tablet_gets_a_secure_context_and_works_over_https(tmp_path, shop):
    ensure_password("01")
    with tablet(tmp_path, shop, trusts=True) as browser:
        page = browser.new_page(viewport={"width": 800, "height": 480})
        errors = page_errors(page)
        page.goto(f"https://shop.test:{shop.https_port}/terminal")
        assert page.evaluate(SECURE_FEATURES) == [True, True, True]
        # The terminal works through the HTTPS server: sign-in, and the swipe stream's status.
        sign_in(page)
        expect(page.locator("#st-signal")).to_contain_text("信号正常")
        assert errors == []


def test_over_plain_http_at_a_shop_address_there_is_no_secure_context(tmp_path, shop):
    """Why this issue exists: the same page over http://<a name of the shop's network> has no
    WebCrypto and no service worker (served here without a redirect: the request comes from
    loopback)."""
    with tablet(tmp_path, shop, trusts=True) as browser:
        page = browser.new_page()
        page.goto(f"http://shop.test:{shop.port}/terminal")
        expect(page.locator("#terminal")).to_have_attribute("data-screen", "welcome")
        assert page.evaluate(SECURE_FEATURES) == [False, False, False]


def test_a_tablet_on_the_network_typing_the_http_address_lands_on_https(tmp_path, shop):
    address = lan_address()
    with tablet(tmp_path, shop, trusts=True, address=address) as browser:
        page = browser.new_page()
        page.goto(f"http://shop.test:{shop.port}/terminal?lang=en")
        assert page.url == f"https://shop.test:{shop.https_port}/terminal?lang=en"
        expect(page.locator("#terminal")).to_have_attribute("data-screen", "welcome")
        assert page.evaluate(SECURE_FEATURES) == [True, True, True]


def test_the_trust_page_tells_a_tablet_whether_it_trusts_the_shop(tmp_path, shop):
    address = lan_address()
    with tablet(tmp_path, shop, trusts=False, address=address) as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"http://shop.test:{shop.port}/tls")
        expect(page.locator("#trust-status")).to_have_attribute("data-result", "untrusted")
        expect(page.locator('[data-state="untrusted"]')).to_be_visible()
        expect(page.locator('[data-state="untrusted"]')).to_contain_text("本设备尚未信任本店证书")
        shoot(page, "tls-untrusted")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # What it would meet otherwise: the browser's own refusal of the certificate.
        with pytest.raises(playwright_api.Error, match="ERR_CERT_AUTHORITY_INVALID"):
            browser.new_page().goto(f"https://shop.test:{shop.https_port}/terminal")
        page.set_viewport_size({"width": 768, "height": 1024})
        shoot(page, "tls-untrusted")

    with tablet(tmp_path, shop, trusts=True, address=address) as browser:
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        page.goto(f"http://shop.test:{shop.port}/tls")
        expect(page.locator("#trust-status")).to_have_attribute("data-result", "trusted")
        expect(page.locator('[data-state="trusted"]')).to_contain_text("本设备已信任本店证书")
        expect(page.locator('[data-state="untrusted"]')).to_be_hidden()
        shoot(page, "tls-trusted")
        # Its link goes on to the terminal page over HTTPS.
        page.get_by_role("link", name="打开收银页面").click()
        expect(page.locator("#terminal")).to_have_attribute("data-screen", "welcome")
        assert page.url == f"https://shop.test:{shop.https_port}/terminal"


def test_the_back_office_shows_the_certificate_page_in_its_menu(tmp_path, shop):
    ensure_password("owner")
    with tablet(tmp_path, shop, trusts=True) as browser:
        page = browser.new_page(viewport={"width": 768, "height": 1024})
        page.goto(f"https://shop.test:{shop.https_port}/login")
        page.fill("#account", "owner")
        page.fill("#password", "owner-pass-1")
        page.get_by_role("button", name="登录").click()
        expect(page.locator("h1")).to_have_text("首页")
        expect(page.locator("#tls-warning")).to_have_count(0)
        page.locator("summary", has_text="菜单").click()
        page.get_by_role("link", name="设备证书").first.click()
        expect(page.locator("#server-names")).to_contain_text("shop.test")
        expect(page.locator('[data-state="https"]')).to_be_visible()
        shoot(page, "tls-backoffice")
