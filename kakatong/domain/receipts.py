"""签购单: what the receipt of one transaction says, as plain data.

The back office shows it as a page and the receipt printer will print the same data, so the
content is decided here once: the card number masked, the type in Chinese with the POS's English
code, trace, voucher and batch numbers as six digits, the date and time in the shop's zone, and
the copies the terminal prints (商户存根, 持卡人存根). `lines()` says which labelled lines the slip
has and in what order, and `footer()` what follows the signature (the shop's address, phone and
the owner's line), so the printer, the terminal page's on-screen slip and the back office's
page show the same lines. Layout (widths, fonts, a currency sign) belongs to whoever draws it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import runtime
from ..store.codes import (
    JOURNAL_TYPE_NAMES,
    MONEY_TYPES,
    PAYMENT_METHOD_NAMES,
    TRANSACTION_TYPES,
)
from ..store.models import Transaction
from . import branches, ledger
from . import settings as shop_settings
from .actors import Actor
from .errors import LedgerError
from .formats import six
from .money import apply_percent, format_fen

COPY_LABELS = ("商户存根", "持卡人存根")
# The cardholder signs for money taken from the card, as on a bank card's sales slip, and for
# a void, which moves it back.
SIGNED_TYPES = frozenset({"consume", "void"})
# How a consume is paid: from the card's stored value.
STORED_VALUE = "储值支付"
# Every row of the journal has a slip but an import's opening balance.
RECEIPT_TYPES = (*TRANSACTION_TYPES, "void")


@dataclass(frozen=True)
class Receipt:
    receipt_title: str
    merchant_name: str
    merchant_id: str
    branch_name: str | None  # 门店: the branch of a chain it was made at; None in a single shop
    terminal_id: str | None
    operator_no: str | None
    operator_name: str | None
    card_no: str  # masked: the first 6 and last 4 digits
    holder_name: str | None  # masked as the card: 张*
    level_name: str | None  # the card's 会员等级
    expires_on: str | None  # the card's 会员有效期, YYYY-MM-DD
    type: str  # consume, recharge, points_earn, points_redeem, void
    type_name: str  # 储值消费
    type_code: str  # SALE
    batch_no: str | None
    voucher_no: str | None
    reference_no: str | None
    trace_no: str | None
    date: str  # YYYY-MM-DD, in the shop's zone
    time: str  # HH:MM:SS
    amount_fen: int | None  # the money moved, unsigned; None for a points transaction
    price_fen: int | None  # consume: the price before the level's discount, where it differs
    discount_pct: int | None  # consume: the level's discount applied, where it applied (88)
    discount_fen: int | None  # consume: what it took off the price (price - amount)
    purchase_fen: int | None  # points_earn: the purchase paid some other way
    balance_after_fen: int
    points: int | None  # signed; None for a recharge
    points_after: int
    service_code: str | None
    payment_method: str | None  # its Chinese name
    signature_required: bool
    original_voucher_no: str | None  # a void: the voucher it reverses
    original_type: str | None  # a void: the type it reverses (consume)
    original_type_name: str | None  # a void: what it reverses (储值消费)
    voided: bool  # voided since: the slip no longer stands
    offline: bool  # 离线交易: made offline, uploaded at `date` `time`
    sold_at: str | None  # an offline one: when the terminal made the sale, YYYY-MM-DD HH:MM:SS
    copies: tuple[str, ...]  # one label per copy printed
    shop_address: str  # the slip's footer: its branch's address, else the shop's ("": none)
    shop_phone: str
    receipt_footer: str  # the owner's line


@dataclass(frozen=True)
class Line:
    """One labelled line of the slip: 卡号 CARD NO.  168086******7114.

    `label` is Chinese (a msgid of the message catalogue) and `label_code` the POS's English;
    `value` is the text (None: the slip shows a dash), money as yuan with two decimals and
    `money` set; where `translate` is set the value is a msgid too, followed by `value_code`
    (储值消费 SALE)."""

    key: str
    label: str
    label_code: str
    value: str | None
    value_code: str = ""
    money: bool = False
    translate: bool = False


def lines(r: Receipt) -> tuple[Line, ...]:
    """The labelled lines of the slip between its title and its signature, in their order."""
    operator = " ".join(part for part in (r.operator_no, r.operator_name) if part)
    rows = [
        Line("merchant_name", "商户名称", "MERCHANT NAME", r.merchant_name),
        Line("merchant_id", "商户编号", "MERCHANT NO.", r.merchant_id),
        *([Line("branch", "门店", "BRANCH", r.branch_name)] if r.branch_name else []),
        Line("terminal_id", "终端编号", "TERMINAL ID", r.terminal_id),
        Line("operator", "操作员", "OPERATOR", operator or None),
        Line("card_no", "卡号", "CARD NO.", r.card_no),
    ]
    if r.holder_name:
        rows.append(Line("holder_name", "持卡人", "CARDHOLDER", r.holder_name))
    if r.level_name:
        rows.append(Line("level", "会员等级", "LEVEL", r.level_name))
    if r.expires_on:
        rows.append(Line("expires_on", "有效期", "EXP. DATE", r.expires_on))
    rows.append(Line("type", "交易类型", "TRANS TYPE", r.type_name, r.type_code, translate=True))
    if r.offline:
        rows += [
            Line("offline", "离线交易", "OFFLINE", "离线", "OFFLINE", translate=True),
            Line("sold_at", "交易时间", "SALE TIME", r.sold_at),
        ]
    if r.original_voucher_no:
        rows += [
            Line("original_type", "原交易", "ORIG. TRANS", r.original_type_name, translate=True),
            Line("original_voucher_no", "原凭证号", "ORIG. VOUCHER", r.original_voucher_no),
        ]
    rows += [
        Line("batch_no", "批次号", "BATCH NO.", r.batch_no),
        Line("voucher_no", "凭证号", "VOUCHER NO.", r.voucher_no),
        Line("reference_no", "参考号", "REF. NO.", r.reference_no),
        Line("trace_no", "流水号", "TRACE NO.", r.trace_no),
        Line(
            "date_time",
            *(("上传时间", "UPLOADED") if r.offline else ("日期时间", "DATE/TIME")),
            f"{r.date} {r.time}",
        ),
    ]
    if r.service_code:
        rows.append(Line("service_code", "服务代码", "SERVICE CODE", r.service_code))
    if r.payment_method:
        rows.append(Line("payment_method", "支付方式", "PAYMENT", r.payment_method, translate=True))
    if r.price_fen is not None:
        rows.append(Line("price", "原价", "PRICE", format_fen(r.price_fen), money=True))
    if r.discount_pct is not None:
        rows.append(Line("discount", "会员折扣", "DISCOUNT", discount_text(r.discount_pct)))
    if r.discount_fen is not None:
        rows.append(Line("saved", "优惠", "SAVED", format_fen(r.discount_fen), money=True))
    if r.purchase_fen is not None:
        purchase = format_fen(r.purchase_fen)
        rows.append(Line("purchase", "消费金额", "PURCHASE", purchase, money=True))
    if r.amount_fen is not None:
        rows.append(Line("amount", "金额", "AMOUNT", _amount_text(r), money=True))
    rows.append(Line("balance", "余额", "BALANCE", format_fen(r.balance_after_fen), money=True))
    if r.points is not None:
        rows.append(Line("points", "积分", "POINTS", f"{r.points:+d}"))
    rows.append(Line("points_after", "积分余额", "POINTS BALANCE", str(r.points_after)))
    return tuple(rows)


def footer(r: Receipt) -> tuple[Line, ...]:
    """What follows the signature: the shop's address and phone, then the owner's line (a
    line without a label); only those the shop's settings give."""
    rows = []
    if r.shop_address:
        rows.append(Line("shop_address", "地址", "ADDRESS", r.shop_address))
    if r.shop_phone:
        rows.append(Line("shop_phone", "电话", "TEL", r.shop_phone))
    if r.receipt_footer:
        rows.append(Line("receipt_footer", "", "", r.receipt_footer))
    return tuple(rows)


def _amount_text(r: Receipt) -> str:
    """The amount as yuan; a void's signed as the balance moved (+88.00: back to the card)."""
    assert r.amount_fen is not None
    if r.type != "void":
        return format_fen(r.amount_fen)
    back = r.original_type == "consume"  # a consume's money goes back; a recharge's comes off
    return ("+" if back else "-") + format_fen(r.amount_fen)


def discount_text(percent: int) -> str:
    """The level's discount as a Chinese slip says it: 88 -> 88折, 90 -> 9折, 95 -> 95折."""
    return f"{percent // 10 if percent % 10 == 0 else percent}折"


def mask_name(name: str | None) -> str | None:
    """张三 -> 张*, 欧阳娜娜 -> 欧***: the first character, the others hidden, as the card's
    number is; a one-character name is hidden whole."""
    name = (name or "").strip()
    if not name:
        return None
    if len(name) == 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def _discount(price: int, paid: int, level_pct: int | None) -> int | None:
    """For a consume posted before schema 5 kept its discount: the discount that made `paid`
    of `price`, the card's level's own when it does (the level may have changed since), else
    the nearest that does; None if none does."""
    if level_pct is not None and apply_percent(price, level_pct) == paid:
        return level_pct
    fits = [pct for pct in range(1, 100) if apply_percent(price, pct) == paid]
    if not fits:
        return None
    return min(fits, key=lambda pct: abs(pct * price - paid * 100))


def mask_card_no(card_no: str) -> str:
    """1680860097157114 -> 168086******7114: the first 6 and last 4 digits, at least 4 hidden."""
    shown = max(0, min(6, len(card_no) - 8))
    hidden = len(card_no) - shown - 4
    if hidden <= 0:
        return "*" * len(card_no)
    return card_no[:shown] + "*" * hidden + card_no[-4:]


def copies(receipt_copies: int) -> tuple[str, ...]:
    """The copies a terminal prints: the merchant's, and the cardholder's when it prints two."""
    return COPY_LABELS[: max(1, min(receipt_copies, len(COPY_LABELS)))]


def build(record: Transaction) -> Receipt:
    """The receipt of a journal row (an opening entry of an import has none)."""
    if record.type not in RECEIPT_TYPES or record.voucher_no is None:
        raise LedgerError("transaction_not_found")
    shop = shop_settings.load()
    original = record.original if record.original_id else None
    # What the slip is about: a void reads as the transaction it reverses.
    base = original.type if original is not None else record.type
    terminal = record.terminal if record.terminal_id else None
    operator = record.operator if record.operator_id else None
    card = record.card
    level = card.level if card.level_id else None
    branch = record.branch if record.branch_id and branches.is_chain() else None
    when = runtime.local(record.created_at)
    paid = abs(record.amount_fen)
    price = record.price_fen if record.price_fen not in (None, paid) else None
    discount = None
    if base == "consume" and price is not None:
        # Kept on the row since schema 5; worked out for the rows from before.
        discount = record.discount_pct or _discount(
            price, paid, level.discount_pct if level else None
        )
    name, code = JOURNAL_TYPE_NAMES[record.type]
    if base == "consume":
        payment = STORED_VALUE
    elif record.payment_method:
        payment = PAYMENT_METHOD_NAMES[record.payment_method].name
    else:
        payment = None
    return Receipt(
        receipt_title=shop["receipt_title"],
        merchant_name=shop["merchant_name"],
        merchant_id=shop["merchant_id"],
        branch_name=branch.name if branch else None,
        terminal_id=terminal.terminal_id if terminal else None,
        operator_no=record.operator_no,
        operator_name=operator.name if operator else None,
        card_no=mask_card_no(card.card_no),
        holder_name=mask_name(card.name),
        level_name=level.name if level else None,
        expires_on=card.expires_on.isoformat() if card.expires_on else None,
        type=record.type,
        type_name=name,
        type_code=code,
        batch_no=six(record.batch_no),
        voucher_no=six(record.voucher_no),
        reference_no=record.reference_no,
        trace_no=six(record.trace_no),
        date=when.strftime("%Y-%m-%d"),
        time=when.strftime("%H:%M:%S"),
        amount_fen=paid if base in MONEY_TYPES else None,
        price_fen=price if base == "consume" else None,
        discount_pct=discount,
        discount_fen=price - paid if base == "consume" and price is not None else None,
        purchase_fen=record.purchase_fen if base == "points_earn" else None,
        balance_after_fen=record.balance_after_fen,
        points=None if base == "recharge" else record.points,
        points_after=record.points_after,
        service_code=record.service_code,
        payment_method=payment,
        signature_required=record.type in SIGNED_TYPES,
        original_voucher_no=six(original.voucher_no) if original is not None else None,
        original_type=original.type if original is not None else None,
        original_type_name=JOURNAL_TYPE_NAMES[original.type].name if original is not None else None,
        voided=record.status == "voided",
        offline=record.offline,
        sold_at=(
            runtime.local(record.sold_at).strftime("%Y-%m-%d %H:%M:%S") if record.sold_at else None
        ),
        copies=copies(terminal.receipt_copies if terminal else len(COPY_LABELS)),
        shop_address=(branch.address if branch and branch.address else shop["shop_address"]),
        shop_phone=shop["shop_phone"],
        receipt_footer=shop["receipt_footer"],
    )


def for_voucher(actor: Actor, voucher_no: object) -> Receipt:
    """The receipt of the transaction a voucher number names, if `actor` may see it
    (ledger.visible_to; `transaction_not_found` else)."""
    return build(ledger.find_voucher(actor, voucher_no))
