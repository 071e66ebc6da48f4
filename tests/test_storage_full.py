"""A full disk, for real: SQLite's own limit on the database's size (PRAGMA max_page_count)
with its free space used up makes the next write that needs a page fail with SQLITE_FULL, as
a full disk does. The write is refused as `storage_full` (503) with a message the cashier can
act on, in the API, the back office and on the terminal page; nothing of it is kept, what was
acknowledged before stands, and once space is freed the same request posts, once."""

from __future__ import annotations

import logging

import pytest
from conftest import GOLD, PLAIN, body, ensure_password, html, operator_actor, rid
from peewee import OperationalError

from kakatong.domain import ledger
from kakatong.store import db as store_db
from kakatong.store.db import StorageFull, connect, db, open_database
from kakatong.store.models import Card, Merchant, Terminal, Transaction

MESSAGE = "存储空间已满，本次操作未完成，请联系管理员清理"


def reopen(app) -> None:
    """Every connection, the server threads' too, reopens with PRAGMAS as they are now."""
    open_database(app.config["KAKATONG"].database_path)
    connect()


@pytest.fixture
def disk(app, monkeypatch):
    """fill(): the database may grow no more, and its free space is used up. free(): space
    is freed (the limit lifted, the filler deleted)."""

    class Disk:
        def fill(self):
            pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
            monkeypatch.setitem(store_db.PRAGMAS, "max_page_count", pages + 4)
            reopen(app)
            db.execute_sql("CREATE TABLE filler (x BLOB)")
            for size in (4096, 1024, 128, 16, 1):
                while True:
                    try:  # one statement, one transaction: each row that fits is kept
                        db.execute_sql("INSERT INTO filler VALUES (zeroblob(?))", (size,))
                    except OperationalError:
                        break
            # The journal's last page still has room: the shop goes on posting until a
            # posting needs a new page. Each one acknowledged must stay.
            self.acknowledged = []
            for _ in range(500):
                try:
                    posted = ledger.transact(
                        operator_actor(), "recharge", PLAIN, request_id=rid(),
                        amount="0.01", payment_method="cash",
                    )  # fmt: skip
                except StorageFull:
                    break
                self.acknowledged.append(posted.record.voucher_no)
            else:
                raise AssertionError("the disk never filled")

        def free(self):
            monkeypatch.delitem(store_db.PRAGMAS, "max_page_count")
            reopen(app)
            db.execute_sql("DROP TABLE filler")
            kept = Transaction.select().where(Transaction.voucher_no.in_(self.acknowledged))
            assert kept.count() == len(self.acknowledged)

    return Disk()


def state() -> tuple:
    cards = [(c.card_no, c.balance_fen, c.points) for c in Card.select().order_by(Card.id)]
    terminals = [(t.last_trace, t.batch_no) for t in Terminal.select().order_by(Terminal.id)]
    return cards, Transaction.select().count(), Merchant.get().last_voucher, terminals


def test_a_posting_on_a_full_disk_is_storage_full_and_keeps_nothing(api, disk, caplog):
    first = api.transact("consume", GOLD, amount="10", request_id="before-full")
    assert first.status_code == 201
    disk.fill()
    before = state()
    caplog.set_level(logging.ERROR)
    request = rid()
    r = api.transact("consume", GOLD, amount="20", request_id=request)
    assert (r.status_code, body(r)) == (503, {"error": "storage_full", "message": MESSAGE})
    assert state() == before
    # One line for the administrator, no traceback.
    logged = [rec for rec in caplog.records if "storage full" in rec.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is None
    assert "POST /api/v1/transactions" in logged[0].getMessage()
    # Reading needs no space; what was acknowledged before stands, and its request_id
    # still answers it (a terminal's outbox sending it again gets its result).
    assert api.get(f"/api/v1/transactions/{body(first)['voucher_no']}").status_code == 200
    again = api.transact("consume", GOLD, amount="10", request_id="before-full")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert body(again)["voucher_no"] == body(first)["voucher_no"]
    disk.free()
    r = api.transact("consume", GOLD, amount="20", request_id=request)
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert Card.get(Card.card_no == GOLD).balance_fen == 1000_00 - 880 - 1760
    assert ledger.verify() == []


def test_the_back_office_says_the_disk_is_full(office, disk):
    from test_backoffice_trade import consume

    disk.fill()
    before = state()
    r = consume(office, GOLD, "100")
    assert r.status_code == 503 and MESSAGE in html(r)
    assert state() == before
    disk.free()
    assert consume(office, GOLD, "100").status_code == 303
    assert ledger.verify() == []


def test_the_terminal_page_shows_the_message(live_server, disk):
    browser_mod = pytest.importorskip("browser")
    from test_terminal_page import consume

    ensure_password("01")
    with browser_mod.chromium() as browser:
        context = browser.new_context(viewport={"width": 800, "height": 480}, locale="zh-CN")
        page = context.new_page()
        errors = browser_mod.page_errors(page)
        page.goto(live_server.url + "/terminal")
        browser_mod.sign_in(page)
        disk.fill()
        before = state()
        consume(page, GOLD, "10000", "123456")
        browser_mod.key(page, "enter")
        browser_mod.screen(page, "refusal")
        browser_mod.expect(page.locator("#lines")).to_contain_text("存储空间已满")
        browser_mod.shoot(page, "storage-full")
        assert state() == before
        context.close()
    assert errors == [], errors
