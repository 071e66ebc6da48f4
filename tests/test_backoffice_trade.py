"""会员交易 in the back office: the six forms, the receipt page, settlement.

Every form is posted as a browser posts it: with the CSRF token and the request_id of the page
it was shown on. A refusal must leave balances, points and the journal as they were.
"""

from __future__ import annotations

import re

import pytest
from conftest import (
    GOLD,
    INACTIVE,
    PINS,
    PLAIN,
    SILVER,
    SUPERVISOR_PASSWORD,
    ensure_password,
    html,
    operator_actor,
)

from kakatong.domain import ledger, receipts, terminals
from kakatong.domain import settings as shop_settings
from kakatong.domain.errors import LedgerError
from kakatong.store.models import Card, Settlement, Terminal, Transaction

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_RID = re.compile(r'name="request_id" type="hidden" value="([0-9a-f]{32})"')
_FIELD = r'id="field-{}".*?(?=<div class="field|<div class="actions")'
_ERROR = re.compile(r'<small class="error"[^>]*>([^<]*)</small>')
_FORM_ERRORS = re.compile(r'<div class="errors" role="alert">(.*?)</div>', re.S)

KINDS = ("consume", "recharge", "points_redeem", "points_earn", "void", "query")


# ---------------------------------------------------------------- helpers


def shown(office, kind: str) -> str:
    r = office.get(f"/trade/{kind}")
    assert r.status_code == 200
    return html(r)


def submit(office, kind: str, data: dict, *, page: str | None = None, csrf: bool = True):
    """Post the form of `kind` as shown on `page` (a fresh GET by default): its CSRF token and
    its request_id travel with the fields, unless `data` sets them."""
    page = page if page is not None else shown(office, kind)
    data = dict(data)
    if csrf:
        data.setdefault("csrf_token", _CSRF.search(page).group(1))
    found = _RID.search(page)
    if found:
        data.setdefault("request_id", found.group(1))
    return office.client.post(f"/trade/{kind}", data=data)


def hidden(page: str, name: str) -> str:
    return re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page).group(1)


def void_form(office, fields: dict, *, page: str | None = None):
    """交易撤销 as its form takes it: the card and the original first; then, the original
    shown, the PIN (and the supervisor's password) to confirm it. A first step that does not
    show the original is the answer."""
    first = {k: v for k, v in fields.items() if k not in ("pin", "supervisor_password")}
    r = submit(office, "void", first, page=page)
    shown = html(r)
    if r.status_code != 200 or 'name="voucher_no"' not in shown:
        return r
    second = {
        "voucher_no": hidden(shown, "voucher_no"),
        "card_no": hidden(shown, "card_no"),
        **{k: v for k, v in fields.items() if k in ("pin", "supervisor_password")},
    }
    return submit(office, "void", second, page=shown)


def request_id(page: str) -> str:
    return _RID.search(page).group(1)


def field_errors(page: str, name: str) -> list[str]:
    block = re.search(_FIELD.format(name), page, re.S)
    assert block, f"no field {name} on the page"
    return _ERROR.findall(block.group(0))


def form_errors(page: str) -> list[str]:
    found = _FORM_ERRORS.search(page)
    return re.findall(r"<p>([^<]*)</p>", found.group(1)) if found else []


def state() -> tuple:
    """Everything a refused form must leave alone: every card's money and the journal."""
    cards = {c.card_no: (c.balance_fen, c.points) for c in Card.select().order_by(Card.id)}
    return cards, Transaction.select().count(), Settlement.select().count()


def card(card_no: str) -> Card:
    return Card.get(Card.card_no == card_no)


def posted(response) -> Transaction:
    """The journal row a successful form posted (its receipt is where the form redirects)."""
    assert response.status_code == 303, html(response)
    location = response.headers["Location"]
    assert location.startswith("/receipts/")
    return Transaction.get(Transaction.voucher_no == int(location.rsplit("/", 1)[1]))


def consume(office, card_no=GOLD, amount="100", **extra):
    return submit(
        office,
        "consume",
        {"card_no": card_no, "amount": amount, "pin": PINS.get(card_no) or ""} | extra,
    )


def receipt_page(office, record: Transaction) -> str:
    r = office.get(f"/receipts/{record.voucher_no:06d}")
    assert r.status_code == 200
    return html(r)


# ---------------------------------------------------------------- the forms succeed


def test_trade_shows_the_consume_form_and_six_tabs(office):
    page = html(office.get("/trade"))
    for label in ("储值消费", "储值充值", "积分消费", "积分累加", "交易撤销", "查询余额"):
        assert label in page
    assert '<a href="/trade/consume" aria-current="page">储值消费</a>' in page
    for name in ("card_no", "amount", "service_code", "pin"):
        assert f'id="field-{name}"' in page
    assert "无密码可不输" in page
    assert request_id(page)


def test_consume(office):
    before = card(GOLD)
    r = consume(office, amount="100", service_code="888888")
    record = posted(r)
    after = card(GOLD)
    # 金卡会员: 88 % of 100.00 paid, points ×1.5 on what was paid.
    assert after.balance_fen == before.balance_fen - 8800
    assert after.points == before.points + 13
    assert record.type == "consume" and record.terminal.terminal_id == "99000001"
    assert record.operator_no == "owner" and record.service_code == "888888"
    page = html(office.get(r.headers["Location"]))
    assert "交易成功" in page
    assert "168086******7114" in page and GOLD not in page
    assert "储值消费 SALE" in page
    assert '<dd class="amount">RMB <span class="num">88.00</span></dd>' in page
    assert "原价" in page and "100.00" in page
    assert '<dd class="balance"><span class="num">912.00</span></dd>' in page
    assert '<dd class="points">+13</dd>' in page
    assert page.count('class="receipt"') == 2
    assert "商户存根" in page and "持卡人存根" in page
    assert page.count("持卡人签名") == 2
    assert "data-print" in page
    assert f"{record.trace_no:06d}" in page and record.reference_no in page
    assert "卡卡通示范商户" in page and "898100000000001" in page and "99000001" in page


def test_recharge(office):
    before = card(SILVER)
    r = submit(
        office, "recharge",
        {"card_no": SILVER, "amount": "100.50", "payment_method": "wechat", "pin": PINS[SILVER]},
    )  # fmt: skip
    record = posted(r)
    assert card(SILVER).balance_fen == before.balance_fen + 10050
    assert record.payment_method == "wechat"
    page = receipt_page(office, record)
    assert "储值充值 RECHARGE" in page and "微信支付" in page
    assert '<dd class="amount">RMB <span class="num">100.50</span></dd>' in page
    assert "168086******6804" in page
    assert "持卡人签名" not in page


def test_points_redeem(office):
    before = card(GOLD)
    r = submit(
        office, "points_redeem",
        {"card_no": GOLD, "points": "200", "service_code": "A1", "pin": PINS[GOLD]},
    )  # fmt: skip
    record = posted(r)
    assert card(GOLD).points == before.points - 200
    assert card(GOLD).balance_fen == before.balance_fen
    page = receipt_page(office, record)
    assert "积分消费 POINTS REDEEM" in page and '<dd class="points">-200</dd>' in page
    assert 'class="amount"' not in page  # no money moved


def test_points_earn_by_points(office):
    before = card(PLAIN)
    record = posted(submit(office, "points_earn", {"card_no": PLAIN, "points": "50"}))
    assert card(PLAIN).points == before.points + 50
    page = receipt_page(office, record)
    assert "积分累加 POINTS EARN" in page and "+50" in page and "168010******0018" in page


def test_points_earn_by_amount(office):
    before = card(PLAIN)
    record = posted(submit(office, "points_earn", {"card_no": PLAIN, "amount": "49.50"}))
    # The consume rule: one point per full 10.00 at ×1.
    assert card(PLAIN).points == before.points + 4
    assert card(PLAIN).balance_fen == before.balance_fen
    assert record.purchase_fen == 4950
    assert "49.50" in receipt_page(office, record)


def test_void_by_voucher(office):
    before = card(GOLD)
    original = posted(consume(office))
    page = shown(office, "void")
    assert 'id="field-supervisor_password"' not in page  # the owner's session authorises
    r = void_form(
        office,
        {"card_no": GOLD, "by": "voucher", "original": f"{original.voucher_no:06d}",
         "pin": PINS[GOLD]},
    )  # fmt: skip
    void = posted(r)
    assert (card(GOLD).balance_fen, card(GOLD).points) == (before.balance_fen, before.points)
    assert Transaction.get_by_id(original.id).status == "voided"
    assert void.type == "void" and void.original_id == original.id
    slip = receipt_page(office, void)
    assert "交易撤销 VOID" in slip and f"{original.voucher_no:06d}" in slip
    assert "储值消费" in slip  # what it reverses
    # The original's receipt now says it no longer stands, and offers no second void.
    again = receipt_page(office, original)
    assert "此交易已撤销" in again and "撤销此交易" not in again
    assert ledger.verify() == []


def test_void_by_trace_of_the_back_office(office):
    before = card(SILVER)
    original = posted(consume(office, SILVER, "20"))
    r = void_form(
        office,
        {"card_no": SILVER, "by": "trace", "original": str(original.trace_no),
         "terminal_id": "99000001", "pin": PINS[SILVER]},
    )  # fmt: skip
    void = posted(r)
    assert void.original_id == original.id
    assert card(SILVER).balance_fen == before.balance_fen


def test_void_by_trace_of_a_pos_terminal(office, api):
    r = api.transact("consume", PLAIN, amount="10")
    assert r.status_code == 201
    pos = Transaction.select().order_by(Transaction.id.desc()).first()
    assert pos.terminal.terminal_id == "10000001"
    page = shown(office, "void")
    assert '<option selected value="99000001">' in page and 'value="10000001"' in page
    void = posted(
        void_form(
            office,
            {
                "card_no": PLAIN,
                "by": "trace",
                "original": f"{pos.trace_no:06d}",
                "terminal_id": "10000001",
            },
            page=page,
        )  # fmt: skip
    )
    assert void.original_id == pos.id
    assert void.terminal.terminal_id == "99000001"


def test_void_form_prefilled_from_the_receipt(office):
    original = posted(consume(office))
    slip = receipt_page(office, original)
    link = f"/trade/void?original={original.voucher_no:06d}"
    assert link in slip
    assert f'value="{original.voucher_no:06d}"' in html(office.get(link))


def test_query_shows_the_card_and_moves_nothing(office):
    before = state()
    r = submit(office, "query", {"card_no": GOLD, "pin": PINS[GOLD]})
    assert r.status_code == 200
    page = html(r)
    assert 'id="query-result"' in page
    assert GOLD in page and "李四" in page and "金卡会员" in page and "正常" in page
    assert '<dd class="num" id="query-balance">1000.00</dd>' in page
    assert '<dd class="num" id="query-points">300</dd>' in page
    assert state() == before


def test_query_wrong_pin(office):
    page = html(submit(office, "query", {"card_no": GOLD, "pin": "000000"}))
    assert field_errors(page, "pin") == ["密码错误，还可以尝试 2 次"]
    assert 'id="query-result"' not in page


def test_an_operator_transacts_at_the_back_office_terminal(office_as):
    operator = office_as("01")
    record = posted(consume(operator, PLAIN, "12.34"))
    assert record.operator_no == "01"
    assert record.terminal.terminal_id == "99000001"
    assert record.batch_no == Terminal.get(Terminal.terminal_id == "99000001").batch_no
    assert "操作员01" in receipt_page(operator, record)


def test_a_swipe_into_the_card_field(office):
    record = posted(consume(office, card_no=f";{GOLD}=49121010000000000000?", pin=PINS[GOLD]))
    assert record.card.card_no == GOLD


def test_trace_numbers_are_the_back_office_terminals_own(office, api):
    assert api.transact("consume", PLAIN, amount="1").status_code == 201
    first = posted(consume(office, PLAIN, "1"))
    second = posted(consume(office, PLAIN, "1"))
    assert (first.trace_no, second.trace_no) == (1, 2)


# ---------------------------------------------------------------- refusals


REFUSALS = [
    # kind, fields, field (None: above the form), message
    ("consume", {"card_no": "", "amount": "10"}, "card_no", "请刷卡或输入卡号"),
    # Not a card's number, external number or phone: the entry names no card.
    ("consume", {"card_no": "12ab", "amount": "10"}, "card_no", "卡号、外卡号或手机号码不存在"),
    (
        "consume",
        {"card_no": "1680000000000000", "amount": "10"},
        "card_no",
        "卡号、外卡号或手机号码不存在",
    ),
    ("consume", {"card_no": INACTIVE, "amount": "10"}, "card_no", "该卡未激活"),
    ("consume", {"card_no": PLAIN, "amount": ""}, "amount", "请输入金额"),
    ("consume", {"card_no": PLAIN, "amount": "1.234"}, "amount", "金额格式不正确"),
    ("consume", {"card_no": PLAIN, "amount": "-5"}, "amount", "金额格式不正确"),
    ("consume", {"card_no": PLAIN, "amount": "0"}, "amount", "金额格式不正确"),
    ("consume", {"card_no": PLAIN, "amount": "50000.01"}, "amount", "金额超过单笔交易限额"),
    ("consume", {"card_no": PLAIN, "amount": "500.01"}, "amount", "余额不足"),
    (
        "consume",
        {"card_no": GOLD, "amount": "10", "pin": "000000"},
        "pin",
        "密码错误，还可以尝试 2 次",
    ),
    ("consume", {"card_no": GOLD, "amount": "10", "pin": ""}, "pin", "密码错误，还可以尝试 2 次"),
    ("consume", {"card_no": GOLD, "amount": "10", "pin": "12"}, "pin", "密码必须是 6 位数字"),
    (
        "consume",
        {"card_no": PLAIN, "amount": "10", "service_code": "a b"},
        "service_code",
        "服务代码必须是 1 到 20 位字母或数字",
    ),
    (
        "recharge",
        {"card_no": SILVER, "amount": "10", "pin": "888888"},
        "payment_method",
        "请选择支付方式",
    ),
    (
        "recharge",
        {"card_no": SILVER, "amount": "10", "payment_method": "bitcoin", "pin": "888888"},
        "payment_method",
        "请选择支付方式",
    ),
    (
        "recharge",
        {"card_no": SILVER, "amount": "x", "payment_method": "cash", "pin": "888888"},
        "amount",
        "金额格式不正确",
    ),
    (
        "recharge",
        {"card_no": SILVER, "amount": "50000.01", "payment_method": "cash", "pin": "888888"},
        "amount",
        "金额超过单笔交易限额",
    ),
    (
        "recharge",
        {"card_no": SILVER, "amount": "10", "payment_method": "cash", "pin": "111111"},
        "pin",
        "密码错误，还可以尝试 2 次",
    ),
    ("points_redeem", {"card_no": SILVER, "points": "10", "pin": "888888"}, "points", "积分不足"),
    ("points_redeem", {"card_no": PLAIN, "points": ""}, "points", "请输入积分"),
    (
        "points_redeem",
        {"card_no": PLAIN, "points": "abc"},
        "points",
        "积分必须是 1 到 1000000 之间的整数",
    ),
    (
        "points_redeem",
        {"card_no": PLAIN, "points": "0"},
        "points",
        "积分必须是 1 到 1000000 之间的整数",
    ),
    (
        "points_redeem",
        {"card_no": PLAIN, "points": "12345678901"},
        "points",
        "积分必须是 1 到 1000000 之间的整数",
    ),
    (
        "points_earn",
        {"card_no": PLAIN, "points": "5", "amount": "10"},
        None,
        "请输入消费金额或积分，二者选一",
    ),
    ("points_earn", {"card_no": PLAIN}, None, "请输入消费金额或积分，二者选一"),
    ("points_earn", {"card_no": PLAIN, "amount": "5"}, "amount", "金额不足以累加积分"),
    ("points_earn", {"card_no": PLAIN, "amount": "1.234"}, "amount", "金额格式不正确"),
    (
        "points_earn",
        {"card_no": PLAIN, "points": "-3"},
        "points",
        "积分必须是 1 到 1000000 之间的整数",
    ),
    ("query", {"card_no": ""}, "card_no", "请刷卡或输入卡号"),
    ("query", {"card_no": INACTIVE}, "card_no", "该卡未激活"),
]


@pytest.mark.parametrize(("kind", "fields", "field", "message"), REFUSALS)
def test_refusals(office, kind, fields, field, message):
    before = state()
    page = shown(office, kind)
    r = submit(office, kind, fields, page=page)
    assert r.status_code == 200
    shown_again = html(r)
    if field is None:
        assert message in form_errors(shown_again)
    else:
        assert message in field_errors(shown_again, field), shown_again
    assert state() == before
    if kind != "query":
        # The same request_id again: fixing the form and posting it is still one transaction.
        assert request_id(shown_again) == request_id(page)


def test_a_refusal_keeps_what_was_typed_but_not_the_pin(office):
    r = submit(office, "consume", {"card_no": GOLD, "amount": "1.234", "pin": PINS[GOLD]})
    page = html(r)
    assert f'value="{GOLD}"' in page and 'value="1.234"' in page
    assert PINS[GOLD] not in page


def test_disabled_type(office):
    shop_settings.update({"enabled_types": ["recharge", "points_earn", "points_redeem"]})
    page = shown(office, "consume")
    assert "该交易未开通" in page
    before = state()
    page = html(submit(office, "consume", {"card_no": PLAIN, "amount": "10"}, page=page))
    assert "该交易未开通" in form_errors(page)
    assert state() == before


def test_wrong_pins_lock_the_card(office):
    for left in (2, 1):
        page = html(submit(office, "consume", {"card_no": GOLD, "amount": "1", "pin": "000000"}))
        assert field_errors(page, "pin") == [f"密码错误，还可以尝试 {left} 次"]
    page = html(submit(office, "consume", {"card_no": GOLD, "amount": "1", "pin": "000000"}))
    assert field_errors(page, "pin") == ["密码错误次数过多，已锁定"]
    page = html(submit(office, "consume", {"card_no": GOLD, "amount": "1", "pin": PINS[GOLD]}))
    assert field_errors(page, "pin") == ["密码错误次数过多，已锁定"]
    assert card(GOLD).balance_fen == 100000


# ---------------------------------------------------------------- void refusals


def void_fields(record: Transaction, **extra) -> dict:
    fields = {
        "card_no": record.card.card_no,
        "by": "voucher",
        "original": f"{record.voucher_no:06d}",
        "pin": PINS[record.card.card_no] or "",
    }
    return fields | extra


def test_void_unknown_voucher(office):
    before = state()
    page = html(void_form(office, {"card_no": GOLD, "original": "999999", "pin": "123456"}))
    assert field_errors(page, "original") == ["原交易不存在"]
    page = html(void_form(office, {"card_no": GOLD, "original": "12a", "pin": "123456"}))
    assert field_errors(page, "original") == ["凭证号必须是数字"]
    page = html(void_form(office, {"card_no": GOLD, "original": ""}))
    assert field_errors(page, "original") == ["请输入原凭证号或原流水号"]
    assert state() == before


def test_void_unknown_trace(office):
    posted(consume(office))
    before = state()
    fields = {"card_no": GOLD, "by": "trace", "terminal_id": "99000001", "pin": "123456"}
    page = html(void_form(office, fields | {"original": "999"}))
    assert field_errors(page, "original") == ["原交易不存在"]
    # Trace 1 exists at the back office, not at the POS terminal.
    page = html(void_form(office, fields | {"original": "1", "terminal_id": "10000001"}))
    assert field_errors(page, "original") == ["原交易不存在"]
    page = html(void_form(office, fields | {"original": "1234567"}))
    assert field_errors(page, "original") == ["流水号必须是 1 到 6 位数字"]
    page = html(void_form(office, fields | {"original": "1", "terminal_id": "x"}))
    assert field_errors(page, "terminal_id") == ["终端号必须是 8 位数字"]
    assert state() == before


def test_void_already_voided(office):
    original = posted(consume(office))
    posted(void_form(office, void_fields(original)))
    before = state()
    page = html(void_form(office, void_fields(original)))  # a new form: a new request_id
    assert field_errors(page, "original") == ["原交易已撤销"]
    assert state() == before


def test_void_a_void(office):
    original = posted(consume(office))
    void = posted(void_form(office, void_fields(original)))
    before = state()
    page = html(void_form(office, void_fields(original, original=f"{void.voucher_no:06d}")))
    assert field_errors(page, "original") == ["该交易不能撤销"]
    assert state() == before


def test_void_card_mismatch_posts_nothing(office):
    original = posted(consume(office))
    before = state()
    failures = card(SILVER).pin_failures
    page = html(void_form(office, void_fields(original, card_no=SILVER, pin="000000")))
    assert field_errors(page, "card_no") == ["此卡不是原交易的卡，请刷原交易的卡"]
    assert state() == before
    assert Transaction.get_by_id(original.id).status == "success"
    # Nothing was tried: not even the PIN was counted, on either card.
    assert card(SILVER).pin_failures == failures and card(GOLD).pin_failures == 0


def test_void_wrong_pin(office):
    original = posted(consume(office))
    before = state()
    page = html(void_form(office, void_fields(original, pin="000000")))
    assert field_errors(page, "pin") == ["密码错误，还可以尝试 2 次"]
    assert state() == before


def test_void_needs_the_supervisor_password_but_for_the_owner(office_as, supervisor):
    manager = office_as("00")
    original = posted(consume(manager))
    page = html(void_form(manager, void_fields(original)))
    assert 'id="field-supervisor_password"' in page  # on the confirmation
    before = state()
    assert field_errors(page, "supervisor_password") == ["请输入主管密码"]
    page = html(void_form(manager, void_fields(original, supervisor_password="999999")))
    assert field_errors(page, "supervisor_password") == ["主管密码错误"]
    assert state() == before
    assert Transaction.get_by_id(original.id).status == "success"
    fields = void_fields(original, supervisor_password=SUPERVISOR_PASSWORD)
    void = posted(void_form(manager, fields))
    assert void.operator_no == "00"


def test_an_operator_voids_with_the_supervisor_password(office_as, supervisor):
    cashier = office_as("01")
    original = posted(consume(cashier, PLAIN, "10"))
    page = html(void_form(cashier, void_fields(original)))
    assert field_errors(page, "supervisor_password") == ["请输入主管密码"]
    fields = void_fields(original, supervisor_password=SUPERVISOR_PASSWORD)
    assert posted(void_form(cashier, fields)).operator_no == "01"


def test_void_default_supervisor_password_authorises_nothing(office_as):
    ensure_password("01")
    cashier = office_as("01")
    original = posted(consume(cashier, PLAIN, "10"))
    before = state()
    fields = void_fields(original, supervisor_password="123456")  # 00's published default
    page = html(void_form(cashier, fields))
    assert field_errors(page, "supervisor_password") == ["主管初始密码必须先修改"]
    assert state() == before


def test_void_after_settlement(office):
    original = posted(consume(office))
    settle(office)
    before = state()
    page = html(void_form(office, void_fields(original)))
    assert field_errors(page, "original") == ["原交易所在批次已结算，不能撤销"]
    # By trace number: the batch it was in is closed, so the number names nothing now.
    fields = void_fields(original, by="trace", original=str(original.trace_no))
    page = html(void_form(office, fields | {"terminal_id": "99000001"}))
    assert field_errors(page, "original") == ["原交易不存在"]
    assert state() == before


# ---------------------------------------------------------------- request_id


def test_a_resubmitted_form_applies_once(office):
    before = card(GOLD)
    count = Transaction.select().count()
    page = shown(office, "consume")
    fields = {"card_no": GOLD, "amount": "10", "pin": PINS[GOLD]}
    first = submit(office, "consume", fields, page=page)
    second = submit(office, "consume", fields, page=page)  # a double tap, or a reload
    assert posted(first).id == posted(second).id
    assert first.headers["Location"] == second.headers["Location"]
    assert Transaction.select().count() == count + 1
    assert card(GOLD).balance_fen == before.balance_fen - 880
    assert "只记一次账" in html(office.get(second.headers["Location"]))


def test_a_resubmitted_void_applies_once(office):
    original = posted(consume(office))
    fields = void_fields(original)
    step = {k: v for k, v in fields.items() if k != "pin"}
    confirmation = html(submit(office, "void", step))
    # 确认撤销 tapped twice, or the answer's page reloaded: the confirmation posted twice.
    second_step = {
        "voucher_no": hidden(confirmation, "voucher_no"),
        "card_no": hidden(confirmation, "card_no"),
        "pin": fields["pin"],
    }
    first = submit(office, "void", second_step, page=confirmation)
    second = submit(office, "void", second_step, page=confirmation)
    assert posted(first).id == posted(second).id
    assert Transaction.select().where(Transaction.type == "void").count() == 1
    assert ledger.verify() == []


def test_a_used_request_id_with_other_fields_is_refused(office):
    page = shown(office, "consume")
    posted(submit(office, "consume", {"card_no": GOLD, "amount": "10", "pin": "123456"}, page=page))
    before = state()
    r = submit(office, "consume", {"card_no": GOLD, "amount": "20", "pin": "123456"}, page=page)
    again = html(r)
    assert any("已提交过一笔交易" in e for e in form_errors(again))
    assert state() == before
    # The form shown again has a new request_id: sent on purpose, it is a new transaction.
    assert request_id(again) != request_id(page)
    posted(
        submit(office, "consume", {"card_no": GOLD, "amount": "20", "pin": "123456"}, page=again)
    )
    assert Transaction.select().count() == before[1] + 1


@pytest.mark.parametrize("value", ["", "not-a-uuid", "A" * 32])
def test_a_missing_or_altered_request_id_posts_nothing(office, value):
    before = state()
    fields = {"card_no": PLAIN, "amount": "10", "request_id": value}
    page = html(submit(office, "consume", fields))
    assert "页面已过期，请核对后重新提交" in form_errors(page)
    assert request_id(page)  # a fresh one, for the next try
    assert state() == before


# ---------------------------------------------------------------- CSRF and roles


FORM_DATA = {
    "consume": {"card_no": PLAIN, "amount": "10"},
    "recharge": {"card_no": PLAIN, "amount": "10", "payment_method": "cash"},
    "points_redeem": {"card_no": PLAIN, "points": "10"},
    "points_earn": {"card_no": PLAIN, "points": "10"},
    "void": {"card_no": PLAIN, "original": "1"},
    "query": {"card_no": PLAIN},
}


@pytest.mark.parametrize("kind", KINDS)
def test_csrf_refused(office, kind):
    if kind == "void":
        posted(consume(office, PLAIN, "10"))
    before = state()
    r = submit(office, kind, FORM_DATA[kind], csrf=False)
    assert r.status_code == 400
    assert "页面已过期" in html(r)
    assert state() == before


def test_settlement_csrf_refused(office):
    posted(consume(office, PLAIN, "10"))
    before = state()
    r = office.post("/settlement", csrf=False)
    assert r.status_code == 400
    assert state() == before


PAGES = ["/trade", *(f"/trade/{k}" for k in KINDS), "/settlement"]


@pytest.mark.parametrize("path", PAGES)
def test_the_system_operator_is_refused(office_as, path):
    sysadmin = office_as("99")
    assert sysadmin.get(path).status_code == 403
    before = state()
    r = sysadmin.client.post(path, data={"card_no": PLAIN, "amount": "10"})
    assert r.status_code in (400, 403)  # without a page to take a token from: CSRF first
    assert state() == before


def test_the_system_operator_posting_with_a_token_is_refused(office_as):
    sysadmin = office_as("99")
    token = sysadmin.csrf("/account/password")
    before = state()
    for path in ("/trade/consume", "/settlement"):
        fields = {"card_no": PLAIN, "amount": "10", "csrf_token": token, "request_id": "a" * 32}
        assert sysadmin.client.post(path, data=fields).status_code == 403
    assert state() == before


def test_the_system_operator_cannot_read_receipts(office, office_as):
    record = posted(consume(office, PLAIN, "10"))
    assert office_as("99").get(f"/receipts/{record.voucher_no:06d}").status_code == 403


@pytest.mark.parametrize("path", [*PAGES, "/receipts/000001"])
def test_signed_out_goes_to_sign_in(client, path):
    ensure_password("owner")  # past the first run
    r = client.get(path)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login")


def test_signed_out_post_goes_to_sign_in(client):
    ensure_password("owner")
    before = state()
    r = client.post("/trade/consume", data={"card_no": PLAIN, "amount": "10"})
    assert r.status_code in (302, 400)
    assert state() == before


def test_unknown_kind(office):
    assert office.get("/trade/transfer").status_code == 404


def test_trade_in_the_navigation(office, office_as):
    page = html(office.get("/"))
    assert 'href="/trade"' in page and 'href="/settlement"' in page
    assert 'href="/trade"' not in html(office_as("99").get("/"))


# ---------------------------------------------------------------- receipts


@pytest.mark.parametrize("number", ["999999", "abc", "0"])
def test_unknown_receipt(office, number):
    r = office.get(f"/receipts/{number}")
    assert r.status_code == 404
    assert "页面不存在" in html(r)


def test_one_copy_terminals_show_one_copy(office):
    terminals.update("99000001", {"receipt_copies": 1})
    page = receipt_page(office, posted(consume(office)))
    assert page.count('class="receipt"') == 1
    assert "商户存根" in page and "持卡人存根" not in page


def test_a_pos_receipt_is_readable_in_the_back_office(office, api):
    assert api.transact("recharge", PLAIN, amount="10", payment_method="alipay").status_code == 201
    record = Transaction.select().order_by(Transaction.id.desc()).first()
    page = receipt_page(office, record)
    assert "10000001" in page and "支付宝" in page and "操作员01" in page


def test_receipt_data(office):
    record = posted(consume(office, GOLD, "100", service_code="S9"))
    slip = receipts.for_voucher(operator_actor("owner"), f"{record.voucher_no:06d}")
    assert slip.card_no == "168086******7114"
    assert (slip.type_name, slip.type_code) == ("储值消费", "SALE")
    assert (slip.amount_fen, slip.price_fen, slip.balance_after_fen) == (8800, 10000, 91200)
    assert (slip.points, slip.points_after) == (13, 313)
    assert slip.trace_no == "000001" and slip.batch_no == "000001"
    assert slip.voucher_no == f"{record.voucher_no:06d}"
    assert slip.terminal_id == "99000001" and (slip.operator_no, slip.operator_name) == (
        "owner",
        "店主",
    )
    assert slip.service_code == "S9" and slip.payment_method == "储值支付"
    assert (slip.discount_pct, slip.discount_fen) == (88, 1200)
    assert slip.signature_required and slip.copies == ("商户存根", "持卡人存根")
    assert slip.original_voucher_no is None and not slip.voided
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", slip.date)
    assert re.fullmatch(r"[0-9]{2}:[0-9]{2}:[0-9]{2}", slip.time)
    with pytest.raises(LedgerError) as refused:
        receipts.for_voucher(operator_actor("owner"), "424242")
    assert refused.value.code == "transaction_not_found"


@pytest.mark.parametrize(
    ("card_no", "masked"),
    [
        ("1680860097157114", "168086******7114"),
        ("1234567890123456789", "123456*********6789"),
        ("12345678901234", "123456****1234"),
        ("123456789012", "1234****9012"),
        ("12345678", "****5678"),
    ],
)
def test_mask_card_no(card_no, masked):
    assert receipts.mask_card_no(card_no) == masked


# ---------------------------------------------------------------- settlement


_BATCH = re.compile(r'name="batch_no" type="hidden" value="([0-9]{6})"')


def settle(office, page: str | None = None):
    page = page or html(office.get("/settlement"))
    data = {"csrf_token": _CSRF.search(page).group(1), "batch_no": _BATCH.search(page).group(1)}
    r = office.client.post("/settlement", data=data)
    assert r.status_code == 303, html(r)
    assert r.headers["Location"] == "/settlement"
    return r


def test_settlement(office, api):
    posted(consume(office, GOLD, "100"))
    posted(consume(office, PLAIN, "10"))
    posted(submit(office, "recharge", {"card_no": PLAIN, "amount": "50", "payment_method": "cash"}))
    assert api.transact("consume", PLAIN, amount="5").status_code == 201  # the POS's batch
    page = html(office.get("/settlement"))
    assert "当前批次 000001" in page and "data-confirm" in page
    consume_row = re.search(r'<tr id="open-consume">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'<td class="num[^"]*">([^<]*)</td>', consume_row) == ["2", "-98.00", "14"]
    assert "last-settlement" not in page
    settled = settle(office)
    page = html(office.get(settled.headers["Location"]))
    assert "批次 000001 已结算，共 3 笔" in page
    assert "当前批次 000002" in page
    last = re.search(r'id="last-settlement".*?</section>', page, re.S).group(0)
    assert "批次 000001" in last and "店主" in last
    recharge_row = re.search(r'<tr id="last-recharge">(.*?)</tr>', last, re.S).group(1)
    assert re.findall(r'<td class="num[^"]*">([^<]*)</td>', recharge_row) == ["1", "50.00", "0"]
    assert Terminal.get(Terminal.terminal_id == "99000001").batch_no == 2
    assert Terminal.get(Terminal.terminal_id == "10000001").batch_no == 1  # not the POS's
    row = Settlement.get()
    assert row.terminal.terminal_id == "99000001" and row.batch_no == 1
    # The new batch starts empty.
    assert re.search(r'<tr id="open-consume">(.*?)</tr>', page, re.S).group(1).count(">0<") == 2


def test_settlement_twice_from_one_page_closes_one_batch(office):
    posted(consume(office, PLAIN, "10"))
    page = html(office.get("/settlement"))
    settle(office, page)
    again = settle(office, page)  # a second tap, or the page kept open
    assert "该批次已经结算过" in html(office.get(again.headers["Location"]))
    assert Settlement.select().count() == 1
    assert Terminal.get(Terminal.terminal_id == "99000001").batch_no == 2


def test_settlement_without_the_batch_number_settles_nothing(office):
    posted(consume(office, PLAIN, "10"))
    r = office.post("/settlement", {"batch_no": ""})
    assert r.status_code == 303
    assert Settlement.select().count() == 0


def test_settlement_by_an_operator(office_as):
    cashier = office_as("01")
    posted(consume(cashier, PLAIN, "10"))
    settle(cashier)
    assert Settlement.get().operator.staff_no == "01"


def test_settlement_lists_the_open_batch(office):
    record = posted(consume(office, PLAIN, "10"))
    page = html(office.get("/settlement"))
    assert f'href="/receipts/{record.voucher_no:06d}"' in page
    settle(office)
    assert "本批次还没有交易" in html(office.get("/settlement"))


# ---------------------------------------------------------------- the domain's trace lookup


def test_find_by_trace(office):
    record = posted(consume(office, PLAIN, "10"))
    owner = operator_actor("owner")
    assert ledger.find_by_trace(owner, "99000001", "1").id == record.id
    assert ledger.find_by_trace(owner, "99000001", "000001").id == record.id
    assert ledger.find_by_trace(owner, "99000001", 1).id == record.id
    for terminal_id, trace in [
        ("9900000", "1"),
        (None, "1"),
        ("99000001", "0"),
        ("99000001", "1234567"),
        ("99000001", True),
        ("99000001", "１"),
    ]:
        with pytest.raises(LedgerError) as refused:
            ledger.find_by_trace(owner, terminal_id, trace)
        assert refused.value.code == "bad_request"
    for terminal_id, trace in [("99000001", "2"), ("10000001", "1"), ("12345678", "1")]:
        with pytest.raises(LedgerError) as refused:
            ledger.find_by_trace(owner, terminal_id, trace)
        assert refused.value.code == "transaction_not_found"
    settle(office)
    with pytest.raises(LedgerError) as refused:
        ledger.find_by_trace(owner, "99000001", "1")
    assert refused.value.code == "transaction_not_found"
