"""报表查询: the home page's figures, daily statistics (交易统计) and the journal (交易流水),
their CSV and XLSX exports, and the chart of daily recharge and consume.

A report's rows are built once (`stats_table`, `journal_cells`) and drawn three ways: as the
page's table, as CSV and as XLSX. Money travels as Decimal yuan with two places (exact: made
from integer fen), so each writer can show or store it without a float.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import chain

from flask import current_app, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import Form, SelectChoice, SelectField, StringField
from wtforms.widgets import DateInput, DateTimeLocalInput, TextInput

from ...domain import branches, cards, exports, offline, reports, terminals
from ...domain.actors import CAN_READ_JOURNAL, CAN_RECONCILE
from ...domain.errors import LedgerError
from ...domain.formats import six
from ...domain.money import format_fen
from ...store.models import Transaction
from ...store.runtime import local, shop_date, utcnow
from . import bp
from .web import (
    JOURNAL_STATUS_NAMES,
    TYPE_NAMES,
    Pager,
    needs,
    page_arg,
    refused,
    report_branch,
    this_page,
)

PER_PAGE = 50
# openpyxl writes about 2 000 journal rows a second here (CSV: about 11 000): an XLSX of more
# would keep the owner (and a server thread) waiting longer than a page should.
XLSX_LIMIT = 20_000
RECENT = 10  # journal rows on the home page
DASHBOARD_DAYS = 14
FORMATS = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def yuan(fen: int) -> Decimal:
    """Integer fen as exact yuan with two places: 9000 -> Decimal('90.00')."""
    return Decimal(fen).scaleb(-2)


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text, count, money, date, time
    net: bool = False  # a net figure: shown in red when negative


def cell_html(value: object, column: Column) -> str:
    """One cell of a report table, exactly as the `cell` macro of _reports.html writes it: the
    macro for a page of 50 rows, this for a table of a year's days (a macro call per cell
    would hold the interpreter, and the cashiers' sales, for tens of milliseconds)."""
    key, label = escape(column.key), escape(column.label)
    if value is None:
        return f'<td class="c-{key} muted" data-label="{label}">—</td>'
    if column.kind in ("money", "count"):
        neg = " neg" if column.net and value < 0 else ""
        return f'<td class="c-{key} num{neg}" data-label="{label}">{escape(value)}</td>'
    if column.kind == "time":
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return f'<td class="c-{key} when" data-label="{label}">{escape(text)}</td>'
    if column.kind == "date" and not isinstance(value, str):
        return f'<td class="c-{key} when" data-label="{label}">{escape(value.isoformat())}</td>'
    return f'<td class="c-{key}" data-label="{label}">{escape(value)}</td>'


@bp.app_template_global()
def row_html(row: Sequence, columns: Sequence[Column]) -> Markup:
    """A report row's cells (cell_html), for a template."""
    return Markup(
        "".join(cell_html(value, column) for value, column in zip(row, columns, strict=True))
    )


@bp.app_template_global()
def report_rows(table: Table) -> Markup:
    """A report table's body rows, each <tr> on its line as the template wrote them."""
    return Markup("\n".join(f"<tr>{row_html(row, table.columns)}</tr>" for row in table.rows))


@dataclass
class Table:
    columns: list[Column]
    rows: Iterable[Sequence]
    totals: Sequence | None = None

    @property
    def header(self) -> list[str]:
        return [c.label for c in self.columns]

    def indexes(self, *kinds: str) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.kind in kinds]


def download(
    table: Table, fmt: str, title: str, name: str, *, lines: Iterable[bytes] | None = None
):
    """The table as a CSV or XLSX attachment called `name`.csv / .xlsx. A CSV streams, a
    thousand rows at a time, as its rows come from the database (never whole in memory);
    `lines`: the CSV's rows written already, in pieces of whole lines (the header is the
    table's)."""
    if fmt == "csv":
        rows = table.rows if table.totals is None else chain(table.rows, [table.totals])
        data = io.BytesIO(b"")
    else:
        data = io.BytesIO(
            exports.xlsx_bytes(
                title,
                table.header,
                table.rows,
                money_columns=table.indexes("money"),
                date_columns=table.indexes("date", "time"),
                totals=table.totals,
            )
        )
    # send_file writes the headers (the file's name, RFC 5987 for a Chinese one).
    response = send_file(
        data, mimetype=FORMATS[fmt], as_attachment=True, download_name=f"{name}.{fmt}"
    )
    if fmt == "csv":
        response.direct_passthrough = False
        if lines is None:
            response.response = exports.csv_chunks(table.header, rows)
        else:
            response.response = chain([exports.csv_head(table.header)], lines)
        response.headers.pop("Content-Length", None)
    response.headers["Cache-Control"] = "no-store"  # members' data: not kept by the browser
    return response


def export_format() -> str | None:
    fmt = request.args.get("format")
    return fmt if fmt in FORMATS else None


def export_urls() -> dict[str, str]:
    """The page's own address with its filters, as CSV and as XLSX. Names url_for would take
    for itself (_external, _scheme…) are dropped: a crafted link must not choose the scheme."""
    return {fmt: this_page(format=fmt, page=None) for fmt in FORMATS}


# ---------------------------------------------------------------- 交易统计


def stats_table(days: list[reports.DayStats], totals: reports.DayStats) -> Table:
    columns = [
        Column("date", _("清算日期"), "date"),
        Column("count", _("交易次数"), "count"),
        Column("recharge", _("储值充值总额"), "money"),
        Column("consume", _("储值消费总额"), "money"),
        Column("balance_net", _("储值沉淀"), "money", net=True),
        Column("points_awarded", _("积分奖励总额"), "count"),
        Column("points_redeemed", _("积分兑换总额"), "count"),
        Column("points_net", _("积分沉淀"), "count", net=True),
    ]

    def cells(d: reports.DayStats, first: object) -> list:
        return [
            first,
            d.count,
            yuan(d.recharge_fen),
            yuan(d.consume_fen),
            yuan(d.balance_net_fen),
            d.points_awarded,
            d.points_redeemed,
            d.points_net,
        ]

    return Table(columns, [cells(d, d.date) for d in days], cells(totals, _("合计")))


class StatsForm(Form):
    # The fields are sent as from / to, the names the API's statistics take.
    date_from = StringField(_l("开始日期"), name="from", widget=DateInput())
    date_to = StringField(_l("结束日期"), name="to", widget=DateInput())
    branch = SelectField(_l("门店"), validate_choice=False)


@bp.get("/reports/stats")
@needs(CAN_READ_JOURNAL)
def stats():
    """Statistics are read with a GET form: nothing changes, so there is no CSRF token."""
    form = StatsForm(request.args)
    today = shop_date(utcnow())
    try:
        date_from = cards.date_arg(form.date_from.data, "date_from") or today.replace(day=1)
        date_to = cards.date_arg(form.date_to.data, "date_to") or today
        branch_id = report_branch(form)
        days, totals = reports.daily_stats(date_from, date_to, branch_id)
    except LedgerError as exc:
        refused(form, exc, {"bad_request": "date_to", "branch_not_found": "branch"})
        return render_template("backoffice/stats.html", form=form, table=None, chart=None)
    form.date_from.data, form.date_to.data = date_from.isoformat(), date_to.isoformat()
    table = stats_table(days, totals)
    fmt = export_format()
    if fmt:
        title = _("交易统计")
        return download(table, fmt, title, f"{title}_{date_from}_{date_to}")
    return render_template(
        "backoffice/stats.html",
        form=form,
        table=table,
        chart=day_chart(days),
        exports=export_urls(),
        date_from=date_from,
        date_to=date_to,
    )


# ---------------------------------------------------------------- 交易流水


def journal_columns() -> list[Column]:
    return [
        Column("trace_no", _("流水号")),
        Column("card_no", _("卡号")),
        Column("amount", _("交易金额"), "money"),
        Column("points", _("交易积分"), "count"),
        Column("type", _("交易类型")),
        Column("created_at", _("交易时间"), "time"),
        Column("operator", _("操作员")),
        Column("status", _("交易状态")),
        Column("voucher_no", _("凭证号")),
        # 离线交易: 交易时间 is then when the terminal made the sale, 上传时间 when it reached
        # the journal (its batch and settlement date); both empty for any other row.
        Column("offline", _("离线")),
        Column("uploaded_at", _("上传时间"), "time"),
    ]


def operator_label(line: reports.JournalLine) -> str | None:
    """As seed 003 shows it: "<terminal ID>-<operator's name>"; an import has no terminal."""
    if line.terminal_id is None:
        return None
    who = line.operator_name or line.operator_no
    return f"{line.terminal_id}-{who}" if who else line.terminal_id


def journal_cells() -> Callable[[reports.JournalLine], list]:
    """The cells of a journal row, for the page and both files. The names are translated once
    here, not once a row: an export may hold 100 000 rows."""
    types = {kind: str(name) for kind, name in TYPE_NAMES.items()}
    statuses = {status: str(name) for status, name in JOURNAL_STATUS_NAMES.items()}
    offline_flag = _("离线")

    def shop_time(moment):
        return local(moment).replace(tzinfo=None, microsecond=0)

    def cells(line: reports.JournalLine) -> list:
        offline_sale = line.offline and line.sold_at is not None
        return [
            six(line.trace_no),
            line.card_no,
            yuan(line.amount_fen),
            line.points,
            types[line.type],
            shop_time(line.sold_at if offline_sale else line.created_at),
            operator_label(line),
            statuses[line.status],
            six(line.voucher_no),
            offline_flag if line.offline else None,
            shop_time(line.created_at) if line.offline else None,
        ]

    return cells


def yuan_text(fen: int) -> str:
    """str(yuan(fen)) without a Decimal: -1234 -> "-12.34"."""
    sign, fen = ("-", -fen) if fen < 0 else ("", fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def journal_csv_cells() -> Callable[[reports.JournalLine], list]:
    """journal_cells as the CSV writes them (exports.csv_text): money as text without a
    Decimal, a time moved to the shop's zone by its hour's offset, found once per hour (an
    hour in which the zone's offset changes is converted row by row). SQLite writes the
    journal's CSV (reports.journal_csv); these are the cells of the rows it leaves to
    Python, and what its lines are tested against."""
    guard = exports.csv_text
    hours: dict[datetime, timedelta | None] = {}

    def shop_text(moment: datetime) -> str:
        hour = moment.replace(minute=0, second=0, microsecond=0)
        if hour not in hours:
            first, last = local(hour).utcoffset(), local(hour + _LAST_OF_HOUR).utcoffset()
            hours[hour] = first if first == last else None
        offset = hours[hour]
        if offset is None:
            return local(moment).strftime("%Y-%m-%d %H:%M:%S")
        return (moment + offset).isoformat(" ", "seconds")

    def row(line: reports.JournalLine) -> list:
        offline_sale = line.offline and line.sold_at is not None
        return [
            None if line.trace_no is None else f"{line.trace_no:06d}",
            guard(line.card_no),
            yuan_text(line.amount_fen),
            line.points,
            types[line.type],
            shop_text(line.sold_at if offline_sale else line.created_at),
            guard(operator_label(line)),
            statuses[line.status],
            None if line.voucher_no is None else f"{line.voucher_no:06d}",
            offline_flag if line.offline else None,
            shop_text(line.created_at) if line.offline else None,
        ]

    types = {kind: str(name) for kind, name in TYPE_NAMES.items()}
    statuses = {status: str(name) for status, name in JOURNAL_STATUS_NAMES.items()}
    offline_flag = _("离线")
    return row


def journal_csv_names() -> reports.CsvNames:
    """What the CSV writes for a type, a status and an offline row (journal_cells' names)."""
    return reports.CsvNames(
        {kind: str(name) for kind, name in TYPE_NAMES.items()},
        {status: str(name) for status, name in JOURNAL_STATUS_NAMES.items()},
        _("离线"),
    )


def journal_csv_line() -> Callable[[reports.JournalLine], bytes]:
    """A journal row as its CSV line, written in Python (journal_csv_cells): for a row SQLite
    did not write (reports.journal_csv)."""
    cells = journal_csv_cells()
    return lambda line: exports.csv_line(cells(line))


_LAST_OF_HOUR = timedelta(minutes=59, seconds=59, microseconds=999_999)


def _choices(names: dict) -> list[SelectChoice]:
    return [SelectChoice("", _l("全部")), *(SelectChoice(k, v) for k, v in names.items())]


class JournalForm(Form):
    card_no = StringField(
        _l("卡号"), widget=TextInput(), render_kw={"inputmode": "numeric", "autocomplete": "off"}
    )
    time_from = StringField(_l("交易时间（起）"), widget=DateTimeLocalInput())
    time_to = StringField(_l("交易时间（止）"), widget=DateTimeLocalInput())
    status = SelectField(
        _l("交易状态"),
        choices=_choices(JOURNAL_STATUS_NAMES),
        validate_choice=False,
    )
    date_from = StringField(_l("交易日期（起）"), widget=DateInput())
    date_to = StringField(_l("交易日期（止）"), widget=DateInput())
    type = SelectField(_l("交易类型"), choices=_choices(TYPE_NAMES), validate_choice=False)
    trace_no = StringField(
        _l("交易流水号"), render_kw={"inputmode": "numeric", "autocomplete": "off"}
    )
    terminal_id = SelectField(_l("终端"), validate_choice=False)
    branch = SelectField(_l("门店"), validate_choice=False)


@dataclass
class JournalRow:
    """A journal row for the page: the exported cells, and what the page links or colours."""

    cells: list
    status: str
    receipt_url: str | None
    offline: bool = False  # 离线交易: the page marks its time as the sale's


def receipt_url(voucher_no: str | None) -> str | None:
    """The receipt page of a voucher, once the back office has one."""
    if voucher_no is None or "backoffice.receipt" not in current_app.view_functions:
        return None
    return url_for("backoffice.receipt", voucher_no=voucher_no)


def page_rows(transactions: Iterable[Transaction]) -> list[JournalRow]:
    cells = journal_cells()
    lines = map(reports.journal_line, transactions)
    return [
        JournalRow(cells(x), x.status, receipt_url(six(x.voucher_no)), x.offline) for x in lines
    ]


@bp.get("/reports/journal")
@needs(CAN_READ_JOURNAL)
def journal():
    """The journal is read with a GET form: nothing changes, so there is no CSRF token."""
    form = JournalForm(request.args)
    form.terminal_id.choices = [SelectChoice("", _("全部"))] + [
        SelectChoice(t.terminal_id, f"{t.terminal_id} {t.name}".strip())
        for t in terminals.list_terminals()
    ]
    fmt = export_format()
    page = page_arg()
    try:
        filters = reports.journal_filter(request.args)
        filters = dataclasses.replace(filters, branch_id=report_branch(form))
        if fmt == "csv":
            lines, _total = reports.journal_csv(filters, journal_csv_names(), journal_csv_line())
        elif fmt:
            rows, _total = reports.journal_export(filters, XLSX_LIMIT)
        else:
            rows, total = reports.journal(filters, page, PER_PAGE)
    except LedgerError as exc:
        refused(form, exc, {"branch_not_found": "branch"})
        return render_template(
            "backoffice/journal.html", form=form, columns=journal_columns(), rows=None
        )
    if fmt:
        title = _("交易流水")
        stamp = local(utcnow()).strftime("%Y%m%d-%H%M%S")
        if fmt == "csv":
            return download(
                Table(journal_columns(), ()), fmt, title, f"{title}_{stamp}", lines=lines
            )
        table = Table(journal_columns(), map(journal_cells(), rows))
        return download(table, fmt, title, f"{title}_{stamp}")
    return render_template(
        "backoffice/journal.html",
        form=form,
        columns=journal_columns(),
        rows=page_rows(rows),
        pager=Pager(page, PER_PAGE, total),
        exports=export_urls(),
    )


# ---------------------------------------------------------------- the home page


def offline_open() -> tuple[int, int] | None:
    """The offline uploads still to reconcile (count, consume amount in fen), for those who
    reconcile them; None when there are none."""
    if not current_user.can(CAN_RECONCILE):
        return None
    totals = offline.totals()
    count = totals.counts["failed"]
    return (count, totals.amounts_fen["failed"]) if count else None


@bp.get("/")
@needs()
def dashboard():
    if not current_user.can(CAN_READ_JOURNAL):
        return render_template(
            "backoffice/dashboard.html", figures=None, offline_open=offline_open()
        )
    today = shop_date(utcnow())
    # A staff member limited to one branch sees that branch's figures; the owner of a chain
    # the whole chain's, and today's of each branch beside them.
    limit = branches.limit_of(current_user.actor)
    chain = branches.is_chain()
    first_day = today - timedelta(days=DASHBOARD_DAYS - 1)
    days, _totals = reports.daily_stats(first_day, today, limit)
    recent = reports.recent(RECENT, limit)
    return render_template(
        "backoffice/dashboard.html",
        branch_name=branches.find(limit).name if chain and limit is not None else None,
        by_branch=[(b, reports.daily_stats(today, today, b.id)[1]) for b in branches.every()]
        if chain and limit is None
        else None,
        figures=reports.overview(today, limit),
        chart=day_chart(days),
        columns=journal_columns(),
        rows=page_rows(recent),
        offline_open=offline_open(),
    )


# ---------------------------------------------------------------- the chart


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # recharge or consume: its CSS class and colour
    title: str  # shown on hover


@dataclass
class Chart:
    """Daily recharge and consume as bars, laid out here; _chart.html only draws them."""

    title: str
    width: int = 640
    height: int = 270
    left: int = 64
    right: int = 628
    top: int = 40
    bottom: int = 240
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label in yuan)
    labels: list[tuple[float, str]] = field(default_factory=list)  # (x, date)
    bars: list[Bar] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (kind, label)


# The bars' colours (the legend's too): recharge blue, consume orange.
CHART_COLOURS = {"recharge": "#1f6feb", "consume": "#f79009"}


bp.add_app_template_global(CHART_COLOURS, "chart_colours")


@bp.app_template_global()
def chart_bars(chart: Chart) -> Markup:
    """The bars of a chart, written here rather than by a loop of the template: a year is 730
    of them."""
    return Markup(
        "\n    ".join(
            f'<rect class="bar bar-{escape(b.kind)}" x="{b.x}" y="{b.y}" width="{b.width}" '
            f'height="{b.height}" fill="{CHART_COLOURS[b.kind]}"><title>{escape(b.title)}'
            "</title></rect>"
            for b in chart.bars
        )
    )


def tick_step(top_fen: int) -> int:
    """The smallest of 1, 2, 5 × 10ⁿ fen that reaches `top_fen` in at most 4 steps, so the
    axis shows 3 to 5 round values from zero."""
    exponent = 0
    while True:
        for digit in (1, 2, 5):
            step = digit * 10**exponent
            if math.ceil(top_fen / step) <= 4:
                return step
        exponent += 1


def _tick_label(fen: int, step: int) -> str:
    return f"{fen // 100:,}" if step % 100 == 0 else format_fen(fen)


def day_chart(days: list[reports.DayStats]) -> Chart:
    names = {"recharge": _("储值充值"), "consume": _("储值消费")}
    first, last = days[0].date, days[-1].date
    chart = Chart(title=_("%(start)s 至 %(end)s 每日储值充值与消费（元）", start=first, end=last))
    chart.legend = list(names.items())
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top
    highest = max(max(d.recharge_fen, d.consume_fen) for d in days)
    step = tick_step(highest or 10_000)  # nothing yet: an axis up to 100 yuan
    steps = max(2, math.ceil((highest or 10_000) / step))  # 3 to 5 ticks, 1 fen at the top too
    axis_top = step * steps
    chart.ticks = [
        (round(chart.bottom - plot_h * i / steps, 1), _tick_label(step * i, step))
        for i in range(steps + 1)
    ]

    slot = plot_w / len(days)
    bar_w = min(slot * 0.4, 18)
    gap = min(slot * 0.06, 2)
    for index, d in enumerate(days):
        middle = chart.left + slot * (index + 0.5)
        for kind, fen, x in (
            ("recharge", d.recharge_fen, middle - gap / 2 - bar_w),
            ("consume", d.consume_fen, middle + gap / 2),
        ):
            if fen <= 0:
                continue
            height = max(plot_h * fen / axis_top, 1)
            chart.bars.append(
                Bar(
                    x=round(x, 2),
                    y=round(chart.bottom - height, 2),
                    width=round(bar_w, 2),
                    height=round(height, 2),
                    kind=kind,
                    title=f"{d.date} {names[kind]} {format_fen(fen)}",
                )
            )

    same_year = first.year == last.year
    room = 64 if same_year else 92  # px a date label needs
    every = math.ceil(len(days) / max(1, plot_w // room))
    chart.labels = [
        (round(chart.left + slot * (i + 0.5), 1), _date_label(d.date, same_year))
        for i, d in enumerate(days)
        if i % every == 0
    ]
    return chart


def _date_label(day: date, same_year: bool) -> str:
    return day.strftime("%m-%d") if same_year else day.isoformat()
