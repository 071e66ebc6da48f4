"""`flask move-to postgresql://…`: a shop's SQLite database copied into an empty chain
database on PostgreSQL, where it becomes the chain's first branch.

Every table is copied row by row with its ids, in one PostgreSQL transaction (all of it or
nothing): the merchant, settings, branches, terminals, staff, levels, cards, the journal (in
its order: an original before its void), settlements, the audit log, the offline uploads. The
journal's daily sums are made again by the chain's own triggers as the journal goes in, and
then checked. The SQLite file is only read. After the copy, `verify` runs on the chain and
every table's row count is compared with the shop's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from peewee import AutoField

from .db import db, open_database, write
from .models import ALL_MODELS, JournalDay, Meta, StaffSession
from .schema import SCHEMA_VERSION, sync_voucher_numbers, upgrade

# What is not copied: the daily sums (the chain's triggers make them from the journal) and
# the signed-in sessions (everyone signs in again, at the chain).
NOT_COPIED = (JournalDay, StaffSession)
BATCH_ROWS = 1000


class MoveRefused(Exception):
    """The move cannot be made; nothing was written to the chain."""


@dataclass(frozen=True)
class Moved:
    counts: dict[str, tuple[int, int]]  # table: (rows in the shop, rows in the chain)
    problems: list[str]  # verify's and the database's own checks, on the chain


def _shop_rows(source: sqlite3.Connection, model) -> tuple[int, Callable]:
    table = model._meta.table_name
    (count,) = source.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
    fields = model._meta.sorted_fields
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    order = "rowid"

    def rows():
        cursor = source.execute(f'SELECT {columns} FROM "{table}" ORDER BY {order}')
        while chunk := cursor.fetchmany(BATCH_ROWS):
            yield [
                {f.name: f.python_value(value) for f, value in zip(fields, row, strict=True)}
                for row in chunk
            ]

    return count, rows


def move(source_path: Path, url: str, verify: Callable[[], list[str]],
         checks: Callable[[], list[str]]) -> Moved:  # fmt: skip
    """Copy the shop at `source_path` into the chain at `url` (an empty database). The process
    is left on the chain's database."""
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        (version,) = source.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        if int(version) != SCHEMA_VERSION:
            raise MoveRefused(
                f"the shop's database is at schema version {version}, this software's is "
                f"{SCHEMA_VERSION}: start the shop's server once (it upgrades), then move it"
            )
        open_database(url)
        upgrade()  # the chain's schema, if the database is new
        taken = [
            m._meta.table_name for m in ALL_MODELS
            if m is not Meta and m not in NOT_COPIED and m.select().exists()
        ]  # fmt: skip
        if taken:
            raise MoveRefused(
                f"the chain's database is not empty ({', '.join(taken)} hold rows): a shop is "
                "moved into a new, empty database"
            )
        counts: dict[str, tuple[int, int]] = {}

        def copy() -> None:
            for model in ALL_MODELS:
                if model in NOT_COPIED:
                    continue
                count, batches = _shop_rows(source, model)
                for rows in batches():
                    if model is Meta:
                        rows = [r for r in rows if r["key"] != "schema_version"]
                    if rows:
                        model.insert_many(rows).execute()
                if isinstance(model._meta.primary_key, AutoField):
                    table = model._meta.table_name
                    db.execute_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f' COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM "{table}"'
                    )
                counts[model._meta.table_name] = (count, 0)
            sync_voucher_numbers()  # the chain's vouchers go on from the shop's

        write(copy)
    finally:
        source.close()
    for model in ALL_MODELS:
        name = model._meta.table_name
        if name in counts:
            counts[name] = (counts[name][0], model.select().count())
    return Moved(counts, verify() + [c for c in checks() if c != "ok"])
