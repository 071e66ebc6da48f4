"""The reads rewritten for years of data (bench/bigbench.py measures them on a million journal
rows): each gives what the straightforward query it replaced gives, on a small real shop; the
key ones are served by an index (EXPLAIN QUERY PLAN); the journal's daily sums (JournalDay)
follow every posting and void, and verify catches them when they do not; the upgrade to
version 7 makes the schema a new database has."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date, datetime, timedelta

import pytest
from conftest import GOLD, PINS, PLAIN, SILVER, SUPERVISOR_PASSWORD, ensure_password, rid
from peewee import JOIN, fn
from test_upgrade import UNDO, a_shop_with_history, shape

import kakatong.store.db as store_db
from kakatong.domain import branches, cards, ledger, reports
from kakatong.domain.actors import Actor
from kakatong.factory import create_app
from kakatong.store import schema
from kakatong.store.codes import TRANSACTION_TYPES
from kakatong.store.db import db
from kakatong.store.models import Card, JournalDay, Level, Staff, Terminal, Transaction
from kakatong.store.runtime import to_utc

IMPORT = """card_no,external_no,phone,name,gender,birthday,id_number,level,expires_on,pin,balance,points
1680000000000101,,13700000101,张伟,,,,,,,300.00,50
1680000000000102,X102,13700000102,张小伟,,,,,,,300.00,50
1680000000000103,,,王芳,,,,,,,300.00,50
1680000000000104,,,李13700000101,,,,,,,300.00,50
1680000000000105,,,50%_off,,,,,,,300.00,50
1680000000000106,,13800000106,Anna,,,,,,,300.00,50
"""
NEW_CARDS = [f"16800000000001{n:02d}" for n in range(1, 7)]


def actor_at(terminal: Terminal, staff_no: str) -> Actor:
    member = Staff.get(Staff.staff_no == staff_no)
    return Actor(member.id, member.staff_no, member.role, terminal.id, terminal.terminal_id)


@pytest.fixture
def shop(app, supervisor):
    """Six weeks of three terminals: every type, voids, settlements, trace numbers that repeat
    across terminals, sales either side of the shop's midnight and of a month's end."""
    ensure_password("02")
    ledger.import_cards(cards.parse_import(IMPORT))
    second = Terminal.create(terminal_id="10000002", name="收银台 2", branch=branches.first())
    actors = [
        actor_at(Terminal.get(Terminal.terminal_id == "10000001"), "01"),
        actor_at(second, "02"),
        actor_at(Terminal.get(Terminal.kind == "backoffice"), "owner"),
    ]
    pins = {**PINS, **dict.fromkeys(NEW_CARDS)}
    every = [GOLD, PLAIN, SILVER, *NEW_CARDS]
    start = datetime(2012, 1, 20)
    n = 0
    for day in range(42):
        for slot, hour in enumerate((0, 9, 13, 23)):  # 00:xx and 23:xx: either side of midnight
            n += 1
            actor = actors[n % 3]
            card = every[n % len(every)]
            now = to_utc(start + timedelta(days=day, hours=hour, minutes=slot * 7 + 3))
            common = dict(request_id=rid(), pin=pins[card], now=now)
            kind = n % 5
            if kind == 0:
                posted = ledger.recharge(actor, card, "20.00", "cash", **common)
            elif kind == 1:
                posted = ledger.points_earn(actor, card, points=7, **common)
            elif kind == 2 and Card.get(Card.card_no == card).points >= 3:
                posted = ledger.points_redeem(actor, card, 3, **common)
            else:
                posted = ledger.consume(actor, card, "3.10", **common)
            if n % 11 == 0:
                ledger.void(
                    actor, f"{posted.record.voucher_no:06d}", request_id=rid(),
                    supervisor_password=SUPERVISOR_PASSWORD, pin=pins[card],
                    now=now + timedelta(minutes=1),
                )  # fmt: skip
        if day % 3 == 2:
            for actor in actors:
                ledger.settle(actor, now=to_utc(start + timedelta(days=day, hours=23, minutes=50)))
    assert ledger.verify() == []
    return {"cards": every, "start": start.date()}


# ---------------------------------------------------------------- the queries they replaced


def old_journal_query(filters: reports.JournalFilter):
    """reports._journal_query as it was: joined, every filter a condition."""
    query = (
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
    f = filters
    for wanted, condition in (
        (f.card_no, lambda: Card.card_no == f.card_no),
        (f.time_from, lambda: Transaction.created_at >= to_utc(f.time_from)),
        (f.time_to, lambda: Transaction.created_at <= to_utc(f.time_to)),
        (f.date_from, lambda: Transaction.settle_date >= f.date_from),
        (f.date_to, lambda: Transaction.settle_date <= f.date_to),
        (f.status, lambda: Transaction.status == f.status),
        (f.type, lambda: Transaction.type == f.type),
        (f.trace_no is not None, lambda: Transaction.trace_no == f.trace_no),
        (f.terminal_id, lambda: Terminal.terminal_id == f.terminal_id),
        (f.batch_no is not None, lambda: Transaction.batch_no == f.batch_no),
    ):
        if wanted:
            query = query.where(condition())
    return query.order_by(Transaction.created_at.desc(), Transaction.id.desc())


def old_daily_sums(date_from: date, date_to: date) -> dict:
    counted = (Transaction.status == "success") & Transaction.type.in_(TRANSACTION_TYPES)
    found = {}
    for row in Transaction.select().where(counted, Transaction.settle_date.between(date_from,
                                                                                   date_to)):  # fmt: skip
        day = found.setdefault(row.settle_date, [0, 0, 0, 0, 0])
        day[0] += 1
        day[1] += row.amount_fen if row.type == "recharge" else 0
        day[2] += -row.amount_fen if row.type == "consume" else 0
        day[3] += row.points if row.type in ("consume", "points_earn") else 0
        day[4] += -row.points if row.type == "points_redeem" else 0
    return found


def old_search(text: str, level: str | None = None, status: str | None = None) -> list[str]:
    query = Card.select(Card, Level).join(Level, JOIN.LEFT_OUTER)
    if text:
        query = query.where(
            (Card.card_no == text) | (Card.external_no == text) | (Card.phone == text)
            | Card.name.contains(text)
        )  # fmt: skip
    if level:
        query = query.where(Level.name == level)
    if status:
        query = query.where(Card.status == status)
    return [c.card_no for c in query.order_by(Card.id.desc())]


def filters_to_try(start: date) -> list[reports.JournalFilter]:
    month_end = date(2012, 1, 31)
    local = datetime.combine(start, datetime.min.time())
    return [
        reports.JournalFilter(),
        reports.JournalFilter(type="consume"),
        reports.JournalFilter(type="void"),
        reports.JournalFilter(type="opening"),
        reports.JournalFilter(status="voided"),
        reports.JournalFilter(status="success", type="recharge"),
        reports.JournalFilter(trace_no=5),
        reports.JournalFilter(trace_no=5, terminal_id="10000002"),
        reports.JournalFilter(trace_no=999_999),
        reports.JournalFilter(card_no=GOLD),
        reports.JournalFilter(card_no="1680999999999999"),  # no such card
        reports.JournalFilter(terminal_id="10000002"),
        reports.JournalFilter(terminal_id="10009999"),  # no such terminal
        reports.JournalFilter(terminal_id="10000001", batch_no=3),
        reports.JournalFilter(date_from=date(2012, 2, 1)),
        reports.JournalFilter(date_to=month_end),
        reports.JournalFilter(date_from=date(2012, 1, 1), date_to=month_end),
        reports.JournalFilter(date_from=month_end, date_to=month_end, type="consume"),
        reports.JournalFilter(date_from=date(2012, 2, 3), date_to=date(2012, 2, 3)),
        reports.JournalFilter(time_from=local + timedelta(days=3, hours=12)),
        reports.JournalFilter(
            time_from=local + timedelta(days=3), time_to=local + timedelta(days=9)
        ),
        reports.JournalFilter(card_no=PLAIN, date_from=date(2012, 2, 1), status="success"),
    ]


# ---------------------------------------------------------------- same results as before


def test_the_journal_pages_and_counts_as_before(shop):
    for filters in filters_to_try(shop["start"]):
        expected = [t.id for t in old_journal_query(filters)]
        for per_page in (7, 50):
            for page in range(1, len(expected) // per_page + 3):
                rows, total = reports.journal(filters, page, per_page)
                assert total == len(expected), filters
                wanted = expected[(page - 1) * per_page : page * per_page]
                assert [t.id for t in rows] == wanted, (filters, page)
        first, _total = reports.journal(filters, 1, 50)
        before = list(old_journal_query(filters).limit(50))
        assert [reports.journal_line(t) for t in first] == [reports.journal_line(t) for t in before]


def test_the_exports_as_before(shop):
    for filters in filters_to_try(shop["start"]):
        lines, total = reports.journal_export(filters)
        before = [reports.journal_line(t) for t in old_journal_query(filters)]
        assert list(lines) == before and total == len(before), filters


def test_the_home_page_recent_rows_as_before(shop):
    before = [t.id for t in old_journal_query(reports.JournalFilter()).limit(10)]
    assert [t.id for t in reports.recent(10)] == before


def test_the_statistics_as_before(shop):
    for date_from, date_to in (
        (shop["start"], shop["start"] + timedelta(days=41)),
        (date(2012, 1, 31), date(2012, 2, 1)),
        (date(2011, 1, 1), date(2013, 1, 1)),
        (date(2012, 2, 2), date(2012, 2, 2)),
    ):
        days, totals = reports.daily_stats(date_from, date_to)
        old = old_daily_sums(date_from, date_to)
        for day in days:
            figures = [day.count, day.recharge_fen, day.consume_fen, day.points_awarded,
                       day.points_redeemed]  # fmt: skip
            assert figures == old.get(day.date, [0, 0, 0, 0, 0]), day.date
        assert totals.count == sum(d[0] for d in old.values())
        assert totals.consume_fen == sum(d[2] for d in old.values())


def test_the_home_figures_as_before(shop):
    Card.update(status="frozen").where(Card.card_no == NEW_CARDS[0]).execute()
    figures = reports.overview(date(2012, 2, 10))
    issued = Card.select().where(Card.status != "inactive")
    assert figures.cards_issued == issued.count()
    assert figures.cards_active == issued.where(Card.status == "active").count()
    assert figures.balance_float_fen == Card.select(fn.SUM(Card.balance_fen)).scalar()
    assert figures.month.count == sum(d[0] for d in old_daily_sums(date(2012, 2, 1),
                                                                   date(2012, 2, 10)).values())  # fmt: skip


@pytest.mark.parametrize(
    "text, level, status",
    [
        ("张", None, None),
        ("张伟", None, None),
        ("伟", "普通会员", "active"),
        ("13700000101", None, None),  # a phone, and part of another card's name
        ("13700000102", None, None),
        ("1370000010", None, None),  # part of a name, not a whole phone
        ("1680000000000103", None, None),
        ("168000000000010", None, None),  # card numbers whole, not in part
        ("X102", None, None),
        ("x102", None, None),
        ("%", None, None),
        ("50%_", None, None),
        ("_", None, None),
        ("anna", None, None),  # a name, whatever the case of its letters
        ("", "金卡会员", None),
        ("", None, "active"),
        ("nobody", None, None),
    ],
)
def test_the_member_search_as_before(shop, text, level, status):
    rows, total = cards.search(text, level, status, 1, 200)
    expected = old_search(text, level, status)
    assert [c.card_no for c in rows] == expected and total == len(expected)
    if len(expected) > 2:
        page, _total = cards.search(text, level, status, 2, 2)
        assert [c.card_no for c in page] == expected[2:4]


# ---------------------------------------------------------------- served by an index


def plan(query) -> list[str]:
    sql, params = query.sql()
    return [row[3] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params)]


def journal_page(filters: reports.JournalFilter):
    conditions = reports._conditions(filters)
    return reports._newest_first(reports._where(Transaction.select(Transaction.id), conditions))


@pytest.mark.parametrize(
    "filters, index",
    [
        (reports.JournalFilter(type="consume"), "journal_type_created_at"),
        (reports.JournalFilter(status="voided"), "journal_status_created_at"),
        (reports.JournalFilter(card_no=GOLD), "journal_card_id_created_at"),
        (reports.JournalFilter(terminal_id="10000002"), "journal_terminal_id_created_at"),
        (reports.JournalFilter(trace_no=5), "journal_terminal_id_trace_no"),
        (reports.JournalFilter(trace_no=5, terminal_id="10000002"), "journal_terminal_id_trace_no"),
        (
            reports.JournalFilter(date_from=date(2012, 1, 1), date_to=date(2012, 1, 31)),
            "journal_created_at",
        ),
    ],
)
def test_a_filtered_journal_page_reads_an_index(shop, filters, index):
    steps = plan(journal_page(filters).limit(50))
    assert any(index in step and step.startswith("SEARCH") for step in steps), steps
    assert not any(step.startswith("SCAN") for step in steps), steps
    if filters.trace_no is None:  # the few rows of a trace number are sorted; none else is
        assert not any("TEMP B-TREE" in step for step in steps), steps


def test_the_journal_page_joins_only_its_own_rows(shop):
    steps = plan(reports._newest_first(reports._joined().where(Transaction.id.in_([1, 2, 3]))))
    assert not any(step.startswith("SCAN") for step in steps), steps


def test_the_unfiltered_page_reads_the_time_index_alone(shop):
    steps = plan(journal_page(reports.JournalFilter()).limit(50))
    assert steps == ["SCAN t1 USING COVERING INDEX journal_created_at"], steps


def test_a_trace_number_lookup_reads_an_index(shop):
    query = (
        Transaction.select(Transaction)
        .join(Terminal, on=(Transaction.terminal == Terminal.id))
        .where(
            Terminal.terminal_id == "10000001",
            Transaction.batch_no == Terminal.batch_no,
            Transaction.trace_no == 5,
        )
        .order_by(Transaction.id.desc())
    )  # ledger.find_by_trace's
    steps = plan(query)
    assert any("journal_terminal_id_" in s and s.startswith("SEARCH") for s in steps), steps
    assert not any(s.startswith("SCAN t1") for s in steps), steps


@pytest.mark.parametrize("text", ["13700000101", "1680000000000103", "X102"])
def test_a_member_search_by_number_reads_no_name_but_those_with_digits(shop, text):
    query = Card.select(Card.id).where(Card.id.in_(cards._matching(text)))
    steps = plan(query)
    scans = [s for s in steps if s.startswith("SCAN")]
    if any(c.isdigit() for c in text):
        assert scans and all("card_name_digits" in s for s in scans), steps
    for column in ("card_no", "external_no", "phone"):
        assert any(f"card_{column}" in s and s.startswith("SEARCH") for s in steps), steps


# ---------------------------------------------------------------- the daily sums


def test_the_daily_sums_follow_every_posting_and_void(shop):
    kept = {
        (str(r.settle_date), r.branch_id, r.type, r.status): (r.count, r.amount_fen, r.points)
        for r in JournalDay.select()
        if r.count
    }
    added = {tuple(r[:4]): tuple(r[4:]) for r in db.execute_sql(schema.JOURNAL_DAY_SUMS)}
    assert kept == added
    assert any(status == "voided" for _d, _b, _t, status in kept)


@pytest.mark.parametrize(
    "corrupt",
    [
        "UPDATE journal_day SET amount_fen = amount_fen + 1 WHERE id = (SELECT MAX(id) FROM "
        "journal_day)",
        "UPDATE journal_day SET count = count + 1 WHERE type = 'consume'",
        "DELETE FROM journal_day WHERE type = 'recharge'",
        "INSERT INTO journal_day (settle_date, branch_id, type, status, count, amount_fen,"
        " points) VALUES ('1999-01-01', 1, 'consume', 'success', 1, -100, 1)",
    ],
)
def test_verify_catches_daily_sums_that_disagree(shop, corrupt):
    assert ledger.verify() == []
    db.execute_sql(corrupt)
    problems = ledger.verify()
    assert problems and all(p.startswith("daily sums ") for p in problems), problems


# ---------------------------------------------------------------- the upgrade to version 7


def test_a_version_6_database_upgrades_to_the_new_schema(tmp_path):
    source = tmp_path / "source"
    a_shop_with_history(source)
    data = tmp_path / "data"
    data.mkdir()
    for name in ("kakatong.sqlite3", "secret_key", "pin_pepper", "offline_seal.pem"):
        shutil.copy(source / name, data / name)
    raw = sqlite3.connect(data / "kakatong.sqlite3")
    UNDO[9](raw)
    UNDO[8](raw)
    UNDO[7](raw)
    raw.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    raw.commit()
    assert "journal_day" not in {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    raw.close()

    create_app({"data_dir": data, "demo": True})
    assert ledger.verify() == []  # the daily sums filled from the journal, as it adds up
    assert JournalDay.select().count() > 0
    store_db.db.close()
    assert shape(data / "kakatong.sqlite3") == shape(source / "kakatong.sqlite3")


# ---------------------------------------------------------------- the journal's CSV

# Texts the csv module quotes or the export keeps as text (a formula's start), and some it
# leaves as they are; in names, card numbers and terminal IDs.
ODD_TEXTS = [
    "a,b", 'say "hi"', "two\nlines", "cr\rhere", "crlf\r\n", '"', ",", "=SUM(A1)", "+1", "-2",
    "@x", "\tlead", "\rlead", "'=kept", "==", " space", "全角，逗号", "操作员", "x=1", "a-b",
]  # fmt: skip
ZONES = [
    "Asia/Shanghai",
    "America/New_York",  # spring forward 2012-03-11 07:00 UTC, fall back 2011-11-06 06:00 UTC
    "Australia/Lord_Howe",  # half an hour of summer time: 2012-03-31 15:00 UTC
    "Europe/Dublin",  # summer time written as a negative one in the zone database
    "America/St_Johns",  # -03:30 and -02:30
    "Pacific/Chatham",  # +12:45 and +13:45
    "Asia/Kolkata",  # +05:30, none
    "UTC",
]
# Each of those zones' changes of offset from September 2011 to April 2012 (UTC): rows every
# 7 min 13 s around each, with a fraction of a second, and at its second itself, just before
# and just after.
CHANGES = [
    datetime(2011, 9, 24, 14), datetime(2011, 10, 1, 15, 30), datetime(2011, 10, 30, 1),
    datetime(2011, 11, 6, 4, 30), datetime(2011, 11, 6, 6), datetime(2012, 3, 11, 5, 30),
    datetime(2012, 3, 11, 7), datetime(2012, 3, 25, 1), datetime(2012, 3, 31, 14),
    datetime(2012, 3, 31, 15),
]  # fmt: skip


def test_the_changes_of_offset_the_rows_are_around_are_the_zones():
    from datetime import UTC
    from zoneinfo import ZoneInfo

    def offset(zone: str, moment: datetime) -> timedelta:
        return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).utcoffset()

    found = [
        change for zone in ZONES for change in CHANGES
        if offset(zone, change - timedelta(microseconds=1)) != offset(zone, change)
    ]  # fmt: skip
    assert sorted(found) == CHANGES


def add_journal_row(**fields) -> int:
    row = dict(
        type="consume", status="success", card=Card.get(Card.card_no == PLAIN).id,
        terminal=None, operator=None, operator_no=None, trace_no=None, voucher_no=None,
        batch_no=None, created_at=datetime(2012, 2, 1), settle_date=date(2012, 2, 1),
        amount_fen=0, points=0, balance_after_fen=0, points_after=0, offline=False,
        branch=branches.first().id,
    )  # fmt: skip
    row.update(fields)
    return Transaction.insert(**row).execute()


@pytest.fixture
def odd_journal(shop):
    """The shop's weeks, and rows a real shop may rarely write: names, card numbers and
    terminal IDs with commas, quotes, line breaks and a formula's start; amounts of every
    sign; offline rows with and without their sale time; every type and status; times
    either side of each zone's changes of offset; an offline sale two years before the
    journal began (outside any span of offsets SQLite is given)."""
    staff = [
        Staff.create(staff_no=f"x{i}", name=name, role="operator", active=True,
                     created_at=datetime(2011, 1, 1))
        for i, name in enumerate([*ODD_TEXTS, ""])
    ]  # fmt: skip
    terminals = [Terminal.get(Terminal.terminal_id == "10000001")] + [
        Terminal.create(terminal_id=tid, name="odd", branch=branches.first())
        for tid in ("=T,1", "-9", '"q"', "a\nb")
    ]
    template = Card.get(Card.card_no == PLAIN)
    cards = [template.id]
    for i, number in enumerate(["=1", "12,34", '"5"', "-7", "+86 1", "@9", "1\n2"]):
        cards.append(
            Card.insert(
                card_no=number, status="active", pin_failures=0, balance_fen=0, points=0,
                created_at=datetime(2011, 1, 1), name=f"odd {i}",
            ).execute()
        )  # fmt: skip
    kinds = ["consume", "recharge", "points_earn", "points_redeem", "void", "opening"]
    amounts = [0, -1, -5, -99, -100, -101, -12345, 1, 50, 100, 1_000_000_00, -(2**40)]
    moments = []
    for change in CHANGES:
        for step in range(-12, 13):
            moment = change + timedelta(minutes=7 * step, seconds=13 * step)
            moments.append(moment.replace(microsecond=(step * 37_337) % 1_000_000))
        for edge in (timedelta(0), timedelta(microseconds=-1), timedelta(microseconds=1),
                     timedelta(seconds=-1), timedelta(microseconds=999_999)):  # fmt: skip
            moments.append(change + edge)
    for n, moment in enumerate(moments):
        who = staff[n % len(staff)]
        terminal = terminals[n % len(terminals)] if n % 11 else None
        offline = n % 4 == 0
        add_journal_row(
            type=kinds[n % len(kinds)], status="voided" if n % 5 == 0 else "success",
            card=cards[n % len(cards)], terminal=terminal and terminal.id,
            operator=None if n % 7 == 0 else who.id,
            operator_no=[None, "", "07", "=op,1"][n % 4] if n % 7 == 0 else who.staff_no,
            trace_no=None if n % 6 == 0 else n % 1_000_000,
            voucher_no=None if n % 8 == 0 else 900_000 + n,
            created_at=moment, settle_date=moment.date(),
            amount_fen=amounts[n % len(amounts)], points=(-1) ** n * (n % 50),
            offline=offline,
            sold_at=moment - timedelta(hours=n % 30, microseconds=n) if offline and n % 8 else None,
        )  # fmt: skip
    # Offline sales long before the journal began, and one made before its upload's zone
    # change: SQLite is given no offset for the first, so Python writes that row.
    add_journal_row(offline=True, sold_at=datetime(2009, 1, 1, 3), created_at=datetime(2012, 2, 2),
                    amount_fen=-300, terminal=terminals[1].id, operator=staff[0].id)  # fmt: skip
    add_journal_row(offline=True, sold_at=datetime(2012, 3, 11, 6, 59, 59, 999_999),
                    created_at=datetime(2012, 3, 11, 7, 0, 1), amount_fen=-301)  # fmt: skip
    return shop


def reference_csv(filters: reports.JournalFilter) -> bytes:
    """The journal's CSV as the export wrote it before SQLite wrote its lines: each row's
    cells (Decimal yuan, times moved by the zone) through the csv module."""
    from kakatong.domain import exports
    from kakatong.web.backoffice import reports as views

    lines, _total = reports.journal_export(filters)
    header = [c.label for c in views.journal_columns()]
    return exports.csv_bytes(header, map(views.journal_cells(), lines))


def sqlite_csv(filters: reports.JournalFilter, written=None) -> bytes:
    from kakatong.domain import exports
    from kakatong.web.backoffice import reports as views

    header = [c.label for c in views.journal_columns()]
    pieces, _total = reports.journal_csv(
        filters, views.journal_csv_names(), written or views.journal_csv_line(), chunk_rows=7
    )
    return exports.csv_head(header) + b"".join(pieces)


@pytest.mark.parametrize("zone", ZONES)
def test_the_journal_csv_written_by_sqlite_as_before(app, odd_journal, monkeypatch, zone):
    """Byte for byte what the export wrote before, in every zone, for every filter, the odd
    rows included; the rows SQLite is not given the offsets of are the only ones Python
    writes."""
    from zoneinfo import ZoneInfo

    from kakatong.store import runtime
    from kakatong.web.backoffice import reports as views

    monkeypatch.setattr(runtime, "zone", ZoneInfo(zone))
    filters = [
        *filters_to_try(odd_journal["start"]),
        reports.JournalFilter(date_from=date(2011, 11, 1), date_to=date(2012, 4, 30)),
        reports.JournalFilter(terminal_id="=T,1"),
    ]
    with app.test_request_context("/"):
        python_written = []

        def written(line):
            python_written.append(line)
            return views.journal_csv_line()(line)

        for f in filters:
            expected = reference_csv(f)
            assert sqlite_csv(f, written) == expected, f
        everything = sqlite_csv(reports.JournalFilter(), written)
    for cell in (b'-a,b"', b'-say ""hi"""', b"-two\nlines", b",'=1,", b'"12,34"', b"'-9-",
                 b',"\'=T,1-', b",-0.01,", b",0.00,", b",-10995116277.76,", "离线".encode()):  # fmt: skip
        assert cell in everything, cell
    assert python_written and {line.sold_at for line in python_written} == {datetime(2009, 1, 1, 3)}


def test_a_change_of_zone_for_the_csv_finds_its_offsets(app, odd_journal, monkeypatch):
    """The offsets SQLite is given are the zone's of the day: a shop that changes its zone
    exports in the new one."""
    from zoneinfo import ZoneInfo

    from kakatong.store import runtime

    f = reports.JournalFilter(date_from=date(2012, 3, 1), date_to=date(2012, 4, 30))
    with app.test_request_context("/"):
        written = {}
        for zone in ("America/New_York", "Australia/Lord_Howe", "Asia/Shanghai"):
            monkeypatch.setattr(runtime, "zone", ZoneInfo(zone))
            written[zone] = sqlite_csv(f)
            assert written[zone] == reference_csv(f)
    assert len(set(written.values())) == 3


def test_the_zones_offsets_are_each_change_to_the_second():
    from zoneinfo import ZoneInfo

    york = reports._zone_offsets(ZoneInfo("America/New_York"), date(2011, 1, 1), date(2013, 1, 1))
    assert york == (
        (datetime(2011, 1, 1), -18000), (datetime(2011, 3, 13, 7), -14400),
        (datetime(2011, 11, 6, 6), -18000), (datetime(2012, 3, 11, 7), -14400),
        (datetime(2012, 11, 4, 6), -18000), (datetime(2013, 1, 1), None),
    )  # fmt: skip
    shanghai = reports._zone_offsets(ZoneInfo("Asia/Shanghai"), date(2012, 1, 1), date(2014, 1, 1))
    assert shanghai == ((datetime(2012, 1, 1), 28800), (datetime(2014, 1, 1), None))


def test_the_journal_csv_over_http_as_before(app, odd_journal, office):
    """The view: the header and its byte order mark, then SQLite's lines, in pieces."""
    r = office.get("/reports/journal?date_from=2012-01-01&date_to=2012-03-31&format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.is_streamed
    with app.test_request_context("/"):
        f = reports.JournalFilter(date_from=date(2012, 1, 1), date_to=date(2012, 3, 31))
        assert r.get_data() == reference_csv(f)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Australia/Lord_Howe"])
def test_the_journal_csv_rows_python_writes_as_before(app, monkeypatch, zone):
    """The rows SQLite does not write: the CSV's own cells (no Decimal, a time moved by its
    hour's offset) write the bytes journal_cells wrote, across a change of the zone's offset
    too."""
    from zoneinfo import ZoneInfo

    from kakatong.domain import exports
    from kakatong.store import runtime
    from kakatong.web.backoffice import reports as views

    monkeypatch.setattr(runtime, "zone", ZoneInfo(zone))
    start = datetime(2012, 3, 11, 5, 0, 0, 123456)  # New York's spring forward: 07:00 UTC
    lines = []
    for n in range(400):
        moment = start + timedelta(minutes=7 * n, seconds=n % 60, microseconds=n)
        offline = n % 9 == 0
        lines.append(
            reports.JournalLine(
                n % 7 or None, n, f"1680{n:012d}", "consume" if n % 2 else "void",
                "voided" if n % 5 == 0 else "success", (-1) ** n * n * 37, -n, moment,
                None if n % 13 == 0 else "10000001", "01",
                ODD_TEXTS[n % len(ODD_TEXTS)] if n % 4 == 0 else None,
                offline, moment - timedelta(hours=1) if offline and n % 2 else None,
            )
        )  # fmt: skip
    with app.test_request_context("/"):
        header = [c.label for c in views.journal_columns()]
        before = exports.csv_bytes(header, map(views.journal_cells(), lines))
        now = exports.csv_head(header) + b"".join(map(views.journal_csv_line(), lines))
        assert now == before
