"""`flask move-to`: a shop's SQLite database into an empty chain database on PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
from conftest import GOLD, ON_POSTGRES, PINS, PLAIN, another_database, operator_actor, rid
from test_upgrade import a_shop_with_history

from kakatong.domain import ledger
from kakatong.factory import create_app
from kakatong.store.db import db
from kakatong.store.models import AuditLog, Branch, Card, Settlement, Transaction

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="a chain's database is PostgreSQL")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shop_on_sqlite(data):
    """A shop with sales, a void, a settlement and audit rows, on its own SQLite file (the
    test's KAKATONG_DATABASE_URL set aside); its cards' books."""
    return a_shop_with_history(data, database_url="")


def test_a_shop_moves_into_an_empty_chain_and_keeps_selling_there(tmp_path):
    data = tmp_path / "shop"
    books = shop_on_sqlite(data)
    shop = create_app({"data_dir": data, "demo": True, "database_url": ""})
    counts = {m.__name__: m.select().count() for m in (Card, Transaction, Settlement, AuditLog)}
    before = sha256(data / "kakatong.sqlite3")
    chain = another_database()
    result = shop.test_cli_runner().invoke(args=["move-to", chain])
    assert result.exit_code == 0, result.output
    assert "move-to: ok" in result.output and "<- differs" not in result.output
    assert sha256(data / "kakatong.sqlite3") == before  # only read

    # The chain, as a branch's process opens it with the shop's secrets.
    db.close()
    create_app({"data_dir": data, "demo": True, "database_url": chain})
    assert {m.__name__: m.select().count() for m in (Card, Transaction, Settlement, AuditLog)} == (
        counts
    )
    for card_no, held in books.items():
        card = Card.get(Card.card_no == card_no)
        assert (card.balance_fen, card.points) == held
    assert [b.name for b in Branch.select()] == ["本店"]
    assert ledger.verify() == []
    # Numbers go on from the shop's: new rows take the next ids, vouchers, traces.
    last = Transaction.select().order_by(Transaction.id.desc()).first()
    sold = ledger.consume(operator_actor(), GOLD, "1.00", request_id=rid(), pin=PINS[GOLD])
    assert sold.record.id > last.id and sold.record.voucher_no == last.voucher_no + 1
    assert ledger.verify() == []


def test_a_chain_that_is_not_empty_is_refused_and_left_as_it_was(tmp_path):
    data = tmp_path / "shop"
    shop_on_sqlite(data)
    shop = create_app({"data_dir": data, "demo": True, "database_url": ""})
    chain = another_database()
    assert shop.test_cli_runner().invoke(args=["move-to", chain]).exit_code == 0
    db.close()
    shop = create_app({"data_dir": data, "demo": True, "database_url": ""})
    again = shop.test_cli_runner().invoke(args=["move-to", chain])
    assert (
        again.exit_code == 1
        and "not empty" in again.output
        and "nothing was copied" in (again.output)
    )


def test_move_to_names_a_postgresql_database_and_runs_from_the_shop(app, runner, tmp_path):
    refused = runner.invoke(args=["move-to", str(tmp_path / "x.sqlite3")])
    assert refused.exit_code == 1 and "this process runs on a chain's database" in refused.output
    shop = create_app({"data_dir": tmp_path / "shop", "demo": True, "database_url": ""})
    refused = shop.test_cli_runner().invoke(args=["move-to", "/tmp/x.sqlite3"])
    assert refused.exit_code == 1 and "postgresql://" in refused.output
    assert Card.select().where(Card.card_no == PLAIN).exists()  # (still the shop's)
