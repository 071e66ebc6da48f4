"""Years of a busy shop, made in a minute: the database `make bench` measures the reads on.

100 000 cards and 1 000 000 journal rows over two years (730 shop days ending today): consumes
(some at a level's discount), recharges by every payment method, points accumulated and
redeemed, voids with the rows they void, opening entries of an import, four POS terminals and
the back office, five operators, one settlement per terminal per day. Every card's balance and
points are what its journal says, row by row (`balance_after_fen`, `points_after`), so
`flask --app app verify` passes on it.

The schema is the app's own (`create_app` runs `initialise`); the rows are written through
SQLite directly, in one transaction, with the journal's indexes dropped during the load and
made again after it (the same statements, from sqlite_master). Triggers stay: whatever the
schema maintains on an insert, it maintains here too.

The result is kept in bench/.cache/, keyed by this generator's version and the schema's: a
second run finds it there. `python bench/bigdata.py [--force] [--verify]` makes it (and with
--verify runs ledger.verify and the integrity check on it).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GENERATOR_VERSION = 1
CACHE = ROOT / "bench" / ".cache"
CARDS = 100_000
ROWS = 1_000_000
DAYS = 730
SEED = 14
POS_TERMINALS = ("10000001", "10000002", "10000003", "10000004")
OPERATORS = ("01", "02", "03", "04", "05")
OWNER_PASSWORD = "bench-owner-2580"
# The consume bench's cards: card_no(i) for i < BENCH_CARDS, each opened with 40 000.00.
BENCH_CARDS = 8
BENCH_BALANCE_FEN = 4_000_000
OPEN_HOUR, CLOSE_HOUR = 9, 22  # the shop's hours, local time
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯"
    "邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
    "玉兰萍红建国志文斌海波宁雪梅晨欣怡子涵浩然雨轩"
)
METHODS = ("cash", "cash", "bank_card", "wechat", "alipay", "other")
# A day's mix of transactions (weights): consume, recharge, points_earn, points_redeem.
MIX = (("consume", 60), ("recharge", 18), ("points_earn", 15), ("points_redeem", 4))
VOID_SHARE = 0.012  # of a terminal's transactions, a void of one earlier in its open batch


def card_no(index: int) -> str:
    return f"1680{index:012d}"


def phone(index: int) -> str:
    return f"13{(index * 7919) % 1_000_000_000:09d}"


def cache_dir() -> Path:
    from kakatong.store.schema import SCHEMA_VERSION

    return CACHE / f"bigdata-g{GENERATOR_VERSION}-s{SCHEMA_VERSION}"


def _stamp(moment: datetime) -> str:
    """A UTC time as the app's driver stores it (datetime.isoformat(" "))."""
    return moment.isoformat(" ")


class Shop:
    """What the generator knows of the shop while it writes: ids, counters, each card's books."""

    def __init__(self, conn: sqlite3.Connection, zone) -> None:
        self.conn = conn
        self.zone = zone
        ids = dict(conn.execute("SELECT terminal_id, id FROM terminal").fetchall())
        self.staff = dict(conn.execute("SELECT staff_no, id FROM staff").fetchall())
        self.staff_names = dict(conn.execute("SELECT staff_no, name FROM staff").fetchall())
        backoffice = conn.execute("SELECT terminal_id FROM terminal WHERE kind = 'backoffice'")
        self.terminals = [*POS_TERMINALS, backoffice.fetchone()[0]]
        self.terminal_pk = ids
        (self.branch,) = conn.execute("SELECT MIN(id) FROM branch").fetchone()
        self.trace = dict.fromkeys(self.terminals, 0)
        self.batch = dict.fromkeys(self.terminals, 1)
        self.voucher = 0
        self.next_id = 1
        self.balance = [0] * CARDS
        self.points = [0] * CARDS
        self.card_pk: list[int] = []
        self.levels: list[tuple[int, int, int]] = []  # (level id, discount, multiplier)
        self.card_level: list[int] = []


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def write_cards(shop: Shop, rng: random.Random, first_day: datetime) -> None:
    conn = shop.conn
    levels = conn.execute("SELECT id, discount_pct, points_multiplier_pct FROM level").fetchall()
    if len(levels) == 1:
        conn.execute(
            "INSERT INTO level (name, discount_pct, points_multiplier_pct) VALUES (?, ?, ?)",
            ("金卡会员", 88, 150),
        )
        levels = conn.execute("SELECT id, discount_pct, points_multiplier_pct FROM level")
        levels = levels.fetchall()
    shop.levels = levels
    activated = _stamp(first_day)
    rows = []
    for i in range(CARDS):
        level = 1 if i >= BENCH_CARDS and rng.random() < 0.15 else 0
        shop.card_level.append(level)
        status = "active"
        roll = rng.random()
        if i >= BENCH_CARDS and roll < 0.01:
            status = "frozen"
        elif i >= BENCH_CARDS and roll < 0.015:
            status = "lost"
        rows.append(
            (
                card_no(i),
                f"EX{i:07d}" if i % 50 == 0 else None,
                phone(i) if i % 10 < 7 else None,
                _name(rng) if i >= BENCH_CARDS else f"bench{i}",
                rng.choice(("male", "female", None)),
                levels[level][0],
                status,
                activated,
                activated,
            )
        )
    conn.executemany(
        "INSERT INTO card (card_no, external_no, phone, name, gender, level_id, status,"
        " activated_at, created_at, balance_fen, points, pin_failures)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0)",
        rows,
    )
    shop.card_pk = [
        pk for (pk,) in conn.execute("SELECT id FROM card WHERE card_no LIKE '1680%' ORDER BY id")
    ]
    if len(shop.card_pk) != CARDS:
        raise RuntimeError("the cards were not all written")


COLUMNS = (
    "id, type, status, card_id, terminal_id, operator_id, operator_no, trace_no, voucher_no,"
    " reference_no, batch_no, created_at, settle_date, amount_fen, price_fen, discount_pct,"
    " purchase_fen, points, balance_after_fen, points_after, service_code, payment_method,"
    " offline, sold_at, original_id, request_id, request_fingerprint, branch_id"
)
_INSERT = f"INSERT INTO journal ({COLUMNS}) VALUES ({', '.join('?' * 28)})"
STATUS, AMOUNT, POINTS, TYPE = 2, 13, 17, 1


def generate(shop: Shop, rng: random.Random, today: date, now: datetime) -> None:
    """The journal, day by day, with each terminal's settlement at the day's end."""
    from kakatong.domain.ledger import points_for
    from kakatong.domain.money import apply_percent

    conn, zone = shop.conn, shop.zone
    kinds = [k for k, w in MIX for _ in range(w)]
    days = [today - timedelta(days=DAYS - 1 - n) for n in range(DAYS)]
    first_local = datetime.combine(days[0], datetime.min.time()).replace(tzinfo=zone)
    first = first_local.replace(hour=8).astimezone(UTC).replace(tzinfo=None)
    # Opening entries (an import of the shop's earlier cards): every bench card and a fifth
    # of the others, at 08:00 on the first day.
    openings = [i for i in range(CARDS) if i < BENCH_CARDS or i % 5 == 0]
    per_day = (ROWS - len(openings)) / DAYS
    written = 0

    def row(kind, i, terminal, operator, moment, day_iso, amount, points, **extra) -> list:
        shop.voucher += 1
        shop.trace[terminal] += 1
        shop.balance[i] += amount
        shop.points[i] += points
        pk = shop.next_id
        shop.next_id += 1
        local = moment.replace(tzinfo=UTC).astimezone(zone)
        return [
            pk, kind, "success", shop.card_pk[i], shop.terminal_pk[terminal],
            shop.staff[operator], operator, shop.trace[terminal], shop.voucher,
            local.strftime("%H%M%S") + f"{shop.voucher % 1_000_000:06d}",
            shop.batch[terminal], _stamp(moment), day_iso, amount, extra.get("price"),
            extra.get("discount"), extra.get("purchase"), points, shop.balance[i],
            shop.points[i], extra.get("service_code"), extra.get("method"), 0, None,
            extra.get("original"), f"bench-{pk}", f"{rng.getrandbits(64):016x}", shop.branch,
        ]  # fmt: skip

    opening_rows = []
    for i in openings:
        amount = BENCH_BALANCE_FEN if i < BENCH_CARDS else rng.randrange(0, 50_000, 100)
        points = 0 if i < BENCH_CARDS else rng.randrange(0, 500)
        shop.balance[i] += amount
        shop.points[i] += points
        opening_rows.append(
            [
                shop.next_id, "opening", "success", shop.card_pk[i], None, None, None, None,
                None, None, None, _stamp(first), days[0].isoformat(), amount, None, None,
                None, points, shop.balance[i], shop.points[i], None, None, 0, None, None,
                None, None, shop.branch,
            ]
        )  # fmt: skip
        shop.next_id += 1
    conn.executemany(_INSERT, opening_rows)
    written += len(opening_rows)

    settlements = []
    skew = CARDS - BENCH_CARDS
    pick = [*POS_TERMINALS * 4, shop.terminals[-1]]  # the back office sells now and then
    for n, day in enumerate(days):
        day_iso = day.isoformat()
        target = round(per_day * (n + 1)) + len(openings) - written
        if n == DAYS - 1:
            target = ROWS - written
        opens = datetime.combine(day, datetime.min.time()).replace(hour=OPEN_HOUR, tzinfo=zone)
        opens = opens.astimezone(UTC).replace(tzinfo=None)
        span = (CLOSE_HOUR - OPEN_HOUR) * 3600
        if day == today:
            span = max(60, min(span, int((now - opens).total_seconds()) - 60))
        offsets = sorted(rng.random() * span for _ in range(target))
        rows: list[list] = []
        open_batch: dict[str, list[list]] = {t: [] for t in shop.terminals}
        for offset in offsets:
            moment = opens + timedelta(seconds=offset)
            terminal = pick[rng.randrange(len(pick))]
            operator = OPERATORS[rng.randrange(len(OPERATORS))]
            candidates = open_batch[terminal]
            if candidates and rng.random() < VOID_SHARE / 0.5:
                original = candidates.pop(rng.randrange(len(candidates)))
                i = original[-1]
                amount, points = -original[AMOUNT], -original[POINTS]
                if (
                    original[STATUS] == "success"
                    and shop.balance[i] + amount >= 0
                    and shop.points[i] + points >= 0
                ):
                    original[STATUS] = "voided"
                    rows.append(
                        row(
                            "void",
                            i,
                            terminal,
                            operator,
                            moment,
                            day_iso,
                            amount,
                            points,
                            price=original[14],
                            discount=original[15],
                            purchase=original[16],
                            service_code=original[20],
                            method=original[21],
                            original=original[0],
                        )  # fmt: skip
                    )
                    continue
            i = BENCH_CARDS + int(skew * rng.random() ** 2.5)
            kind = kinds[rng.randrange(len(kinds))]
            _lvl, discount, multiplier = shop.levels[shop.card_level[i]]
            if kind == "points_redeem" and shop.points[i] < 10:
                kind = "points_earn"
            if kind == "consume":
                price = rng.randrange(500, 30_000, 10)
                paid = apply_percent(price, discount)
                if shop.balance[i] < paid:
                    kind = "recharge"
                else:
                    earned = points_for(paid, multiplier, 1000)
                    new = row(
                        kind, i, terminal, operator, moment, day_iso, -paid, earned,
                        price=price, discount=discount,
                        service_code=f"{rng.randrange(1, 40):04d}" if rng.random() < 0.2 else None,
                    )  # fmt: skip
            if kind == "recharge":
                amount = rng.choice((10_000, 20_000, 30_000, 50_000, 100_000))
                new = row(
                    kind, i, terminal, operator, moment, day_iso, amount, 0,
                    method=METHODS[rng.randrange(len(METHODS))],
                )  # fmt: skip
            elif kind == "points_earn":
                purchase = rng.randrange(1_000, 50_000, 100)
                earned = max(1, points_for(purchase, multiplier, 1000))
                new = row(
                    kind, i, terminal, operator, moment, day_iso, 0, earned, purchase=purchase
                )
            elif kind == "points_redeem":
                spent = rng.randrange(1, shop.points[i] // 2 + 2)
                spent = min(spent, shop.points[i])
                new = row(kind, i, terminal, operator, moment, day_iso, 0, -spent)
            rows.append(new)
            new.append(i)  # the card's index, for a void of it (dropped before the insert)
            candidates.append(new)
        conn.executemany(_INSERT, (r[:27] for r in rows))
        written += len(rows)
        if day != today:
            settlements += settle_day(shop, rows, day, zone)
    conn.executemany(
        "INSERT INTO settlement (terminal_id, batch_no, operator_id, settled_at, settle_date,"
        " totals) VALUES (?, ?, ?, ?, ?, ?)",
        settlements,
    )
    for terminal in shop.terminals:
        conn.execute(
            "UPDATE terminal SET last_trace = ?, batch_no = ? WHERE id = ?",
            (shop.trace[terminal], shop.batch[terminal], shop.terminal_pk[terminal]),
        )
    conn.execute("UPDATE merchant SET last_voucher = ?", (shop.voucher,))
    conn.executemany(
        "UPDATE card SET balance_fen = ?, points = ? WHERE id = ?",
        zip(shop.balance, shop.points, shop.card_pk, strict=True),
    )
    if written != ROWS:
        raise RuntimeError(f"{written} journal rows written, not {ROWS}")


def settle_day(shop: Shop, rows: list[list], day: date, zone) -> list[tuple]:
    """Each terminal's batch of the day closed at the shop's closing time, with the totals
    ledger.settle prints (reports.batch_totals)."""
    closing = datetime.combine(day, datetime.min.time()).replace(hour=CLOSE_HOUR, tzinfo=zone)
    settled_at = closing.astimezone(UTC).replace(tzinfo=None)
    kinds = [k for k, _w in MIX]
    done = []
    for terminal in shop.terminals:
        pk, batch = shop.terminal_pk[terminal], shop.batch[terminal]
        by_type = {k: {"count": 0, "amount_fen": 0, "points": 0} for k in kinds}
        voids = 0
        for r in rows:
            if r[4] != pk:
                continue
            if r[TYPE] == "void":
                voids += 1
            elif r[STATUS] == "success":
                t = by_type[r[TYPE]]
                t["count"] += 1
                t["amount_fen"] += r[AMOUNT]
                t["points"] += r[POINTS]
        totals = {
            "terminal_id": terminal,
            "batch_no": batch,
            "count": sum(t["count"] for t in by_type.values()),
            "types": by_type,
            "void_count": voids,
            "settled_at": closing.isoformat(timespec="seconds"),
            "settle_date": day.isoformat(),
        }
        done.append(
            (pk, batch, shop.staff["00"], _stamp(settled_at), day.isoformat(),
             json.dumps(totals, ensure_ascii=False))
        )  # fmt: skip
        shop.batch[terminal] = batch + 1
    return done


def build(target: Path) -> float:
    """Make the shop's data dir at `target` (replaced if there); the seconds it took."""
    from kakatong.domain import staff
    from kakatong.factory import create_app
    from kakatong.store import runtime
    from kakatong.store.db import db
    from kakatong.store.models import Terminal

    started = time.perf_counter()
    if target.exists():
        shutil.rmtree(target)
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    app = create_app({"data_dir": work, "demo": False})
    with app.app_context():
        staff.set_password("owner", OWNER_PASSWORD)
        for number in POS_TERMINALS:
            Terminal.get_or_create(terminal_id=number, defaults={"name": f"收银台 {number[-1]}"})
    path = app.config["KAKATONG"].database_path
    db.close()

    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -400000")
    conn.execute("PRAGMA foreign_keys = OFF")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'journal'"
        " AND sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    rng = random.Random(SEED)
    now = runtime.utcnow()
    today = runtime.shop_date(now)
    first = datetime.combine(today - timedelta(days=DAYS - 1), datetime.min.time())
    conn.execute("BEGIN")
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    shop = Shop(conn, runtime.zone)
    write_cards(shop, rng, first - timedelta(hours=8))
    generate(shop, rng, today, now)
    for _name, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    problems = conn.execute("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys: {problems[:5]}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    work.rename(target)
    return time.perf_counter() - started


def ensure(force: bool = False) -> Path:
    """The cached data dir, made first if it is not there yet."""
    target = cache_dir() / "data"
    if force or not (target / "kakatong.sqlite3").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / ".gitignore").write_text("*\n")
        for old in CACHE.glob("bigdata-*"):
            if old != target.parent:
                shutil.rmtree(old, ignore_errors=True)
        print(f"generating {CARDS:,} cards and {ROWS:,} journal rows …", flush=True)
        seconds = build(target)
        size = (target / "kakatong.sqlite3").stat().st_size / 2**20
        print(f"generated in {seconds:.1f} s ({size:.0f} MiB) at {target}", flush=True)
    return target


def verify(data_dir: Path) -> list[str]:
    from kakatong.domain import ledger
    from kakatong.factory import create_app
    from kakatong.store.schema import integrity_check

    app = create_app({"data_dir": data_dir, "demo": False})
    with app.app_context():
        return ledger.verify() + [x for x in integrity_check() if x != "ok"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="make it again, even if cached")
    parser.add_argument("--verify", action="store_true", help="then run ledger.verify on it")
    args = parser.parse_args()
    target = ensure(args.force)
    if args.verify:
        started = time.perf_counter()
        problems = verify(target)
        took = time.perf_counter() - started
        print(f"verify: {'ok' if not problems else problems[:10]} ({took:.1f} s)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
