"""The database: SQLite in the data directory (a shop) or PostgreSQL (a chain), the
connection, the write transaction and its retries, hand-written SQL.

Everything engine-specific lives in the store (this module and schema.py). The money rules
themselves hold through conditional updates, row locks and CHECK / UNIQUE constraints
(models.py, the domain's ledger), on both engines. `db` names whichever database the process
opened (open_database); the models are bound to it.
"""

from __future__ import annotations

import functools
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # a shop on SQLite needs no PostgreSQL driver
    psycopg2 = None

from peewee import ColumnBase, DatabaseProxy, PostgresqlDatabase, SqliteDatabase

PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    # FULL: a transaction acknowledged to a cashier is on the disk, even through a power cut.
    "synchronous": 2,
    # 2 MB of pages per connection, and each of the server's threads keeps one: 16 threads at
    # 16 MB held some 300 MB once the owner's reads had run through a year of journal. What
    # is not cached here the kernel's page cache serves, shared by all.
    "cache_size": -2_000,
}


class Sqlite(SqliteDatabase):
    """The shop's own database: one file in the data directory."""

    engine = "sqlite"


# Hand-written SQL may carry a clause only PostgreSQL has (`FOR UPDATE`) as `/*pg: … */`:
# SQLite reads a comment, PostgreSQL the clause.
_PG_ONLY = re.compile(r"/\*pg: (.*?)\*/")


@functools.lru_cache(maxsize=512)
def _for_pg(text: str) -> str:
    return _PG_ONLY.sub(r"\1", text.replace("%", "%%").replace("?", "%s"))


class Fixed(str):
    """Hand-written SQL of a fixed text (`sql()`, `for_update()`): on PostgreSQL a prepared
    statement of each connection (Postgres._execute_prepared); on SQLite the text as it is
    (sqlite3 keeps its own cache of compiled statements)."""

    __slots__ = ()


_prepared_names: dict[str, str] = {}
_names_lock = threading.Lock()


@functools.lru_cache(maxsize=512)
def _prepared(text: str) -> tuple[str, str, int]:
    """A fixed statement's name (the same on every connection of the process), its PREPARE
    (`?` numbered $1, $2, …, the `/*pg: … */` clauses in) and its number of parameters.
    Each `?` is a parameter: fixed SQL writes none inside a quoted literal."""
    with _names_lock:
        name = _prepared_names.setdefault(text, f"kakatong_{len(_prepared_names) + 1}")
    numbers = iter(range(1, text.count("?") + 1))
    body = re.sub(r"\?", lambda _: f"${next(numbers)}", _PG_ONLY.sub(r"\1", text))
    # (peewee hands psycopg2 parameters even when there are none: a `%` is written `%%`)
    return name, f"PREPARE {name} AS {body.replace('%', '%%')}", text.count("?")


def _integral(value: str | None, cursor) -> int | Decimal | None:
    if value is None:
        return None
    number = Decimal(value)
    return int(number) if number == number.to_integral_value() else number


# PostgreSQL's SUM of integers is NUMERIC: a sum of fen comes back as an int, as on SQLite.
_INTEGRAL_NUMERIC = (
    psycopg2.extensions.new_type((1700,), "INTEGRAL_NUMERIC", _integral) if psycopg2 else None
)


class Postgres(PostgresqlDatabase):
    """A chain's database (KAKATONG_DATABASE_URL), through psycopg2: peewee's own PostgreSQL
    driver (psycopg 3 is the one it takes only when asked), binary wheels on every platform
    the appliance runs on, and its plain client-side parameters, which the hand-written SQL
    and the DDL here are written for.

    Hand-written SQL is written once, with SQLite's `?` placeholders and PostgreSQL's own
    clauses in `/*pg: … */` (`sql()`, `for_update()`); it is turned into psycopg's here, once
    per statement text."""

    engine = "postgresql"
    # Integers of 64 bits as in SQLite (a balance, a sum of fen), and ids to match.
    field_types = {**PostgresqlDatabase.field_types, "AUTO": "BIGSERIAL", "INT": "BIGINT"}

    def _connect(self):
        conn = super()._connect()
        psycopg2.extensions.register_type(_INTEGRAL_NUMERIC, conn)
        self._state.begin = None
        return conn

    # A transaction's BEGIN goes with its first statement ("BEGIN; …", one message and one
    # round trip where peewee sends two); one that runs no statement sends nothing at all.
    def begin(self, isolation_level=None):
        if isolation_level is None:
            isolation_level = self._isolation_level
        if isolation_level:
            level = self._adapter.isolation_level_str(isolation_level)
            self._state.begin = f"BEGIN TRANSACTION ISOLATION LEVEL {level}; "
        else:
            self._state.begin = "BEGIN; "

    def commit(self):
        if getattr(self._state, "begin", None):
            self._state.begin = None  # nothing was sent
        else:
            super().commit()

    def rollback(self):
        if getattr(self._state, "begin", None):
            self._state.begin = None
        else:
            super().rollback()

    def execute_sql(self, sql, params=None):
        if isinstance(sql, Fixed):
            return self._execute_prepared(sql, params)
        if "?" in sql or "/*pg: " in sql:
            sql = _for_pg(sql)
        return self._execute(sql, params)

    def _execute(self, sql: str, params):
        begin = getattr(self._state, "begin", None)
        if begin:
            self._state.begin = None
            sql = begin + sql
        return super().execute_sql(sql, params)

    def _execute_prepared(self, sql: Fixed, params):
        """Fixed SQL as a prepared statement of this connection: PREPARE at its first use on
        the connection, EXECUTE after. psycopg2 sends text, which PostgreSQL would otherwise
        parse and plan at every request (about a third of its CPU on a consume). A prepared
        statement outlives a rolled-back transaction; a new connection prepares again."""
        name, prepare, count = _prepared(sql)
        done = getattr(self._state, "prepared", None)
        if done is None or done[0] is not self._state.conn:
            done = self._state.prepared = (self._state.conn, set())
        if name not in done[1]:
            self._execute(prepare, None)
            done[1].add(name)
        values = tuple(params or ())
        if len(values) != count:
            raise ValueError(f"{name}: {count} parameters expected, {len(values)} given")
        execute = f"EXECUTE {name}" + (f" ({', '.join(['%s'] * count)})" if count else "")
        return self._execute(execute, values)


# Each connection's settings: times are UTC (the app stores naive UTC), a row lock or a
# statement never waits for ever (the request is answered `database_busy` instead), and an
# idle transaction left open by a lost client is ended by the server.
PG_OPTIONS = (
    "-c timezone=UTC -c lock_timeout=10s -c statement_timeout=120s"
    " -c idle_in_transaction_session_timeout=60s"
)

db = DatabaseProxy()


def engine() -> str:
    """ "sqlite" or "postgresql": the database this process opened."""
    return db.obj.engine


def is_postgres() -> bool:
    return db.obj is not None and db.obj.engine == "postgresql"


def is_database_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def _few_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own heap (arena), up to 8 per core, and keeps
    what is freed in each: with 16 server threads, each with its connection, the owner's reads
    and the sales left some 240 MB resident where 140 MB are in use. Two arenas keep it near
    what is used (make bench --big: peak 237 -> 142 MiB); the threads mostly wait on SQLite
    and the GIL, not on malloc. Elsewhere than glibc: nothing to do."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(-8, arenas)  # M_ARENA_MAX


if not os.environ.get("MALLOC_ARENA_MAX"):
    _few_malloc_arenas()


# Each server thread keeps its connection open between requests: opening one costs the
# pragmas and a schema read (~2 ms), and closing the last one checkpoints the WAL. Reopening
# the database elsewhere (tests do) bumps the generation, and each thread then trades its old
# connection for a new one at its next request.
_generation = 0
_thread = threading.local()


def open_database(target: Path | str) -> None:
    """Open the shop's SQLite file (a path) or the chain's PostgreSQL (a postgresql:// URL)
    for this process; the models then read and write there."""
    global _generation
    if db.obj is not None and not db.is_closed():
        db.close()
    if is_database_url(target):
        url = "postgresql://" + target.split("://", 1)[1]
        database = Postgres(url, options=PG_OPTIONS, application_name="kakatong")
    else:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        database = Sqlite(str(path), pragmas=PRAGMAS, check_same_thread=False)
    db.initialize(database)
    _generation += 1


def connect() -> None:
    """Make sure this thread has an open, usable connection to the current database (on
    PostgreSQL, one the server ended, by a restart or a timeout, is replaced)."""
    if getattr(_thread, "generation", None) != _generation:
        if not db.is_closed():
            db.close()
        _thread.generation = _generation
    elif db.obj.engine == "postgresql" and not db.is_closed() and not db.is_connection_usable():
        try:
            db.close()
        except Exception:  # the connection is gone: forget it
            db._state.reset()
    db.connect(reuse_if_open=True)


def sql(text: str) -> str:
    """Hand-written SQL, with `?` placeholders on both engines (Postgres turns them into
    psycopg's). The hot path of the ledger uses fixed SQL: building the statement with peewee
    costs more than SQLite takes to run it. On PostgreSQL it is prepared once per connection
    (Fixed)."""
    return Fixed(text)


class by_engine(ColumnBase):  # noqa: N801  (an SQL fragment, named as peewee's fn, SQL)
    """An SQL fragment written for each engine, such as a pattern test (SQLite's GLOB,
    PostgreSQL's ~), rendered for the database a query is built for."""

    def __init__(self, sqlite: str, postgresql: str):
        super().__init__()
        self.texts = {"?": sqlite, "%s": postgresql}

    def __sql__(self, ctx):
        return ctx.literal(self.texts[ctx.state.param or "?"])


class unindexed(ColumnBase):  # noqa: N801
    """A column SQLite's planner must not use an index for (`+column`: another index gives
    the rows in the order wanted); PostgreSQL's planner weighs its indexes by cost, and
    reads the column as it is."""

    def __init__(self, column):
        super().__init__()
        self.column = column

    def __sql__(self, ctx):
        if (ctx.state.param or "?") == "?":
            ctx.literal("+")
        return ctx.sql(self.column)


T = TypeVar("T")


# SQLite has one writer at a time. Letting its busy handler arbitrate between threads costs
# hundreds of milliseconds at the tail (it sleeps and polls); a lock in the process hands the
# write over at once. Other processes (a CLI command) still meet the busy timeout.
#
# Tried and measured (make bench): a writer thread committing queued writes together (group
# commit) kept one warm connection and shared each fsync, but handing every write to another
# thread and back cost more CPU than it saved; the server is bound by CPU, not by the disk.
_write_lock = threading.Lock()


class Busy(Exception):
    """PostgreSQL could not complete a write however often it was tried: it kept meeting
    concurrent writes (a serialization failure, a deadlock) or waited too long for a row
    lock. Nothing of it was kept. The edges answer it as `database_busy`."""


class StorageFull(Exception):
    """The database could not grow: the disk (or the database's size limit) is full. SQLite
    undid the whole write transaction that met it: nothing of it was kept, or acknowledged.
    The edges answer it as `storage_full` (errors.py)."""


def is_full(exc: BaseException) -> bool:
    """Whether SQLITE_FULL is behind this exception. peewee wraps sqlite3's errors, and
    SQLite's own rollback of the transaction makes peewee's rollback fail too: the original
    is a few links down the chain (__context__, __cause__, a wrapper's first argument)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        found = pending.pop()
        if found is None or id(found) in seen:
            continue
        seen.add(id(found))
        if getattr(found, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        pending += [found.__context__, found.__cause__]
        pending += [arg for arg in found.args[:1] if isinstance(arg, BaseException)]
    return False


def write(fn: Callable[[], T], commit_on: tuple[type[BaseException], ...] = ()) -> T:
    """Run `fn` as one write transaction and return what it returns, once it is on the disk.

    An exception of a `commit_on` type still commits what `fn` wrote before raising it, then
    reaches the caller; any other exception undoes all of `fn`'s writes. Writes cannot be
    nested: peewee would turn the inner one into a savepoint.

    SQLite: the transaction takes the write lock from its first statement (BEGIN IMMEDIATE):
    what `fn` reads, it reads as the only writer. A full disk, met by `fn` or by the commit,
    undoes the writes and raises StorageFull.

    PostgreSQL: READ COMMITTED, with the row locks `fn` takes (SELECT … FOR UPDATE, the
    conditional updates) and the constraints as the guarantees. When the database undoes the
    transaction for a concurrent one (a serialization failure, a deadlock, a lock waited on
    too long), or a UNIQUE constraint meets a row another transaction committed since `fn`
    looked (the same request_id posted by two processes at once), `fn` is run again from the
    start, a bounded number of times: its checks then see the other's row (the request is
    answered as posted; the card number is taken). Past the bound: Busy, or the constraint's
    error.
    """
    if db.in_transaction():
        raise RuntimeError("write() cannot be nested")
    if db.obj.engine == "postgresql":
        return _pg_write(fn, commit_on)
    with _write_lock:
        connect()
        kept = None
        try:
            with db.atomic(lock_type="IMMEDIATE"):
                try:
                    result = fn()
                except commit_on as exc:
                    kept = exc
        except Exception as exc:
            if is_full(exc):
                raise StorageFull(str(exc)) from exc
            raise
    if kept is not None:
        raise kept
    return result


# SQLSTATEs a write transaction is tried again for (PostgreSQL's "class 40" and a lock wait
# over lock_timeout), and how often: a conflict is rare and short (two writes to one row), so
# a few tries at growing, jittered intervals resolve it; one that persists is load to report.
RETRY_STATES = {"40001": "serialization_failure", "40P01": "deadlock_detected",
                "55P03": "lock_not_available"}  # fmt: skip
UNIQUE_VIOLATION = "23505"
WRITE_TRIES = 6
UNIQUE_TRIES = 3


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL error code behind an exception (peewee wraps psycopg's), if any."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        found = pending.pop()
        if found is None or id(found) in seen:
            continue
        seen.add(id(found))
        code = getattr(found, "pgcode", None)
        if code:
            return code
        pending += [found.__context__, found.__cause__]
        pending += [arg for arg in found.args[:1] if isinstance(arg, BaseException)]
    return None


def _pg_write(fn: Callable[[], T], commit_on: tuple[type[BaseException], ...]) -> T:
    unique_tries = 0
    for attempt in range(1, WRITE_TRIES + 1):
        connect()
        kept = None
        try:
            with db.atomic():
                try:
                    result = fn()
                except commit_on as exc:
                    kept = exc
        except Exception as exc:
            code = sqlstate(exc)
            if code == UNIQUE_VIOLATION:
                unique_tries += 1
                if unique_tries >= UNIQUE_TRIES:
                    raise
            elif code not in RETRY_STATES:
                raise
            elif attempt == WRITE_TRIES:
                raise Busy(f"{RETRY_STATES[code]} after {attempt} tries") from exc
            time.sleep(random.uniform(0, 0.005 * 2**attempt))
            continue
        if kept is not None:
            raise kept
        return result
    raise AssertionError("unreachable")


# Names of the things `serialised` waits on, as PostgreSQL's advisory lock keys.
_SERIAL_KEYS = {"schema": 0x6B616B61_0001, "first_run": 0x6B616B61_0002}


def serialised(name: str) -> None:
    """Inside a write transaction: wait until no other transaction holds `name`, then hold
    it to this one's end. On PostgreSQL an advisory lock (processes starting at once on a new
    database create its schema and first-run rows once); SQLite's write transaction is
    already the only one."""
    if db.obj.engine == "postgresql":
        db.execute_sql("SELECT pg_advisory_xact_lock(?)", (_SERIAL_KEYS[name],))


def commit_bench(path: Path, count: int) -> float:
    """Raw commits per second with the same pragmas: the disk's ceiling for `make bench`."""

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


def for_update(select: str, table: str) -> str:
    """SELECT … FOR UPDATE OF `table` on PostgreSQL: its row stays locked to the transaction's
    end. SQLite needs none, and has no such clause: the write transaction already holds the
    only write lock."""
    return sql(f"{select} /*pg: FOR UPDATE OF {table}*/")
