"""The schema: append-only triggers, the schema's version and the migrations to it.

A fresh database is created at the newest version from the models; an older one is brought
forward in place, one version at a time, and never by dropping data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from playhouse.migrate import SqliteMigrator

from .db import db, write
from .models import (
    ALL_MODELS,
    AuditLog,
    Card,
    JournalDay,
    Meta,
    OfflineUpload,
    Terminal,
    Transaction,
)

# The journal is append-only: the database refuses to delete a row or to change what a row
# says about money; the one change allowed is success -> voided on the original of a void.
JOURNAL_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
       BEGIN SELECT RAISE(ABORT, 'journal rows cannot be deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS journal_money_immutable
       BEFORE UPDATE OF type, card_id, terminal_id, amount_fen, price_fen, discount_pct,
           purchase_fen, points, balance_after_fen, points_after, trace_no, voucher_no, batch_no,
           created_at, settle_date, original_id, request_id, offline, sold_at ON journal
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


# An offline upload is kept for good: what the terminal sent never changes (the sale time is
# filled in once, when it reads as one), and once it leaves `failed` (applied, paid_other or
# written_off) nothing of it changes again.
OFFLINE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS offline_upload_no_delete BEFORE DELETE ON offline_upload
       BEGIN SELECT RAISE(ABORT, 'offline uploads cannot be deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS offline_upload_as_sent
       BEFORE UPDATE OF terminal_id, offline_trace_no, fingerprint, payload, type, card_no,
           amount_fen, points, service_code, operator_no, received_at, uploaded_by
           ON offline_upload
       BEGIN SELECT RAISE(ABORT, 'an offline upload stays as it was sent'); END""",
    """CREATE TRIGGER IF NOT EXISTS offline_upload_resolved_once
       BEFORE UPDATE ON offline_upload
       WHEN OLD.status != 'failed'
       BEGIN SELECT RAISE(ABORT, 'only a failed upload is resolved, once'); END""",
    """CREATE TRIGGER IF NOT EXISTS offline_upload_sale_time_once
       BEFORE UPDATE OF sold_at ON offline_upload
       WHEN OLD.sold_at IS NOT NULL AND NEW.sold_at IS NOT OLD.sold_at
       BEGIN SELECT RAISE(ABORT, 'an offline upload stays as it was sent'); END""",
]


# The journal's daily sums (models.JournalDay) move with the journal, in the transaction that
# writes it: a new row adds itself to its day, type and status; a void's original moves from
# success to voided. The journal is append-only, so no other change can reach them; verify
# adds the journal up again.
_ADD_TO_DAY = """INSERT INTO journal_day (settle_date, type, status, count, amount_fen, points)
           VALUES ({row}.settle_date, {row}.type, {row}.status, 1, {row}.amount_fen, {row}.points)
           ON CONFLICT (settle_date, type, status) DO UPDATE SET count = count + 1,
               amount_fen = amount_fen + excluded.amount_fen, points = points + excluded.points;"""
SUMMARY_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS journal_day_insert AFTER INSERT ON journal
       BEGIN {_ADD_TO_DAY.format(row="NEW")} END""",
    f"""CREATE TRIGGER IF NOT EXISTS journal_day_status AFTER UPDATE OF status ON journal
       WHEN NEW.status IS NOT OLD.status
       BEGIN
           UPDATE journal_day SET count = count - 1, amount_fen = amount_fen - OLD.amount_fen,
               points = points - OLD.points
           WHERE settle_date = OLD.settle_date AND type = OLD.type AND status = OLD.status;
           {_ADD_TO_DAY.format(row="NEW")}
       END""",
]


def install_triggers() -> None:
    for sql in (*JOURNAL_TRIGGERS, *AUDIT_TRIGGERS, *OFFLINE_TRIGGERS, *SUMMARY_TRIGGERS):
        db.execute_sql(sql)


# The statistics' sums as the journal gives them, for a migration to fill JournalDay with and
# for verify to compare it with.
JOURNAL_DAY_SUMS = (
    "SELECT settle_date, type, status, COUNT(*), SUM(amount_fen), SUM(points) FROM journal"
    " GROUP BY settle_date, type, status"
)


# The schema's version. A fresh database is created at the newest version from the models; an
# older one is brought forward by MIGRATIONS[v] for each v above its version, with
# playhouse.migrate (add a column, an index…), never by dropping data.
SCHEMA_VERSION = 7


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

    db.create_tables([AuditLog])


def _v4_printer(migrator: SqliteMigrator) -> None:
    """Each terminal's receipt printer: URL, encoding, Chinese mode, paper, image mode, cutter."""

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


def _v5_discount(migrator: SqliteMigrator) -> None:
    """The discount each consume was paid at, kept on its journal row for the slip (rows from
    before have none: their slips work it out from the price and the amount)."""

    add_columns((Transaction.discount_pct,))
    # The trigger that keeps money columns as posted names the new one too: upgrade()
    # installs it again after the migrations.
    db.execute_sql("DROP TRIGGER IF EXISTS journal_money_immutable")


def _v6_offline(migrator: SqliteMigrator) -> None:
    """离线交易: each terminal's offline trace numbers, an offline sale's own time on its journal
    row, and the offline uploads with their outcomes."""

    add_columns((Terminal.offline_trace_next, Transaction.sold_at))
    db.create_tables([OfflineUpload])
    db.execute_sql("DROP TRIGGER IF EXISTS journal_money_immutable")


def _v7_years_of_data(migrator: SqliteMigrator) -> None:
    """Years of a busy shop read fast: indexes that serve each filter of the journal in time
    order (in place of type and status by settlement date), the member search's name indexes,
    cards by status, and the journal's daily sums (JournalDay, filled here from the journal
    and kept from now on by SUMMARY_TRIGGERS, which upgrade() installs)."""

    db.execute_sql('DROP INDEX IF EXISTS "journal_type_settle_date"')
    db.execute_sql('DROP INDEX IF EXISTS "journal_status_settle_date"')
    db.create_tables([JournalDay])
    Transaction._schema.create_indexes(safe=True)
    Card._schema.create_indexes(safe=True)
    db.execute_sql("DELETE FROM journal_day")  # (a database made from the newer models)
    db.execute_sql(
        "INSERT INTO journal_day (settle_date, type, status, count, amount_fen, points) "
        + JOURNAL_DAY_SUMS
    )


MIGRATIONS: dict[int, Callable[[SqliteMigrator], None]] = {
    2: _v2_terminal_parameters,
    3: _v3_audit_log,
    4: _v4_printer,
    5: _v5_discount,
    6: _v6_offline,
    7: _v7_years_of_data,
}


class SchemaTooNew(RuntimeError):
    pass


def upgrade() -> tuple[int, int]:
    """Create or upgrade the schema; returns (version before, version now). Safe to repeat."""

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

    done = write(apply)
    try:
        write(analyse)
    except Exception as exc:  # statistics for the planner: a start never fails for them
        logging.getLogger("kakatong").warning("ANALYZE skipped: %s: %s", type(exc).__name__, exc)
    return done


# Below this many journal rows the query planner's own guesses serve (every read has an index
# made for it); above, it is told how the rows spread (which index narrows most).
ANALYSE_FROM_ROWS = 10_000


def analyse() -> None:
    """Fresh statistics for the query planner (sqlite_stat1), at every start: ANALYZE with a
    limit looks at a few hundred entries of each index, a few milliseconds however large the
    journal. A small shop's database gets none (and loses any it had): statistics of a few rows
    would mislead the planner once the journal has grown."""
    (rows,) = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()
    if rows >= ANALYSE_FROM_ROWS:
        db.execute_sql("PRAGMA analysis_limit = 400")
        db.execute_sql("ANALYZE")
    elif db.execute_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        db.execute_sql("DELETE FROM sqlite_stat1")


def integrity_check() -> list[str]:
    return [row[0] for row in db.execute_sql("PRAGMA integrity_check").fetchall()]
