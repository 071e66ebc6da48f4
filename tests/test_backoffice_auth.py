"""Signing in to the back office: the owner's first run, the captcha after a failure, the
attempt limit, sessions (new at sign-in, ended by sign-out and by idling), CSRF, roles, and
changing one's own password."""

import re
from datetime import timedelta

import pytest
from conftest import PASSWORDS, Office, ensure_password, html

from kakatong.domain import settings as shop_settings
from kakatong.domain import staff
from kakatong.store.models import AuditLog, Staff, StaffSession
from kakatong.store.runtime import utcnow


@pytest.fixture
def owner_ready(app):
    ensure_password("owner")


def sign_in(office, account, password, **extra):
    return office.post(
        "/login", {"account": account, "password": password, "language": "zh", **extra}
    )


# ---------------------------------------------------------------- first run


def test_a_fresh_shop_leads_every_page_to_the_first_run(client):
    for path in ("/", "/login", "/account/password"):
        r = client.get(path)
        assert r.status_code == 302 and r.location.endswith("/setup"), path
    assert "请为店主账户 owner 设置密码" in html(client.get("/setup"))


def test_the_first_run_sets_the_owners_password_once_and_signs_in(client):
    office = Office(client)
    r = office.post("/setup", {"password": "short", "confirm": "short"})
    assert r.status_code == 200 and "密码至少 8 个字符" in html(r)
    r = office.post("/setup", {"password": "owner-pass-1", "confirm": "owner-pass-2"})
    assert "两次输入的密码不一致" in html(r)
    assert not staff.owner_password_set()
    r = office.post("/setup", {"password": "owner-pass-1", "confirm": "owner-pass-1"})
    assert r.status_code == 302 and r.location == "/"
    assert "储值余额（应付会员）" in html(client.get("/"))
    assert staff.owner_password_set()
    # Once set, the page is gone: nobody can take the shop over through it.
    r = Office(client).client.get("/setup")
    assert r.status_code == 302 and r.location.endswith("/login")
    assert AuditLog.select().where(AuditLog.action == "staff.password_change").count() == 1


def test_the_first_run_refuses_a_post_without_csrf(client):
    r = Office(client).post(
        "/setup", {"password": "owner-pass-1", "confirm": "owner-pass-1"}, csrf=False
    )
    assert r.status_code == 400
    assert not staff.owner_password_set()


def test_the_domain_refuses_a_second_first_run(owner_ready):
    from kakatong.domain.errors import LedgerError

    with pytest.raises(LedgerError):
        staff.set_first_owner_password("another-pass")


# ---------------------------------------------------------------- sign-in


def test_sign_in_and_out(client, owner_ready):
    office = Office(client)
    assert "captcha" not in html(client.get("/login"))
    r = sign_in(office, "owner", PASSWORDS["owner"])
    assert r.status_code == 302 and r.location == "/"
    assert "退出登录" in html(client.get("/"))
    r = office.post("/logout", page="/")
    assert r.status_code == 302 and r.location.endswith("/login")
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.location


def test_the_cookie_is_httponly_and_samesite(client, owner_ready):
    r = sign_in(Office(client), "owner", PASSWORDS["owner"])
    cookie = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("kakatong_session=")][-1]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sign_in_starts_a_new_session_and_sign_out_ends_it_on_the_server(app, owner_ready):
    office = Office(app.test_client())
    sign_in(office, "owner", PASSWORDS["owner"])
    stolen = office.client.get_cookie("kakatong_session").value
    office.post("/logout", page="/")
    # The old cookie, replayed by someone who copied it, opens nothing.
    thief = app.test_client()
    thief.set_cookie("kakatong_session", stolen)
    assert thief.get("/").status_code == 302
    # Signing in again gives a session the old cookie does not name.
    sign_in(office, "owner", PASSWORDS["owner"])
    assert office.client.get_cookie("kakatong_session").value != stolen


def test_the_session_ends_after_the_idle_time(app, owner_ready):
    shop_settings.update({"web_idle_minutes": 5})
    office = Office(app.test_client())
    sign_in(office, "owner", PASSWORDS["owner"])
    assert office.get("/").status_code == 200
    six_minutes_ago = utcnow() - timedelta(minutes=6)  # six idle minutes pass
    StaffSession.update(last_seen_at=six_minutes_ago).where(StaffSession.kind == "web").execute()
    r = office.get("/")
    assert r.status_code == 302 and "/login" in r.location


def test_a_wrong_password_says_nothing_of_the_account_and_brings_the_captcha(
    app, client, owner_ready
):
    app.config["KAKATONG_CAPTCHA_TEXT"] = lambda: "K7PX"
    for account in ("nobody", "owner"):
        r = sign_in(Office(app.test_client()), account, "wrong-password")
        assert r.status_code == 200
        assert "账户或密码错误" in html(r)
    office = Office(client)
    sign_in(office, "owner", "wrong-password")
    page = html(client.get("/login"))
    assert 'id="captcha-image"' in page and "换一张" in page
    assert "K7PX" not in page  # the answer never reaches the browser
    image = client.get("/login/captcha.png")
    assert image.mimetype == "image/png" and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"K7PX" not in image.data and "K7PX" not in image.headers.get("Set-Cookie", "")
    # Without the captcha (or a wrong one), the password is not even looked at.
    r = sign_in(office, "owner", PASSWORDS["owner"], captcha="AAAA")
    assert "验证码不正确" in html(r)
    client.get("/login/captcha.png")
    r = sign_in(office, "owner", PASSWORDS["owner"], captcha="k7px")
    assert r.status_code == 302 and r.location == "/"


def test_a_captcha_is_good_once(app, client, owner_ready):
    app.config["KAKATONG_CAPTCHA_TEXT"] = lambda: "K7PX"
    office = Office(client)
    sign_in(office, "owner", "wrong-password")
    client.get("/login/captcha.png")
    r = sign_in(office, "owner", "wrong-password", captcha="K7PX")  # used up, wrongly
    assert "账户或密码错误" in html(r)
    r = sign_in(office, "owner", PASSWORDS["owner"], captcha="K7PX")  # no new image asked for
    assert "验证码不正确" in html(r)


def test_an_account_with_failures_needs_the_captcha_in_a_fresh_browser_too(app, owner_ready):
    app.config["KAKATONG_CAPTCHA_TEXT"] = lambda: "K7PX"
    sign_in(Office(app.test_client()), "owner", "wrong-password")
    fresh = Office(app.test_client())
    # The page cannot know the account before it is typed: it shows the captcha at once.
    assert 'id="captcha-image"' in html(fresh.get("/login"))
    r = sign_in(fresh, "owner", PASSWORDS["owner"])  # sent without it all the same
    assert "请输入验证码" in html(r) and 'id="captcha-image"' in html(r)
    fresh.get("/login/captcha.png")
    r = sign_in(fresh, "owner", PASSWORDS["owner"], captcha="K7PX")
    assert r.status_code == 302
    # Signed in, the account has no failures left: a new browser is asked for no captcha.
    assert "captcha" not in html(Office(app.test_client()).get("/login"))


def test_a_setting_shows_the_captcha_always(app, client, owner_ready):
    shop_settings.update({"captcha_always": True})
    assert 'id="captcha-image"' in html(client.get("/login"))


def test_five_failures_lock_the_account_for_a_while_whoever_it_is(app, owner_ready):
    app.config["KAKATONG_CAPTCHA_TEXT"] = lambda: "K7PX"
    for account in ("owner", "ghost"):
        office = Office(app.test_client())
        for _ in range(5):
            office.client.get("/login/captcha.png")
            sign_in(office, account, "wrong-password", captcha="K7PX")
        office.client.get("/login/captcha.png")
        right = PASSWORDS["owner"] if account == "owner" else "anything"
        r = sign_in(office, account, right, captcha="K7PX")
        assert re.search(r"密码错误次数过多，请 1[45] 分钟后再试", html(r)), account
    # The terminal's sign-in door keeps its own count: the shop can still open.
    ensure_password("01")
    assert staff.authenticate("01", PASSWORDS["01"]).staff_no == "01"


def test_a_default_password_must_be_changed_first(client, owner_ready):
    office = Office(client)
    r = sign_in(office, "00", "123456")
    assert "初始密码必须先修改" in html(r)
    r = office.post("/account/password", {
        "account": "00", "old_password": "123456", "new_password": "135790", "confirm": "135790",
    })  # fmt: skip
    assert r.status_code == 302
    r = sign_in(office, "00", "135790")
    assert r.status_code == 302


def test_a_disabled_staff_member_cannot_sign_in(client, owner_ready):
    ensure_password("02")
    Staff.update(active=False).where(Staff.staff_no == "02").execute()
    r = sign_in(Office(client), "02", PASSWORDS["02"])
    assert r.status_code == 200 and "该员工已停用" in html(r)


def test_only_a_path_of_this_site_is_followed_after_sign_in(client, owner_ready):
    office = Office(client)
    r = office.post("/login?next=//evil.example/x", {
        "account": "owner", "password": PASSWORDS["owner"], "language": "zh",
    }, page="/login")  # fmt: skip
    assert r.location == "/"


def test_the_sign_in_is_audited_with_the_address(client, owner_ready):
    sign_in(Office(client), "owner", PASSWORDS["owner"])
    row = AuditLog.select().where(AuditLog.action == "sign_in").get()
    assert (row.staff_no, row.address, row.terminal_id) == ("owner", "127.0.0.1", "99000001")


def test_login_refuses_a_post_without_csrf(client, owner_ready):
    r = Office(client).post(
        "/login", {"account": "owner", "password": PASSWORDS["owner"], "language": "zh"}, csrf=False
    )
    assert r.status_code == 400
    assert client.get("/").status_code == 302


def test_english_is_chosen_at_sign_in(client, owner_ready):
    office = Office(client)
    office.post("/login", {"account": "owner", "password": PASSWORDS["owner"], "language": "en"})
    page = html(client.get("/"))
    assert 'lang="en"' in page and "Sign out" in page
    assert "Terminals" in html(client.get("/terminals"))  # not taken for the terminal page


# ---------------------------------------------------------------- own password


def test_a_signed_in_member_changes_their_own_password(office_as, app):
    office = office_as("01")
    r = office.post(
        "/account/password", {"old_password": "0000", "new_password": "1357", "confirm": "1357"}
    )
    assert "原密码" in html(r) and "密码错误" in html(r)
    r = office.post(
        "/account/password",
        {"old_password": PASSWORDS["01"], "new_password": "1357", "confirm": "2468"},
    )
    assert "两次输入的密码不一致" in html(r)
    r = office.post(
        "/account/password",
        {"old_password": PASSWORDS["01"], "new_password": "12ab", "confirm": "12ab"},
    )
    assert "密码必须是 4 到 8 位数字" in html(r)
    assert staff.authenticate("01", PASSWORDS["01"])  # nothing changed yet
    r = office.post(
        "/account/password",
        {"old_password": PASSWORDS["01"], "new_password": "1357", "confirm": "1357"},
    )
    assert r.status_code == 302 and r.location.endswith("/login")
    assert office.get("/").status_code == 302  # signed out everywhere
    assert staff.authenticate("01", "1357").staff_no == "01"
    PASSWORDS_01 = "1357"
    r = sign_in(Office(app.test_client()), "01", PASSWORDS_01)
    assert r.status_code == 302


def test_the_own_password_form_refuses_a_post_without_csrf(office_as):
    office = office_as("01")
    r = office.post(
        "/account/password",
        {"old_password": PASSWORDS["01"], "new_password": "1357", "confirm": "1357"},
        csrf=False,
    )
    assert r.status_code == 400
    assert staff.authenticate("01", PASSWORDS["01"])


def test_an_operator_sees_no_figures_and_no_owner_pages(office_as):
    office = office_as("01")
    page = html(office.get("/"))
    assert "储值余额（应付会员）" not in page
    assert office.get("/missing-page").status_code == 404
