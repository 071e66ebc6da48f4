"""Reports: daily statistics (交易统计), the journal (交易流水) and batch totals.

Read-only. A voided transaction and its void count nowhere; opening entries count nowhere.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import NamedTuple

from peewee import JOIN, OP, Case, Cast, Expression, Value, fn

from ..store import runtime
from ..store.codes import CARD_STATUSES, JOURNAL_STATUSES, JOURNAL_TYPES, TRANSACTION_TYPES
from ..store.db import db, is_postgres, unindexed
from ..store.models import Card, JournalDay, Staff, Terminal, Transaction
from ..store.runtime import shop_date, utcnow
from . import cards, formats
from .errors import LedgerError
from .exports import FORMULA_STARTS, csv_cell, csv_cell_sql, sql_concat
from .formats import MAX_PAGE, SIX_DIGITS, TERMINAL_ID

MAX_RANGE_DAYS = 3 * 366
MAX_PAGE_SIZE = 200
EXPORT_LIMIT = 100_000  # journal rows in one export file

_COUNTED = (Transaction.status == "success") & (Transaction.type.in_(TRANSACTION_TYPES))


def _sum_if(condition, value):
    return fn.COALESCE(fn.SUM(Case(None, [(condition, value)], 0)), 0)


# The statistics add up the journal's daily sums (models.JournalDay), a few rows a day, not the
# journal: a year is some 1 500 rows instead of half a million.
_RECHARGE = _sum_if(JournalDay.type == "recharge", JournalDay.amount_fen)
# `* -1`, not unary minus: peewee reads -field as ORDER BY … DESC.
_CONSUME = _sum_if(JournalDay.type == "consume", JournalDay.amount_fen * -1)
_AWARDED = _sum_if(JournalDay.type.in_(("consume", "points_earn")), JournalDay.points)
_REDEEMED = _sum_if(JournalDay.type == "points_redeem", JournalDay.points * -1)


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


def daily_stats(
    date_from: date, date_to: date, branch_id: int | None = None
) -> tuple[list[DayStats], DayStats]:
    """One row per settlement date of the range (days without transactions as zeros), and
    the totals: of one branch, or of them all (None)."""
    date_range(date_from, date_to)
    of_branch = [JournalDay.branch_id == branch_id] if branch_id is not None else []
    rows = (
        JournalDay.select(
            JournalDay.settle_date,
            fn.COALESCE(fn.SUM(JournalDay.count), 0),
            _RECHARGE,
            _CONSUME,
            _AWARDED,
            _REDEEMED,
        )
        .where(
            JournalDay.status == "success",
            JournalDay.type.in_(TRANSACTION_TYPES),
            JournalDay.settle_date.between(date_from, date_to),
            *of_branch,
        )
        .group_by(JournalDay.settle_date)
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
    branch_id: int | None = None  # one branch's rows (a chain); None: every branch's


def journal(filters: JournalFilter, page: int = 1, per_page: int = 50) -> tuple[list, int]:
    """The journal, newest first, one page of it, and how many rows match in all."""
    if type(page) is not int or not 1 <= page <= MAX_PAGE or not 1 <= per_page <= MAX_PAGE_SIZE:
        raise LedgerError("bad_request", "分页参数不正确")
    conditions = _conditions(filters)
    if conditions is None:
        return [], 0
    total = _count(filters, conditions)
    # The page's ids first, from the journal alone, through the index that gives the filter's
    # rows in time order; then those rows with their card, terminal and operator.
    ids = [
        row_id
        for (row_id,) in _newest_first(_where(Transaction.select(Transaction.id), conditions))
        .paginate(page, per_page)
        .tuples()
    ]
    if not ids:
        return [], total
    rows = list(_newest_first(_joined().where(Transaction.id.in_(ids))))
    return rows, total


def recent(count: int, branch_id: int | None = None) -> list:
    """The newest `count` rows of the journal (the home page's), without counting them all:
    of one branch, or of them all (None)."""
    ids = Transaction.select(Transaction.id)
    if branch_id is not None:
        ids = ids.where(Transaction.branch == branch_id)
    ids = _newest_first(ids).limit(count).tuples()
    return list(_newest_first(_joined().where(Transaction.id.in_([i for (i,) in ids]))))


class JournalLine(NamedTuple):
    """A journal row as a report shows it: plain values, no model objects (an export reads
    100 000 of them)."""

    trace_no: int | None
    voucher_no: int | None
    card_no: str
    type: str
    status: str
    amount_fen: int
    points: int
    created_at: datetime  # UTC, as stored
    terminal_id: str | None  # None for an import's opening entry
    operator_no: str | None
    operator_name: str | None
    offline: bool = False  # 离线交易: created_at is then its upload, sold_at the sale
    sold_at: datetime | None = None  # UTC, as stored


_LINE_COLUMNS = (
    Transaction.trace_no,
    Transaction.voucher_no,
    Card.card_no,
    Transaction.type,
    Transaction.status,
    Transaction.amount_fen,
    Transaction.points,
    Transaction.created_at,
    Terminal.terminal_id,
    Transaction.operator_no,
    Staff.name,
    Transaction.offline,
    Transaction.sold_at,
)


def journal_line(t: Transaction) -> JournalLine:
    """A row of `journal` as a JournalLine."""
    return JournalLine(
        t.trace_no,
        t.voucher_no,
        t.card.card_no,
        t.type,
        t.status,
        t.amount_fen,
        t.points,
        t.created_at,
        t.terminal.terminal_id if t.terminal_id else None,
        t.operator_no,
        t.operator.name if t.operator_id else None,
        t.offline,
        t.sold_at,
    )


def journal_export(filters: JournalFilter, limit: int | None = None) -> tuple[Iterator, int]:
    """Every row the filters select as JournalLines, newest first, and how many: for an
    export. The rows come one at a time, not held in memory; more than `limit` rows
    (EXPORT_LIMIT by default) are refused, so that a forgotten filter does not build a file
    nobody can open."""
    conditions, total = _exported(filters, limit)
    if conditions is None:
        return iter(()), 0
    query = _newest_first(_where(_joined(*_LINE_COLUMNS), conditions))
    return _lines(*query.sql()), total


def _exported(filters: JournalFilter, limit: int | None) -> tuple[list | None, int]:
    """The conditions of an export and how many rows it has, refused beyond `limit`."""
    limit = EXPORT_LIMIT if limit is None else limit
    conditions = _conditions(filters)
    if conditions is None:
        return None, 0
    total = _count(filters, conditions)
    if total > limit:
        raise LedgerError(
            "bad_request",
            "符合条件的流水太多，不能一次导出，请缩小查询范围",
            total=total,
            limit=limit,
        )
    return conditions, total


# ---------------------------------------------------------------- the journal as CSV lines


class CsvNames(NamedTuple):
    """What the journal's CSV writes for a type, a status and an offline row (translated by
    the caller)."""

    types: Mapping[str, str]
    statuses: Mapping[str, str]
    offline: str


CSV_CHUNK_ROWS = 1000


def journal_csv(
    filters: JournalFilter,
    names: CsvNames,
    written: Callable[[JournalLine], bytes],
    limit: int | None = None,
    *,
    chunk_rows: int = CSV_CHUNK_ROWS,
) -> tuple[Iterator[bytes], int]:
    """The rows of `journal_export` as the lines of a CSV file (CRLF ended), `chunk_rows` of
    them to a piece, and how many rows. SQLite writes each line, so that Python handles one
    value a row instead of thirteen: the cells as `written` (the caller's writer of one
    JournalLine) writes them, the times in the shop's zone by the offsets that apply at
    them. A row SQLite cannot write exactly so (a time outside the offsets it was given, a
    type it was not told of) comes back as its id, and `written` writes it instead."""
    conditions, total = _exported(filters, limit)
    if conditions is None:
        return iter(()), 0
    if is_postgres():  # each line written by `written`, from the rows as they are
        query = _newest_first(_where(_joined(*_LINE_COLUMNS), conditions))
        return _written_pieces(*query.sql(), written, chunk_rows), total
    span = _journal_span()
    if span is None:
        return iter(()), total
    written_by_sqlite = _csv_line_sql(names, _zone_offsets(runtime.zone, *span))
    # bytes, not str: Python neither decodes nor encodes it again
    line = fn.COALESCE(Cast(written_by_sqlite, "BLOB"), Transaction.id)
    query = _newest_first(_where(_joined(line), conditions))
    return _csv_pieces(*query.sql(), written, chunk_rows), total


def _csv_pieces(sql: str, params: list, written, chunk_rows: int) -> Iterator[bytes]:
    cursor = db.execute_sql(sql, params)
    while rows := cursor.fetchmany(chunk_rows):
        try:
            yield b"".join([line for (line,) in rows])
        except TypeError:  # an id among the lines: that row written by `written`
            yield b"".join(
                line if isinstance(line, bytes) else written(_line_of(line)) for (line,) in rows
            )


def _written_pieces(sql: str, params: list, written, chunk_rows: int) -> Iterator[bytes]:
    lines = _lines(sql, params)
    while piece := [written(line) for line in itertools.islice(lines, chunk_rows)]:
        yield b"".join(piece)


def _line_of(row_id: int) -> JournalLine:
    query = _joined(*_LINE_COLUMNS).where(Transaction.id == row_id)
    return next(_lines(*query.sql()))


def _journal_span() -> tuple[date, date] | None:
    """The UTC days the journal's times can fall on, for the zone's offsets: from a year
    before its first row (an offline sale's time may be before its upload's) to two days
    after its last (rows written while the export runs). None for an empty journal."""
    # Two statements: SQLite finds a lone MIN or MAX at the end of the index.
    first = Transaction.select(fn.MIN(Transaction.created_at)).scalar()
    last = Transaction.select(fn.MAX(Transaction.created_at)).scalar()
    if first is None or last is None:
        return None
    start = max(_as_moment(first).date() - timedelta(days=366), date(runtime.YEARS.start, 1, 2))
    end = min(_as_moment(last).date() + timedelta(days=2), date(runtime.YEARS.stop - 1, 12, 30))
    return start, end


def _as_moment(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


_ZONE_STEP = timedelta(hours=6)  # no zone changes its offset and back within six hours


@functools.lru_cache(maxsize=16)
def _zone_offsets(zone: tzinfo, start: date, end: date) -> tuple[tuple[datetime, int], ...]:
    """The zone's UTC offsets (seconds) from `start` to `end` (UTC days): (from, offset), the
    first from `start`'s midnight, each until the next's `from`, the last until `end`'s
    midnight (also the last item's, with offset None). Found by looking every six hours and
    narrowing a change down to its second (the zone database's changes are at whole seconds);
    cached, the span being the journal's, which moves a day at a time."""

    def offset(moment: datetime) -> int:
        return int(moment.replace(tzinfo=UTC).astimezone(zone).utcoffset().total_seconds())

    moment = _day_start(start)
    stop = _day_start(end)
    found = [(moment, offset(moment))]
    while moment < stop:
        later = min(moment + _ZONE_STEP, stop)
        if offset(later) != found[-1][1]:
            before, after = moment, later  # the change: after `before`, by `after`
            while after - before > _SECOND:
                middle = before + (after - before) // 2
                middle = middle.replace(microsecond=0)
                if offset(middle) == found[-1][1]:
                    before = middle
                else:
                    after = middle
            found.append((after, offset(after)))
            later = after  # looked at again from there, should another change follow soon
        moment = later
    return (*found, (stop, None))


_SECOND = timedelta(seconds=1)


def _in_span(moment, offsets: tuple[tuple[datetime, int | None], ...]):
    """Whether a stored time falls within the offsets' span, stored as the app stores times
    where it matters: more than one offset is told apart by comparing texts."""

    condition = (moment >= _text(offsets[0][0])) & (moment < _text(offsets[-1][0]))
    if len(offsets) > 2:
        condition &= (fn.substr(moment, 11, 1) == " ") & (fn.length(moment) >= 19)
    return condition


def _text(when: datetime) -> Value:
    return Value(when.strftime("%Y-%m-%d %H:%M:%S"), converter=False)


def _shop_time_sql(moment, offsets: tuple[tuple[datetime, int | None], ...]):
    """A stored time (UTC text, within the offsets' span) as the shop's time, "YYYY-MM-DD
    HH:MM:SS", its fraction of a second dropped as isoformat(timespec="seconds") drops it
    (SQLite's own functions would round it to the millisecond first), moved by the offset
    that applies at it: found by halving the offsets' changes."""

    def between(first: int, stop: int):
        if stop - first == 1:
            return fn.datetime(fn.substr(moment, 1, 19), f"{offsets[first][1]:+d} seconds")
        middle = (first + stop) // 2
        return Case(
            None, [(moment < _text(offsets[middle][0]), between(first, middle))],
            between(middle, stop),
        )  # fmt: skip

    return between(0, len(offsets) - 1)


def _csv_line_sql(names: CsvNames, offsets):
    """A journal row as its CSV line (CRLF ended), as SQL: the cells the caller's writer of a
    JournalLine writes (web/backoffice/reports.journal_csv_cells), NULL for a row it cannot
    write so (its type or status not named, a time outside the offsets' span)."""
    t = Transaction

    def labels(column, texts: Mapping[str, str]):
        return Case(column, [(code, csv_cell(name)) for code, name in texts.items()])

    def six(column):
        return Case(None, [(column.is_null(False), fn.printf("%06d", column))])

    amount = t.amount_fen
    offline = t.offline != 0
    sold = offline & t.sold_at.is_null(False)
    writable = (
        t.type.in_(list(names.types))
        & t.status.in_(list(names.statuses))
        & _in_span(t.created_at, offsets)
        & ~(sold & ~_in_span(t.sold_at, offsets))
    )
    cells = [
        ("%s", six(t.trace_no)),
        ("%s", csv_cell_sql(Card.card_no)),  # NULL: no card, an empty cell as for None
        ("%s%d.%02d", Case(None, [(amount < 0, "-")], "")),
        (None, fn.abs(amount) / 100),
        (None, Expression(fn.abs(amount), OP.MOD, 100)),
        ("%s", t.points),
        ("%s", labels(t.type, names.types)),
        (
            "%s",
            Case(
                None,
                [(sold, _shop_time_sql(t.sold_at, offsets))],
                _shop_time_sql(t.created_at, offsets),
            ),
        ),  # fmt: skip
        ("%s", _operator_sql()),
        ("%s", labels(t.status, names.statuses)),
        ("%s", six(t.voucher_no)),
        ("%s", Case(None, [(offline, csv_cell(names.offline))])),
        ("%s", Case(None, [(offline, _shop_time_sql(t.created_at, offsets))])),
    ]
    form = ",".join(f for f, _cell in cells if f is not None) + "\r\n"
    return Case(None, [(writable, fn.printf(form, *(cell for _f, cell in cells)))])


_PLAIN = re.compile(r"[^\",\r\n]+")  # a text the csv module writes as it is


def _operator_sql():
    """operator_label as a CSV cell, as SQL. The label is made of few texts, the terminals'
    IDs and the operators' names: those that need neither a quote nor a "'" (looked up in
    the terminal and staff tables now, compared with each row's own) are joined as they are,
    any other row's label is made and quoted in full (NULL: no terminal, an empty cell)."""
    ids = [i for (i,) in Terminal.select(Terminal.terminal_id).tuples()]
    names = [n for (n,) in Staff.select(Staff.name).distinct().tuples()]
    plain_ids = [i for i in ids if _PLAIN.fullmatch(i) and not i.startswith(FORMULA_STARTS)]
    plain_names = [n for n in names if _PLAIN.fullmatch(n)]
    t = Transaction
    who = fn.NULLIF(fn.COALESCE(fn.NULLIF(Staff.name, ""), t.operator_no), "")
    label = sql_concat(Terminal.terminal_id, fn.COALESCE(sql_concat("-", who), ""))
    plain = Terminal.terminal_id.in_(plain_ids) & Staff.name.in_(plain_names)
    return Case(
        None, [(plain, sql_concat(Terminal.terminal_id, "-", Staff.name))], csv_cell_sql(label)
    )


def _lines(sql: str, params: list) -> Iterator[JournalLine]:
    """The rows of an export's query, straight from the driver: peewee's conversion of each
    field costs three times what SQLite takes to find the rows."""
    as_time = _as_moment
    for row in db.execute_sql(sql, params):
        sold_at = row[12]
        yield JournalLine(
            *row[:7], as_time(row[7]), *row[8:11], bool(row[11]),
            as_time(sold_at) if sold_at else None,
        )  # fmt: skip


def _where(query, conditions: list):
    return query.where(*conditions) if conditions else query


def _newest_first(query):
    return query.order_by(Transaction.created_at.desc(), Transaction.id.desc())


def _joined(*columns):
    """Journal rows with their card's number, terminal's ID and operator's name. Every join is
    a LEFT one (a row always has its card): the journal then drives the query, in the order of
    the index its filter chose, and each row looks its card up by key."""
    selected = columns or (
        # The joined rows' ids too: without them peewee would set terminal_id etc. to None.
        Transaction,
        Card.id,
        Card.card_no,
        Terminal.id,
        Terminal.terminal_id,
        Staff.id,
        Staff.name,
    )  # fmt: skip
    return (
        Transaction.select(*selected)
        .join(Card, JOIN.LEFT_OUTER)
        .switch(Transaction)
        .join(Terminal, JOIN.LEFT_OUTER)
        .switch(Transaction)
        .join(Staff, JOIN.LEFT_OUTER)
    )


# The settlement date is the shop's date of created_at (ledger._post), so a range of dates is
# a range of times too, which the journal's time-ordered indexes serve. The margin covers any
# two zones' difference, should the shop's zone have changed since a row was written; the
# settlement date itself still decides.
_ZONE_MARGIN = timedelta(hours=27)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def _conditions(filters: JournalFilter) -> list | None:
    """The filters as conditions on the journal alone (a card number or a terminal ID looked
    up first, by its own index); None when a card or terminal named does not exist."""
    conditions = []
    if filters.card_no:
        card = Card.select(Card.id).where(Card.card_no == filters.card_no).tuples().first()
        if card is None:
            return None
        conditions.append(Transaction.card == card[0])
    terminals = Terminal.select(Terminal.id)
    if filters.terminal_id:
        terminals = terminals.where(Terminal.terminal_id == filters.terminal_id)
    if filters.trace_no is not None:
        # (terminal, trace_no) finds the few rows of a trace number, for every terminal at once
        # when none is named (a row with a trace number has a terminal). As a subquery even
        # for one terminal: (terminal, created_at) would otherwise read all its rows in time
        # order for the few that match.
        conditions.append(Transaction.terminal.in_(terminals))
    elif filters.terminal_id:
        terminal = terminals.tuples().first()
        if terminal is None:
            return None
        conditions.append(Transaction.terminal == terminal[0])
    if filters.time_from:
        conditions.append(Transaction.created_at >= runtime.to_utc(filters.time_from))
    if filters.time_to:
        conditions.append(Transaction.created_at <= runtime.to_utc(filters.time_to))
    # `+settle_date`: the settlement date's own index would give a month's rows in no order
    # (all of them sorted before the first page); the times' range finds them in order.
    settle_date = unindexed(Transaction.settle_date)
    if filters.date_from:
        conditions.append(settle_date >= filters.date_from.isoformat())
        earliest = _day_start(filters.date_from) - _ZONE_MARGIN
        conditions.append(Transaction.created_at >= earliest)
    if filters.date_to:
        conditions.append(settle_date <= filters.date_to.isoformat())
        latest = _day_start(filters.date_to + timedelta(days=1)) + _ZONE_MARGIN
        conditions.append(Transaction.created_at < latest)
    if filters.status:
        conditions.append(Transaction.status == filters.status)
    if filters.type:
        conditions.append(Transaction.type == filters.type)
    if filters.trace_no is not None:
        conditions.append(Transaction.trace_no == filters.trace_no)
    if filters.batch_no is not None:
        conditions.append(Transaction.batch_no == filters.batch_no)
    if filters.branch_id is not None:
        conditions.append(Transaction.branch == filters.branch_id)
    return conditions


# Filters the journal's daily sums can count: the rest are counted in the journal.
_SUMMED = frozenset({"type", "status", "date_from", "date_to", "branch_id"})


def _count(filters: JournalFilter, conditions: list) -> int:
    """How many journal rows the filters select: from the daily sums where they can tell (a
    type, a status, a range of dates, or none), else from the journal by its indexes."""
    used = {name for name, value in vars(filters).items() if value not in (None, "")}
    if not used <= _SUMMED:
        return _where(Transaction.select(), conditions).count()
    query = JournalDay.select(fn.COALESCE(fn.SUM(JournalDay.count), 0))
    if filters.type:
        query = query.where(JournalDay.type == filters.type)
    if filters.status:
        query = query.where(JournalDay.status == filters.status)
    if filters.date_from:
        query = query.where(JournalDay.settle_date >= filters.date_from)
    if filters.date_to:
        query = query.where(JournalDay.settle_date <= filters.date_to)
    if filters.branch_id is not None:
        query = query.where(JournalDay.branch_id == filters.branch_id)
    return query.scalar()


# ---------------------------------------------------------------- filters typed on a page

_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)


def time_arg(value: object, field: str, *, end: bool = False) -> datetime | None:
    """A time, "YYYY-MM-DDTHH:MM[:SS]" in the shop's zone (what <input type=datetime-local>
    sends; naive), or with its own zone ("Z", "+08:00"; aware). As the end of a range, a time
    without seconds means the whole of that minute: "to 19:48" takes in 19:48:02."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or (match := _TIME.fullmatch(value)) is None:
        raise LedgerError("invalid_date", field=field)
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise LedgerError("invalid_date", field=field) from None
    if moment.year not in runtime.YEARS:
        raise LedgerError("invalid_date", field=field)
    if end and match.group(1) is None:
        moment = moment.replace(second=59, microsecond=999_999)
    return moment


def journal_filter(args: Mapping[str, str]) -> JournalFilter:
    """The journal's filters as the back office's form and the API's query string send them
    (text, "" for none): the one parser of both. A refusal names its field (`field` in its
    details)."""

    def text(name: str) -> str:
        value = args.get(name) or ""
        return value.strip() if isinstance(value, str) else value

    card_no = text("card_no")
    if card_no:
        card_no = formats.card_no_arg(formats.typed_card_no(card_no))
    time_from = time_arg(text("time_from"), "time_from")
    time_to = time_arg(text("time_to"), "time_to", end=True)
    if time_from and time_to and runtime.to_utc(time_to) < runtime.to_utc(time_from):
        raise LedgerError("bad_request", "结束时间早于开始时间", field="time_to")
    date_from = cards.date_arg(text("date_from"), "date_from")
    date_to = cards.date_arg(text("date_to"), "date_to")
    if date_from and date_to and date_to < date_from:
        raise LedgerError("bad_request", "结束日期早于开始日期", field="date_to")
    status = text("status")
    if status not in ("", *JOURNAL_STATUSES):
        raise LedgerError("bad_request", "交易状态不正确", field="status")
    kind = text("type")
    if kind not in ("", *JOURNAL_TYPES):
        raise LedgerError("bad_request", "交易类型不正确", field="type")
    trace_no = text("trace_no")
    if trace_no and SIX_DIGITS.fullmatch(trace_no) is None:
        raise LedgerError("bad_request", "流水号必须是 1 到 6 位数字", field="trace_no")
    terminal_id = text("terminal_id")
    if terminal_id and TERMINAL_ID.fullmatch(terminal_id) is None:
        raise LedgerError("invalid_terminal_id", field="terminal_id")
    batch_no = text("batch_no")
    if batch_no and SIX_DIGITS.fullmatch(batch_no) is None:
        raise LedgerError("bad_request", "批次号必须是 1 到 6 位数字", field="batch_no")
    return JournalFilter(
        card_no=card_no or None,
        time_from=time_from,
        time_to=time_to,
        date_from=date_from,
        date_to=date_to,
        status=status or None,
        type=kind or None,
        trace_no=int(trace_no) if trace_no else None,
        terminal_id=terminal_id or None,
        batch_no=int(batch_no) if batch_no else None,
    )


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


def batch_view(terminal: Terminal, every: bool = False) -> tuple[dict, list[Transaction]]:
    """What the terminal's transaction query (交易查询) shows of its current batch: the totals
    of the whole batch, and its transactions since the terminal's 清流水, if any, newest first:
    the newest page of them for a screen, or every one (`every`) for the printed journal."""
    totals = batch_totals(terminal, terminal.batch_no)
    since = terminal.journal_view_from
    filters = JournalFilter(
        terminal_id=terminal.terminal_id,
        batch_no=terminal.batch_no,
        time_from=runtime.local(since) if since else None,
    )
    rows, total = journal(filters, 1, MAX_PAGE_SIZE)
    page = 1
    while every and len(rows) < total:
        page += 1
        more, total = journal(filters, page, MAX_PAGE_SIZE)
        if not more:
            break
        rows += more
    return totals, rows


@dataclass(frozen=True)
class Overview:
    """The back office's home page: today, this month, and what the shop owes its members."""

    today: DayStats
    month: DayStats
    cards_active: int  # cards members can use now (status active)
    cards_issued: int  # every activated card, frozen and lost ones too
    balance_float_fen: int  # stored value held for members: what the shop owes them
    points_float: int  # points members hold


def overview(today: date | None = None, branch_id: int | None = None) -> Overview:
    """Today's and the month's sums (of one branch, or of them all), and the cards' (the
    chain's: a card is every branch's)."""
    today = today or shop_date(utcnow())
    _, today_totals = daily_stats(today, today, branch_id)
    _, month_totals = daily_stats(today.replace(day=1), today, branch_id)
    # Counted by the status index (`status IN`, which it serves, rather than `!= inactive`).
    by_status = dict(
        Card.select(Card.status, fn.COUNT(Card.id))
        .where(Card.status.in_([s for s in CARD_STATUSES if s != "inactive"]))
        .group_by(Card.status)
        .tuples()
    )
    floats = Card.select(
        fn.COALESCE(fn.SUM(Card.balance_fen), 0), fn.COALESCE(fn.SUM(Card.points), 0)
    ).tuples()
    balance_fen, points = floats.get()
    return Overview(
        today=today_totals,
        month=month_totals,
        cards_active=by_status.get("active", 0),
        cards_issued=sum(by_status.values()),
        balance_float_fen=balance_fen,
        points_float=points,
    )
