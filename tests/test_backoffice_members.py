"""The back office's cards and members: activation (by card number, external number or
phone), the card operations (phone, PINs, status, PIN lock), the member list and a member's
page, importing and exporting members, and the member levels."""

import html as html_lib
import io
import re
from datetime import date, timedelta

import pytest
from conftest import (
    GOLD,
    INACTIVE,
    PLAIN,
    SILVER,
    SUPERVISOR_PASSWORD,
    Office,
    another_database,
    html,
)

from kakatong.domain import audit, cards, ledger
from kakatong.factory import create_app
from kakatong.store.db import db
from kakatong.store.models import AuditLog, Card, Level, Transaction

NEW = "6222000011112222"
TODAY = date.today()


def beside(page: str, field: str) -> str:
    """The text of a form field's box (label, input, hint and its error messages)."""
    found = re.search(rf'id="field-{field}">(.*?)</div>', page, re.S)
    assert found, f"no field {field} on the page"
    return html_lib.unescape(found.group(1))


def card(card_no: str) -> Card | None:
    return Card.get_or_none(Card.card_no == card_no)


def snapshot() -> tuple:
    """What a refused form must leave as it was."""
    rows = Card.select().order_by(Card.id).tuples()
    return (
        [r for r in rows],
        Transaction.select().count(),
        AuditLog.select().where(AuditLog.action != "sign_in").count(),
        list(Level.select().order_by(Level.id).tuples()),
    )


@pytest.fixture
def operator(office_as):
    return office_as("01")


@pytest.fixture
def sysadmin(office_as):
    return office_as("99")


# ---------------------------------------------------------------- 会员激活


FULL = {
    "activation_type": "card_no", "card_no": NEW, "pin": "246810", "confirm": "246810",
    "level": "金卡会员", "expires_on": "2099-12-31", "name": "赵六", "gender": "female",
    "birthday": "1988-08-08", "phone": "13712345678", "external_no": "EXT9",
    "id_number": "11010519491231002X",
}  # fmt: skip


def test_the_activation_form_has_every_field_of_seed_003(office):
    page = html(office.get("/members/activate"))
    for label in ("激活类型", "卡号", "外卡号", "手机号码", "初始密码", "确认密码", "会员等级",
                  "会员有效期", "姓名", "性别", "男", "女", "保密", "生日", "身份证"):  # fmt: skip
        assert label in page, label
    assert 'type="date"' in page
    assert '<option value="普通会员">普通会员</option>' in page  # the levels, the first first
    assert page.index("普通会员") < page.index("金卡会员")


def test_activate_a_card_with_every_field(office):
    r = office.post("/members/activate", FULL)
    assert r.status_code == 302 and r.location == f"/members/{NEW}"
    c = card(NEW)
    assert (c.status, c.name, c.gender, c.phone, c.external_no, c.id_number) == (
        "active", "赵六", "female", "13712345678", "EXT9", "11010519491231002X",
    )  # fmt: skip
    assert (c.level.name, c.expires_on, c.birthday) == (
        "金卡会员", date(2099, 12, 31), date(1988, 8, 8),
    )  # fmt: skip
    assert c.has_pin and cards._digest(c.pin_salt, "246810") == c.pin_hash
    entry = AuditLog.get(AuditLog.action == "card.activate")
    assert (entry.target, entry.staff_no, entry.terminal_id) == (NEW, "owner", "99000001")
    assert "会员卡 6222000011112222 已激活" in html(office.get(r.location))


def test_activate_the_shops_inactive_stock_with_the_fewest_fields(office):
    r = office.post("/members/activate", {"activation_type": "card_no", "card_no": INACTIVE})
    assert r.status_code == 302
    c = card(INACTIVE)
    assert (c.status, c.has_pin, c.level.name, c.expires_on, c.gender) == (
        "active", False, "普通会员", None, None,
    )  # fmt: skip


def test_activation_by_phone_issues_a_16_digit_card_number(office):
    r = office.post(
        "/members/activate", {"activation_type": "phone", "phone": "13611112222", "name": "孙七"}
    )
    assert r.status_code == 302
    c = Card.get(Card.phone == "13611112222")
    assert re.fullmatch(r"8[0-9]{15}", c.card_no)
    assert r.location == f"/members/{c.card_no}"
    assert (c.status, c.name) == ("active", "孙七")
    assert cards.find_card("13611112222").card_no == c.card_no
    entry = AuditLog.get(AuditLog.action == "card.activate")
    assert entry.target == c.card_no and '"activation_type": "phone"' in entry.details


def test_activation_by_external_number_issues_a_card_number_too(office):
    r = office.post("/members/activate", {"activation_type": "external_no", "external_no": "W77"})
    assert r.status_code == 302
    c = Card.get(Card.external_no == "W77")
    assert re.fullmatch(r"8[0-9]{15}", c.card_no) and c.phone is None


def test_issued_card_numbers_differ(app):
    numbers = set()
    for n in range(20):
        numbers.add(cards.activate({"phone": f"1361111{n:04d}"}, activation_type="phone").card_no)
    assert len(numbers) == 20 and all(len(x) == 16 for x in numbers)


def test_an_operator_activates_and_stays_on_the_form(operator):
    # Operators may not open the member list, so the form comes back with the card number.
    r = operator.post("/members/activate", {"activation_type": "card_no", "card_no": NEW})
    assert r.status_code == 302 and r.location == "/members/activate"
    assert card(NEW).status == "active"
    assert f"会员卡 {NEW} 已激活" in html(operator.get("/members/activate"))


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"card_no": "12ab"}, "card_no", "卡号必须是 8 到 19 位数字"),
        ({"card_no": ""}, "card_no", "卡号必须是 8 到 19 位数字"),
        ({"card_no": GOLD}, "card_no", "该卡已激活"),
        ({"confirm": "246811"}, "confirm", "两次输入的密码不一致"),
        ({"pin": "12345", "confirm": "12345"}, "pin", "密码必须是 6 位数字"),
        ({"phone": "12345678901"}, "phone", "手机号码格式不正确"),
        ({"phone": "13800138000"}, "phone", "该手机号码已绑定其他卡"),
        ({"external_no": "A0001"}, "external_no", "该外卡号已绑定其他卡"),
        ({"id_number": "110105194912310021"}, "id_number", "身份证号码校验位不正确"),
        ({"id_number": "12345"}, "id_number", "身份证号码格式不正确"),
        ({"birthday": (TODAY + timedelta(days=2)).isoformat()}, "birthday", "生日不能晚于今天"),
        ({"birthday": "1990-02-30"}, "birthday", "日期格式不正确"),
        ({"expires_on": (TODAY - timedelta(days=2)).isoformat()}, "expires_on", "会员有效期已过"),
        ({"level": "钻石会员"}, "level", "会员等级不存在"),
        ({"gender": "other"}, "gender", "性别只能是"),
        ({"name": "名" * 41}, "name", "姓名格式不正确（不能为空白，最多 40 个字符）"),
        (
            {"activation_type": "phone", "card_no": "", "phone": ""},
            "phone",
            "按手机号码激活须填写手机号码",
        ),
        ({"activation_type": "phone"}, "card_no", "卡号由系统生成，请留空"),
        (
            {"activation_type": "external_no", "card_no": "", "external_no": ""},
            "external_no",
            "按外卡号激活须填写外卡号",
        ),
    ],
)
def test_activation_refusals_show_beside_their_field_and_change_nothing(
    office, changes, field, message
):
    before = snapshot()
    r = office.post("/members/activate", {**FULL, **changes})
    assert r.status_code == 200
    page = html(r)
    if field == "gender":  # a radio group: its box holds nested boxes
        assert message in page
    else:
        assert message in beside(page, field)
    assert snapshot() == before


def test_activation_refused_without_csrf(office):
    before = snapshot()
    r = office.post("/members/activate", FULL, csrf=False)
    assert r.status_code == 400
    assert snapshot() == before


def test_activation_needs_a_signed_in_cashier(client, sysadmin):
    r = client.get("/members/activate")
    assert r.status_code == 302 and "/login" in r.location
    assert sysadmin.get("/members/activate").status_code == 403
    assert sysadmin.post("/members/activate", FULL, page="/").status_code == 403
    assert card(NEW) is None


# ---------------------------------------------------------------- 会员卡操作


def test_the_card_operations_page_has_the_tabs_and_prefills_the_card(office):
    page = html(office.get(f"/cards?card_no={SILVER}"))
    for tab in ("绑定手机", "修改密码", "重置密码", "冻结 / 解冻 / 挂失", "解除密码锁定"):
        assert tab in page
    assert f'value="{SILVER}"' in page
    assert "此栏为空代表解绑手机号" in page
    assert "需确认此卡已是该会员拥有" in html(office.get("/cards/pin_reset"))
    assert office.get("/cards/nothing").status_code == 404


def test_bind_and_unbind_a_phone(operator):
    r = operator.post("/cards", {"card_no": SILVER, "pin": "888888", "phone": "13566667777"})
    assert r.status_code == 302 and r.location == "/cards"
    assert card(SILVER).phone == "13566667777"
    assert f"卡 {SILVER} 的手机号码已绑定" in html(operator.get("/cards"))
    r = operator.post("/cards", {"card_no": SILVER, "pin": "888888", "phone": ""})
    assert r.status_code == 302 and card(SILVER).phone is None
    assert f"卡 {SILVER} 的手机号码已解绑" in html(operator.get("/cards"))


def test_a_pin_taken_away_is_said_so(operator):
    r = operator.post(
        "/cards/pin", {"card_no": SILVER, "old_pin": "888888", "new_pin": "", "confirm": ""}
    )
    assert r.status_code == 302 and not card(SILVER).has_pin
    assert f"卡 {SILVER} 的密码已取消" in html(operator.get("/cards"))


def test_the_owner_goes_to_the_member_page_after_a_card_operation(office):
    r = office.post("/cards", {"card_no": PLAIN, "pin": "", "phone": "13566667777"})
    assert r.status_code == 302 and r.location == f"/members/{PLAIN}"


@pytest.mark.parametrize(
    "data, field, message",
    [
        (
            {"card_no": SILVER, "pin": "000000", "phone": "13566667777"},
            "pin",
            "密码错误，还可以尝试 2 次",
        ),
        ({"card_no": SILVER, "pin": "", "phone": "13566667777"}, "pin", "密码错误"),
        ({"card_no": SILVER, "pin": "88888", "phone": "13566667777"}, "pin", "密码必须是 6 位数字"),
        (
            {"card_no": SILVER, "pin": "888888", "phone": "1356666777"},
            "phone",
            "手机号码格式不正确",
        ),
        (
            {"card_no": SILVER, "pin": "888888", "phone": "13800138000"},
            "phone",
            "该手机号码已绑定其他卡",
        ),
        (
            {"card_no": "99999999", "pin": "", "phone": "13566667777"},
            "card_no",
            "卡号、外卡号或手机号码不存在",
        ),
        ({"card_no": "", "pin": "", "phone": "13566667777"}, "card_no", "请输入卡号"),
        ({"card_no": INACTIVE, "pin": "", "phone": "13566667777"}, "card_no", "该卡未激活"),
    ],
)
def test_bind_refusals(operator, data, field, message):
    before = card(SILVER).phone
    r = operator.post("/cards", data)
    assert r.status_code == 200 and message in beside(html(r), field)
    assert card(SILVER).phone == before == "13900139000"


def test_change_pin(operator):
    r = operator.post(
        "/cards/pin",
        {"card_no": GOLD, "old_pin": "123456", "new_pin": "654321", "confirm": "654321"},
    )
    assert r.status_code == 302
    c = card(GOLD)
    assert cards._digest(c.pin_salt, "654321") == c.pin_hash


@pytest.mark.parametrize(
    "data, field, message",
    [
        (
            {"old_pin": "000000", "new_pin": "654321", "confirm": "654321"},
            "old_pin",
            "密码错误，还可以尝试 2 次",
        ),
        (
            {"old_pin": "123456", "new_pin": "654321", "confirm": "654322"},
            "confirm",
            "两次输入的密码不一致",
        ),
        (
            {"old_pin": "123456", "new_pin": "65432", "confirm": "65432"},
            "new_pin",
            "密码必须是 6 位数字",
        ),
        (
            {"old_pin": "12345", "new_pin": "654321", "confirm": "654321"},
            "old_pin",
            "密码必须是 6 位数字",
        ),
    ],
)
def test_change_pin_refusals(operator, data, field, message):
    hash_before = card(GOLD).pin_hash
    r = operator.post("/cards/pin", {"card_no": GOLD, **data})
    assert r.status_code == 200 and message in beside(html(r), field)
    assert card(GOLD).pin_hash == hash_before


def test_the_owner_resets_a_pin_without_a_supervisor(office):
    page = html(office.get("/cards/pin_reset"))
    assert "主管密码" not in page
    r = office.post("/cards/pin_reset", {"card_no": GOLD, "new_pin": "111222", "confirm": "111222"})
    assert r.status_code == 302
    c = card(GOLD)
    assert cards._digest(c.pin_salt, "111222") == c.pin_hash
    assert AuditLog.get(AuditLog.action == "card.pin_reset").target == GOLD


def test_an_operator_resets_a_pin_with_the_supervisors_password(operator, supervisor):
    assert "主管密码" in html(operator.get("/cards/pin_reset"))
    data = {"card_no": GOLD, "new_pin": "111222", "confirm": "111222"}
    r = operator.post("/cards/pin_reset", {**data, "supervisor_password": SUPERVISOR_PASSWORD})
    assert r.status_code == 302
    c = card(GOLD)
    assert cards._digest(c.pin_salt, "111222") == c.pin_hash


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"supervisor_password": "999999"}, "supervisor_password", "主管密码错误"),
        ({"supervisor_password": ""}, "supervisor_password", "请输入主管密码"),
        (
            {"supervisor_password": SUPERVISOR_PASSWORD, "confirm": "111223"},
            "confirm",
            "两次输入的密码不一致",
        ),
        (
            {"supervisor_password": SUPERVISOR_PASSWORD, "card_no": INACTIVE},
            "card_no",
            "该卡未激活",
        ),
    ],
)
def test_reset_pin_refusals(operator, supervisor, data, field, message):
    before = snapshot()
    form = {"card_no": GOLD, "new_pin": "111222", "confirm": "111222", **data}
    r = operator.post("/cards/pin_reset", form)
    assert r.status_code == 200 and message in beside(html(r), field)
    assert snapshot() == before


def test_freeze_report_lost_and_restore(operator, supervisor):
    r = operator.post("/cards/status", {"card_no": PLAIN, "status": "frozen"})
    assert r.status_code == 302 and card(PLAIN).status == "frozen"
    r = operator.post("/cards/status", {"card_no": PLAIN, "status": "lost"})
    assert r.status_code == 302 and card(PLAIN).status == "lost"
    # Back to active needs the supervisor.
    r = operator.post("/cards/status", {"card_no": PLAIN, "status": "active"})
    assert "请输入主管密码" in beside(html(r), "supervisor_password")
    r = operator.post(
        "/cards/status", {"card_no": PLAIN, "status": "active", "supervisor_password": "999999"}
    )
    assert "主管密码错误" in beside(html(r), "supervisor_password")
    assert card(PLAIN).status == "lost"
    r = operator.post(
        "/cards/status",
        {"card_no": PLAIN, "status": "active", "supervisor_password": SUPERVISOR_PASSWORD},
    )
    assert r.status_code == 302 and card(PLAIN).status == "active"
    changes = [
        e.details for e in AuditLog.select().where(AuditLog.action == "card.status")
    ]  # fmt: skip
    assert len(changes) == 3


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"status": "active"}, "status", "卡状态不能这样变更"),
        ({"status": "inactive"}, "status", "请选择要变更的状态"),
        ({"status": "frozen", "card_no": INACTIVE}, "status", "卡状态不能这样变更"),
        ({"status": "frozen", "card_no": "12"}, "card_no", "卡号、外卡号或手机号码不存在"),
    ],
)
def test_status_refusals(office, data, field, message):
    before = snapshot()
    r = office.post("/cards/status", {"card_no": PLAIN, **data})
    assert r.status_code == 200 and message in beside(html(r), field)
    assert snapshot() == before


def test_the_status_form_is_prefilled_from_the_member_page(office):
    page = html(office.get(f"/members/{PLAIN}"))
    link = f"/cards/status?card_no={PLAIN}&amp;status=lost"
    assert link in page
    page = html(office.get(html_lib.unescape(link)))
    assert '<option selected value="lost">' in page


def _lock(card_no: str) -> None:
    for _ in range(3):
        with pytest.raises(cards.LedgerError):
            cards.change_pin(None, card_no, "000000", "111111")
    assert cards.pin_locked(card(card_no), cards.utcnow())


def test_unlock_a_pin(operator, supervisor):
    _lock(GOLD)
    r = operator.post("/cards/unlock", {"card_no": GOLD, "supervisor_password": "999999"})
    assert "主管密码错误" in beside(html(r), "supervisor_password")
    assert card(GOLD).pin_locked_until is not None
    r = operator.post(
        "/cards/unlock", {"card_no": GOLD, "supervisor_password": SUPERVISOR_PASSWORD}
    )
    assert r.status_code == 302 and card(GOLD).pin_locked_until is None
    assert AuditLog.get(AuditLog.action == "card.pin_unlock").target == GOLD


def test_the_owner_unlocks_without_a_supervisor(office):
    _lock(GOLD)
    assert "已锁定至" in html(office.get(f"/members/{GOLD}"))
    r = office.post("/cards/unlock", {"card_no": GOLD})
    assert r.status_code == 302 and card(GOLD).pin_locked_until is None


@pytest.mark.parametrize(
    "path, data",
    [
        ("/cards", {"card_no": SILVER, "pin": "888888", "phone": ""}),
        ("/cards/pin", {"card_no": GOLD, "old_pin": "123456", "new_pin": "", "confirm": ""}),
        ("/cards/pin_reset", {"card_no": GOLD, "new_pin": "", "confirm": ""}),
        ("/cards/status", {"card_no": PLAIN, "status": "frozen"}),
        ("/cards/unlock", {"card_no": GOLD}),
    ],
)
def test_card_operations_refused_without_csrf_or_the_role(office, sysadmin, app, path, data):
    before = snapshot()
    assert office.post(path, data, csrf=False).status_code == 400
    assert sysadmin.get(path).status_code == 403
    assert sysadmin.post(path, data, page="/").status_code == 403
    r = app.test_client().get(path)
    assert r.status_code == 302 and "/login" in r.location
    assert snapshot() == before


# ---------------------------------------------------------------- 会员 (list and page)


def listed(page: str) -> list[str]:
    table = page.split('id="members"', 1)[1]
    return re.findall(r'href="/members/([0-9]+)"', table)


def test_the_member_list(office):
    page = html(office.get("/members"))
    assert set(listed(page)) == {GOLD, PLAIN, SILVER, INACTIVE}
    for column in ("卡号", "姓名", "手机号码", "会员等级", "状态", "余额", "积分", "会员有效期"):
        assert "<th" in page and column in page
    assert re.search(r'<td class="c-balance num"[^>]*>1000.00</td>', page)
    assert re.search(r'<td class="c-points num"[^>]*>300</td>', page)
    assert "导入会员" in page and "导出会员" in page


@pytest.mark.parametrize(
    "query, expected",
    [
        ("q=" + GOLD, {GOLD}),
        ("q=13900139000", {SILVER}),
        ("q=A0001", {GOLD}),
        ("q=李", {GOLD}),
        ("q=三", {PLAIN}),
        ("q=168010", set()),  # card numbers whole, not in part
        ("q=%25", set()),  # a LIKE wildcard is a character
        ("level=金卡会员", {GOLD}),
        ("level=普通会员", {PLAIN, SILVER}),
        ("status=inactive", {INACTIVE}),
        ("status=active&level=普通会员&q=王", {SILVER}),
    ],
)
def test_search_and_filters(office, query, expected):
    assert set(listed(html(office.get("/members?" + query)))) == expected


def test_an_unknown_level_filter_says_so(office):
    page = html(office.get("/members?level=钻石会员"))
    assert "会员等级不存在" in page and listed(page) == []


def test_the_member_list_is_paged(office):
    for n in range(25):
        cards.activate({"card_no": f"77700000{n:04d}", "name": f"批量{n}"})
    first = listed(html(office.get("/members")))
    second = listed(html(office.get("/members?page=2")))
    assert (len(first), len(second)) == (20, 9)
    assert set(first).isdisjoint(second)
    assert first[0] == "777000000024"  # newest first
    assert "第 1 / 2 页，共 29 条" in html(office.get("/members"))
    page = html(office.get("/members?q=批量&page=2"))
    assert len(listed(page)) == 5 and "q=%E6%89%B9%E9%87%8F" in page  # the pager keeps the search


def test_search_in_the_domain(app):
    rows, total = cards.search("", "金卡会员", "active", 1, 20)
    assert ([c.card_no for c in rows], total) == ([GOLD], 1)
    with pytest.raises(cards.LedgerError) as refused:
        cards.search(None, None, "gone", 1, 20)
    assert refused.value.code == "bad_request"


def test_the_member_list_needs_the_journal_role(client, operator, office_as):
    assert operator.get("/members").status_code == 403
    assert operator.get(f"/members/{GOLD}").status_code == 403
    assert office_as("00").get("/members").status_code == 200
    r = client.get("/members")
    assert r.status_code == 302 and "/login" in r.location


def test_a_member_page(office, api):
    voucher = api.transact("recharge", GOLD, amount="50", payment_method="cash").json["voucher_no"]
    page = html(office.get(f"/members/{GOLD}"))
    for text in ("李四", "女", "1990-05-01", "13800138000", "A0001", "金卡会员", "2099-12-31",
                 "正常", "1050.00", "300", "已设置", "期初导入", "储值充值", "50.00"):  # fmt: skip
        assert text in page, text
    assert f'href="/receipts/{voucher}"' in page and len(voucher) == 6
    for action in ("phone", "pin", "pin_reset", "status"):
        assert f"/cards/{action}?card_no={GOLD}" in page or f"/cards?card_no={GOLD}" in page


def test_a_member_page_pages_its_journal(office, api):
    for _ in range(21):
        assert api.transact("recharge", PLAIN, amount="1", payment_method="cash").status_code == 201
    journal = html(office.get(f"/members/{PLAIN}")).split('id="journal"', 1)[1]
    assert journal.count("<tr>") == 21  # the heading and 20 rows
    assert "第 1 / 2 页，共 22 条" in journal
    journal = html(office.get(f"/members/{PLAIN}?page=2")).split('id="journal"', 1)[1]
    assert journal.count("<tr>") == 3 and "期初导入" in journal


def test_unknown_member_pages_are_404(office):
    for path in ("/members/99999999", "/members/abc"):
        r = office.get(path)
        assert r.status_code == 404 and "卡号不存在" in html(r)


# ---------------------------------------------------------------- import and export


HEADER = ",".join(cards.IMPORT_COLUMNS)
GOOD = (
    HEADER
    + "\n6222000011110001,,13711110001,周一,male,,,普通会员,,,12.50,5"
    + "\n6222000011110002,E2,,吴二,,1980-01-02,,金卡会员,2030-01-01,135790,0,0\n"
)
BAD = (
    HEADER
    + "\n6222000011110001,,13711110001,周一,male,,,普通会员,,,12.50,5"
    + f"\n{GOLD},,,重复,,,,,,,,"
    + "\n6222000011110003,,,郑三,,,,钻石会员,,,,"
    + "\n6222000011110004,,,王四,,,,,,,abc,\n"
)


def upload(office, content: bytes, name="members.csv", csrf=True, page="/members/import"):
    data = {"file": (io.BytesIO(content), name)}
    return office.post(
        "/members/import", data, page=page, csrf=csrf,
        content_type="multipart/form-data",
    )  # fmt: skip


def confirm(office, page: str, csrf=True):
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page)
    return office.post(
        "/members/import", {"token": token.group(1) if token else ""}, csrf=csrf,
        page="/members/import",
    )  # fmt: skip


def test_import_previews_then_imports_on_confirmation(office):
    before = snapshot()
    r = upload(office, GOOD.encode())
    page = html(r)
    assert r.status_code == 200 and "共 2 行，检查无误" in page
    assert "周一" in page and "吴二" in page and "135790" not in page  # PINs not shown
    assert "确认导入 2 张会员卡" in page
    assert snapshot() == before  # the preview wrote nothing
    r = confirm(office, page)
    assert r.status_code == 302 and r.location == "/members"
    one, two = card("6222000011110001"), card("6222000011110002")
    assert (one.balance_fen, one.points, one.phone) == (1250, 5, "13711110001")
    assert (two.level.name, two.has_pin, two.external_no) == ("金卡会员", True, "E2")
    imported = (
        AuditLog.select().where(AuditLog.action == "card.import").order_by(AuditLog.id.desc())
    )
    assert (imported[0].staff_no, imported[0].terminal_id) == ("owner", "99000001")
    assert "已导入 2 张会员卡" in html(office.get("/members"))
    # The kept file is gone: the same confirmation a second time imports nothing.
    r = confirm(office, page)
    assert "预览已过期" in html(r)
    assert Transaction.select().where(Transaction.type == "opening").count() == 4


def test_import_with_a_bom_is_read(office):
    r = upload(office, GOOD.encode("utf-8-sig"))
    assert "检查无误" in html(r)


def test_import_preview_lists_every_bad_line_and_writes_nothing(office):
    before = snapshot()
    page = html(upload(office, BAD.encode()))
    assert "发现 3 处错误" in page
    problems = page.split('id="import-problems"', 1)[1].split("</table>", 1)[0]
    for line, column, message in [
        (3, "卡号", "该卡已激活"), (4, "会员等级", "会员等级不存在"), (5, "余额", "余额格式不正确")
    ]:  # fmt: skip
        row = f'<td class="num">{line}</td><td>{column}</td><td class="neg">{message}</td>'
        assert row in problems
    assert "确认导入" not in page and 'name="token"' not in page
    assert snapshot() == before


def test_import_preview_lists_every_problem_of_a_line(office):
    line = "6222000011110001,E!,1234,周一,woman,2999-01-01,123,钻石会员,someday,12,abc,-3"
    page = html(upload(office, (HEADER + "\n" + line + "\n").encode()))
    problems = page.split('id="import-problems"', 1)[1].split("</table>", 1)[0]
    named = re.findall(r'<td class="num">2</td><td>([^<]+)</td>', problems)
    assert named == [
        "外卡号", "手机号码", "性别", "生日", "身份证", "会员等级", "会员有效期", "密码", "余额", "积分"
    ]  # fmt: skip
    assert "发现 10 处错误" in page


@pytest.mark.parametrize(
    "content, message",
    [
        ("卡号,姓名\n1,张\n".encode("gbk"), "不是 UTF-8 编码"),
        (b"", "文件是空的"),
        (b"\xef\xbb\xbf\n\n", "文件是空的"),
        ("卡号,姓名\n6222000011110001,张\n".encode(), "表头必须是 card_no,external_no"),
    ],
)
def test_import_explains_an_unreadable_file(office, content, message):
    before = snapshot()
    page = html(upload(office, content))
    assert message in page
    assert "确认导入" not in page
    assert snapshot() == before


def test_import_needs_a_file(office):
    r = office.post("/members/import", {}, content_type="multipart/form-data")
    assert "请选择要导入的文件" in beside(html(r), "file")


def test_import_rereads_the_file_on_confirmation(office):
    page = html(upload(office, GOOD.encode()))
    cards.activate({"card_no": "6222000011110002"})  # someone activates a card of the file
    before = snapshot()
    r = confirm(office, page)
    assert r.status_code == 200 and "该卡已激活" in html(r)
    assert snapshot() == before


def test_import_refuses_a_token_the_session_does_not_hold(office, app):
    page = html(upload(office, GOOD.encode()))
    other = Office(app.test_client()).sign_in("owner")
    before = snapshot()
    r = confirm(other, page)
    assert "预览已过期" in html(r)
    assert snapshot() == before


def test_import_refused_without_csrf_or_the_owner(office, office_as, app):
    before = snapshot()
    assert upload(office, GOOD.encode(), csrf=False).status_code == 400
    page = html(upload(office, GOOD.encode()))
    assert confirm(office, page, csrf=False).status_code == 400
    assert snapshot() == before
    for staff_no in ("00", "01"):
        other = office_as(staff_no)
        assert other.get("/members/import").status_code == 403
        assert other.get("/members/export.csv").status_code == 403
        assert upload(other, GOOD.encode(), page="/").status_code == 403
    stranger = app.test_client()
    assert stranger.get("/members/import").status_code == 302
    assert stranger.get("/members/export.csv").status_code == 302


def test_the_pending_store_forgets_after_its_lifetime(monkeypatch):
    from kakatong.web.backoffice import members

    store = members.PendingImports()
    token = store.put("text")
    assert store.take(token) == "text" and store.take(token) is None
    token = store.put("text")
    clock = members.time.monotonic() + store.LIFETIME_SECONDS + 1
    monkeypatch.setattr(members.time, "monotonic", lambda: clock)
    assert store.take(token) is None
    tokens = [store.put(str(n)) for n in range(store.MAX_OPEN + 2)]
    assert store.take(tokens[0]) is None and store.take(tokens[-1]) == str(store.MAX_OPEN + 1)


def test_export_is_the_import_format(office):
    r = office.get("/members/export.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    today = cards.runtime.shop_date(cards.utcnow())
    assert r.headers["Content-Disposition"] == f"attachment; filename=members-{today:%Y%m%d}.csv"
    data = r.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == HEADER
    assert (
        f"{GOLD},A0001,13800138000,李四,female,1990-05-01,,金卡会员,2099-12-31,,1000.00,300"
        in lines
    )
    assert f"{PLAIN},,,张三,male,,,普通会员,,,500.00,120" in lines
    assert not any(line.startswith(INACTIVE) for line in lines)
    assert len(lines) == 4


def test_an_export_imports_into_a_fresh_shop(office, tmp_path):
    office.post("/members/activate", {"activation_type": "phone", "phone": "13611112222"})
    exported = office.get("/members/export.csv").get_data()
    balances = {c.card_no: (c.balance_fen, c.points) for c in Card.select() if c.status == "active"}
    fresh = create_app(
        {"data_dir": tmp_path / "fresh", "demo": False, "database_url": another_database()}
    )
    try:
        assert Card.select().count() == 0
        cards.create_level(None, "金卡会员", 88, 150)
        rows = cards.parse_import(cards.decode_import(exported))
        assert ledger.import_cards(rows) == 4
        assert {c.card_no: (c.balance_fen, c.points) for c in Card.select()} == balances
        assert card(GOLD).level.name == "金卡会员" and not card(GOLD).has_pin
        assert fresh is not None
    finally:
        db.close()


# ---------------------------------------------------------------- 会员等级


def levels_table(page: str) -> str:
    return page.split('id="levels"', 1)[1].split("</table>", 1)[0]


def test_the_levels_list(office):
    table = re.sub(r"\s+", " ", levels_table(html(office.get("/levels"))))
    assert re.search(
        r"普通会员</td> <td class=\"num\">100 %</td> <td class=\"num\">×1</td> <td class=\"num\">2</td>",
        table,
    )
    assert re.search(
        r"金卡会员</td> <td class=\"num\">88 %</td> <td class=\"num\">×1.5</td> <td class=\"num\">1</td>",
        table,
    )


def test_create_a_level(office):
    r = office.post(
        "/levels", {"name": "钻石会员", "discount_pct": "80", "points_multiplier_pct": "200"}
    )
    assert r.status_code == 302 and r.location == "/levels"
    level = Level.get(Level.name == "钻石会员")
    assert (level.discount_pct, level.points_multiplier_pct) == (80, 200)
    entry = AuditLog.get(AuditLog.action == "level.create")
    assert entry.target == "钻石会员" and entry.staff_no == "owner"
    page = html(office.get("/levels"))
    assert "×2" in levels_table(page) and "会员等级 钻石会员 已添加" in page
    assert '<option value="钻石会员">' in html(office.get("/members/activate"))


def test_edit_a_level(office, api):
    gold = Level.get(Level.name == "金卡会员")
    page = html(office.get(f"/levels?edit={gold.id}"))
    assert 'value="金卡会员"' in page and 'value="88"' in page and "修改会员等级" in page
    r = office.post(
        "/levels",
        {
            "level_id": str(gold.id),
            "name": "白金会员",
            "discount_pct": "75",
            "points_multiplier_pct": "125",
        },
        page=f"/levels?edit={gold.id}",
    )
    assert r.status_code == 302
    level = Level.get_by_id(gold.id)
    assert (level.name, level.discount_pct, level.points_multiplier_pct) == ("白金会员", 75, 125)
    assert card(GOLD).level.name == "白金会员"
    entry = AuditLog.get(AuditLog.action == "level.update")
    assert entry.target == "金卡会员"
    assert audit.details_of(entry)["discount_pct"] == {"from": 88, "to": 75}
    assert audit.details_of(entry)["name"] == {"from": "金卡会员", "to": "白金会员"}
    # The card's consume now gets the new discount: 100.00 at 75 % debits 75.00.
    r = api.transact("consume", GOLD, amount="100")
    assert r.json["amount"] == "-75.00"


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": "金卡会员"}, "name", "该会员等级已存在"),
        ({"name": " 普通会员 "}, "name", "该会员等级已存在"),
        ({"name": ""}, "name", "请输入等级名称"),
        ({"name": "等" * 21}, "name", "等级名称须为 1 到 20 个字"),
        ({"discount_pct": "0"}, "discount_pct", "折扣必须是 1 到 100 之间的整数"),
        ({"discount_pct": "101"}, "discount_pct", "折扣必须是 1 到 100 之间的整数"),
        ({"discount_pct": "8.5"}, "discount_pct", "折扣必须是 1 到 100 之间的整数"),
        ({"discount_pct": ""}, "discount_pct", "折扣必须是 1 到 100 之间的整数"),
        (
            {"points_multiplier_pct": "10001"},
            "points_multiplier_pct",
            "积分倍率必须是 0 到 10000 之间的整数",
        ),
        (
            {"points_multiplier_pct": "-1"},
            "points_multiplier_pct",
            "积分倍率必须是 0 到 10000 之间的整数",
        ),
        (
            {"points_multiplier_pct": "９９"},
            "points_multiplier_pct",
            "积分倍率必须是 0 到 10000 之间的整数",
        ),
    ],
)
def test_level_refusals(office, data, field, message):
    before = snapshot()
    r = office.post(
        "/levels",
        {"name": "钻石会员", "discount_pct": "90", "points_multiplier_pct": "100", **data},
    )
    assert r.status_code == 200 and message in beside(html(r), field)
    assert snapshot() == before


def test_renaming_to_another_levels_name_is_refused(office):
    gold = Level.get(Level.name == "金卡会员")
    before = snapshot()
    r = office.post(
        "/levels",
        {
            "level_id": str(gold.id),
            "name": "普通会员",
            "discount_pct": "88",
            "points_multiplier_pct": "150",
        },
    )
    assert "该会员等级已存在" in beside(html(r), "name")
    assert "修改会员等级" in html(r)
    assert snapshot() == before


def test_an_unknown_level_is_not_found(office):
    assert office.get("/levels?edit=999").status_code == 404
    before = snapshot()
    r = office.post(
        "/levels",
        {"level_id": "999", "name": "x", "discount_pct": "90", "points_multiplier_pct": "100"},
    )
    assert "会员等级不存在" in html(r)
    assert snapshot() == before


def test_levels_in_the_domain(app):
    level = cards.create_level(None, "银卡会员", 95, 120)
    assert cards.update_level(None, "银卡会员", discount_pct=90).discount_pct == 90
    assert cards.update_level(None, level.id, name="银卡").name == "银卡"
    count = AuditLog.select().count()
    cards.update_level(None, "银卡", discount_pct=90)  # no change: nothing to record
    assert AuditLog.select().count() == count
    for call, code in [
        (lambda: cards.update_level(None, "无此等级", discount_pct=90), "level_not_found"),
        (lambda: cards.update_level(None, "银卡", colour="red"), "bad_request"),
        (lambda: cards.create_level(None, "银卡", 90, 100), "level_exists"),
        (lambda: cards.create_level(None, "金", True, 100), "invalid_setting"),
    ]:
        with pytest.raises(cards.LedgerError) as refused:
            call()
        assert refused.value.code == code


def test_levels_refused_without_csrf_or_the_owner(office, office_as, app):
    others = [office_as(staff_no) for staff_no in ("01", "00", "99")]
    before = snapshot()
    data = {"name": "钻石会员", "discount_pct": "80", "points_multiplier_pct": "200"}
    assert office.post("/levels", data, csrf=False).status_code == 400
    for other in others:
        assert other.get("/levels").status_code == 403
        assert other.post("/levels", data, page="/").status_code == 403
    r = app.test_client().get("/levels")
    assert r.status_code == 302 and "/login" in r.location
    assert snapshot() == before


def test_only_the_last_preview_of_a_session_can_be_confirmed(office):
    older = html(upload(office, GOOD.encode()))
    newer = html(upload(office, (HEADER + "\n6222000011110009,,,钱九,,,,,,,,\n").encode()))
    before = snapshot()
    assert "预览已过期" in html(confirm(office, older))
    assert snapshot() == before
    assert confirm(office, newer).status_code == 302
    assert card("6222000011110009").status == "active" and card("6222000011110001") is None
