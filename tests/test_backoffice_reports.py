"""报表查询 in the back office: 交易统计 (daily statistics) with its chart, 交易流水 (the
journal) with every filter of seed 003, their CSV and XLSX exports, and the home page.

The statistics and the journal are read with GET forms: they change nothing, so they carry no
CSRF token and there is no CSRF refusal to test. Their role checks are tested like any page's.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser

import openpyxl
import pytest
from conftest import (
    GOLD,
    PINS,
    PLAIN,
    SILVER,
    SUPERVISOR_PASSWORD,
    ensure_password,
    html,
    operator_actor,
    rid,
)

from kakatong.domain import exports, formats, ledger, reports
from kakatong.domain.actors import Actor
from kakatong.domain.errors import LedgerError
from kakatong.store.models import Staff, Terminal, Transaction
from kakatong.store.runtime import shop_date, to_utc, utcnow
from kakatong.web.backoffice import reports as report_views

STATS_HEADER = ["清算日期", "交易次数", "储值充值总额", "储值消费总额", "储值沉淀",
                "积分奖励总额", "积分兑换总额", "积分沉淀"]  # fmt: skip
JOURNAL_HEADER = ["流水号", "卡号", "交易金额", "交易积分", "交易类型", "交易时间", "操作员",
                  "交易状态", "凭证号", "离线", "上传时间"]  # fmt: skip

# What `history` posts, as the statistics must count it (a voided points_earn and its void
# count nowhere; the demo cards' opening entries count nowhere).
STATS = [
    ["2011-12-08", "1", "400.00", "0.00", "400.00", "0", "0", "0"],
    ["2011-12-09", "1", "0.00", "60.00", "-60.00", "6", "0", "6"],
    ["2011-12-10", "0", "0.00", "0.00", "0.00", "0", "0", "0"],
    ["2011-12-11", "0", "0.00", "0.00", "0.00", "0", "0", "0"],
    ["2011-12-12", "3", "50.00", "88.00", "-38.00", "13", "200", "-187"],
]
TOTALS = ["合计", "5", "450.00", "148.00", "302.00", "19", "200", "-181"]
RANGE = "from=2011-12-08&to=2011-12-12"


def at(text: str) -> datetime:
    return to_utc(datetime.fromisoformat(text))


def backoffice_actor() -> Actor:
    """The owner at the back office's own terminal, as a signed-in web user acts."""
    owner = Staff.get(Staff.role == "owner")
    terminal = Terminal.get(Terminal.kind == "backoffice")
    return Actor(
        owner.id, owner.staff_no, owner.role, terminal.id, terminal.terminal_id, owner.name
    )


@dataclass
class History:
    vouchers: dict  # name -> voucher number (six digits)


@pytest.fixture
def history(app, supervisor) -> History:
    """December 2011 at the shop: at the POS (operator 01) and one recharge in the back office."""
    pos = operator_actor("01")
    posted = {
        "recharge": ledger.recharge(pos, PLAIN, "400", "cash", request_id=rid(),
                                    now=at("2011-12-08 10:00:00")),
        "silver": ledger.consume(pos, SILVER, "60", pin=PINS[SILVER], request_id=rid(),
                                 now=at("2011-12-09 12:00:00")),
        "gold": ledger.consume(pos, GOLD, "100", pin=PINS[GOLD], request_id=rid(),
                               now=at("2011-12-12 09:30:00")),  # 88 % -> 88.00, 13 points
        "redeem": ledger.points_redeem(pos, GOLD, 200, pin=PINS[GOLD], request_id=rid(),
                                       now=at("2011-12-12 10:00:00")),
        "earn": ledger.points_earn(pos, PLAIN, points=100, request_id=rid(),
                                   now=at("2011-12-12 16:49:31")),
    }  # fmt: skip
    posted["void"] = ledger.void(
        pos, formats.six(posted["earn"].record.voucher_no), supervisor_password=SUPERVISOR_PASSWORD,
        request_id=rid(), now=at("2011-12-12 17:00:00"),
    )  # fmt: skip
    posted["office"] = ledger.recharge(
        backoffice_actor(),
        GOLD,
        "50",
        "wechat",
        pin=PINS[GOLD],
        request_id=rid(),
        now=at("2011-12-12 18:00:00"),
    )
    return History({name: formats.six(p.record.voucher_no) for name, p in posted.items()})


# ---------------------------------------------------------------- reading pages


class Tables(HTMLParser):
    """The text of each cell of each <table id=…>, and the <a href> in it, row by row."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: dict[str, list[list[str | None]]] = {}
        self._table = self._cell = None
        self._href = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = []
            self.links[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
            self.links[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell, self._href = [], None
        elif tag == "a" and self._cell is not None:
            self._href = attrs.get("href")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self.links[self._table][-1].append(self._href)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table(response, table_id: str) -> list[list[str]]:
    """The rows of a table, its header row first."""
    return Tables(html(response)).tables[table_id]


def error_beside(response, field: str) -> str | None:
    found = re.search(rf'<small class="error" id="err-{field}">([^<]*)</small>', html(response))
    return found.group(1) if found else None


def csv_rows(response) -> list[list[str]]:
    data = response.data
    assert data.startswith(b"\xef\xbb\xbf"), data[:10]
    text = data[3:].decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline="")))


def workbook(response):
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return openpyxl.load_workbook(io.BytesIO(response.data))


def journal_count() -> int:
    return Transaction.select().count()


# ---------------------------------------------------------------- 交易统计


def test_statistics_rows_and_totals(office, history):
    r = office.get(f"/reports/stats?{RANGE}")
    assert r.status_code == 200
    rows = table(r, "stats")
    assert rows[0] == STATS_HEADER
    assert rows[1:-1] == STATS
    assert rows[-1] == TOTALS
    page = html(r)
    # Negative nets in red, the others not; amounts right-aligned.
    assert re.search(r'<td class="c-balance_net num neg"[^>]*>-60.00</td>', page)
    assert re.search(r'<td class="c-points_net num neg"[^>]*>-187</td>', page)
    assert re.search(r'<td class="c-recharge num"[^>]*>400.00</td>', page)
    assert not re.search(r'class="[^"]*neg"[^>]*>400.00<', page)
    assert 'value="2011-12-08"' in page and 'value="2011-12-12"' in page


def test_statistics_default_to_this_month(office, api):
    assert api.transact("consume", PLAIN, amount="12.30").status_code == 201
    today = shop_date(utcnow())
    r = office.get("/reports/stats")
    assert r.status_code == 200
    page = html(r)
    assert f'name="from" type="date" value="{today.replace(day=1)}"' in page
    assert f'name="to" type="date" value="{today}"' in page
    rows = table(r, "stats")[1:-1]
    assert [row[0] for row in rows] == [str(today.replace(day=d)) for d in range(1, today.day + 1)]
    assert rows[-1][:4] == [str(today), "1", "0.00", "12.30"]
    assert table(r, "stats")[-1][:4] == ["合计", "1", "0.00", "12.30"]


def test_statistics_chart_has_a_bar_per_day_with_data(office, history):
    page = html(office.get(f"/reports/stats?{RANGE}"))
    svg = page[page.index("<svg") : page.index("</svg>")]
    bars = re.findall(r'<rect class="bar bar-(\w+)"[^>]*><title>([^<]*)</title></rect>', svg)
    assert bars == [
        ("recharge", "2011-12-08 储值充值 400.00"),
        ("consume", "2011-12-09 储值消费 60.00"),
        ("recharge", "2011-12-12 储值充值 50.00"),
        ("consume", "2011-12-12 储值消费 88.00"),
    ]
    ticks = re.findall(r'class="chart-tick"[^>]*>([^<]*)<', svg)
    assert ticks == ["0", "100", "200", "300", "400"]
    assert "储值充值" in svg and "储值消费" in svg  # the legend
    assert 'role="img"' in svg and "<title id=" in svg
    # Drawn without script or style attributes: the page's CSP allows neither inline.
    assert "style=" not in page and "<script>" not in page


def test_the_taller_bar_is_the_larger_amount(office, history):
    page = html(office.get(f"/reports/stats?{RANGE}"))
    heights = {
        title.split()[0] + kind: float(height)
        for kind, height, title in re.findall(
            r'<rect class="bar bar-(\w+)"[^>]*height="([0-9.]+)"[^>]*><title>([^<]*)<', page
        )
    }
    assert heights["2011-12-08recharge"] > heights["2011-12-12consume"] > heights[
        "2011-12-09consume"] > heights["2011-12-12recharge"]  # fmt: skip
    assert heights["2011-12-08recharge"] == pytest.approx(200 * 400 / 400)


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("from=2011-12-12&to=2011-12-08", "to", "结束日期早于开始日期"),
        ("from=2008-01-01&to=2011-12-31", "to", "日期范围不能超过三年"),
        ("from=2011-13-01&to=2011-12-31", "from", "日期格式不正确"),
        ("from=20111201&to=2011-12-31", "from", "日期格式不正确"),
        ("from=2011-12-01&to=2011-02-30", "to", "日期格式不正确"),
    ],
)
def test_statistics_refuse_a_bad_range(office, history, query, field, message):
    for suffix in ("", "&format=csv", "&format=xlsx"):
        r = office.get(f"/reports/stats?{query}{suffix}")
        assert r.status_code == 200
        assert r.mimetype == "text/html", suffix
        assert error_beside(r, field) == message
        assert 'id="stats"' not in html(r) and "<svg" not in html(r)


def test_export_links_keep_the_filters_and_nothing_else(office, history):
    page = html(office.get("/reports/journal?type=consume&page=2&_external=1&_scheme=javascript"))
    assert 'href="/reports/journal?type=consume&amp;format=csv"' in page
    assert 'href="/reports/journal?type=consume&amp;format=xlsx"' in page
    assert "javascript:" not in page


def test_statistics_csv(office, history):
    r = office.get(f"/reports/stats?{RANGE}&format=csv")
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "_2011-12-08_2011-12-12.csv" in disposition
    assert "%E4%BA%A4%E6%98%93%E7%BB%9F%E8%AE%A1" in disposition  # 交易统计, RFC 5987
    assert r.headers["Cache-Control"] == "no-store"
    assert csv_rows(r) == [STATS_HEADER, *STATS, TOTALS]


def test_statistics_xlsx(office, history):
    r = office.get(f"/reports/stats?{RANGE}&format=xlsx")
    assert r.status_code == 200
    assert "_2011-12-08_2011-12-12.xlsx" in r.headers["Content-Disposition"]
    book = workbook(r)
    sheet = book.active
    assert sheet.title == "交易统计"
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == STATS_HEADER
    assert all(c.font.bold for c in rows[0])
    values = [[c.value for c in row] for row in rows[1:]]
    assert values[0] == [datetime(2011, 12, 8), 1, 400, 0, 400, 0, 0, 0]
    assert values[4] == [datetime(2011, 12, 12), 3, 50, 88, -38, 13, 200, -187]
    assert values[-1] == ["合计", 5, 450, 148, 302, 19, 200, -181]
    assert len(values) == len(STATS) + 1
    for row in rows[1:]:
        for cell in row[2:5]:
            assert cell.data_type == "n" and cell.number_format == "0.00"
        for cell in (row[1], *row[5:]):
            assert isinstance(cell.value, int)
    assert all(row[0].is_date and row[0].number_format == "yyyy-mm-dd" for row in rows[1:-1])
    assert all(c.font.bold for c in rows[-1])
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width >= 10
    assert sheet.column_dimensions["C"].width >= 12  # 储值充值总额: six wide characters


def test_the_page_and_both_files_show_the_same_figures(office, history):
    page = table(office.get(f"/reports/stats?{RANGE}"), "stats")
    assert csv_rows(office.get(f"/reports/stats?{RANGE}&format=csv")) == page
    sheet = workbook(office.get(f"/reports/stats?{RANGE}&format=xlsx")).active
    for cells, row in zip(sheet.iter_rows(min_row=2, values_only=True), page[1:], strict=True):
        first = cells[0].date().isoformat() if isinstance(cells[0], datetime) else cells[0]
        shown = [first, str(cells[1]), *(f"{v:.2f}" for v in cells[2:5]),
                 *(str(v) for v in cells[5:])]  # fmt: skip
        assert shown == row


# ---------------------------------------------------------------- 交易流水

DECEMBER = "date_from=2011-12-01&date_to=2011-12-31"


def journal_rows(response) -> list[list[str]]:
    rows = table(response, "journal")
    assert rows[0] == JOURNAL_HEADER
    return rows[1:]


def test_journal_columns_as_in_seed_003(office, history):
    r = office.get(f"/reports/journal?{DECEMBER}")
    assert r.status_code == 200
    rows = journal_rows(r)
    assert [(row[4], row[1], row[2], row[3], row[7]) for row in rows] == [
        ("储值充值", GOLD, "50.00", "0", "成功"),
        ("交易撤销", PLAIN, "0.00", "-100", "成功"),
        ("积分累加", PLAIN, "0.00", "100", "已撤销"),
        ("积分消费", GOLD, "0.00", "-200", "成功"),
        ("储值消费", GOLD, "-88.00", "13", "成功"),
        ("储值消费", SILVER, "-60.00", "6", "成功"),
        ("储值充值", PLAIN, "400.00", "0", "成功"),
    ]
    times = [row[5] for row in rows]
    assert times[2] == "2011-12-12 16:49:31"  # the shop's time, as seed 003 shows it
    assert times == sorted(times, reverse=True)  # newest first
    assert [row[6] for row in rows] == ["99000001-店主"] + ["10000001-操作员01"] * 6
    assert rows[2][8] == history.vouchers["earn"]
    assert re.fullmatch(r"[0-9]{6}", rows[0][0])


def test_an_opening_entry_has_no_operator(office, history):
    rows = journal_rows(office.get("/reports/journal?type=opening"))
    assert len(rows) == 3  # the demo cards, imported
    assert {(row[0], row[4], row[6], row[8]) for row in rows} == {("—", "期初导入", "—", "—")}


def test_voucher_links_to_its_receipt_when_there_is_a_receipt_page(app, office, history):
    r = office.get(f"/reports/journal?{DECEMBER}&type=consume")
    links = Tables(html(r)).links["journal"][1:]
    vouchers = [history.vouchers["gold"], history.vouchers["silver"]]
    if "backoffice.receipt" in app.view_functions:
        assert [row[8] for row in links] == [f"/receipts/{v}" for v in vouchers]
    else:
        assert [row[8] for row in links] == [None, None]
    assert [row[8] for row in journal_rows(r)] == vouchers


# (query, the rows it leaves, newest first)
FILTERS = [
    (f"card_no={GOLD}&{DECEMBER}", ["office", "redeem", "gold"]),
    (f"card_no=%20{SILVER}%20&{DECEMBER}", ["silver"]),  # spaces around are forgiven
    ("status=voided", ["earn"]),
    (f"status=success&{DECEMBER}", ["office", "void", "redeem", "gold", "silver", "recharge"]),
    ("type=consume", ["gold", "silver"]),
    ("type=recharge", ["office", "recharge"]),
    ("type=points_earn", ["earn"]),
    ("type=points_redeem", ["redeem"]),
    ("type=void", ["void"]),
    ("date_from=2011-12-09&date_to=2011-12-09", ["silver"]),
    ("date_from=2011-12-12&date_to=2011-12-12", ["office", "void", "earn", "redeem", "gold"]),
    ("date_to=2011-12-08", ["recharge"]),
    ("time_from=2011-12-12T09:00&time_to=2011-12-12T10:00", ["redeem", "gold"]),
    ("time_from=2011-12-12T09:00&time_to=2011-12-12T09:59", ["gold"]),
    ("time_from=2011-12-12T10:00:01&time_to=2011-12-12T16:49:31", ["earn"]),
    ("time_from=2011-12-12T17:00&time_to=2011-12-31T00:00", ["office", "void"]),
    ("terminal_id=99000001", ["office"]),
    (f"terminal_id=10000001&{DECEMBER}&type=consume", ["gold", "silver"]),
    (f"card_no={GOLD}&type=consume&status=success&{DECEMBER}", ["gold"]),
]


def test_each_journal_filter_narrows_the_rows(office, history, subtests):
    # One journal for the whole table (subtests): building it is the slow part.
    for query, expected in FILTERS:
        with subtests.test(query=query):
            rows = journal_rows(office.get(f"/reports/journal?{query}"))
            assert [row[8] for row in rows] == [history.vouchers[name] for name in expected]


def test_trace_number_filter(office, history):
    # Trace numbers are per terminal: 1 is the first at the POS and the first in the back office.
    rows = journal_rows(office.get("/reports/journal?trace_no=1"))
    assert [row[8] for row in rows] == [history.vouchers["office"], history.vouchers["recharge"]]
    rows = journal_rows(office.get("/reports/journal?trace_no=000003&terminal_id=10000001"))
    assert [row[8] for row in rows] == [history.vouchers["gold"]]
    assert [row[0] for row in rows] == ["000003"]


def test_the_terminal_select_lists_the_terminals(office, history):
    page = html(office.get("/reports/journal"))
    select = page[
        page.index('name="terminal_id"') : page.index("</select>", page.index('name="terminal_id"'))
    ]
    assert re.findall(r'<option[^>]*value="([^"]*)"', select) == ["", "10000001", "99000001"]


# (query, the field refused, the message beside it)
BAD_FILTERS = [
    ("card_no=12", "card_no", "卡号必须是 8 到 19 位数字"),
    ("card_no=１６８０８６００９７１５７１１４", "card_no", "卡号必须是 8 到 19 位数字"),
    ("time_from=2011-12-12", "time_from", "日期格式不正确"),
    ("time_to=2011-12-32T10:00", "time_to", "日期格式不正确"),
    ("time_from=2011-12-12T10:00&time_to=2011-12-12T09:00", "time_to", "结束时间早于开始时间"),
    ("date_from=2011-02-30", "date_from", "日期格式不正确"),
    ("date_from=2011-12-12&date_to=2011-12-01", "date_to", "结束日期早于开始日期"),
    ("status=lost", "status", "交易状态不正确"),
    ("type=refund", "type", "交易类型不正确"),
    ("trace_no=abc", "trace_no", "流水号必须是 1 到 6 位数字"),
    ("trace_no=1234567", "trace_no", "流水号必须是 1 到 6 位数字"),
    ("terminal_id=1234", "terminal_id", "终端号必须是 8 位数字"),
]


def test_journal_refuses_a_bad_filter_beside_its_field(office, history, subtests):
    for query, field, message in BAD_FILTERS:
        for suffix in ("", "&format=csv", "&format=xlsx"):
            with subtests.test(query=query + suffix):
                r = office.get(f"/reports/journal?{query}{suffix}")
                assert r.status_code == 200
                assert r.mimetype == "text/html"
                assert error_beside(r, field) == message
                assert 'id="journal"' not in html(r)


def test_journal_pages(office, history):
    pos = operator_actor("01")
    for minute in range(52):
        ledger.points_earn(pos, SILVER, points=minute + 1, pin=PINS[SILVER], request_id=rid(),
                           now=at(f"2011-12-20 10:{minute:02d}:00"))  # fmt: skip
    query = "type=points_earn&date_from=2011-12-20"
    first = office.get(f"/reports/journal?{query}")
    rows = journal_rows(first)
    assert len(rows) == 50
    assert [row[3] for row in rows[:2]] == ["52", "51"]  # newest first
    assert "第 1 / 2 页，共 52 条" in html(first)
    assert "page=2" in html(first)
    second = journal_rows(office.get(f"/reports/journal?{query}&page=2"))
    assert [row[3] for row in second] == ["2", "1"]
    # An export holds every filtered row, not the page's.
    exported = csv_rows(office.get(f"/reports/journal?{query}&page=2&format=csv"))
    assert exported[0] == JOURNAL_HEADER
    assert exported[1:] == rows + second


def test_journal_csv_of_the_filtered_rows(office, history):
    query = f"card_no={GOLD}&{DECEMBER}"
    shown = journal_rows(office.get(f"/reports/journal?{query}"))
    r = office.get(f"/reports/journal?{query}&format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    rows = csv_rows(r)
    assert rows[0] == JOURNAL_HEADER
    # The page shows a dash where the file has an empty cell.
    assert rows[1:] == [[cell.replace("—", "") for cell in row] for row in shown]
    assert [row[2] for row in rows[1:]] == ["50.00", "0.00", "-88.00"]


def test_journal_xlsx_of_the_filtered_rows(office, history):
    r = office.get(f"/reports/journal?type=consume&{DECEMBER}&format=xlsx")
    assert r.status_code == 200
    sheet = workbook(r).active
    assert sheet.title == "交易流水"
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == JOURNAL_HEADER
    assert [[c.value for c in row] for row in rows[1:]] == [
        ["000003", GOLD, -88, 13, "储值消费", datetime(2011, 12, 12, 9, 30),
         "10000001-操作员01", "成功", history.vouchers["gold"], None, None],
        ["000002", SILVER, -60, 6, "储值消费", datetime(2011, 12, 9, 12, 0),
         "10000001-操作员01", "成功", history.vouchers["silver"], None, None],
    ]  # fmt: skip
    for row in rows[1:]:
        assert row[1].data_type == "s"  # a 16-digit card number stays text in Excel
        assert row[2].data_type == "n" and row[2].number_format == "0.00"
        assert row[5].is_date and row[5].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet.column_dimensions["B"].width >= 16


def test_journal_export_refuses_too_many_rows(office, history, monkeypatch):
    monkeypatch.setattr(reports, "EXPORT_LIMIT", 6)
    r = office.get(f"/reports/journal?{DECEMBER}&format=csv")
    assert r.mimetype == "text/html"
    assert "符合条件的流水太多，不能一次导出，请缩小查询范围" in html(r)
    assert 'id="journal"' not in html(r)
    r = office.get(f"/reports/journal?{DECEMBER}&type=consume&format=csv")
    assert r.mimetype == "text/csv" and len(csv_rows(r)) == 3


# ---------------------------------------------------------------- the home page


def test_dashboard_shows_recent_transactions_and_the_chart(office, history, api):
    for _ in range(11):
        assert api.transact("points_earn", PLAIN, points=1).status_code == 201
    r = office.get("/")
    assert r.status_code == 200
    rows = table(r, "recent-journal")
    assert rows[0] == JOURNAL_HEADER
    assert len(rows) == 1 + 10
    assert {row[4] for row in rows[1:]} == {"积分累加"}
    page = html(r)
    assert 'id="dashboard-chart-title"' in page
    today = shop_date(utcnow())
    assert f"{today - timedelta(days=13)} 至 {today}" in page
    assert "style=" not in page


def test_dashboard_for_an_operator_has_no_figures(office_as):
    r = office_as("01").get("/")
    assert r.status_code == 200
    assert "最近交易" not in html(r) and "<svg" not in html(r)


# ---------------------------------------------------------------- who may read reports

PAGES = ["/reports/stats", "/reports/stats?format=csv", "/reports/journal",
         "/reports/journal?format=xlsx"]  # fmt: skip


@pytest.mark.parametrize("staff_no", ["01", "99"])
def test_operator_and_sysadmin_are_refused(office_as, history, staff_no):
    browser = office_as(staff_no)
    before = journal_count()
    for path in PAGES:
        r = browser.get(path)
        assert r.status_code == 403, path
        assert r.mimetype == "text/html", path
    assert journal_count() == before


def test_signed_out_is_sent_to_sign_in(client):
    ensure_password("owner")  # else every page leads to the first-run page
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 302, path
        assert r.headers["Location"].startswith("/login"), path


def test_the_supervisor_reads_the_reports(office_as, history):
    supervisor = office_as("00")
    assert table(supervisor.get(f"/reports/stats?{RANGE}"), "stats")[-1] == TOTALS
    assert len(journal_rows(supervisor.get(f"/reports/journal?{DECEMBER}"))) == 7


def test_navigation_shows_the_reports_to_those_who_may_read_them(office, office_as):
    page = html(office.get("/"))
    assert 'href="/reports/stats"' in page and 'href="/reports/journal"' in page
    page = html(office_as("01").get("/"))
    assert 'href="/reports/stats"' not in page and 'href="/reports/journal"' not in page


# ---------------------------------------------------------------- the pieces


@pytest.mark.parametrize(
    "top_fen, step",
    [
        (1, 1),
        (4, 1),
        (5, 2),
        (9, 5),
        (40_000, 10_000),
        (40_001, 20_000),
        (45_000, 20_000),
        (99_999, 50_000),
        (100_000, 50_000),
        (100_001, 50_000),
        (200_001, 100_000),
        (10, 5),
    ],
)
def test_tick_step(top_fen, step):
    assert report_views.tick_step(top_fen) == step


@pytest.mark.parametrize("top_fen", [1, 2, 7, 99, 1_000, 123_456, 999_999, 10**9, 410_000])
def test_the_axis_shows_three_to_five_round_values(top_fen):
    day = reports.DayStats(date(2011, 12, 1), 1, top_fen, 0)
    ticks = [label for _, label in report_views.day_chart([day]).ticks]
    assert 3 <= len(ticks) <= 5
    assert ticks[0] in ("0", "0.00")
    step = report_views.tick_step(top_fen)
    assert str(step).strip("0") in ("1", "2", "5")


def test_a_long_range_has_few_date_labels_and_stays_in_the_frame():
    start = date(2011, 1, 1)
    days = [
        reports.DayStats(start + timedelta(days=i), 1, (i % 7) * 10_000, (i % 5) * 3_000)
        for i in range(3 * 366)
    ]
    chart = report_views.day_chart(days)
    assert 2 <= len(chart.labels) <= 8
    assert chart.labels[0][1] == "2011-01-01"  # more than one year: the labels carry it
    assert all(chart.left <= b.x and b.x + b.width <= chart.right + 0.01 for b in chart.bars)
    assert all(
        chart.top - 0.01 <= b.y and b.y + b.height <= chart.bottom + 0.01 for b in chart.bars
    )
    assert 3 <= len(chart.ticks) <= 5


def test_an_empty_range_draws_an_axis_and_no_bars():
    chart = report_views.day_chart([reports.DayStats(date(2011, 12, d)) for d in range(1, 31)])
    assert chart.bars == []
    assert [label for _, label in chart.ticks] == ["0", "50", "100"]


@pytest.mark.parametrize(
    "text, end, expected",
    [
        ("2011-12-12T10:00", False, datetime(2011, 12, 12, 10, 0)),
        ("2011-12-12T10:00", True, datetime(2011, 12, 12, 10, 0, 59, 999_999)),
        ("2011-12-12T10:00:05", True, datetime(2011, 12, 12, 10, 0, 5)),
        ("2011-12-12 10:00:05", False, datetime(2011, 12, 12, 10, 0, 5)),
        # With its own zone (the API's callers may send one): aware, and kept so.
        ("2011-12-12T02:00Z", False, datetime(2011, 12, 12, 2, 0, tzinfo=UTC)),
        ("2011-12-12T10:00+08:00", True, datetime(2011, 12, 12, 2, 0, 59, 999_999, tzinfo=UTC)),
        ("", False, None),
    ],
)
def test_time_arg(text, end, expected):
    assert reports.time_arg(text, "time_to", end=end) == expected


@pytest.mark.parametrize(
    "text",
    ["2011-12-12", "2011-12-12T25:00", "2011-12-12T10:00+8", "２０１１-12-12T10:00", "x"],
)
def test_time_arg_refuses(text):
    with pytest.raises(LedgerError) as caught:
        reports.time_arg(text, "time_from")
    assert caught.value.code == "invalid_date" and caught.value.details == {"field": "time_from"}


def test_csv_writer_escapes_formulas_but_not_negative_amounts():
    data = exports.csv_bytes(["a", "b", "c"], [[Decimal("-90.00"), "=1+1", None]])
    assert data == "\ufeffa,b,c\r\n-90.00,'=1+1,\r\n".encode()


def test_xlsx_writer_keeps_a_formula_as_text_and_a_title_excel_accepts():
    data = exports.xlsx_bytes("a/b:c" + "x" * 40, ["名", "额"], iter([["=1+1", Decimal("1.50")]]),
                              money_columns=[1])  # fmt: skip
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet.title == ("a_b_c" + "x" * 40)[:31]
    assert sheet["A2"].value == "=1+1" and sheet["A2"].data_type == "s"
    assert sheet["B2"].value == 1.5 and sheet["B2"].number_format == "0.00"
    assert sheet["B1"].number_format == "General"  # the header is not formatted as money


def test_the_python_cells_are_the_cell_macro(app):
    """reports.cell_html writes a year's statistics without a macro call per cell: it must
    write exactly what the `cell` macro of _reports.html writes, for every kind of value."""
    from datetime import date, datetime
    from decimal import Decimal

    from jinja2.exceptions import UndefinedError

    from kakatong.web.backoffice import reports as views

    macro = app.jinja_env.get_template("backoffice/_reports.html").module.cell
    columns = [
        views.Column("d", "日期", "date"),
        views.Column("t", "时间 <b>", "time"),
        views.Column("m", "金额", "money"),
        views.Column("n", "沉淀", "money", net=True),
        views.Column("c", "次数", "count", net=True),
        views.Column("x", '名"称&', "text"),
    ]
    values = [
        None, date(2026, 12, 5), "合计", datetime(2026, 12, 5, 8, 9, 10), Decimal("-0.05"),
        Decimal("12.34"), Decimal("0.00"), -3, 0, 7, "<script>&\"'", "张三",
    ]  # fmt: skip
    compared = 0
    with app.test_request_context():
        for column in columns:
            for value in values:
                try:
                    expected = str(macro(value, column))
                except (AttributeError, TypeError, UndefinedError):
                    continue  # a value this kind of column never holds
                assert views.cell_html(value, column) == expected, (column, value)
                compared += 1
    assert compared > 40
