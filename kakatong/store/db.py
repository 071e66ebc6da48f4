"""The database: the connection, its pragmas, the write lock, hand-written SQL.

Everything SQLite-specific lives in the store (this module and schema.py). The money rules
themselves hold through conditional updates and CHECK / UNIQUE constraints (models.py, the
domain's ledger), which PostgreSQL has too; what is here only makes SQLite fast and durable
under them.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from peewee import SqliteDatabase

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

db = SqliteDatabase(None, pragmas=PRAGMAS)


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

    The transaction takes the write lock from its first statement (BEGIN IMMEDIATE): what
    `fn` reads, it reads as the only writer, so check-then-write needs no further lock.
    An exception of a `commit_on` type still commits what `fn` wrote before raising it, then
    reaches the caller; any other exception undoes all of `fn`'s writes. A full disk, met by
    `fn` or by the commit, undoes them too and raises StorageFull. Writes cannot be nested:
    peewee would turn the inner one into a savepoint that takes no lock.
    """
    if db.in_transaction():
        raise RuntimeError("write() cannot be nested")
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


def for_update(select: str) -> str:
    """SELECT … FOR UPDATE where the database has it (PostgreSQL). SQLite needs none: the
    write transaction already holds the only write lock."""
    return sql(select) + (" FOR UPDATE" if db.for_update else "")
