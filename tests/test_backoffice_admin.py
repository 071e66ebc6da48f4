"""The owner's administration pages: staff, terminals, settings and the audit log.

Every form: what it writes (and the audit row it leaves), each refusal (nothing written), the
CSRF token, and who may open it at all.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import PASSWORDS, PLAIN, Office, body, ensure_password, html

from kakatong.domain import audit, staff, terminals
from kakatong.domain import settings as shop_settings
from kakatong.domain.actors import actor_of
from kakatong.domain.errors import LedgerError
from kakatong.store import runtime
from kakatong.store.models import AuditLog, Setting, Terminal

KEY = re.compile(r'id="terminal-key">([0-9]{16})<')


def audit_rows(action: str) -> list[AuditLog]:
    return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id))


def assert_audited(action: str, target: str | None, by: str = "owner") -> AuditLog:
    row = audit_rows(action)[-1]
    assert (row.staff_no, row.target, row.address) == (by, target, "127.0.0.1")
    assert row.terminal_id == "99000001"  # the back office's own terminal
    return row


def main_of(page: str) -> str:
    """The page's own content, without the header (whose sign-out form every page has)."""
    return page[page.index("<main") : page.index("</main>")]


def error_beside(page: str, field: str) -> str:
    found = re.search(rf'<small class="error" id="err-{field}">([^<]+)</small>', page)
    assert found, f"no error beside {field}"
    return found.group(1)


def snapshot() -> tuple:
    """Everything the admin forms could change."""
    return (
        [(s.staff_no, s.role, s.name, s.active, s.password_hash) for s in staff.list_staff()],
        [(t.terminal_id, t.name, t.key_hash) for t in terminals.list_terminals()],
        shop_settings.load(),
        [(r.action, r.target) for r in AuditLog.select().where(AuditLog.action != "sign_in")],
    )


# ---------------------------------------------------------------- who may open what

PAGES = ["/staff", "/staff/01", "/terminals", "/terminals/10000001", "/settings", "/audit"]
OPENS = {
    "owner": set(PAGES),
    "99": {"/terminals", "/terminals/10000001", "/settings"},
    "00": set(),
    "01": set(),
}


@pytest.mark.parametrize("staff_no", sorted(OPENS))
def test_each_page_opens_only_for_its_roles(office_as, staff_no):
    browser = office_as(staff_no)
    for path in PAGES:
        expected = 200 if path in OPENS[staff_no] else 403
        assert browser.get(path).status_code == expected, (staff_no, path)
    # The navigation offers exactly what opens.
    nav = html(browser.get("/"))
    for path in ("/staff", "/terminals", "/settings", "/audit"):
        assert (f'href="{path}"' in nav) == (path in OPENS[staff_no]), (staff_no, path)


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_is_sent_to_sign_in(client, path):
    ensure_password("owner")  # else every page leads to the first run
    r = client.get(path)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


POSTS = [
    ("/staff", {"staff_no": "07", "role": "operator", "password": "4455", "confirm": "4455"}),
    ("/staff/01/active", {"active": "0"}),
    ("/staff/01/password", {"new_password": "8642", "confirm": "8642"}),
    ("/staff/01/role", {"role": "supervisor"}),
    ("/terminals", {"terminal_id": "10000002", "name": "二号机"}),
    ("/terminals/10000001/name", {"name": "前台"}),
    ("/terminals/10000001/key", {}),
    (
        "/settings",
        {
            "points_unit": "1",
            "single_limit": "1",
            "pin_attempt_limit": "9",
            "pin_lock_minutes": "9",
            "password_attempt_limit": "9",
            "password_lock_minutes": "9",
            "web_idle_minutes": "9",
            "merchant_id": "123456789012345",
            "merchant_name": "x",
            "receipt_title": "y",
        },
    ),  # fmt: skip
]
STAFF_ONLY = {"/staff", "/staff/01/active", "/staff/01/password", "/staff/01/role"}


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_a_post_by_a_wrong_role_is_refused_and_changes_nothing(office_as, path, data):
    refused_by = ["00", "01"] + (["99"] if path in STAFF_ONLY else [])
    for staff_no in refused_by:
        browser = office_as(staff_no)
        before = snapshot()
        # A valid token from a page they may open: only the role stands in the way.
        r = browser.post(path, data, page="/account/password")
        assert r.status_code == 403, (staff_no, path)
        assert snapshot() == before


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_a_post_signed_out_is_sent_to_sign_in(client, app, path, data):
    ensure_password("owner")
    before = snapshot()
    r = Office(client).post(path, data, page="/login")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert snapshot() == before


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_a_post_without_the_csrf_token_is_refused(office, path, data):
    before = snapshot()
    r = office.post(path, data, csrf=False)
    assert r.status_code == 400
    assert "页面已过期" in html(r)
    assert snapshot() == before


# ---------------------------------------------------------------- staff (员工)


def test_the_staff_list_shows_number_name_role_status_and_default_passwords(office):
    ensure_password("02")
    page = main_of(html(office.get("/staff")))
    rows = dict(re.findall(r'<tr id="staff-([^"]+)"[^>]*>(.*?)</tr>', page, re.S))
    assert list(rows) == ["00", "01", "02", "03", "04", "05", "99", "owner"]
    assert "主管" in rows["00"] and "操作员" in rows["03"]
    assert "系统操作员" in rows["99"] and "店主" in rows["owner"]
    assert "初始密码" in rows["03"] and "初始密码" in rows["00"]
    assert "初始密码" not in rows["02"] and "初始密码" not in rows["owner"]
    assert all("在用" in row for row in rows.values())
    # Each member has a page of their own for the actions.
    assert 'href="/staff/03"' in page


def test_add_a_staff_member(office):
    r = office.post(
        "/staff",
        {"staff_no": "07", "name": " 小李 ", "role": "operator", "password": "4455",
         "confirm": "4455"},
    )  # fmt: skip
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff")
    member = staff.find("07")
    assert (member.role, member.name, member.active) == ("operator", "小李", True)
    assert staff.authenticate("07", "4455").staff_no == "07"
    row = assert_audited("staff.add", "07")
    assert '"role": "operator"' in row.details
    page = html(office.get("/staff"))
    assert "已添加员工 07 小李" in page and 'id="staff-07"' in page


def test_the_owner_may_add_a_supervisor(office):
    data = {"staff_no": "08", "role": "supervisor", "password": "97531", "confirm": "97531"}
    assert office.post("/staff", data).status_code == 302
    assert staff.find("08").role == "supervisor"
    assert staff.find("08").name == "操作员08"  # no name typed: the domain's default


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"staff_no": "00"}, "staff_no", "不能是 00 或 99"),
        ({"staff_no": "99"}, "staff_no", "不能是 00 或 99"),
        ({"staff_no": "1a"}, "staff_no", "两位数字"),
        ({"staff_no": "7"}, "staff_no", "两位数字"),
        ({"staff_no": ""}, "staff_no", "请输入员工号"),
        ({"staff_no": "01"}, "staff_no", "已存在"),
        ({"password": "abcd", "confirm": "abcd"}, "password", "4 到 8 位数字"),
        ({"password": "123", "confirm": "123"}, "password", "4 到 8 位数字"),
        ({"password": "0000", "confirm": "0000"}, "password", "初始密码"),
        ({"confirm": "4456"}, "confirm", "两次输入的密码不一致"),
        ({"password": ""}, "password", "请输入密码"),
        ({"role": "owner"}, "role", "请选择角色"),
        ({"name": "名" * 41}, "name", "40"),
    ],
)
def test_adding_a_staff_member_refused(office, change, field, message):
    data = {"staff_no": "07", "name": "", "role": "operator", "password": "4455", "confirm": "4455"}
    before = snapshot()
    r = office.post("/staff", {**data, **change})
    assert r.status_code == 200
    assert message in error_beside(html(r), field)
    assert snapshot() == before


def test_disabling_ends_their_sessions_and_they_can_no_longer_sign_in(office, office_as, api):
    ensure_password("01")
    token = api.token("01")
    cashier = office_as("01")
    assert cashier.get("/").status_code == 200
    page = html(office.get("/staff/01"))
    assert "data-confirm=" in page and "停用" in page

    r = office.post("/staff/01/active", {"active": "0"}, page="/staff/01")
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff/01")
    assert staff.find("01").active is False
    assert_audited("staff.disable", "01")
    assert "已停用员工 01" in html(office.get("/staff/01"))

    # Both sessions ended at once ...
    r = api.client.get("/api/v1/session", headers={"Authorization": "Bearer " + token})
    assert r.status_code == 401
    assert cashier.get("/").status_code == 302
    # ... and neither door opens again.
    r = api.client.post("/api/v1/session", json={"operator_no": "01", "password": PASSWORDS["01"]})
    assert r.status_code == 403 and body(r)["error"] == "staff_disabled"
    r = Office(api.client.application.test_client()).post(
        "/login", {"account": "01", "password": PASSWORDS["01"], "language": "zh"}
    )
    assert r.status_code == 200 and "该员工已停用" in html(r)

    # Enabled again, they sign in as before.
    r = office.post("/staff/01/active", {"active": "1"}, page="/staff/01")
    assert r.status_code == 302 and staff.find("01").active is True
    assert_audited("staff.enable", "01")
    assert office_as("01").get("/").status_code == 200


def test_a_disabled_member_page_offers_enable_and_no_password_reset(office):
    office.post("/staff/03/active", {"active": "0"}, page="/staff/03")
    page = main_of(html(office.get("/staff/03")))
    assert "启用" in page and "已停用" in page
    assert "/staff/03/password" not in page


def test_the_owner_cannot_be_disabled(office):
    page = main_of(html(office.get("/staff/owner")))
    assert "/staff/owner/active" not in page and "/staff/owner/role" not in page
    before = snapshot()
    r = office.post("/staff/owner/active", {"active": "0"}, page="/staff/owner")
    assert r.status_code == 302
    assert "不能停用店主账户" in html(office.get("/staff/owner"))
    assert snapshot() == before


def test_a_bad_active_value_is_refused(office):
    before = snapshot()
    assert office.post("/staff/01/active", {"active": "x"}, page="/staff/01").status_code == 400
    assert snapshot() == before


def test_an_unknown_staff_member_is_not_found(office):
    assert office.get("/staff/42").status_code == 404
    assert office.post("/staff/42/role", {"role": "operator"}, page="/staff/01").status_code == 404


def test_reset_a_password_ends_their_sessions(office, office_as, api):
    ensure_password("02")
    token = api.token("02")
    cashier = office_as("02")
    r = office.post(
        "/staff/02/password", {"new_password": "8642", "confirm": "8642"}, page="/staff/02"
    )
    assert r.status_code == 302
    assert staff.authenticate("02", "8642").staff_no == "02"
    assert_audited("staff.password_reset", "02")
    assert "员工 02 的密码已重置" in html(office.get("/staff/02"))
    r = api.client.get("/api/v1/session", headers={"Authorization": "Bearer " + token})
    assert r.status_code == 401
    assert cashier.get("/").status_code == 302


def test_reset_a_default_password_clears_the_default_mark(office):
    default = '<span class="warn">初始密码</span>'
    assert default in html(office.get("/staff/04"))
    office.post("/staff/04/password", {"new_password": "1357", "confirm": "1357"}, page="/staff/04")
    assert default not in html(office.get("/staff/04"))


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"new_password": "abcd", "confirm": "abcd"}, "new_password", "4 到 8 位数字"),
        ({"new_password": "123456789", "confirm": "123456789"}, "new_password", "4 到 8 位数字"),
        ({"new_password": "0000", "confirm": "0000"}, "new_password", "初始密码"),
        ({"new_password": "8642", "confirm": "8643"}, "confirm", "两次输入的密码不一致"),
        ({"new_password": "", "confirm": ""}, "new_password", "请输入新密码"),
    ],
)
def test_reset_a_password_refused(office, data, field, message):
    before = snapshot()
    r = office.post("/staff/03/password", data, page="/staff/03")
    assert r.status_code == 200
    assert message in error_beside(html(r), field)
    assert snapshot() == before


def test_reset_the_password_of_a_disabled_member_is_refused(office):
    office.post("/staff/03/active", {"active": "0"}, page="/staff/03")
    before = snapshot()
    r = office.post(
        "/staff/03/password", {"new_password": "8642", "confirm": "8642"}, page="/staff/02"
    )
    assert r.status_code == 302
    assert "该员工已停用，请先启用" in html(office.get("/staff/03"))
    assert snapshot() == before


def test_change_a_role(office, office_as):
    cashier = office_as("01")
    r = office.post("/staff/01/role", {"role": "supervisor"}, page="/staff/01")
    assert r.status_code == 302
    assert staff.find("01").role == "supervisor"
    row = assert_audited("staff.role", "01")
    assert '"was": "operator"' in row.details
    # Their session carried the old role: it ends, the new one comes with the next sign-in.
    assert cashier.get("/").status_code == 302
    assert office_as("01").get("/staff").status_code == 403
    page = html(office.get("/staff/01"))
    assert "员工 01 的角色已改为主管" in page
    # The same role again writes nothing.
    count = len(audit_rows("staff.role"))
    office.post("/staff/01/role", {"role": "supervisor"}, page="/staff/01")
    assert len(audit_rows("staff.role")) == count
    assert "无变更" in html(office.get("/staff/01"))


@pytest.mark.parametrize("staff_no", ["00", "99"])
def test_the_roles_of_00_and_99_are_fixed(office, staff_no):
    page = main_of(html(office.get(f"/staff/{staff_no}")))
    assert f"/staff/{staff_no}/role" not in page  # not offered at all
    before = snapshot()
    r = office.post(f"/staff/{staff_no}/role", {"role": "operator"}, page=f"/staff/{staff_no}")
    assert r.status_code == 302
    assert "角色不能修改" in html(office.get(f"/staff/{staff_no}"))
    assert snapshot() == before


@pytest.mark.parametrize("role", ["sysadmin", "owner", ""])
def test_change_a_role_refused(office, role):
    before = snapshot()
    r = office.post("/staff/01/role", {"role": role}, page="/staff/01")
    assert r.status_code == 200
    assert error_beside(html(r), "role") == "请选择角色"
    assert snapshot() == before


# ---------------------------------------------------------------- terminals (终端)


def test_the_terminal_list(office):
    page = main_of(html(office.get("/terminals")))
    rows = dict(re.findall(r'<tr id="terminal-([0-9]+)">(.*?)</tr>', page, re.S))
    assert list(rows) == ["10000001", "99000001"]
    assert "收银终端" in rows["10000001"] and "后台" in rows["99000001"]
    assert "000001" in rows["10000001"]  # batch and next trace, six digits
    assert "不需要" in rows["99000001"]


def test_register_a_terminal_shows_its_key_once(app, office):
    r = office.post("/terminals", {"terminal_id": "10000002", "name": " 二号收银台 "})
    assert r.status_code == 200  # the key is in this answer, not behind a redirect
    assert r.headers["Cache-Control"] == "no-store"
    page = html(r)
    assert "请记下此密钥，只显示这一次" in page
    key = KEY.search(page).group(1)
    terminal = Terminal.get(Terminal.terminal_id == "10000002")
    assert (terminal.name, terminal.kind) == ("二号收银台", "pos")
    terminals.check_key(terminal, key)
    assert key not in (terminal.key_hash or "")
    assert_audited("terminal.register", "10000002")
    assert key not in AuditLog.select().order_by(AuditLog.id.desc()).get().details

    # Not in the session cookie (no flash carries it) ...
    cookie = office.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    stored = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert key not in repr(stored)
    # ... and no later page shows it.
    for path in ("/terminals", "/terminals/10000002", "/audit"):
        later = html(office.get(path))
        assert key not in later and "10000002" in later


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"terminal_id": "1234567"}, "terminal_id", "8 位数字"),
        ({"terminal_id": "1234567a"}, "terminal_id", "8 位数字"),
        ({"terminal_id": "123456789"}, "terminal_id", "8 位数字"),
        ({"terminal_id": ""}, "terminal_id", "请输入终端号"),
        ({"terminal_id": "10000001"}, "terminal_id", "已存在"),
        ({"terminal_id": "99000001"}, "terminal_id", "已存在"),
        ({"name": ""}, "name", "请输入终端名称"),
        ({"name": "名" * 41}, "name", "终端名称不正确"),
    ],
)
def test_register_a_terminal_refused(office, data, field, message):
    before = snapshot()
    r = office.post("/terminals", {"terminal_id": "10000002", "name": "二号机", **data})
    assert r.status_code == 200
    page = html(r)
    assert message in error_beside(page, field)
    assert not KEY.search(page)
    assert snapshot() == before


def test_the_system_operator_registers_a_terminal(office_as):
    r = office_as("99").post("/terminals", {"terminal_id": "10000003", "name": "三号机"})
    assert KEY.search(html(r))
    assert_audited("terminal.register", "10000003", by="99")


def test_rename_a_terminal(office):
    r = office.post("/terminals/10000001/name", {"name": "前台"}, page="/terminals/10000001")
    assert r.status_code == 302 and r.headers["Location"].endswith("/terminals/10000001")
    assert terminals.find("10000001").name == "前台"
    row = assert_audited("terminal.update", "10000001")
    assert '"name": "前台"' in row.details
    assert "终端 10000001 已改名" in html(office.get("/terminals/10000001"))


def test_rename_the_back_office_terminal_which_has_no_key(office):
    page = main_of(html(office.get("/terminals/99000001")))
    assert "/terminals/99000001/key" not in page and "更换密钥" not in page
    r = office.post("/terminals/99000001/name", {"name": "店长平板"}, page="/terminals/99000001")
    assert r.status_code == 302
    assert terminals.find("99000001").name == "店长平板"


def test_rename_to_the_same_name_writes_nothing(office):
    name = terminals.find("10000001").name
    before = snapshot()
    r = office.post("/terminals/10000001/name", {"name": name}, page="/terminals/10000001")
    assert r.status_code == 302
    assert "无变更" in html(office.get("/terminals/10000001"))
    assert snapshot() == before


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "请输入终端名称"), ("   ", "终端名称不正确"), ("名" * 41, "终端名称不正确")],
)
def test_rename_refused(office, name, message):
    before = snapshot()
    r = office.post("/terminals/10000001/name", {"name": name}, page="/terminals/10000001")
    assert r.status_code == 200
    assert message in error_beside(html(r), "name")
    assert snapshot() == before


def test_rotate_a_key_the_old_one_stops_at_once(office):
    first = KEY.search(html(office.post("/terminals", {"terminal_id": "10000002", "name": "二"})))
    page = main_of(html(office.get("/terminals/10000002")))
    assert "data-confirm=" in page and "旧密钥立即失效" in page

    r = office.post("/terminals/10000002/key", page="/terminals/10000002")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert "请记下此密钥，只显示这一次" in html(r)
    second = KEY.search(html(r)).group(1)
    terminal = terminals.find("10000002")
    terminals.check_key(terminal, second)
    with pytest.raises(LedgerError) as refused:
        terminals.check_key(terminal, first.group(1))
    assert refused.value.code == "wrong_terminal_key"
    assert_audited("terminal.key_rotate", "10000002")
    for path in ("/terminals", "/terminals/10000002"):
        assert second not in html(office.get(path))


def test_the_back_office_terminal_has_no_key_to_rotate(office):
    before = snapshot()
    r = office.post("/terminals/99000001/key", page="/terminals/99000001")
    assert r.status_code == 404
    assert snapshot() == before
    assert office.get("/terminals/12345678").status_code == 404


# ---------------------------------------------------------------- settings (设置)

CURRENT = {
    "points_unit": "10.00",
    "single_limit": "50000.00",
    "pin_attempt_limit": "3",
    "pin_lock_minutes": "30",
    "password_attempt_limit": "5",
    "password_lock_minutes": "15",
    "web_idle_minutes": "30",
    "enabled_types": ["consume", "recharge", "points_earn", "points_redeem"],
    "offline_types": ["consume", "points_earn", "upload"],
    "offline_single_limit": "200.00",
    "offline_card_total": "500.00",
    "offline_card_count": "5",
    "offline_signin_hours": "12",
    "offline_max_age_days": "7",
    "merchant_id": None,  # filled from the database
    "merchant_name": None,
    "receipt_title": None,
}


@pytest.fixture
def current(app):
    """The settings form exactly as the page shows it in a fresh database."""
    values = shop_settings.load()
    return {**CURRENT, **{k: values[k] for k in ("merchant_id", "merchant_name", "receipt_title")}}


def test_the_settings_page_shows_the_current_values_in_yuan(office, current):
    page = html(office.get("/settings"))
    for name in ("points_unit", "single_limit", "pin_attempt_limit", "web_idle_minutes"):
        assert f'name="{name}" required type="text" value="{current[name]}"' in page
    assert page.count('name="enabled_types" type="checkbox" value=') == 4
    assert page.count("checked") == 4 + 3  # every type and offline switch on, captcha off
    for label in ("储值消费", "储值充值", "积分累加", "积分消费", "商户号", "签购单名", "商户名"):
        assert label in page


def test_save_settings_sends_only_what_changed(office, current):
    r = office.post(
        "/settings",
        {**current, "points_unit": "12.5", "single_limit": "800.50", "pin_attempt_limit": "5",
         "enabled_types": ["consume", "recharge"], "captcha_always": "y",
         "merchant_name": " 街角咖啡 "},
    )  # fmt: skip
    assert r.status_code == 302 and r.headers["Location"].endswith("/settings")
    values = shop_settings.load()
    assert values["points_unit_fen"] == 1250
    assert values["single_limit_fen"] == 80050
    assert values["pin_attempt_limit"] == 5
    assert values["enabled_types"] == ["consume", "recharge"]
    assert values["captcha_always"] is True
    assert values["merchant_name"] == "街角咖啡"
    row = assert_audited("settings.update", None)
    assert set(audit.details_of(row)) == {
        "points_unit_fen", "single_limit_fen", "pin_attempt_limit", "enabled_types",
        "captcha_always", "merchant_name",
    }  # fmt: skip
    assert audit.details_of(row)["single_limit_fen"] == {"from": 5_000_000, "to": 80050}
    page = html(office.get("/settings"))
    assert "设置已保存" in page and 'value="800.50"' in page


def test_save_unchanged_settings_writes_nothing(office, current):
    before = snapshot()
    settings_rows = list(Setting.select().tuples())
    r = office.post("/settings", current)
    assert r.status_code == 302
    assert "无变更" in html(office.get("/settings"))
    assert snapshot() == before
    assert list(Setting.select().tuples()) == settings_rows
    # "10" is the same rate as "10.00", and the types in another order are the same set.
    r = office.post(
        "/settings",
        {**current, "points_unit": "10", "enabled_types": current["enabled_types"][::-1]},
    )
    assert snapshot() == before


def test_no_transaction_type_enabled_is_allowed_and_the_terminal_refuses(office, current, api):
    # A shop may switch every transaction off for a while (closed for stock-taking): the
    # domain allows an empty list, so the page does too.
    r = office.post("/settings", {**current, "enabled_types": []})
    assert r.status_code == 302
    assert shop_settings.load()["enabled_types"] == []
    r = api.transact("recharge", PLAIN, amount="10", payment_method="cash")
    assert r.status_code == 403 and body(r)["error"] == "transaction_disabled"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"single_limit": "abc"}, "single_limit", "金额格式不正确"),
        ({"single_limit": "1.234"}, "single_limit", "金额格式不正确"),
        ({"single_limit": "0"}, "single_limit", "金额格式不正确"),
        ({"single_limit": "-5"}, "single_limit", "金额格式不正确"),
        ({"single_limit": "1,000"}, "single_limit", "金额格式不正确"),
        ({"single_limit": ""}, "single_limit", "请输入金额"),
        ({"single_limit": "1000000000000"}, "single_limit", "金额过大"),
        ({"single_limit": "2000000"}, "single_limit", "超出允许范围"),
        ({"points_unit": "abc"}, "points_unit", "金额格式不正确"),
        ({"pin_attempt_limit": "0"}, "pin_attempt_limit", "超出允许范围"),
        ({"pin_attempt_limit": "11"}, "pin_attempt_limit", "超出允许范围"),
        ({"pin_attempt_limit": "abc"}, "pin_attempt_limit", "请输入整数"),
        ({"pin_attempt_limit": "2.5"}, "pin_attempt_limit", "请输入整数"),
        ({"pin_lock_minutes": "0"}, "pin_lock_minutes", "超出允许范围"),
        ({"password_attempt_limit": "0"}, "password_attempt_limit", "超出允许范围"),
        ({"password_lock_minutes": "99999"}, "password_lock_minutes", "超出允许范围"),
        ({"web_idle_minutes": "1"}, "web_idle_minutes", "超出允许范围"),
        ({"merchant_id": "12345"}, "merchant_id", "15 位数字"),
        ({"merchant_id": "12345678901234a"}, "merchant_id", "15 位数字"),
        ({"merchant_name": ""}, "merchant_name", "1 到 40 个字符"),
        ({"receipt_title": "名" * 41}, "receipt_title", "1 到 40 个字符"),
    ],
)
def test_save_settings_refused(office, current, change, field, message):
    before = snapshot()
    r = office.post("/settings", {**current, **change})
    assert r.status_code == 200
    assert message in error_beside(html(r), field)
    assert snapshot() == before


def test_one_bad_setting_stops_the_good_ones_too(office, current):
    before = snapshot()
    r = office.post("/settings", {**current, "pin_attempt_limit": "5", "web_idle_minutes": "1"})
    assert "超出允许范围" in error_beside(html(r), "web_idle_minutes")
    assert shop_settings.load()["pin_attempt_limit"] == 3
    assert snapshot() == before


def test_an_unknown_transaction_type_is_refused(office, current):
    before = snapshot()
    r = office.post("/settings", {**current, "enabled_types": ["consume", "void"]})
    assert r.status_code == 200 and 'id="err-enabled_types"' in html(r)
    assert snapshot() == before


def test_the_system_operator_saves_settings(office_as, current):
    r = office_as("99").post("/settings", {**current, "pin_lock_minutes": "45"})
    assert r.status_code == 302
    assert shop_settings.load()["pin_lock_minutes"] == 45
    assert_audited("settings.update", None, by="99")


# ---------------------------------------------------------------- the audit log (审计日志)


def audit_table(page: str) -> list[list[str]]:
    body_ = re.search(r"<tbody>(.*?)</tbody>", page, re.S).group(1)
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body_, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append([re.sub(r"<[^>]+>", " ", c).strip() for c in cells])
    return [r for r in rows if len(r) == 7]


def test_the_audit_log_newest_first_with_who_when_what_and_where(office, office_as):
    ensure_password("99")
    office.post("/staff/03/active", {"active": "0"}, page="/staff/03")
    office_as("99")  # 99 signs in
    office.post("/staff/01/role", {"role": "supervisor"}, page="/staff/01")
    rows = audit_table(html(office.get("/audit")))
    assert [r[2] for r in rows[:3]] == ["修改角色", "后台登录", "停用员工"]
    when, staff_no, action, target, details, terminal_id, address = rows[0]
    assert (staff_no, target, terminal_id, address) == ("owner", "01", "99000001", "127.0.0.1")
    assert details == "角色: 操作员 → 主管"
    newest = AuditLog.select().order_by(AuditLog.id.desc()).get()
    assert when == runtime.local(newest.created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[1][1] == "99"


def test_setting_changes_read_as_from_and_to(office, current):
    office.post("/settings", {**current, "single_limit": "800.50", "enabled_types": ["consume"]})
    rows = audit_table(html(office.get("/audit?action=settings.update")))
    assert len(rows) == 1
    assert "单笔交易限额（元）: 50000.00 → 800.50" in rows[0][4]
    assert "储值消费、储值充值、积分累加、积分消费 → 储值消费" in rows[0][4]


def test_audit_filters_narrow_the_rows(office, office_as):
    office.post(
        "/staff",
        {"staff_no": "07", "role": "operator", "password": "4455", "confirm": "4455"},
    )
    office.post("/staff/07/active", {"active": "0"}, page="/staff/07")
    office_as("99")

    def rows(query: str) -> list[list[str]]:
        return audit_table(html(office.get("/audit?" + query)))

    everything = rows("")
    assert len(everything) == AuditLog.select().count()
    assert {r[1] for r in rows("staff_no=99")} == {"99"}
    assert [r[2] for r in rows("action=staff.add")] == ["添加员工"]
    assert [r[2] for r in rows("target=07")] == ["停用员工", "添加员工"]
    assert [r[2] for r in rows("staff_no=owner&target=07&action=staff.disable")] == ["停用员工"]
    today = runtime.shop_date(runtime.utcnow())
    assert len(rows(f"date_from={today}&date_to={today}")) == len(everything)
    assert rows(f"date_from={today + timedelta(days=1)}") == []
    assert rows(f"date_to={today - timedelta(days=1)}") == []
    assert "没有符合条件的记录" in html(office.get("/audit?staff_no=42"))
    # The filter stays in the form.
    assert 'value="07"' in html(office.get("/audit?target=07"))


@pytest.mark.parametrize("query", ["action=bogus", "date_from=2024-13-45", "date_to=yesterday"])
def test_a_bad_audit_filter_shows_an_error_not_the_rows(office, query):
    r = office.get("/audit?" + query)
    assert r.status_code == 200
    assert 'class="error"' in html(r) and "<tbody>" not in html(r)


def test_the_audit_log_is_paged_by_fifty(office):
    owner = actor_of(staff.find("owner"), "127.0.0.1")
    for n in range(55):
        terminals.update("10000001", {"name": f"机{n}"}, owner)
    total = AuditLog.select().count()
    first = html(office.get("/audit"))
    assert len(audit_table(first)) == 50 and f"共 {total} 条" in first
    assert "<div>名称: 机54</div>" in first and "<div>名称: 机4</div>" not in first
    assert "下一页" in first
    second = html(office.get("/audit?page=2"))
    assert len(audit_table(second)) == total - 50 and "上一页" in second
    assert "<div>名称: 机0</div>" in second and "<div>名称: 机54</div>" not in second


def test_the_audit_log_cannot_be_changed_from_the_page(office):
    page = main_of(html(office.get("/audit")))
    forms = re.findall(r"<form[^>]*>", page)
    assert forms and all('method="get"' in f for f in forms)
    assert "csrf_token" not in page
    buttons = re.findall(r"<button[^>]*>([^<]*)</button>", page)
    assert buttons == ["查询"]
    # Nor does any other method reach it.
    for method in ("post", "put", "delete"):
        assert getattr(office.client, method)("/audit").status_code == 405
