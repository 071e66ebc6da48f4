"""Upgrades: a database of every earlier schema version, built from code, opens, upgrades in
place after a copy is kept, and passes `verify`; a failed upgrade leaves it as it was."""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import GOLD, PLAIN, SILVER, ensure_password, operator_actor, rid
from test_cli import PRINTER_COLUMNS

import kakatong.store.db as db
import kakatong.store.schema as schema
from kakatong.cli import UpgradeFailed
from kakatong.domain import ledger, settings
from kakatong.factory import create_app
from kakatong.store import backup
from kakatong.store.models import Card

TERMINAL_PARAMETERS = ("receipt_copies", "standby_type", "manual_entry", "service_code_prompt",
                       "language", "journal_view_from")  # fmt: skip


def money_trigger(raw: sqlite3.Connection) -> None:
    """The journal's money trigger naming only the columns the table has at this version."""
    columns = {row[1] for row in raw.execute("PRAGMA table_info(journal)")}
    text = schema.JOURNAL_TRIGGERS[1]
    for later in ("discount_pct", "sold_at", "branch_id"):
        if later not in columns:
            text = text.replace(f", {later}", "").replace(f" {later},", "")
    raw.execute("DROP TRIGGER IF EXISTS journal_money_immutable")
    raw.execute(text)


def _without_column(raw: sqlite3.Connection, table: str, column: str) -> None:
    """ALTER TABLE DROP COLUMN, for a column SQLite will not drop that way (a reference):
    the table made again without it, its rows copied, its indexes and triggers kept."""
    (made,) = raw.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    kept = [sql for (sql,) in raw.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger')"
        " AND sql IS NOT NULL", (table,))]  # fmt: skip
    made = re.sub(rf', "{column}" [A-Z]+[^,]*', "", made)
    made = re.sub(rf', FOREIGN KEY \("{column}"\) REFERENCES [^,)]+\([^)]*\)[^,)]*', "", made)
    columns = [r[1] for r in raw.execute(f"PRAGMA table_info({table})") if r[1] != column]
    listed = ", ".join(f'"{c}"' for c in columns)
    raw.execute("PRAGMA foreign_keys = OFF")
    raw.execute(made.replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "{table}__old"', 1))
    raw.execute(f'INSERT INTO "{table}__old" ({listed}) SELECT {listed} FROM "{table}"')
    raw.execute(f'DROP TABLE "{table}"')
    raw.execute(f'ALTER TABLE "{table}__old" RENAME TO "{table}"')
    for sql in kept:
        if f'"{column}"' not in sql and column not in sql.split("ON", 1)[-1].split("BEGIN")[0]:
            raw.execute(sql)
    raw.execute("PRAGMA foreign_keys = ON")


# Schema 8's daily-sums triggers, one row per day, branch, type and status: what _undo_9 puts
# back, and what _undo_8 makes schema 7's from.
_ADD_TO_DAY_8 = """INSERT INTO journal_day
               (settle_date, branch_id, type, status, count, amount_fen, points)
           VALUES (NEW.settle_date, NEW.branch_id, NEW.type, NEW.status, 1,
               NEW.amount_fen, NEW.points)
           ON CONFLICT (settle_date, branch_id, type, status) DO UPDATE SET count = count + 1,
               amount_fen = amount_fen + excluded.amount_fen,
               points = points + excluded.points;"""
SUMMARY_TRIGGERS_8 = [
    f"""CREATE TRIGGER IF NOT EXISTS journal_day_insert AFTER INSERT ON journal
       BEGIN {_ADD_TO_DAY_8} END""",
    f"""CREATE TRIGGER IF NOT EXISTS journal_day_status AFTER UPDATE OF status ON journal
       WHEN NEW.status IS NOT OLD.status
       BEGIN
           UPDATE journal_day SET count = count - 1, amount_fen = amount_fen - OLD.amount_fen,
               points = points - OLD.points
           WHERE settle_date = OLD.settle_date AND branch_id = OLD.branch_id
               AND type = OLD.type AND status = OLD.status;
           {_ADD_TO_DAY_8}
       END""",
]


def _undo_9(raw: sqlite3.Connection) -> None:
    # (PostgreSQL's voucher sequence is not SQLite's: nothing to undo for it here)
    raw.execute("DROP TRIGGER journal_day_insert")
    raw.execute("DROP TRIGGER journal_day_status")
    raw.execute("DROP INDEX journal_day_settle_date_branch_id_type_status_slot")
    raw.execute("ALTER TABLE journal_day DROP COLUMN slot")
    raw.execute(
        'CREATE UNIQUE INDEX "journal_day_settle_date_branch_id_type_status" ON "journal_day"'
        ' ("settle_date", "branch_id", "type", "status")'
    )
    for text in SUMMARY_TRIGGERS_8:
        raw.execute(text)


def _undo_8(raw: sqlite3.Connection) -> None:
    raw.execute("DROP TRIGGER journal_money_immutable")
    raw.execute("DROP TRIGGER journal_day_insert")
    raw.execute("DROP TRIGGER journal_day_status")
    raw.execute("DROP INDEX terminal_branch_id")
    for table in ("journal", "terminal", "staff"):
        _without_column(raw, table, "branch_id")
    raw.execute("DROP TABLE staff_session")
    raw.execute("DROP TABLE branch")
    money_trigger(raw)
    # Schema 7's daily sums, as it made them: by day, type and status.
    raw.execute("DROP TABLE journal_day")
    raw.execute(
        'CREATE TABLE "journal_day" ("id" INTEGER NOT NULL PRIMARY KEY, "settle_date" DATE NOT'
        ' NULL, "type" VARCHAR(255) NOT NULL, "status" VARCHAR(255) NOT NULL, "count" INTEGER'
        ' NOT NULL, "amount_fen" INTEGER NOT NULL, "points" INTEGER NOT NULL)'
    )
    raw.execute(
        'CREATE UNIQUE INDEX "journal_day_settle_date_type_status" ON "journal_day"'
        ' ("settle_date", "type", "status")'
    )
    raw.execute(
        "INSERT INTO journal_day (settle_date, type, status, count, amount_fen, points)"
        " SELECT settle_date, type, status, COUNT(*), SUM(amount_fen), SUM(points) FROM journal"
        " GROUP BY settle_date, type, status"
    )
    for text in SUMMARY_TRIGGERS_8:
        raw.execute(
            text.replace("(settle_date, branch_id, type, status, count", "(settle_date, type,"
                         " status, count").replace("{row}.branch_id, ", "")
            .replace("NEW.branch_id, ", "").replace("(settle_date, branch_id, type, status)",
                                                     "(settle_date, type, status)")
            .replace(" AND branch_id = OLD.branch_id\n               ", " ")
        )  # fmt: skip


def _undo_7(raw: sqlite3.Connection) -> None:
    raw.execute("DROP TRIGGER journal_day_insert")
    raw.execute("DROP TRIGGER journal_day_status")
    raw.execute("DROP TABLE journal_day")
    for index in (
        "journal_terminal_id_created_at",
        "journal_type_created_at",
        "journal_status_created_at",
        "card_name",
        "card_status",
        "card_name_digits",
    ):
        raw.execute(f"DROP INDEX {index}")
    raw.execute('CREATE INDEX "journal_type_settle_date" ON "journal" ("type", "settle_date")')
    raw.execute('CREATE INDEX "journal_status_settle_date" ON "journal" ("status", "settle_date")')


def _undo_6(raw: sqlite3.Connection) -> None:
    raw.execute("DROP TABLE offline_upload")  # its triggers go with it
    raw.execute("DROP TRIGGER journal_money_immutable")
    raw.execute("ALTER TABLE journal DROP COLUMN sold_at")
    raw.execute("ALTER TABLE terminal DROP COLUMN offline_trace_next")
    money_trigger(raw)


def _undo_5(raw: sqlite3.Connection) -> None:
    raw.execute("DROP TRIGGER journal_money_immutable")
    raw.execute("ALTER TABLE journal DROP COLUMN discount_pct")
    money_trigger(raw)


def _drop_columns(table: str, columns: tuple[str, ...]):
    def undo(raw: sqlite3.Connection) -> None:
        for column in columns:
            raw.execute(f"ALTER TABLE {table} DROP COLUMN {column}")

    return undo


# What each schema version added, undone: UNDO[v] turns a database of version v into one of
# version v - 1. A new migration needs its entry here (the first test says so).
UNDO = {
    9: _undo_9,
    8: _undo_8,
    7: _undo_7,
    6: _undo_6,
    5: _undo_5,
    4: _drop_columns("terminal", PRINTER_COLUMNS),
    3: lambda raw: raw.execute("DROP TABLE audit_log"),
    2: _drop_columns("terminal", TERMINAL_PARAMETERS),
}


def test_every_migration_can_be_undone_here():
    assert set(UNDO) == set(schema.MIGRATIONS) == set(range(2, schema.SCHEMA_VERSION + 1))


def a_shop_with_history(data: Path, **overrides) -> dict:
    """A shop at today's schema with sales, recharges, points, a void, a settlement and audit
    rows; returns each card's balance and points."""
    create_app({"data_dir": data, "demo": True, **overrides})
    ensure_password("00")
    actor = operator_actor()
    ledger.consume(actor, GOLD, "100.00", request_id=rid(), pin="123456")
    ledger.recharge(actor, PLAIN, "50.00", "cash", request_id=rid())
    ledger.points_earn(actor, SILVER, amount="30.00", request_id=rid(), pin="888888")
    sale = ledger.consume(actor, PLAIN, "12.34", request_id=rid())
    ledger.void(
        actor, f"{sale.record.voucher_no:06d}", supervisor_password="135790", request_id=rid()
    )
    ledger.settle(actor)
    ledger.consume(actor, PLAIN, "1.00", request_id=rid())  # in the next batch
    settings.update({"receipt_footer": "谢谢惠顾"}, actor)  # an audit row
    assert ledger.verify() == []
    books = {c.card_no: (c.balance_fen, c.points) for c in Card.select()}
    db.db.close()
    return books


def shape(path: Path) -> dict:
    """Tables with their columns (name, type, not null, primary key), indexes, triggers."""
    raw = sqlite3.connect(path)
    try:
        found = {}
        for kind, name, sql in raw.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ):
            if kind == "table":
                found[name] = sorted(
                    (c[1], c[2], c[3], c[5]) for c in raw.execute(f"PRAGMA table_info({name})")
                )
            elif kind == "index":
                # (position, column): the column's number differs where ALTER TABLE added it
                columns = [(c[0], c[2]) for c in raw.execute(f"PRAGMA index_info({name})")]
                found[name] = columns, sql
            else:
                found[name] = sql
        return found
    finally:
        raw.close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[Path, dict]:
    data = tmp_path_factory.mktemp("shop")
    return data, a_shop_with_history(data)


@pytest.mark.parametrize("version", range(1, schema.SCHEMA_VERSION))
def test_a_database_of_each_earlier_version_upgrades_and_verifies(shop, tmp_path, version):
    source, books = shop
    data = tmp_path / "data"
    data.mkdir()
    for name in ("kakatong.sqlite3", "secret_key", "pin_pepper", "offline_seal.pem"):
        shutil.copy(source / name, data / name)
    path = data / "kakatong.sqlite3"
    raw = sqlite3.connect(path)
    for undone in range(schema.SCHEMA_VERSION, version, -1):
        UNDO[undone](raw)
    raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    raw.commit()
    raw.close()
    journal_rows = sqlite3.connect(path).execute("SELECT count(*) FROM journal").fetchone()[0]

    app = create_app({"data_dir": data, "demo": True})
    log = app.config["KAKATONG_INIT_LOG"]
    assert any(f"upgraded the schema from version {version}" in line for line in log), log
    # The database as it was, kept first, and never pruned by the retention.
    kept = [b for b in backup.backups_in(data / "backups") if b.reason]
    assert [b.reason for b in kept] == [f"before-v{schema.SCHEMA_VERSION}"]
    old = sqlite3.connect(kept[0].path)
    assert old.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(version),
    )
    assert old.execute("SELECT count(*) FROM journal").fetchone()[0] == journal_rows
    old.close()
    # Upgraded: the same books, verify clean, and the same shape as a new database.
    assert ledger.verify() == []
    assert {c.card_no: (c.balance_fen, c.points) for c in Card.select()} == books
    db.db.close()
    assert shape(path) == shape(source / "kakatong.sqlite3")
    found = backup.check_copy(path)
    assert found.ok and found.schema_version == schema.SCHEMA_VERSION, found.problems


def test_a_failed_upgrade_leaves_the_database_as_it_was(shop, tmp_path, monkeypatch):
    source, _books = shop
    data = tmp_path / "data"
    data.mkdir()
    for name in ("kakatong.sqlite3", "secret_key", "pin_pepper", "offline_seal.pem"):
        shutil.copy(source / name, data / name)
    path = data / "kakatong.sqlite3"
    previous = schema.SCHEMA_VERSION - 1
    raw = sqlite3.connect(path)
    UNDO[schema.SCHEMA_VERSION](raw)
    raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(previous),))
    raw.commit()
    before = list(raw.iterdump())
    raw.close()

    def half_done(migrator) -> None:
        db.db.execute_sql("ALTER TABLE card ADD COLUMN nickname TEXT")  # done, then…
        raise RuntimeError("disk said no")

    monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION, half_done)
    with pytest.raises(UpgradeFailed, match="left as it was") as failed:
        create_app({"data_dir": data, "demo": True})
    assert f"version {previous}" in str(failed.value) and "disk said no" in str(failed.value)
    db.db.close()
    raw = sqlite3.connect(path)
    assert list(raw.iterdump()) == before
    raw.close()
    # The copy kept before the attempt is named in the message.
    kept = backup.backups_in(data / "backups")
    assert len(kept) == 1 and str(kept[0].path) in str(failed.value)
    # A server restarted over and over on the failing upgrade keeps that one copy (a second
    # apart: each attempt's copy would have a name of its own).
    for _ in range(2):
        time.sleep(1.1)
        with pytest.raises(UpgradeFailed, match=str(kept[0].path)):
            create_app({"data_dir": data, "demo": True})
        db.db.close()
    assert backup.backups_in(data / "backups") == kept

    # The next start with working software upgrades it.
    monkeypatch.undo()
    create_app({"data_dir": data, "demo": True})
    assert ledger.verify() == []
    db.db.close()


def test_the_server_says_why_it_did_not_start(shop, tmp_path):
    """app.py on a database from newer software: one clear line, exit status 1."""
    import subprocess
    import sys

    source, _books = shop
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(source / "kakatong.sqlite3", data / "kakatong.sqlite3")
    raw = sqlite3.connect(data / "kakatong.sqlite3")
    raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=root,
        env={
            "KAKATONG_DATA_DIR": str(data),
            "KAKATONG_TLS": "0",
            "KAKATONG_PORT": "0",
            "PATH": "/usr/bin:/bin",
        },  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "schema version 99" in done.stderr and "newer" in done.stderr


def test_a_start_does_not_fail_for_the_planners_statistics(tmp_path, monkeypatch):
    """ANALYZE runs after the schema is settled: a failure of it is a warning in the log, not
    a failed upgrade (which would keep the shop closed)."""

    def no_room() -> None:
        raise OSError("database or disk is full")

    monkeypatch.setattr(schema, "analyse", no_room)
    app = create_app({"data_dir": tmp_path, "demo": True})
    assert app.config["KAKATONG_INIT_LOG"][0].startswith("created the database")
    db.db.close()
