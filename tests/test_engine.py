"""The database engine under the rules: what db.write does with concurrent writes, the
schema's guarantees as the database's own, a chain's start-up. Most of this runs on both
engines; what only a server database can show (several connections writing at once, several
processes starting at once) runs on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import peewee
import pytest
from conftest import GOLD, ON_POSTGRES, PLAIN, body, drop_trigger, operator_actor, rid

from kakatong.cli import NotStarted
from kakatong.domain import ledger
from kakatong.factory import create_app
from kakatong.store import db as store_db
from kakatong.store.db import Busy, db, write
from kakatong.store.models import Card, Level, Merchant, Staff, Terminal, Transaction
from kakatong.store.schema import integrity_check, trigger_names

ROOT = Path(__file__).resolve().parent.parent
postgres_only = pytest.mark.skipif(
    not ON_POSTGRES, reason="several connections writing at once: a server database's"
)

# A real error of the server, with its SQLSTATE, as a concurrent write makes it.
SERIALIZATION_FAILURE = (
    "DO $$ BEGIN RAISE EXCEPTION 'concurrent update' USING ERRCODE = 'serialization_failure';"
    " END $$"
)


def test_the_engine_is_the_one_configured(app):
    assert store_db.engine() == ("postgresql" if ON_POSTGRES else "sqlite")
    assert store_db.is_postgres() is ON_POSTGRES


def test_hand_written_sql_takes_its_placeholders_and_clauses_on_either_engine(app):
    locking = store_db.for_update("SELECT id FROM card WHERE card_no = ?", "card")
    assert locking.endswith("/*pg: FOR UPDATE OF card*/")
    assert store_db._for_pg(locking) == "SELECT id FROM card WHERE card_no = %s FOR UPDATE OF card"
    assert store_db._for_pg("SELECT '5%' || ?") == "SELECT '5%%' || %s"
    (card_id,) = write(lambda: db.execute_sql(locking, (GOLD,)).fetchone())
    assert card_id == Card.get(Card.card_no == GOLD).id


@postgres_only
def test_hand_written_sql_is_prepared_once_per_connection(app):
    """On PostgreSQL the fixed SQL is a prepared statement of each connection: PREPAREd at
    its first use, EXECUTEd after, still there after a transaction that was undone; a new
    connection prepares it again."""
    text = store_db.sql("SELECT card_no FROM card WHERE card_no = ? AND 7 % 2 = 1")
    name = store_db._prepared(text)[0]

    def prepared() -> set[str]:
        return {r[0] for r in db.execute_sql("SELECT name FROM pg_prepared_statements")}

    assert db.execute_sql(text, (GOLD,)).fetchone() == (GOLD,)
    assert name in prepared()

    def undone():
        assert db.execute_sql(text, (PLAIN,)).fetchone() == (PLAIN,)
        raise RuntimeError("undone")

    with pytest.raises(RuntimeError):
        write(undone)
    assert write(lambda: db.execute_sql(text, (GOLD,)).fetchone()) == (GOLD,)
    db.close()
    store_db.connect()
    assert name not in prepared()
    assert db.execute_sql(text, (PLAIN,)).fetchone() == (PLAIN,)
    assert name in prepared()


class _Sent:
    """What the process sends the server: every statement text, one message each."""

    def __init__(self, monkeypatch):
        self.texts: list[str] = []
        opened = db.obj.cursor

        def cursor(*args, **kwargs):
            real = opened(*args, **kwargs)
            texts = self.texts

            class Recording:
                def execute(self, text, params=None):
                    texts.append(text)
                    return real.execute(text, params)

                def __getattr__(self, name):
                    return getattr(real, name)

            return Recording()

        monkeypatch.setattr(db.obj, "cursor", cursor)


@postgres_only
def test_a_consume_is_six_messages_to_the_server(app, api, monkeypatch):
    """At one client a chain's consume waits on each message to the server in turn: the
    session; BEGIN with the request_id check; the settings; the card, locked; the posting,
    which also answers the terminal's printer and branch name; COMMIT. (The printer and the
    branch were two reads more after the commit, and BEGIN one message of its own.)"""
    api.transact("consume", PLAIN, amount="1.00")  # the statements are prepared
    sent = _Sent(monkeypatch)
    r = api.transact("consume", PLAIN, amount="1.00")
    assert r.status_code == 201, body(r)
    assert body(r)["branch_name"] == "本店"
    assert len(sent.texts) == 6, sent.texts
    assert sent.texts[1].startswith("BEGIN; EXECUTE ")
    assert sent.texts[-1] == "COMMIT"
    assert not any(text.strip() == "BEGIN" for text in sent.texts)


@postgres_only
def test_begin_goes_with_the_first_statement_and_an_empty_write_sends_nothing(app, monkeypatch):
    sent = _Sent(monkeypatch)
    assert write(lambda: 7) == 7
    assert sent.texts == []

    def fail():
        Card.update(name="乙").where(Card.card_no == PLAIN).execute()
        db.execute_sql("SELECT 1 / 0")

    with pytest.raises(peewee.DataError):  # division by zero: undoes the rename too
        write(fail)
    assert sent.texts[0].startswith('BEGIN; UPDATE "card"'), sent.texts
    assert sent.texts[-1] == "ROLLBACK"
    assert Card.get(Card.card_no == PLAIN).name == "张三"


def test_voucher_numbers_skip_only_on_postgresql_after_a_posting_undone(app):
    """A posting undone after it took its voucher number (here: its transaction fails after
    the posting) leaves a gap on PostgreSQL, whose numbers come from a sequence; SQLite's
    counter is undone with it. Either way the numbers are unique and increase."""
    actor = operator_actor()
    first = ledger.consume(actor, PLAIN, "1.00", request_id=rid()).record.voucher_no
    apply = ledger._prepared(
        actor, "consume", PLAIN, None, rid(), None, ledger._consume_asks("1.00", None)
    )

    def undone():
        apply()
        raise RuntimeError("the commit failed")

    with pytest.raises(RuntimeError):
        write(undone)
    second = ledger.consume(actor, PLAIN, "1.00", request_id=rid()).record.voucher_no
    assert second == first + (2 if ON_POSTGRES else 1)
    assert ledger.last_voucher_no() == second
    assert ledger.verify() == []


def test_the_journal_refuses_deletes_and_changes_on_either_engine(app):
    posted = ledger.consume(operator_actor(), PLAIN, "1.00", request_id=rid())
    row = posted.record.id
    for statement in (
        f"DELETE FROM journal WHERE id = {row}",
        f"UPDATE journal SET amount_fen = 0 WHERE id = {row}",
        f"UPDATE journal SET status = 'success' WHERE id = {row}",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(peewee.IntegrityError):
            write(lambda s=statement: db.execute_sql(s))
    if ON_POSTGRES:  # TRUNCATE passes by the row triggers there: refused on its own
        with pytest.raises(peewee.IntegrityError, match="cannot be deleted"):
            write(lambda: db.execute_sql("TRUNCATE journal CASCADE"))
    assert Transaction.get_by_id(row).amount_fen == -100


def test_verify_says_a_missing_trigger(app, runner):
    assert integrity_check() == ["ok"]
    assert "journal_no_delete" in trigger_names()
    drop_trigger("journal_no_delete", "journal")
    assert integrity_check() == ["trigger journal_no_delete is missing"]
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1 and "trigger journal_no_delete is missing" in result.output


@postgres_only
def test_a_write_the_database_undoes_for_a_concurrent_one_is_tried_again(app):
    tries = []

    def fn():
        tries.append(1)
        Level.create(name=f"等级 {len(tries)}")
        if len(tries) < 3:
            db.execute_sql(SERIALIZATION_FAILURE)
        return len(tries)

    assert write(fn) == 3
    # The two undone tries left nothing; the third is kept.
    assert [lv.name for lv in Level.select().where(Level.name.startswith("等级"))] == ["等级 3"]


@postgres_only
def test_a_write_that_keeps_meeting_concurrent_ones_is_busy_and_keeps_nothing(app):
    tries = []

    def fn():
        tries.append(1)
        Level.create(name=f"等级 {len(tries)}")
        db.execute_sql(SERIALIZATION_FAILURE)

    with pytest.raises(Busy, match="serialization_failure after 6 tries"):
        write(fn)
    assert len(tries) == store_db.WRITE_TRIES
    assert not Level.select().where(Level.name.startswith("等级")).exists()


@postgres_only
def test_the_api_answers_database_busy_and_posts_nothing(app, api, monkeypatch):
    before = Card.get(Card.card_no == PLAIN).balance_fen
    real = ledger._usable_card

    def contended(*args, **kwargs):
        real(*args, **kwargs)
        db.execute_sql(SERIALIZATION_FAILURE)

    monkeypatch.setattr(ledger, "_usable_card", contended)
    r = api.transact("consume", PLAIN, amount="1.00")
    assert r.status_code == 503 and body(r)["error"] == "database_busy", body(r)
    assert body(r)["message"] == "系统繁忙，本次操作未完成，请重试"
    monkeypatch.undo()
    assert Card.get(Card.card_no == PLAIN).balance_fen == before
    assert not Transaction.select().where(Transaction.type == "consume").exists()


@postgres_only
def test_a_deadlock_between_two_writes_is_resolved_by_trying_again(app):
    """Two transactions lock two cards in opposite orders: PostgreSQL ends one of them as a
    deadlock; write() runs it again, and both complete."""
    gold, plain = Card.get(Card.card_no == GOLD).id, Card.get(Card.card_no == PLAIN).id
    both_hold_one = threading.Barrier(2, timeout=10)
    tries = {"a": 0, "b": 0}
    errors = []

    def writer(name, first, second):
        def fn():
            tries[name] += 1
            db.execute_sql("UPDATE card SET points = points + 1 WHERE id = ?", (first,))
            if tries[name] == 1:
                both_hold_one.wait()
            db.execute_sql("UPDATE card SET points = points + 1 WHERE id = ?", (second,))

        try:
            store_db.connect()
            write(fn)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db.close()

    points = {c.id: c.points for c in Card.select()}
    threads = [
        threading.Thread(target=writer, args=("a", gold, plain)),
        threading.Thread(target=writer, args=("b", plain, gold)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(tries.values()) == [1, 2]  # one was ended as the deadlock, and ran again
    after = {c.id: c.points for c in Card.select()}
    assert after[gold] == points[gold] + 2 and after[plain] == points[plain] + 2


@postgres_only
def test_one_request_id_from_two_connections_at_once_posts_once(app):
    actor = operator_actor()
    request_id = rid()
    start = threading.Barrier(2, timeout=10)
    answers, errors = [], []

    def post():
        try:
            store_db.connect()
            start.wait()
            answers.append(ledger.consume(actor, PLAIN, "3.00", request_id=request_id))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(a.replayed for a in answers) == [False, True]
    assert len({a.record.voucher_no for a in answers}) == 1
    assert Transaction.select().where(Transaction.request_id == request_id).count() == 1
    assert ledger.verify() == []


@postgres_only
def test_a_process_with_another_pepper_refuses_to_start(app, tmp_path):
    with pytest.raises(NotStarted, match="PIN pepper .* every card PIN check would fail"):
        create_app({"data_dir": tmp_path / "another-branch", "demo": True})
    # The same secrets (a copy of the data directory's files) start.
    copy = tmp_path / "branch-2"
    copy.mkdir()
    for name in ("pin_pepper", "secret_key", "offline_seal.pem"):
        (copy / name).write_bytes((tmp_path / name).read_bytes())
    create_app({"data_dir": copy, "demo": True})
    assert Merchant.select().count() == 1


@postgres_only
def test_processes_starting_at_once_on_an_empty_database_initialise_it_once(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "KAKATONG_DATA_DIR": str(data), "KAKATONG_DEMO": "1"}
    # The secrets first (a chain's processes share them); then four starts at once.
    subprocess.run(
        [sys.executable, "-c", "from kakatong.config import Config; "
         "c = Config.from_env(); c.secret('pin_pepper'); c.secret('secret_key')"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    flask = [sys.executable, "-m", "flask", "--app", "app", "init"]
    starts = [
        subprocess.Popen(flask, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0, 0], outputs
    assert sum("created the database" in out for out in outputs) == 1, outputs
    assert sum("created the demo cards" in out for out in outputs) == 1, outputs
    create_app({"data_dir": data, "demo": True})
    assert Merchant.select().count() == 1
    assert Terminal.select().count() == 2
    assert Staff.select().where(Staff.staff_no == "01").count() == 1
    assert Card.select().where(Card.status == "active").count() == 3
    assert ledger.verify() == [] and integrity_check() == ["ok"]
