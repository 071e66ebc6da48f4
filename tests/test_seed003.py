"""Seed 003 (the merchant web front) shows a real journal and the daily statistics it produced.
Replaying that journal through the ledger must reproduce the statistics, day by day.

The seed's journal shows the rows of 12-10, 12-12 and 12-13. The statistics also count five
recharges totalling 2000.00 on 12-08 and three consumes totalling 180.00 (18 points) on 12-09
whose rows the seed does not show; they are replayed here as rows of that shape. Card
1680860097157114 redeems 200 points on 12-12 after earning only 9 that day, so it was imported
with an opening balance of points, which (like every opening entry) counts nowhere.
"""

from datetime import datetime

import pytest
from conftest import SUPERVISOR_PASSWORD, Api, body, ensure_password, operator_actor, rid

from kakatong.domain import cards, ledger
from kakatong.store.runtime import to_utc

A = "1680860079316804"
B = "1680860097157114"

# 交易统计 as printed in seed 003 (清算日期, 交易次数, 储值充值总额, 储值消费总额, 储值沉淀,
# 积分奖励总额, 积分兑换总额, 积分沉淀); the seed prints a zero 积分沉淀 as "0."
SEED_STATS = """\
2011-12-02	0	0.00	0.00	0.00	0	0	0.
2011-12-03	0	0.00	0.00	0.00	0	0	0.
2011-12-04	0	0.00	0.00	0.00	0	0	0.
2011-12-05	0	0.00	0.00	0.00	0	0	0.
2011-12-06	0	0.00	0.00	0.00	0	0	0.
2011-12-07	0	0.00	0.00	0.00	0	0	0.
2011-12-08	5	2000.00	0.00	2000.00	0	0	0.
2011-12-09	3	0.00	180.00	-180.00	18	0	18
2011-12-10	1	0.00	45.00	-45.00	4	0	4
2011-12-11	0	0.00	0.00	0.00	0	0	0.
2011-12-12	5	2100.00	90.00	2010.00	109	200	-91
2011-12-13	2	0.00	139.50	-139.50	13	0	13
"""

# 交易流水 as printed in seed 003, oldest first: (time, card, kind, amount or points, status)
SEED_JOURNAL = [
    ("2011-12-10 10:40:31", A, "consume", "45.00", "success"),  # 41147: -45.00, 4
    ("2011-12-12 11:00:56", B, "recharge", "100.00", "success"),  # 41439
    ("2011-12-12 16:40:32", B, "recharge", "2000.00", "success"),  # 41489
    ("2011-12-12 16:41:08", B, "consume", "90.00", "success"),  # 41491: -90.00, 9
    ("2011-12-12 16:41:28", B, "points_redeem", 200, "success"),  # 41493: -200
    ("2011-12-12 16:49:31", B, "points_earn", 100, "success"),  # 41495: +100
    ("2011-12-13 19:25:47", A, "consume", "49.50", "success"),  # 41591: -49.50, 4
    ("2011-12-13 19:48:02", A, "consume", "90.00", "success"),  # 41593: -90.00, 9
    ("2011-12-13 22:25:41", A, "points_earn", 200, "voided"),  # 41597: +200, 已撤销
]
UNSHOWN = [
    *((f"2011-12-08 1{h}:00:00", A, "recharge", "400.00", "success") for h in range(5)),
    *((f"2011-12-09 1{h}:00:00", A, "consume", "60.00", "success") for h in range(3)),
]


def shop_time(text):
    return to_utc(datetime.fromisoformat(text))


@pytest.fixture
def seed_journal(tmp_path):
    from kakatong.factory import create_app

    create_app({"data_dir": tmp_path, "demo": False})
    ensure_password("00")
    ensure_password("01")
    ledger.import_cards(
        cards.parse_import(
            ",".join(cards.IMPORT_COLUMNS) + f"\n{A},,,,,,,,,,,\n{B},,,,,,,,,,,300\n"
        ),
        now=shop_time("2011-12-01 09:00:00"),
    )
    actor = operator_actor()
    for when, card, kind, value, status in sorted(UNSHOWN + SEED_JOURNAL):
        now = shop_time(when)
        if kind == "consume":
            posted = ledger.consume(actor, card, value, request_id=rid(), now=now)
        elif kind == "recharge":
            posted = ledger.recharge(actor, card, value, "cash", request_id=rid(), now=now)
        elif kind == "points_earn":
            posted = ledger.points_earn(actor, card, points=value, request_id=rid(), now=now)
        else:
            posted = ledger.points_redeem(actor, card, value, request_id=rid(), now=now)
        if status == "voided":
            ledger.void(
                actor,
                f"{posted.record.voucher_no:06d}",
                supervisor_password=SUPERVISOR_PASSWORD,
                request_id=rid(),
                now=shop_time("2011-12-13 22:30:00"),
            )
    assert ledger.verify() == []


def expected_rows():
    keys = ["date", "count", "recharge_total", "consume_total", "balance_net",
            "points_awarded", "points_redeemed", "points_net"]  # fmt: skip
    rows = []
    for line in SEED_STATS.splitlines():
        cells = line.split("\t")
        cells[-1] = cells[-1].rstrip(".") or "0"
        row = dict(zip(keys, cells, strict=True))
        for key in ("count", "points_awarded", "points_redeemed", "points_net"):
            row[key] = int(row[key])
        rows.append(row)
    return rows


def test_daily_statistics_reproduce_seed_003(seed_journal, client):
    api = Api(client)
    r = api.get("/api/v1/stats/daily?from=2011-12-02&to=2011-12-13", as_="00")
    assert r.status_code == 200, body(r)
    assert body(r)["days"] == expected_rows()
    assert body(r)["totals"] == {
        "count": 16,
        "recharge_total": "4100.00",
        "consume_total": "454.50",
        "balance_net": "3645.50",
        "points_awarded": 144,
        "points_redeemed": 200,
        "points_net": -56,
    }


def test_the_journal_shows_seed_003s_rows(seed_journal, client):
    api = Api(client)
    r = api.get("/api/v1/transactions?date_from=2011-12-10&date_to=2011-12-13&type=&per_page=50",
                as_="00")  # fmt: skip
    shown = [t for t in body(r)["transactions"] if t["type"] != "void"]
    assert {(t["terminal_id"], t["operator_no"], t["operator_name"]) for t in shown} == {
        ("10000001", "01", "操作员01")
    }
    seen = [(t["created_at"][:19].replace("T", " "), t["card_no"], t["amount"], t["points"],
             t["type"], t["status"]) for t in shown]  # fmt: skip
    assert seen == [
        ("2011-12-13 22:25:41", A, "0.00", 200, "points_earn", "voided"),
        ("2011-12-13 19:48:02", A, "-90.00", 9, "consume", "success"),
        ("2011-12-13 19:25:47", A, "-49.50", 4, "consume", "success"),
        ("2011-12-12 16:49:31", B, "0.00", 100, "points_earn", "success"),
        ("2011-12-12 16:41:28", B, "0.00", -200, "points_redeem", "success"),
        ("2011-12-12 16:41:08", B, "-90.00", 9, "consume", "success"),
        ("2011-12-12 16:40:32", B, "2000.00", 0, "recharge", "success"),
        ("2011-12-12 11:00:56", B, "100.00", 0, "recharge", "success"),
        ("2011-12-10 10:40:31", A, "-45.00", 4, "consume", "success"),
    ]


@pytest.mark.parametrize(
    "query, count",
    [
        (f"card_no={B}", 6),  # with its opening entry
        ("status=voided", 1),
        ("type=consume&date_from=2011-12-13&date_to=2011-12-13", 2),
        ("time_from=2011-12-12T16:41:00&time_to=2011-12-12T16:42:00", 2),
        ("time_from=2011-12-12T08:41:00Z&time_to=2011-12-12T08:42:00Z", 2),
        ("date_from=2011-12-08&date_to=2011-12-08", 5),
        ("trace_no=1", 1),
    ],
)
def test_journal_filters(seed_journal, client, query, count):
    r = Api(client).get(f"/api/v1/transactions?{query}", as_="00")
    assert body(r)["total"] == count, body(r)


def test_journal_pages_newest_first(seed_journal, client):
    api = Api(client)
    first = body(api.get("/api/v1/transactions?per_page=4&page=1", as_="00"))
    second = body(api.get("/api/v1/transactions?per_page=4&page=2", as_="00"))
    assert first["total"] == second["total"] == 19  # 1 opening, 17 transactions, 1 void
    times = [t["created_at"] for t in first["transactions"] + second["transactions"]]
    assert times == sorted(times, reverse=True) and len(set(map(str, times))) >= 7
