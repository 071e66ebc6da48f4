"""Reports: daily statistics (交易统计), the journal (交易流水) and batch totals.

Read-only. A voided transaction and its void count nowhere; opening entries count nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from peewee import JOIN, Case, fn

from . import runtime
from .errors import LedgerError
from .models import JOURNAL_TYPES, TRANSACTION_TYPES, Card, Staff, Terminal, Transaction
from .runtime import shop_date, utcnow

MAX_RANGE_DAYS = 3 * 366
MAX_PAGE_SIZE = 200

_COUNTED = (Transaction.status == "success") & (Transaction.type.in_(TRANSACTION_TYPES))


def _sum_if(condition, value):
    return fn.COALESCE(fn.SUM(Case(None, [(condition, value)], 0)), 0)


_RECHARGE = _sum_if(Transaction.type == "recharge", Transaction.amount_fen)
# `* -1`, not unary minus: peewee reads -field as ORDER BY … DESC.
_CONSUME = _sum_if(Transaction.type == "consume", Transaction.amount_fen * -1)
_AWARDED = _sum_if(Transaction.type.in_(("consume", "points_earn")), Transaction.points)
_REDEEMED = _sum_if(Transaction.type == "points_redeem", Transaction.points * -1)


@dataclass(frozen=True)
class DayStats:
    date: date | None
    count: int = 0
    recharge_fen: int = 0
    consume_fen: int = 0
    points_awarded: int = 0
    points_redeemed: int = 0

    @property
    def balance_net_fen(self) -> int:
        return self.recharge_fen - self.consume_fen

    @property
    def points_net(self) -> int:
        return self.points_awarded - self.points_redeemed


def date_range(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise LedgerError("bad_request", "结束日期早于开始日期")
    if (date_to - date_from).days > MAX_RANGE_DAYS:
        raise LedgerError("bad_request", "日期范围不能超过三年")


def daily_stats(date_from: date, date_to: date) -> tuple[list[DayStats], DayStats]:
    """One row per settlement date of the range (days without transactions as zeros), and
    the totals."""
    date_range(date_from, date_to)
    rows = (
        Transaction.select(
            Transaction.settle_date,
            fn.COUNT(Transaction.id),
            _RECHARGE,
            _CONSUME,
            _AWARDED,
            _REDEEMED,
        )
        .where(_COUNTED, Transaction.settle_date.between(date_from, date_to))
        .group_by(Transaction.settle_date)
        .tuples()
    )
    found = {_as_date(row[0]): DayStats(_as_date(row[0]), *row[1:]) for row in rows}
    days = []
    day = date_from
    while day <= date_to:
        days.append(found.get(day, DayStats(day)))
        day += timedelta(days=1)
    totals = DayStats(
        None,
        sum(d.count for d in days),
        sum(d.recharge_fen for d in days),
        sum(d.consume_fen for d in days),
        sum(d.points_awarded for d in days),
        sum(d.points_redeemed for d in days),
    )
    return days, totals


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


@dataclass(frozen=True)
class JournalFilter:
    card_no: str | None = None
    time_from: datetime | None = None  # aware, or naive in the shop's zone
    time_to: datetime | None = None
    date_from: date | None = None
    date_to: date | None = None
    status: str | None = None
    type: str | None = None
    trace_no: int | None = None
    terminal_id: str | None = None
    batch_no: int | None = None


def journal(filters: JournalFilter, page: int = 1, per_page: int = 50) -> tuple[list, int]:
    """The journal, newest first, one page of it, and how many rows match in all."""
    if filters.status not in (None, "success", "voided"):
        raise LedgerError("bad_request", "交易状态不正确")
    if filters.type not in (None, *JOURNAL_TYPES):
        raise LedgerError("bad_request", "交易类型不正确")
    if page < 1 or not 1 <= per_page <= MAX_PAGE_SIZE:
        raise LedgerError("bad_request", "分页参数不正确")
    query = (
        # The joined rows' ids too: without them peewee would set terminal_id etc. to None.
        Transaction.select(
            Transaction,
            Card.id,
            Card.card_no,
            Terminal.id,
            Terminal.terminal_id,
            Staff.id,
            Staff.name,
        )  # fmt: skip
        .join(Card)
        .switch(Transaction)
        .join(Terminal, JOIN.LEFT_OUTER)
        .switch(Transaction)
        .join(Staff, JOIN.LEFT_OUTER)
    )
    conditions = []
    if filters.card_no:
        conditions.append(Card.card_no == filters.card_no)
    if filters.time_from:
        conditions.append(Transaction.created_at >= runtime.to_utc(filters.time_from))
    if filters.time_to:
        conditions.append(Transaction.created_at <= runtime.to_utc(filters.time_to))
    if filters.date_from:
        conditions.append(Transaction.settle_date >= filters.date_from)
    if filters.date_to:
        conditions.append(Transaction.settle_date <= filters.date_to)
    if filters.status:
        conditions.append(Transaction.status == filters.status)
    if filters.type:
        conditions.append(Transaction.type == filters.type)
    if filters.trace_no is not None:
        conditions.append(Transaction.trace_no == filters.trace_no)
    if filters.terminal_id:
        conditions.append(Terminal.terminal_id == filters.terminal_id)
    if filters.batch_no is not None:
        conditions.append(Transaction.batch_no == filters.batch_no)
    for condition in conditions:
        query = query.where(condition)
    total = query.count()
    rows = list(
        query.order_by(Transaction.created_at.desc(), Transaction.id.desc()).paginate(
            page, per_page
        )
    )
    return rows, total


def batch_totals(terminal: Terminal, batch_no: int) -> dict:
    """Totals of one terminal's batch by transaction type (what settlement prints)."""
    rows = (
        Transaction.select(
            Transaction.type,
            fn.COUNT(Transaction.id),
            fn.COALESCE(fn.SUM(Transaction.amount_fen), 0),
            fn.COALESCE(fn.SUM(Transaction.points), 0),
        )
        .where(_COUNTED, Transaction.terminal == terminal.id, Transaction.batch_no == batch_no)
        .group_by(Transaction.type)
        .tuples()
    )
    by_type = {kind: {"count": 0, "amount_fen": 0, "points": 0} for kind in TRANSACTION_TYPES}
    for kind, count, amount_fen, points in rows:
        by_type[kind] = {"count": count, "amount_fen": amount_fen, "points": points}
    voids = (
        Transaction.select()
        .where(
            Transaction.type == "void",
            Transaction.terminal == terminal.id,
            Transaction.batch_no == batch_no,
        )
        .count()
    )
    return {
        "terminal_id": terminal.terminal_id,
        "batch_no": batch_no,
        "count": sum(t["count"] for t in by_type.values()),
        "types": by_type,
        "void_count": voids,
    }


@dataclass(frozen=True)
class Overview:
    """The back office's home page: today, this month, and what the shop owes its members."""

    today: DayStats
    month: DayStats
    cards_active: int  # cards members can use now (status active)
    cards_issued: int  # every activated card, frozen and lost ones too
    balance_float_fen: int  # stored value held for members: what the shop owes them
    points_float: int  # points members hold


def overview(today: date | None = None) -> Overview:
    today = today or shop_date(utcnow())
    _, today_totals = daily_stats(today, today)
    _, month_totals = daily_stats(today.replace(day=1), today)
    issued = Card.select().where(Card.status != "inactive")
    floats = Card.select(
        fn.COALESCE(fn.SUM(Card.balance_fen), 0), fn.COALESCE(fn.SUM(Card.points), 0)
    ).tuples()
    balance_fen, points = floats.get()
    return Overview(
        today=today_totals,
        month=month_totals,
        cards_active=issued.where(Card.status == "active").count(),
        cards_issued=issued.count(),
        balance_float_fen=balance_fen,
        points_float=points,
    )
