"""The admin commands: init, import-cards, set-password, verify; and the schema version."""

import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import peewee
import pytest
from conftest import GOLD, ON_POSTGRES, body, operator_actor, outside, rid

import kakatong.store.db as db
import kakatong.store.schema as schema
from kakatong.cli import UpgradeFailed
from kakatong.domain import ledger, offline, receipts
from kakatong.domain.cards import IMPORT_COLUMNS
from kakatong.factory import create_app
from kakatong.store import runtime
from kakatong.store.models import (
    AuditLog,
    Card,
    Meta,
    OfflineUpload,
    Setting,
    Staff,
    Terminal,
    Transaction,
)

HEADER = ",".join(IMPORT_COLUMNS)
ROOT = Path(__file__).resolve().parent.parent


def test_init_is_safe_to_run_twice_and_keeps_data(app, runner, api):
    api.transact("consume", "1680106700000018", amount="10")
    before = (Card.select().count(), Transaction.select().count(), Staff.select().count())
    for _ in range(2):
        result = runner.invoke(args=["init"])
        assert result.exit_code == 0, result.output
    assert (
        f"schema version {schema.SCHEMA_VERSION}" in result.output
        or "schema at version" in result.output
    )
    assert (Card.select().count(), Transaction.select().count(), Staff.select().count()) == before
    # One counter terminal, and the back office's own.
    assert sorted(Terminal.select(Terminal.kind).tuples()) == [("backoffice",), ("pos",)]


def test_a_fresh_data_dir_gets_the_merchant_terminal_staff_and_demo_cards(tmp_path):
    create_app({"data_dir": tmp_path, "demo": True})
    assert Terminal.get(Terminal.kind == "pos").terminal_id == "10000001"
    assert sorted(s.staff_no for s in Staff.select()) == [
        "00",
        "01",
        "02",
        "03",
        "04",
        "05",
        "99",
        "owner",
    ]
    assert Card.select().where(Card.status == "active").count() == 3
    assert (tmp_path / "pin_pepper").exists() and (tmp_path / "secret_key").exists()
    pepper = (tmp_path / "pin_pepper").read_text()
    stored = [(m.key, m.value) for m in Meta.select()] + [
        (s.key, s.value) for s in Setting.select()
    ]
    assert not any(pepper in value for _key, value in stored)  # kept outside the database
    if not ON_POSTGRES:
        assert pepper.encode() not in (tmp_path / "kakatong.sqlite3").read_bytes()


def test_no_demo_cards_when_demo_is_off(tmp_path):
    create_app({"data_dir": tmp_path, "demo": False})
    assert Card.select().count() == 0


@pytest.mark.sqlite_only("the SQLite file's own")
def test_the_pragmas_are_wal_full_sync_and_foreign_keys(app):
    assert db.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2
    assert db.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.db.execute_sql("PRAGMA busy_timeout").fetchone()[0] > 0


def test_a_database_newer_than_the_software_is_refused(tmp_path):
    create_app({"data_dir": tmp_path, "demo": False})
    Meta.update(value=str(schema.SCHEMA_VERSION + 1)).execute()
    with pytest.raises(UpgradeFailed, match="newer than this software's .*nothing was changed"):
        create_app({"data_dir": tmp_path, "demo": False})


def test_an_older_schema_is_upgraded_forward_without_losing_data(tmp_path, monkeypatch):
    create_app({"data_dir": tmp_path, "demo": True})
    from peewee import CharField
    from playhouse.migrate import migrate

    applied = []

    def add_note(migrator):
        migrate(migrator.add_column("card", "note", CharField(null=True)))
        applied.append(True)

    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION, add_note)
    create_app({"data_dir": tmp_path, "demo": True})
    assert applied == [True]
    assert Meta.get_by_id("schema_version").value == str(schema.SCHEMA_VERSION)
    columns = [c.name for c in db.db.get_columns("card")]
    assert "note" in columns and Card.select().count() == 4


# ---------------------------------------------------------------- import-cards


def write(tmp_path, text, name="members.csv", bom=False):
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return str(path)


@pytest.mark.parametrize("bom", [False, True])
def test_import_cards_activates_and_records_opening_entries(app, runner, tmp_path, bom):
    csv = (
        f"{HEADER}\n"
        "6222000000000001,X1,13511112222,孙七,male,1980-01-02,,普通会员,2099-12-31,135246,123.45,67\n"
        "6222000000000002,,,,,,,,,,,\n"
    )
    result = runner.invoke(args=["import-cards", write(tmp_path, csv, bom=bom)])
    assert result.exit_code == 0, result.output
    assert "imported 2" in result.output
    card = Card.get(Card.card_no == "6222000000000001")
    assert (card.balance_fen, card.points, card.status, card.has_pin) == (12345, 67, "active", True)
    opening = Transaction.get(Transaction.card == card)
    assert (opening.type, opening.amount_fen, opening.points) == ("opening", 12345, 67)
    assert runner.invoke(args=["verify"]).exit_code == 0


def test_a_bad_line_is_reported_by_number_and_nothing_is_imported(app, runner, tmp_path):
    csv = (
        f"{HEADER}\n"
        "6222000000000001,,,,,,,,,,10,\n"
        "62220000000000AB,,,,,,,,,,10,\n"
        "6222000000000003,,,,,,,,,,1.234,\n"
        "6222000000000001,,,,,,,,,,,\n"
        "6222000000000005,,,,,,,,,12,,\n"
        "1680860097157114,,,,,,,,,,,\n"
    )
    before = Card.select().count()
    result = runner.invoke(args=["import-cards", write(tmp_path, csv)])
    assert result.exit_code != 0
    for line in ("line 3", "line 4", "line 5", "line 6", "line 7"):
        assert line in result.output
    assert "line 2" not in result.output
    assert "nothing was imported" in result.output
    assert Card.select().count() == before


def test_import_refuses_a_wrong_header(app, runner, tmp_path):
    result = runner.invoke(args=["import-cards", write(tmp_path, "card,balance\n1,2\n")])
    assert result.exit_code != 0 and "line 1" in result.output


# ---------------------------------------------------------------- verify


def test_verify_finds_a_balance_that_the_journal_does_not_explain(app, runner, tmp_path):
    assert runner.invoke(args=["verify"]).exit_code == 0
    outside("UPDATE card SET balance_fen = balance_fen + 1 WHERE card_no = '1680106700000018'",
            tmp_path)  # fmt: skip
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1
    assert "1680106700000018" in result.output and "problem" in result.output


def test_the_cli_runs_as_a_real_command(tmp_path):
    env = {"KAKATONG_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "KAKATONG_DEMO": "1"}
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    out = subprocess.run([*flask, "init"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "created the demo cards" in out.stdout
    out = subprocess.run([*flask, "verify"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "verify: ok" in out.stdout


def test_set_password_for_an_unknown_staff_member_fails(runner):
    result = runner.invoke(args=["set-password", "77", "2580"])
    assert result.exit_code != 0


def test_health_is_cheap_and_open(client):
    assert body(client.get("/api/v1/health")) == {"status": "ok"}


def a_sale_at_the_terminal() -> int:
    """A journal row that names the terminal: an upgrade must not need to drop that table."""
    from conftest import PLAIN, operator_actor, rid

    from kakatong.domain import ledger

    posted = ledger.transact(operator_actor(), "consume", PLAIN, request_id=rid(), amount="1")
    return posted.record.id


PRINTER_COLUMNS = ("printer_url", "printer_encoding", "printer_chinese_mode", "paper_mm",
                   "printer_image", "printer_cut")  # fmt: skip
# The money trigger as schema 5 had it: before sold_at (schema 6).
V5_MONEY_TRIGGER = schema.JOURNAL_TRIGGERS[1].replace(", sold_at ON journal", " ON journal")
OFFLINE_TRIGGER_NAMES = {
    "offline_upload_no_delete", "offline_upload_as_sent", "offline_upload_resolved_once",
    "offline_upload_sale_time_once",
}  # fmt: skip


def back_to_version_5(raw: sqlite3.Connection) -> None:
    """Undo schema 6 (离线交易) on a raw connection: the uploads' table (its triggers go with
    it), journal.sold_at with the money trigger that names it, terminal.offline_trace_next;
    schemas 8 and 7 first, as test_upgrade undoes them."""
    from test_upgrade import UNDO

    UNDO[8](raw)
    UNDO[7](raw)
    raw.execute("DROP TABLE offline_upload")
    raw.execute("DROP TRIGGER journal_money_immutable")
    raw.execute("ALTER TABLE journal DROP COLUMN sold_at")
    raw.execute(V5_MONEY_TRIGGER)
    raw.execute("ALTER TABLE terminal DROP COLUMN offline_trace_next")


@pytest.mark.sqlite_only("the SQLite file's own")
def test_a_version_1_database_gains_the_terminal_parameters(tmp_path):
    """Schema 2 added the POS manual's terminal parameters; a shop's version-1 database gets
    them with their defaults and keeps everything else."""
    create_app({"data_dir": tmp_path, "demo": True})
    sold = a_sale_at_the_terminal()
    db.db.close()
    raw = sqlite3.connect(tmp_path / "kakatong.sqlite3")
    back_to_version_5(raw)  # schema 6
    for column in ("receipt_copies", "standby_type", "manual_entry", "service_code_prompt",
                   "language", "journal_view_from"):  # fmt: skip
        raw.execute(f"ALTER TABLE terminal DROP COLUMN {column}")
    raw.execute("DROP TABLE audit_log")  # schema 3
    for column in PRINTER_COLUMNS:  # schema 4
        raw.execute(f"ALTER TABLE terminal DROP COLUMN {column}")
    raw.execute("ALTER TABLE journal DROP COLUMN discount_pct")  # schema 5
    raw.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    create_app({"data_dir": tmp_path, "demo": True})
    assert Meta.get_by_id("schema_version").value == str(schema.SCHEMA_VERSION)
    t = Terminal.get(Terminal.kind == "pos")
    assert (t.receipt_copies, t.standby_type, t.manual_entry, t.service_code_prompt) == (
        2, "consume", True, True,
    )  # fmt: skip
    assert Card.select().count() == 4
    assert Transaction.get_by_id(sold).terminal.terminal_id == "10000001"
    assert AuditLog.select().count() == 0  # schema 3: the audit log, empty and append-only


@pytest.mark.sqlite_only("the SQLite file's own")
def test_a_version_3_database_gains_the_printer_settings(tmp_path):
    """Schema 4 added each terminal's receipt printer: no printer, GB18030, Chinese mode on,
    58 mm paper, text mode, a cutter."""
    create_app({"data_dir": tmp_path, "demo": True})
    sold = a_sale_at_the_terminal()
    db.db.close()
    raw = sqlite3.connect(tmp_path / "kakatong.sqlite3")
    back_to_version_5(raw)  # schema 6
    for column in PRINTER_COLUMNS:
        raw.execute(f"ALTER TABLE terminal DROP COLUMN {column}")
    raw.execute("ALTER TABLE journal DROP COLUMN discount_pct")  # schema 5
    raw.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    create_app({"data_dir": tmp_path, "demo": True})
    assert Meta.get_by_id("schema_version").value == str(schema.SCHEMA_VERSION)
    t = Terminal.get(Terminal.kind == "pos")
    assert (
        t.printer_url, t.printer_encoding, t.printer_chinese_mode, t.paper_mm, t.printer_image,
        t.printer_cut,
    ) == ("none", "gb18030", True, 58, False, True)  # fmt: skip
    assert Transaction.get_by_id(sold).terminal.terminal_id == "10000001"
    with pytest.raises(peewee.IntegrityError):  # the constraints came with the columns
        Terminal.update(paper_mm=57).execute()
    with pytest.raises(peewee.IntegrityError):
        Terminal.update(printer_encoding="big5").execute()


@pytest.mark.sqlite_only("the SQLite file's own")
def test_a_version_4_database_keeps_each_new_consumes_discount(tmp_path):
    """Schema 5 keeps the discount a consume was paid at on its row; the rows from before have
    none, and their slips work it out from the price and the amount."""
    create_app({"data_dir": tmp_path, "demo": True})
    gold = "1680860097157114"  # 金卡会员, 88 %
    before = ledger.consume(
        operator_actor(), gold, "100.00", request_id=rid(), pin="123456"
    ).record.id
    db.db.close()
    raw = sqlite3.connect(tmp_path / "kakatong.sqlite3")
    back_to_version_5(raw)  # schema 6
    # A version 4 database: no column, and the money trigger of version 4.
    raw.execute("DROP TRIGGER journal_money_immutable")
    raw.execute("ALTER TABLE journal DROP COLUMN discount_pct")
    raw.execute(V5_MONEY_TRIGGER.replace(" discount_pct,", ""))
    raw.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    create_app({"data_dir": tmp_path, "demo": True})
    assert Meta.get_by_id("schema_version").value == str(schema.SCHEMA_VERSION)
    old = Transaction.get_by_id(before)
    assert old.discount_pct is None and receipts.build(old).discount_pct == 88
    after = ledger.consume(operator_actor(), gold, "0.10", request_id=rid(), pin="123456").record
    assert Transaction.get_by_id(after.id).discount_pct == 88
    assert ledger.verify() == []
    with pytest.raises(peewee.IntegrityError, match="append-only"):  # and as immutable
        db.db.execute_sql("UPDATE journal SET discount_pct = 50 WHERE id = ?", (after.id,))
    with pytest.raises(peewee.IntegrityError):  # the CHECK came with the column
        db.db.execute_sql(
            "INSERT INTO journal (type, card_id, created_at, settle_date, "
            "amount_fen, points, balance_after_fen, points_after, discount_pct) "
            "VALUES ('opening', 1, '2026-01-01', '2026-01-01', 0, 0, 0, 0, 101)"
        )


@pytest.mark.sqlite_only("the SQLite file's own")
def test_a_version_5_database_gains_offline_mode(tmp_path):
    """Schema 6 added 离线交易: each terminal's next offline trace number (from 1), an
    offline sale's own time on its journal row (none on the rows from before), and the
    uploads' table with its triggers; an offline sale uploads after the upgrade."""
    create_app({"data_dir": tmp_path, "demo": True})
    sold = a_sale_at_the_terminal()
    db.db.close()
    raw = sqlite3.connect(tmp_path / "kakatong.sqlite3")
    back_to_version_5(raw)
    raw.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    create_app({"data_dir": tmp_path, "demo": True})
    assert Meta.get_by_id("schema_version").value == str(schema.SCHEMA_VERSION)
    assert Terminal.get(Terminal.kind == "pos").offline_trace_next == 1
    old = Transaction.get_by_id(sold)
    assert old.sold_at is None and old.offline is False
    assert OfflineUpload.table_exists() and OfflineUpload.select().count() == 0
    triggers = {
        name
        for (name,) in db.db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'offline_upload'"
        )
    }
    assert triggers == OFFLINE_TRIGGER_NAMES
    with pytest.raises(peewee.IntegrityError):  # the CHECK came with the column
        Terminal.update(offline_trace_next=0).execute()

    actor = operator_actor()
    assert offline.reserve_traces(actor, 10) == (1, 10)
    item = {
        "terminal_id": actor.terminal_id,
        "offline_trace_no": 1,
        "type": "consume",
        "card_no": GOLD,
        "amount": "10.00",
        "operator_no": "01",
        "sold_at": runtime.local(runtime.utcnow() - timedelta(minutes=30)).isoformat(),
    }
    item["sealed_pin"] = offline.seal("123456", offline.public_key(), offline.sealed_for(item))
    row = offline.upload(actor, item).row
    assert row.status == "applied", (row.error, row.message)
    posted = Transaction.get_by_id(row.transaction_id)
    assert posted.offline and posted.sold_at is not None and posted.amount_fen == -880
    assert offline.upload(actor, dict(item)).replayed
    assert ledger.verify() == []
    with pytest.raises(peewee.IntegrityError, match="append-only"):  # sold_at as immutable
        db.db.execute_sql("UPDATE journal SET sold_at = NULL WHERE id = ?", (posted.id,))
    with pytest.raises(peewee.IntegrityError, match="deleted"):
        db.db.execute_sql("DELETE FROM offline_upload")


def test_print_test_prints_on_the_terminals_printer_or_says_why_not(runner, app):
    from conftest import Listener, free_port

    result = runner.invoke(args=["print-test"])
    assert result.exit_code != 0 and "has no printer" in result.output
    server = Listener()
    try:
        result = runner.invoke(args=["print-test", "--url", f"tcp://127.0.0.1:{server.port}"])
        assert result.exit_code == 0, result.output
        assert "printed the test page for terminal 10000001" in result.output
        (page,) = server.wait_for(1)
        assert "打印测试 TEST PAGE" in page.decode("gb18030")
        assert Terminal.get(Terminal.terminal_id == "10000001").printer_url == "none"  # not saved
        Terminal.update(printer_url=f"tcp://127.0.0.1:{server.port}", paper_mm=80).execute()
        result = runner.invoke(args=["print-test", "10000001"])
        assert result.exit_code == 0 and "80 mm" in result.output
        assert "1234567890" * 4 + "12345678" in server.wait_for(2)[1].decode("gb18030")
    finally:
        server.close()
    result = runner.invoke(args=["print-test", "--url", f"tcp://127.0.0.1:{free_port()}"])
    assert result.exit_code != 0 and "Connection refused" in result.output
    for bad in (["print-test", "--url", "lpt1"], ["print-test", "12345678"]):
        result = runner.invoke(args=bad)
        assert result.exit_code != 0, bad
