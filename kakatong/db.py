"""The database: connection, pragmas, the write lock, append-only triggers, schema versions.

Everything SQLite-specific lives in this module. The money rules themselves hold through
conditional updates and CHECK / UNIQUE constraints (models.py, ledger.py), which PostgreSQL
has too; what is here only makes SQLite fast and durable under them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from peewee import SqliteDatabase
from playhouse.migrate import SqliteMigrator

PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    # FULL: a transaction acknowledged to a cashier is on the disk, even through a power cut.
    "synchronous": 2,
    "cache_size": -16_000,
}

db = SqliteDatabase(None, pragmas=PRAGMAS)


# Each server thread keeps its connection open between requests: opening one costs the
# pragmas and a schema read (~2 ms), and closing the last one checkpoints the WAL. Reopening
# the database elsewhere (tests do) bumps the generation, and each thread then trades its old
# connection for a new one at its next request.
_generation = 0
_thread = threading.local()


def open_database(path: Path) -> None:
    global _generation
    path.parent.mkdir(parents=True, exist_ok=True)
    if not db.is_closed():
        db.close()
    db.init(str(path), pragmas=PRAGMAS, check_same_thread=False)
    _generation += 1


def connect() -> None:
    """Make sure this thread has an open connection to the current database."""
    if getattr(_thread, "generation", None) != _generation:
        if not db.is_closed():
            db.close()
        _thread.generation = _generation
    db.connect(reuse_if_open=True)


def sql(text: str) -> str:
    """Hand-written SQL in the driver's placeholder style (`?` for SQLite, `%s` for
    psycopg). The hot path of the ledger uses fixed SQL: building the statement with peewee
    costs more than SQLite takes to run it."""
    return text if db.param == "?" else text.replace("?", db.param)


T = TypeVar("T")


# SQLite has one writer at a time. Letting its busy handler arbitrate between threads costs
# hundreds of milliseconds at the tail (it sleeps and polls); a lock in the process hands the
# write over at once. Other processes (a CLI command) still meet the busy timeout.
#
# Tried and measured (make bench): a writer thread committing queued writes together (group
# commit) kept one warm connection and shared each fsync, but handing every write to another
# thread and back cost more CPU than it saved; the server is bound by CPU, not by the disk.
_write_lock = threading.Lock()


def write(fn: Callable[[], T], commit_on: tuple[type[BaseException], ...] = ()) -> T:
    """Run `fn` as one write transaction and return what it returns, once it is on the disk.

    The transaction takes the write lock from its first statement (BEGIN IMMEDIATE): what
    `fn` reads, it reads as the only writer, so check-then-write needs no further lock.
    An exception of a `commit_on` type still commits what `fn` wrote before raising it, then
    reaches the caller; any other exception undoes all of `fn`'s writes. Writes cannot be
    nested: peewee would turn the inner one into a savepoint that takes no lock.
    """
    if db.in_transaction():
        raise RuntimeError("write() cannot be nested")
    with _write_lock:
        connect()
        kept = None
        with db.atomic(lock_type="IMMEDIATE"):
            try:
                result = fn()
            except commit_on as exc:
                kept = exc
    if kept is not None:
        raise kept
    return result


# The journal is append-only: the database refuses to delete a row or to change what a row
# says about money; the one change allowed is success -> voided on the original of a void.
JOURNAL_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
       BEGIN SELECT RAISE(ABORT, 'journal rows cannot be deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS journal_money_immutable
       BEFORE UPDATE OF type, card_id, terminal_id, amount_fen, price_fen, purchase_fen, points,
           balance_after_fen, points_after, trace_no, voucher_no, batch_no, created_at,
           settle_date, original_id, request_id, offline ON journal
       BEGIN SELECT RAISE(ABORT, 'journal rows are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS journal_status_once BEFORE UPDATE OF status ON journal
       WHEN NOT (OLD.status = 'success' AND NEW.status = 'voided')
       BEGIN SELECT RAISE(ABORT, 'only success -> voided'); END""",
]


# The audit log is append-only too: not a row may change or go.
AUDIT_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit rows cannot be deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit rows cannot be changed'); END""",
]


def install_triggers() -> None:
    for sql in (*JOURNAL_TRIGGERS, *AUDIT_TRIGGERS):
        db.execute_sql(sql)


# The schema's version. A fresh database is created at the newest version from the models; an
# older one is brought forward by MIGRATIONS[v] for each v above its version, with
# playhouse.migrate (add a column, an index…), never by dropping data.
SCHEMA_VERSION = 4


def add_columns(fields) -> None:
    """New columns on an existing table, each with its type, NOT NULL, CHECK and default.

    SQLite's ALTER TABLE ADD COLUMN takes all of these at once. playhouse.migrate would add a
    NOT NULL column by rebuilding the table (copy, drop, rename), and with foreign keys on, the
    journal's rows that name a terminal forbid dropping it: the upgrade of any shop that has
    made a sale would fail."""
    for field in fields:
        ctx = db.get_sql_context()
        column, params = ctx.sql(field.ddl(ctx)).query()
        if params:
            raise ValueError(f"{field.name}: a column definition with parameters")
        if field.default is not None:
            # ALTER TABLE takes no bound parameters: the default, one of our models' own
            # constants, is written as a literal.
            value = field.db_value(field.default)
            if isinstance(value, (bool, int)):
                column += f" DEFAULT {int(value)}"
            elif isinstance(value, str):
                column += " DEFAULT '{}'".format(value.replace("'", "''"))
            else:
                raise ValueError(f"{field.name}: no literal for the default {value!r}")
        db.execute_sql(f'ALTER TABLE "{field.model._meta.table_name}" ADD COLUMN {column}')


def _v2_terminal_parameters(migrator: SqliteMigrator) -> None:
    """The POS manual's terminal parameters (终端参数设置) on each terminal."""
    from .models import Terminal

    add_columns(
        (
            Terminal.receipt_copies,
            Terminal.standby_type,
            Terminal.manual_entry,
            Terminal.service_code_prompt,
            Terminal.language,
            Terminal.journal_view_from,
        )
    )


def _v3_audit_log(migrator: SqliteMigrator) -> None:
    """The audit log (who, when, what, from where), append-only by its triggers."""
    from .models import AuditLog

    db.create_tables([AuditLog])


def _v4_printer(migrator: SqliteMigrator) -> None:
    """Each terminal's receipt printer: URL, encoding, Chinese mode, paper, image mode, cutter."""
    from .models import Terminal

    add_columns(
        (
            Terminal.printer_url,
            Terminal.printer_encoding,
            Terminal.printer_chinese_mode,
            Terminal.paper_mm,
            Terminal.printer_image,
            Terminal.printer_cut,
        )
    )


MIGRATIONS: dict[int, Callable[[SqliteMigrator], None]] = {
    2: _v2_terminal_parameters,
    3: _v3_audit_log,
    4: _v4_printer,
}


class SchemaTooNew(RuntimeError):
    pass


def upgrade() -> tuple[int, int]:
    """Create or upgrade the schema; returns (version before, version now). Safe to repeat."""
    from .models import ALL_MODELS, Meta

    def apply() -> tuple[int, int]:
        if not Meta.table_exists():
            db.create_tables(ALL_MODELS)
            Meta.create(key="schema_version", value=str(SCHEMA_VERSION))
            install_triggers()
            return 0, SCHEMA_VERSION
        current = int(Meta.get_by_id("schema_version").value)
        if current > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the database is at schema version {current}, newer than this software's "
                f"{SCHEMA_VERSION}: install the newer software"
            )
        migrator = SqliteMigrator(db)
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](migrator)
        Meta.update(value=str(SCHEMA_VERSION)).where(Meta.key == "schema_version").execute()
        install_triggers()
        return current, SCHEMA_VERSION

    return write(apply)


def integrity_check() -> list[str]:
    return [row[0] for row in db.execute_sql("PRAGMA integrity_check").fetchall()]


def commit_bench(path: Path, count: int) -> float:
    """Raw commits per second with the same pragmas: the disk's ceiling for `make bench`."""
    import sqlite3
    import time

    conn = sqlite3.connect(str(path), isolation_level=None)
    for name, value in PRAGMAS.items():
        conn.execute(f"PRAGMA {name} = {value}")
    conn.execute("CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, v INTEGER)")
    started = time.perf_counter()
    for i in range(count):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench (v) VALUES (?)", (i,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def for_update(select: str) -> str:
    """SELECT … FOR UPDATE where the database has it (PostgreSQL). SQLite needs none: the
    write transaction already holds the only write lock."""
    return sql(select) + (" FOR UPDATE" if db.for_update else "")
