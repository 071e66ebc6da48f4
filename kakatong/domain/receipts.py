"""签购单: what the receipt of one transaction says, as plain data.

The back office shows it as a page and the receipt printer will print the same data, so the
content is decided here once: the card number masked, the type in Chinese with the POS's English
code, trace, voucher and batch numbers as six digits, the date and time in the shop's zone, and
the copies the terminal prints (商户存根, 持卡人存根). `lines()` says which labelled lines the slip
has and in what order, so the printer, the terminal page's on-screen slip and the back office's
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
from . import ledger
from . import settings as shop_settings
from .actors import Actor
from .errors import LedgerError
from .formats import six
from .money import format_fen

COPY_LABELS = ("商户存根", "持卡人存根")
# The cardholder signs for money taken from the card, as on a bank card's sales slip.
SIGNED_TYPES = frozenset({"consume"})
# Every row of the journal has a slip but an import's opening balance.
RECEIPT_TYPES = (*TRANSACTION_TYPES, "void")


@dataclass(frozen=True)
class Receipt:
    receipt_title: str
    merchant_name: str
    merchant_id: str
    terminal_id: str | None
    operator_no: str | None
    operator_name: str | None
    card_no: str  # masked: the first 6 and last 4 digits
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
    purchase_fen: int | None  # points_earn: the purchase paid some other way
    balance_after_fen: int
    points: int | None  # signed; None for a recharge
    points_after: int
    service_code: str | None
    payment_method: str | None  # its Chinese name
    signature_required: bool
    original_voucher_no: str | None  # a void: the voucher it reverses
    original_type_name: str | None  # a void: what it reverses (储值消费)
    voided: bool  # voided since: the slip no longer stands
    copies: tuple[str, ...]  # one label per copy printed


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
        Line("terminal_id", "终端编号", "TERMINAL ID", r.terminal_id),
        Line("operator", "操作员", "OPERATOR", operator or None),
        Line("card_no", "卡号", "CARD NO.", r.card_no),
        Line("type", "交易类型", "TRANS TYPE", r.type_name, r.type_code, translate=True),
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
        Line("date_time", "日期时间", "DATE/TIME", f"{r.date} {r.time}"),
    ]
    if r.service_code:
        rows.append(Line("service_code", "服务代码", "SERVICE CODE", r.service_code))
    if r.payment_method:
        rows.append(Line("payment_method", "支付方式", "PAYMENT", r.payment_method, translate=True))
    for key, label, code, fen in (
        ("price", "原价", "PRICE", r.price_fen),
        ("purchase", "消费金额", "PURCHASE", r.purchase_fen),
        ("amount", "金额", "AMOUNT", r.amount_fen),
    ):
        if fen is not None:
            rows.append(Line(key, label, code, format_fen(fen), money=True))
    rows.append(Line("balance", "余额", "BALANCE", format_fen(r.balance_after_fen), money=True))
    if r.points is not None:
        rows.append(Line("points", "积分", "POINTS", f"{r.points:+d}"))
    rows.append(Line("points_after", "积分余额", "POINTS BALANCE", str(r.points_after)))
    return tuple(rows)


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
    when = runtime.local(record.created_at)
    paid = abs(record.amount_fen)
    price = record.price_fen if record.price_fen not in (None, paid) else None
    name, code = JOURNAL_TYPE_NAMES[record.type]
    return Receipt(
        receipt_title=shop["receipt_title"],
        merchant_name=shop["merchant_name"],
        merchant_id=shop["merchant_id"],
        terminal_id=terminal.terminal_id if terminal else None,
        operator_no=record.operator_no,
        operator_name=operator.name if operator else None,
        card_no=mask_card_no(record.card.card_no),
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
        purchase_fen=record.purchase_fen if base == "points_earn" else None,
        balance_after_fen=record.balance_after_fen,
        points=None if base == "recharge" else record.points,
        points_after=record.points_after,
        service_code=record.service_code,
        payment_method=(
            PAYMENT_METHOD_NAMES[record.payment_method].name if record.payment_method else None
        ),
        signature_required=record.type in SIGNED_TYPES,
        original_voucher_no=six(original.voucher_no) if original is not None else None,
        original_type_name=JOURNAL_TYPE_NAMES[original.type].name if original is not None else None,
        voided=record.status == "voided",
        copies=copies(terminal.receipt_copies if terminal else len(COPY_LABELS)),
    )


def for_voucher(actor: Actor, voucher_no: object) -> Receipt:
    """The receipt of the transaction a voucher number names, if `actor` may see it
    (ledger.visible_to; `transaction_not_found` else)."""
    return build(ledger.find_voucher(actor, voucher_no))
