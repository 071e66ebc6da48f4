"""The slip a customer holds, as the printer gets it: GB18030 bytes from a real TCP listener,
decoded and read line by line at 58 mm (32 columns) and 80 mm (48 columns). Each slip is
printed in the test output (pytest -s) to be looked at."""

from __future__ import annotations

import re

import pytest
from conftest import GOLD, PINS, PLAIN, SILVER, Listener, body, html, operator_actor, rid
from test_backoffice_admin import CURRENT, error_beside
from test_printing import POS, jobs, set_printer

from kakatong.devices import printer
from kakatong.domain import audit, receipts
from kakatong.domain import settings as shop_settings
from kakatong.store.models import AuditLog, Card, Level, Transaction

FOOTER = {
    "shop_address": "深圳市南山区科技园南路 18 号一楼",
    "shop_phone": "0755-8888 6666",
    "receipt_footer": "谢谢惠顾，欢迎再次光临！会员日每月 8 号全场积分双倍。",
}


@pytest.fixture
def printed(live_api):
    server = Listener()
    set_printer(live_api, printer_url=f"tcp://127.0.0.1:{server.port}")
    yield server
    server.close()


def copies(data: bytes) -> list[list[str]]:
    """Each copy of a job as its text lines, ESC/POS commands taken out."""
    text = data.decode("gb18030")  # strict: every byte is GB18030
    out = []
    for copy in text.split("\x1b@")[1:]:
        copy = re.sub(r"\x1c&|\x1b\x45[\x00\x01]|\x1d!.|\x1bd.|\x1dVB\x00", "", copy)
        out.append(copy.rstrip("\n").split("\n"))
    return out


def show(title: str, lines: list[str], width: int) -> None:
    print(f"\n{title} ({width} columns)\n+{'-' * width}+")
    for line in lines:
        print(f"|{line}{' ' * (width - printer.columns(line))}|")
    print(f"+{'-' * width}+")


def value_of(lines: list[str], label: str) -> str:
    """The value right of a label, on its line or, too long for it, the lines below."""
    for n, line in enumerate(lines):
        if line.startswith(label):
            rest = line[len(label) :].strip()
            return rest or lines[n + 1].strip()
    raise AssertionError(f"no {label!r} in {lines}")


def slip_of(live_api, printed, width: int, count: int) -> list[list[str]]:
    data = jobs(printed, count)[count - 1]
    lines = copies(data)
    for copy in lines:
        assert all(printer.columns(line) <= width for line in copy), copy
    return lines


@pytest.mark.parametrize("paper_mm, width", [(58, 32), (80, 48)])
def test_a_consume_with_a_member_discount_says_what_happened(live_api, printed, paper_mm, width):
    set_printer(live_api, paper_mm=paper_mm)
    r = live_api.put("/api/v1/settings", FOOTER, as_="99")
    assert r.status_code == 200, body(r)
    posted = body(live_api.transact("consume", GOLD, amount="100", service_code="A1"))
    merchant, cardholder = slip_of(live_api, printed, width, 1)
    show(f"储值消费, {paper_mm} mm, 商户存根", merchant, width)
    show(f"储值消费, {paper_mm} mm, 持卡人存根", cardholder, width)
    for copy in (merchant, cardholder):
        # Between the price and what was paid: the level, the discount, what it took off.
        keys = [line.split(" ")[0] for line in copy if re.match(r"^\S+ [A-Z]", line)]
        at = keys.index("原价")
        assert keys[at : at + 4] == ["原价", "会员折扣", "优惠", "金额"], keys
        assert value_of(copy, "原价 PRICE") == "￥100.00"
        assert value_of(copy, "会员折扣 DISCOUNT") == "88折"
        assert value_of(copy, "优惠 SAVED") == "￥12.00"
        assert value_of(copy, "金额 AMOUNT") == "￥88.00"
        assert value_of(copy, "支付方式 PAYMENT") == "储值支付"
        # The card's holder (masked as the card is), level and expiry.
        assert value_of(copy, "卡号 CARD NO.") == "168086******7114"
        assert value_of(copy, "持卡人 CARDHOLDER") == "李*"
        assert "李四" not in "\n".join(copy)
        assert value_of(copy, "会员等级 LEVEL") == "金卡会员"
        assert value_of(copy, "有效期 EXP. DATE") == "2099-12-31"
        assert value_of(copy, "凭证号 VOUCHER NO.") == posted["voucher_no"]
        # The footer, centred, after the signature; the note broken at its comma at 58 mm.
        text = "\n".join(copy)
        assert text.index("持卡人签名") < text.index("地址：") < text.index("电话：")
        stripped = [line.strip() for line in copy]
        assert "电话：0755-8888 6666" in stripped
        if width == 32:
            assert "本人确认以上交易，" in stripped and "同意将其记入本卡账户" in stripped
            assert stripped[-2:] == ["谢谢惠顾，欢迎再次光临！", "会员日每月 8 号全场积分双倍。"]
            assert stripped[-5:-3] == ["地址：深圳市南山区科技园南路 18", "号一楼"]
        else:
            assert "本人确认以上交易，同意将其记入本卡账户" in stripped
            assert stripped[-4:] == [  # the owner's line broken at its ！, not at "8 号"
                "地址：深圳市南山区科技园南路 18 号一楼",
                "电话：0755-8888 6666",
                "谢谢惠顾，欢迎再次光临！",
                "会员日每月 8 号全场积分双倍。",
            ]
        for line in copy[-3:]:  # centred: as much room left as right, give or take one
            left = len(line) - len(line.lstrip())
            assert abs((width - printer.columns(line.strip())) - 2 * left) <= 1, line
    # The API's receipt says the same.
    receipt = body(live_api.get(f"/api/v1/transactions/{posted['voucher_no']}/receipt"))
    assert (receipt["discount_pct"], receipt["discount"]) == (88, "12.00")
    assert (receipt["holder_name"], receipt["level_name"]) == ("李*", "金卡会员")
    assert receipt["expires_on"] == "2099-12-31" and receipt["payment_method"] == "储值支付"
    assert [line["key"] for line in receipt["footer"]] == [
        "shop_address",
        "shop_phone",
        "receipt_footer",
    ]
    assert receipt["footer"][2]["label"] == "" and receipt["shop_phone"] == "0755-8888 6666"


@pytest.mark.parametrize("paper_mm, width", [(58, 32), (80, 48)])
def test_the_void_slip_signs_the_amount_as_it_moved(live_api, printed, supervisor, paper_mm, width):
    set_printer(live_api, paper_mm=paper_mm)
    live_api.put(f"/api/v1/terminals/{POS}", {"receipt_copies": 1}, as_="99")
    consume = body(live_api.transact("consume", GOLD, amount="100"))
    recharge = body(live_api.transact("recharge", PLAIN, amount="50", payment_method="cash"))
    for original in (consume, recharge):
        r = live_api.post(
            f"/api/v1/transactions/{original['voucher_no']}/void",
            {"supervisor_password": supervisor, "request_id": rid(), "pin": PINS.get(GOLD)}
            if original is consume
            else {"supervisor_password": supervisor, "request_id": rid()},
        )
        assert r.status_code == 201, body(r)
    (void_consume,) = slip_of(live_api, printed, width, 3)
    (void_recharge,) = slip_of(live_api, printed, width, 4)
    show(f"撤销储值消费, {paper_mm} mm", void_consume, width)
    show(f"撤销储值充值, {paper_mm} mm", void_recharge, width)
    assert value_of(void_consume, "交易类型 TRANS TYPE") == "交易撤销 VOID"
    assert value_of(void_consume, "原交易 ORIG. TRANS") == "储值消费"
    assert value_of(void_consume, "原凭证号 ORIG. VOUCHER") == consume["voucher_no"]
    assert value_of(void_consume, "金额 AMOUNT") == "+￥88.00"  # back to the card
    assert value_of(void_consume, "优惠 SAVED") == "￥12.00"
    assert value_of(void_recharge, "原凭证号 ORIG. VOUCHER") == recharge["voucher_no"]
    assert value_of(void_recharge, "金额 AMOUNT") == "-￥50.00"  # taken off the card
    assert value_of(void_recharge, "支付方式 PAYMENT") == "现金"
    for slip in (void_consume, void_recharge):
        text = "\n".join(slip)
        assert "持卡人签名 CARDHOLDER SIGNATURE" in text and "_" * width in slip
    receipt = body(live_api.get(f"/api/v1/transactions/{consume['voucher_no']}/receipt"))
    assert receipt["voided"] is True
    void = receipts.for_voucher(
        operator_actor("owner"), str(int(consume["voucher_no"]) + 2).zfill(6)
    )
    assert (void.type, void.original_type, void.signature_required) == ("void", "consume", True)
    amount = next(line for line in receipts.lines(void) if line.key == "amount")
    assert amount.value == "+88.00"


@pytest.mark.parametrize("paper_mm, width", [(58, 32), (80, 48)])
def test_a_long_merchant_name_breaks_between_phrases_as_one_block(
    live_api, printed, paper_mm, width
):
    set_printer(live_api, paper_mm=paper_mm)
    live_api.put(f"/api/v1/terminals/{POS}", {"receipt_copies": 1}, as_="99")
    name = "卡卡通示范商户（深圳南山科技园店）Kakatong"
    assert live_api.put("/api/v1/settings", {"merchant_name": name}, as_="99").ok
    assert live_api.transact("points_earn", PLAIN, amount="30").ok
    (slip,) = slip_of(live_api, printed, width, 1)
    show(f"积分累加, {paper_mm} mm, a long merchant name", slip, width)
    at = slip.index("商户名称 MERCHANT NAME")
    block = []
    for line in slip[at + 1 :]:
        if line.startswith(" ") or not line.strip():
            block.append(line)
        else:
            break
    # Broken at the bracket, never inside a phrase; each line starting in the same column.
    assert [line.strip() for line in block] == (
        ["卡卡通示范商户", "（深圳南山科技园店）Kakatong"]
        if width == 32
        else ["卡卡通示范商户（深圳南山科技园店）Kakatong"]
    )
    assert len({len(line) - len(line.lstrip()) for line in block}) == 1
    assert max(printer.columns(line) for line in block) == width  # flush right as a block


@pytest.mark.parametrize(
    "text, width, expected",
    [
        (
            "本人确认以上交易，同意将其记入本卡账户",
            32,
            ["本人确认以上交易，", "同意将其记入本卡账户"],
        ),
        ("本人确认以上交易，同意将其记入本卡账户", 48, ["本人确认以上交易，同意将其记入本卡账户"]),
        ("OK IF THE TEXT ABOVE IS CLEAR.", 16, ["OK IF THE TEXT", "ABOVE IS CLEAR."]),
        ("金额 ¥1,234.56 ABCxyz", 12, ["金额", "¥1,234.56", "ABCxyz"]),
        ("会员日（每月八号）积分双倍", 12, ["会员日", "（每月八号）", "积分双倍"]),
        ("一二三四五六七八九", 8, ["一二三四", "五六七八", "九"]),  # no phrase: between hanzi
        ("空格  ", 8, ["空格"]),
        ("", 8, [""]),
    ],
)
def test_wrap_breaks_between_words_and_phrases(text, width, expected):
    assert printer._wrap(text, width) == expected


def test_the_settlement_slip_totals_amounts_voids_and_the_net(live_api, printed, supervisor):
    assert live_api.transact("consume", PLAIN, amount="10").ok
    assert live_api.transact("recharge", SILVER, amount="100", payment_method="cash").ok
    assert live_api.transact("points_earn", PLAIN, amount="30").ok
    assert live_api.transact("points_redeem", GOLD, points=20).ok
    voided = body(live_api.transact("consume", PLAIN, amount="7"))
    r = live_api.post(
        f"/api/v1/transactions/{voided['voucher_no']}/void",
        {"supervisor_password": supervisor, "request_id": rid()},
    )
    assert r.status_code == 201
    assert live_api.post("/api/v1/settlements", {}).status_code == 201
    for _ in ("58 mm", "80 mm"):  # the reprint of the settlement slip on each paper
        r = live_api.post("/api/v1/terminal/printer/jobs", {"kind": "settlement"})
        assert r.status_code == 202
        set_printer(live_api, paper_mm=80)
    texts = [copies(data)[0] for data in jobs(printed, 9)]
    settled, reprint_58, reprint_80 = texts[6], texts[7], texts[8]
    show("结算单, 58 mm", settled, 32)
    show("结算单 重印, 80 mm", reprint_80, 48)
    for slip in (settled, reprint_58):
        assert all(printer.columns(line) <= 32 for line in slip)
    for slip in (settled, reprint_80):
        text = "\n".join(slip)
        assert re.search(r"储值消费 SALE +1笔 ￥10\.00\n", text)
        assert re.search(r"储值充值 RECHARGE +1笔 ￥100\.00\n", text)
        assert re.search(r"积分消费 POINTS REDEEM +1笔 20分\n", text)
        total = text[text.index("合计 TOTAL") :]
        assert re.search(r"^合计 TOTAL +4笔\n", total)
        assert re.search(r"\n交易撤销 VOID +1笔 ￥7\.00\n", total)  # the void, what it moved
        assert re.search(r"\n储值沉淀 NET BALANCE +\+￥90\.00\n", total)  # 100 in, 10 out
        assert re.search(r"\n积分沉淀 NET POINTS +[+-]\d+分\n", total)


def test_the_footer_settings_are_checked_audited_and_cleared(live_api):
    for bad in (
        {"shop_phone": "call us"},
        {"shop_phone": " 0755"},
        {"shop_address": "x" * 61},
        {"shop_address": " 前后有空格 "},
        {"receipt_footer": "换行\n不行"},
        {"receipt_footer": 5},
    ):
        r = live_api.put("/api/v1/settings", bad, as_="99")
        assert (r.status_code, body(r)["error"]) == (400, "invalid_setting"), bad
        assert body(r)["setting"] == next(iter(bad))
    settings = body(live_api.get("/api/v1/settings", as_="99"))
    assert (settings["shop_address"], settings["shop_phone"], settings["receipt_footer"]) == (
        "",
        "",
        "",
    )
    r = live_api.put("/api/v1/settings", FOOTER, as_="99")
    assert r.status_code == 200 and body(r)["receipt_footer"] == FOOTER["receipt_footer"]
    row = AuditLog.select().where(AuditLog.action == "settings.update").order_by(AuditLog.id.desc())
    assert "shop_phone" in row.first().details
    cleared = body(live_api.put("/api/v1/settings", {"shop_phone": ""}, as_="99"))
    assert cleared["shop_phone"] == "" and cleared["shop_address"] == FOOTER["shop_address"]


def test_the_back_office_sets_the_footer(office):
    values = shop_settings.load()
    current = {
        **CURRENT,
        **{k: values[k] for k in ("merchant_id", "merchant_name", "receipt_title")},
    }
    page = html(office.get("/settings"))
    assert "签购单底部" in page and "门店地址" in page and "门店电话" in page
    for name in FOOTER:
        assert f'name="{name}" type="text" value=""' in page  # optional: not required
    r = office.post("/settings", {**current, **{k: f" {v} " for k, v in FOOTER.items()}})
    assert r.status_code == 302
    assert {k: shop_settings.load()[k] for k in FOOTER} == FOOTER  # trimmed
    row = AuditLog.select().where(AuditLog.action == "settings.update")
    assert set(audit.details_of(row.order_by(AuditLog.id.desc()).first())) == set(FOOTER)
    page = html(office.get("/settings"))
    assert f'value="{FOOTER["shop_phone"]}"' in page
    for change, field, message in (
        ({"shop_phone": "call us"}, "shop_phone", "电话只能有数字"),
        ({"shop_address": "址" * 61}, "shop_address", "最多 60 个字符"),
        ({"receipt_footer": "谢" * 61}, "receipt_footer", "最多 60 个字符"),
        ({"receipt_footer": "换行\x1b不行"}, "receipt_footer", "不能有控制字符"),
    ):
        r = office.post("/settings", {**current, **FOOTER, **change})
        assert r.status_code == 200
        assert message in error_beside(html(r), field), change
    assert {k: shop_settings.load()[k] for k in FOOTER} == FOOTER
    # Cleared: the slip has no footer.
    r = office.post("/settings", {**current, "shop_address": "", "shop_phone": ""})
    assert r.status_code == 302
    assert (shop_settings.load()["shop_address"], shop_settings.load()["shop_phone"]) == ("", "")


@pytest.mark.parametrize(
    "name, masked",
    [
        ("李四", "李*"),
        ("欧阳娜娜", "欧***"),
        ("张", "*"),
        (" 王五 ", "王*"),
        ("", None),
        (None, None),
    ],
)
def test_the_holders_name_is_masked_as_the_card_is(name, masked):
    assert receipts.mask_name(name) == masked


@pytest.mark.parametrize("percent, text", [(88, "88折"), (90, "9折"), (95, "95折"), (50, "5折")])
def test_the_discount_as_a_chinese_slip_says_it(percent, text):
    assert receipts.discount_text(percent) == text


def test_the_discount_is_what_was_applied_even_after_the_level_changed(api):
    posted = body(api.transact("consume", GOLD, amount="33.33"))  # 29.33 paid at 88 %
    plain = Level.get(Level.name == "普通会员")
    Card.update(level=plain.id).where(Card.card_no == GOLD).execute()
    slip = receipts.build(Transaction.get(Transaction.voucher_no == int(posted["voucher_no"])))
    assert (slip.price_fen, slip.amount_fen, slip.discount_fen) == (3333, 2933, 400)
    assert slip.discount_pct == 88 and slip.level_name == "普通会员"  # the card's level now


def test_the_discount_is_kept_with_the_sale_not_worked_out_again(api):
    """0.10 at 88 % is 0.09 paid, which 86 % to 94 % all give: only the row knows it was 88."""
    posted = body(api.transact("consume", GOLD, amount="0.10"))
    record = Transaction.get(Transaction.voucher_no == int(posted["voucher_no"]))
    assert (record.price_fen, -record.amount_fen, record.discount_pct) == (10, 9, 88)
    Level.update(discount_pct=90).where(Level.name == "金卡会员").execute()  # the level changes
    slip = receipts.build(record)
    assert (slip.discount_pct, slip.discount_fen) == (88, 1)
    assert "88折" in [line.value for line in receipts.lines(slip)]
