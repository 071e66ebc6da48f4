"""The schema: append-only triggers, the schema's version and the migrations to it.

A fresh database is created at the newest version from the models; an older one is brought
forward in place, one version at a time, and never by dropping data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from peewee import ForeignKeyField
from playhouse.migrate import SqliteMigrator

from .db import db, is_postgres, serialised, write
from .models import (
    ALL_MODELS,
    AuditLog,
    Branch,
    Card,
    JournalDay,
    Merchant,
    Meta,
    OfflineUpload,
    Staff,
    StaffSession,
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
           created_at, settle_date, original_id, request_id, offline, sold_at, branch_id
           ON journal
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
# adds the journal up again. SQLite keeps them in slot 0; PostgreSQL in the row's terminal's
# slot (JournalDay: no row that every posting of a chain updates).
_ADD_TO_DAY = """INSERT INTO journal_day
               (settle_date, branch_id, type, status, slot, count, amount_fen, points)
           VALUES ({row}.settle_date, {row}.branch_id, {row}.type, {row}.status, {slot},
               {sign}1, {sign}{row}.amount_fen, {sign}{row}.points)
           ON CONFLICT (settle_date, branch_id, type, status, slot) DO UPDATE
               SET count = {day}count + excluded.count,
               amount_fen = {day}amount_fen + excluded.amount_fen,
               points = {day}points + excluded.points;"""
SUMMARY_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS journal_day_insert AFTER INSERT ON journal
       BEGIN {_ADD_TO_DAY.format(row="NEW", day="", slot=0, sign="")} END""",
    f"""CREATE TRIGGER IF NOT EXISTS journal_day_status AFTER UPDATE OF status ON journal
       WHEN NEW.status IS NOT OLD.status
       BEGIN
           UPDATE journal_day SET count = count - 1, amount_fen = amount_fen - OLD.amount_fen,
               points = points - OLD.points
           WHERE settle_date = OLD.settle_date AND branch_id = OLD.branch_id
               AND type = OLD.type AND status = OLD.status AND slot = 0;
           {_ADD_TO_DAY.format(row="NEW", day="", slot=0, sign="")}
       END""",
]


_OLD_SLOT, _NEW_SLOT = "COALESCE(OLD.terminal_id, 0)", "COALESCE(NEW.terminal_id, 0)"

# The same rules on PostgreSQL, as its triggers: a function that refuses with the rule's
# words (SQLSTATE 23001, restrict_violation), and one that keeps the daily sums. TRUNCATE,
# which no row trigger sees there, is refused too.
PG_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION kakatong_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = 'restrict_violation'; END
       $$""",
    # (a void's original: its sums taken back in the slot they went to, the signs turned)
    f"""CREATE OR REPLACE FUNCTION kakatong_journal_day() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           IF TG_OP = 'UPDATE' THEN
               {_ADD_TO_DAY.format(row="OLD", day="journal_day.", sign="-", slot=_OLD_SLOT)}
           END IF;
           {_ADD_TO_DAY.format(row="NEW", day="journal_day.", sign="", slot=_NEW_SLOT)}
           RETURN NULL;
       END $$""",
]
_MONEY_COLUMNS = (
    "type, card_id, terminal_id, amount_fen, price_fen, discount_pct, purchase_fen, points,"
    " balance_after_fen, points_after, trace_no, voucher_no, batch_no, created_at, settle_date,"
    " original_id, request_id, offline, sold_at, branch_id"
)
_AS_SENT = (
    "terminal_id, offline_trace_no, fingerprint, payload, type, card_no, amount_fen, points,"
    " service_code, operator_no, received_at, uploaded_by"
)


def _pg_refusal(name: str, when: str, table: str, message: str, condition: str = "") -> str:
    level = "STATEMENT" if when.endswith("TRUNCATE") else "ROW"
    guard = f" WHEN ({condition})" if condition else ""
    return (
        f"CREATE OR REPLACE TRIGGER {name} {when} ON {table} FOR EACH {level}{guard}"
        f" EXECUTE FUNCTION kakatong_refuse('{message}')"
    )


PG_TRIGGERS = [
    _pg_refusal("journal_no_delete", "BEFORE DELETE", "journal", "journal rows cannot be deleted"),
    _pg_refusal("journal_no_truncate", "BEFORE TRUNCATE", "journal",
                "journal rows cannot be deleted"),
    _pg_refusal("journal_money_immutable", f"BEFORE UPDATE OF {_MONEY_COLUMNS}", "journal",
                "journal rows are append-only"),
    _pg_refusal("journal_status_once", "BEFORE UPDATE OF status", "journal",
                "only success -> voided",
                "NOT (OLD.status = 'success' AND NEW.status = 'voided')"),
    _pg_refusal("audit_no_delete", "BEFORE DELETE", "audit_log", "audit rows cannot be deleted"),
    _pg_refusal("audit_no_truncate", "BEFORE TRUNCATE", "audit_log",
                "audit rows cannot be deleted"),
    _pg_refusal("audit_no_update", "BEFORE UPDATE", "audit_log", "audit rows cannot be changed"),
    _pg_refusal("offline_upload_no_delete", "BEFORE DELETE", "offline_upload",
                "offline uploads cannot be deleted"),
    _pg_refusal("offline_upload_no_truncate", "BEFORE TRUNCATE", "offline_upload",
                "offline uploads cannot be deleted"),
    # (only while failed: a resolved one meets resolved_once, as on SQLite)
    _pg_refusal("offline_upload_as_sent", f"BEFORE UPDATE OF {_AS_SENT}", "offline_upload",
                "an offline upload stays as it was sent", "OLD.status = 'failed'"),
    _pg_refusal("offline_upload_resolved_once", "BEFORE UPDATE", "offline_upload",
                "only a failed upload is resolved, once", "OLD.status <> 'failed'"),
    _pg_refusal("offline_upload_sale_time_once", "BEFORE UPDATE OF sold_at", "offline_upload",
                "an offline upload stays as it was sent",
                "OLD.sold_at IS NOT NULL AND NEW.sold_at IS DISTINCT FROM OLD.sold_at"),
    """CREATE OR REPLACE TRIGGER journal_day_insert AFTER INSERT ON journal
       FOR EACH ROW EXECUTE FUNCTION kakatong_journal_day()""",
    """CREATE OR REPLACE TRIGGER journal_day_status AFTER UPDATE OF status ON journal
       FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
       EXECUTE FUNCTION kakatong_journal_day()""",
]  # fmt: skip


def _pg_amcheck() -> None:
    """amcheck (PostgreSQL's contrib), for verify's check of the indexes, where the database's
    user may install it; without it verify checks the rest."""
    try:
        with db.atomic():
            db.execute_sql("CREATE EXTENSION IF NOT EXISTS amcheck")
    except Exception as exc:
        logging.getLogger("kakatong").info("amcheck not installed (%s): verify checks less", exc)


def trigger_names() -> set[str]:
    """The triggers a database of this schema has (verify checks they are all there)."""
    if is_postgres():
        return {t.split()[4] for t in PG_TRIGGERS}
    texts = (*JOURNAL_TRIGGERS, *AUDIT_TRIGGERS, *OFFLINE_TRIGGERS, *SUMMARY_TRIGGERS)
    return {t.split()[5] for t in texts}


def install_triggers() -> None:
    if is_postgres():
        for text in (*PG_FUNCTIONS, *PG_TRIGGERS):
            db.execute_sql(text)
        return
    for text in (*JOURNAL_TRIGGERS, *AUDIT_TRIGGERS, *OFFLINE_TRIGGERS, *SUMMARY_TRIGGERS):
        db.execute_sql(text)


def _pg_text_columns() -> None:
    """PostgreSQL holds peewee's VARCHAR(255) to 255 characters, SQLite any length: the
    texts are made TEXT, so that both engines take the same values (the edges limit what
    they accept)."""
    rows = db.execute_sql(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND data_type = 'character varying'"
        " ORDER BY table_name, ordinal_position"
    ).fetchall()
    by_table: dict[str, list[str]] = {}
    for table, column in rows:
        by_table.setdefault(table, []).append(column)
    for table, columns in by_table.items():
        changes = ", ".join(f'ALTER COLUMN "{c}" TYPE TEXT' for c in columns)
        db.execute_sql(f'ALTER TABLE "{table}" {changes}')


# The statistics' sums as the journal gives them, for a migration to fill JournalDay with and
# for verify to compare it with.
JOURNAL_DAY_SUMS = (
    "SELECT settle_date, branch_id, type, status, COUNT(*), SUM(amount_fen), SUM(points)"
    " FROM journal GROUP BY settle_date, branch_id, type, status"
)


# The schema's version. A fresh database is created at the newest version from the models; an
# older one is brought forward by MIGRATIONS[v] for each v above its version, with
# playhouse.migrate (add a column, an index…), never by dropping data.
SCHEMA_VERSION = 9


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
        if isinstance(field, ForeignKeyField):
            # (a table's own references are table constraints; an added column's its own)
            target = field.rel_model._meta.table_name
            column += f' REFERENCES "{target}" ("{field.rel_field.column_name}")'
            if field.on_delete:
                column += f" ON DELETE {field.on_delete}"
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
    Transaction._schema.create_indexes(safe=True)
    Card._schema.create_indexes(safe=True)
    # (JournalDay is made by _v8_branches, by branch.)


def _v8_branches(migrator: SqliteMigrator) -> None:
    """A chain's parts: branches (门店), the shop's one made from its merchant, with every
    terminal and every journal row in it; staff limited to a branch; the journal's daily sums
    by branch too; signed-in sessions kept in the database."""
    db.create_tables([Branch, StaffSession])
    add_columns((Terminal.branch, Staff.branch, Transaction.branch))
    Terminal._schema.create_indexes(safe=True)
    merchant = Merchant.select(Merchant.merchant_name).first()
    if merchant is not None:
        first = Branch.create(name=DEFAULT_BRANCH)
        db.execute_sql("UPDATE terminal SET branch_id = ?", (first.id,))
        db.execute_sql("UPDATE journal SET branch_id = ?", (first.id,))
    # The money trigger names branch_id, the daily sums are by branch: upgrade() installs
    # them again after the migrations.
    for trigger in ("journal_money_immutable", "journal_day_insert", "journal_day_status"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute_sql("DROP TABLE IF EXISTS journal_day")
    db.create_tables([JournalDay])  # (as the model is now: with schema 9's slot, all in 0)
    db.execute_sql(
        "INSERT INTO journal_day (settle_date, branch_id, type, status, count, amount_fen,"
        f" points, slot) SELECT *, 0 FROM ({JOURNAL_DAY_SUMS}) AS sums"
    )


def _v9_chain_postings(migrator: SqliteMigrator) -> None:
    """A chain's postings queue on no row that every posting updates: the daily sums in
    slots (JournalDay.slot, the terminal's on PostgreSQL; the rows kept so far stay in slot
    0, and the sums read add the slots up) and, on PostgreSQL, the voucher numbers from a
    sequence (sync_voucher_numbers, which upgrade() makes)."""
    if "slot" not in {column.name for column in db.get_columns("journal_day")}:
        add_columns((JournalDay.slot,))  # (a database from before 8 has it from _v8_branches)
    db.execute_sql('DROP INDEX IF EXISTS "journal_day_settle_date_branch_id_type_status"')
    JournalDay._schema.create_indexes(safe=True)
    if not is_postgres():  # (PostgreSQL's are replaced by install_triggers)
        for trigger in ("journal_day_insert", "journal_day_status"):
            db.execute_sql(f"DROP TRIGGER IF EXISTS {trigger}")


# A chain's voucher numbers (PostgreSQL): a sequence, which a posting takes a number from
# without a lock, where SQLite's postings count up merchant.last_voucher (its writer is
# alone, and no number is skipped). A posting undone after taking its number (a commit
# that failed, a write tried again after a deadlock) leaves that number unused: a chain's
# voucher numbers are unique and increase (at each terminal, in the order of its trace
# numbers) but may skip, as a bank POS's do. merchant.last_voucher is not moved there.
VOUCHER_SEQUENCE = "voucher_no_sequence"


def sync_voucher_numbers() -> None:
    """The voucher numbers' sequence, made if missing and set past every number in the
    journal (and merchant.last_voucher) where it is behind them: a database upgraded from 8,
    or a shop moved in (move.py). A sequence in use is never behind, and is left alone."""
    db.execute_sql(f"CREATE SEQUENCE IF NOT EXISTS {VOUCHER_SEQUENCE} AS BIGINT MINVALUE 1")
    db.execute_sql(
        f"SELECT setval('{VOUCHER_SEQUENCE}', taken) FROM (SELECT GREATEST("
        " (SELECT COALESCE(MAX(voucher_no), 0) FROM journal),"
        " (SELECT COALESCE(MAX(last_voucher), 0) FROM merchant)) AS taken) AS numbers"
        f" WHERE taken > COALESCE(pg_sequence_last_value('{VOUCHER_SEQUENCE}'), 0)"
    )


# The one branch of a single shop (renamed by its owner once it opens a second).
DEFAULT_BRANCH = "本店"


MIGRATIONS: dict[int, Callable[[SqliteMigrator], None]] = {
    2: _v2_terminal_parameters,
    3: _v3_audit_log,
    4: _v4_printer,
    5: _v5_discount,
    6: _v6_offline,
    7: _v7_years_of_data,
    8: _v8_branches,
    9: _v9_chain_postings,
}


class SchemaTooNew(RuntimeError):
    pass


def upgrade() -> tuple[int, int]:
    """Create or upgrade the schema; returns (version before, version now). Safe to repeat."""

    def apply() -> tuple[int, int]:
        # Processes starting at once on one new PostgreSQL database: one creates the schema,
        # the others wait here, then find it made.
        serialised("schema")
        if not Meta.table_exists():
            db.create_tables(ALL_MODELS)
            if is_postgres():
                _pg_text_columns()
                _pg_amcheck()
            Meta.create(key="schema_version", value=str(SCHEMA_VERSION))
            install_triggers()
            if is_postgres():
                sync_voucher_numbers()
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
        if is_postgres():
            sync_voucher_numbers()
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
    if is_postgres():
        return  # its autovacuum daemon keeps the statistics
    (rows,) = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()
    if rows >= ANALYSE_FROM_ROWS:
        db.execute_sql("PRAGMA analysis_limit = 400")
        db.execute_sql("ANALYZE")
    elif db.execute_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        db.execute_sql("DELETE FROM sqlite_stat1")


def integrity_check() -> list[str]:
    """The database's own checks, ["ok"] when all pass: SQLite's integrity_check; on
    PostgreSQL (whose pages have no such check), that every constraint is validated and every
    index valid, and amcheck's B-tree check of each index where the extension is installed.
    On both, that every trigger of the append-only rules and the daily sums is there (and, on
    PostgreSQL, enabled)."""
    if is_postgres():
        found = _pg_checks()
    else:
        found = [row[0] for row in db.execute_sql("PRAGMA integrity_check").fetchall()]
        found = [] if found == ["ok"] else found
        present = {r[0] for r in db.execute_sql("SELECT name FROM sqlite_master WHERE type = ?",
                                                ("trigger",))}  # fmt: skip
        found += [f"trigger {name} is missing" for name in sorted(trigger_names() - present)]
    return found or ["ok"]


def _pg_checks() -> list[str]:
    found = []
    triggers = dict(
        db.execute_sql(
            "SELECT t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal"
        ).fetchall()
    )
    for name in sorted(trigger_names()):
        if name not in triggers:
            found.append(f"trigger {name} is missing")
        elif triggers[name] == "D":
            found.append(f"trigger {name} is disabled")
    for name, table in db.execute_sql(
        "SELECT con.conname, c.relname FROM pg_constraint con JOIN pg_class c"
        " ON c.oid = con.conrelid WHERE c.relnamespace = current_schema()::regnamespace"
        " AND NOT con.convalidated"
    ).fetchall():
        found.append(f"constraint {name} on {table} is not validated")
    indexes = db.execute_sql(
        "SELECT i.relname, x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_am am ON am.oid = i.relam"
        " WHERE i.relnamespace = current_schema()::regnamespace AND am.amname = 'btree'"
    ).fetchall()
    found += [f"index {name} is not valid" for name, valid in indexes if not valid]
    amcheck = db.execute_sql("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'").fetchone()
    if amcheck:
        for name, valid in indexes:
            if valid:
                try:
                    db.execute_sql("SELECT bt_index_check(?::regclass)", (name,))
                except Exception as exc:  # a damaged index, said as the server says it
                    found.append(f"index {name}: {exc}")
    return found
