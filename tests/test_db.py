"""db.write: one BEGIN IMMEDIATE transaction, what a refusal keeps, no nesting."""

import pytest

from kakatong.domain.errors import LedgerError
from kakatong.store.db import db, write
from kakatong.store.models import Card

PLAIN = "1680106700000018"


def _rename(name):
    Card.update(name=name).where(Card.card_no == PLAIN).execute()


def name():
    return Card.get(Card.card_no == PLAIN).name


def test_a_write_returns_what_its_function_returns_once_committed(app):
    assert write(lambda: _rename("甲") or 42) == 42
    assert name() == "甲"


def test_an_ordinary_exception_undoes_everything(app):
    def fail():
        _rename("乙")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        write(fail)
    assert name() == "张三"


def test_a_refusal_named_in_commit_on_keeps_what_was_written_before_it(app):
    def refuse():
        _rename("丙")
        raise LedgerError("insufficient_balance")

    with pytest.raises(LedgerError):
        write(refuse)
    assert name() == "张三"
    with pytest.raises(LedgerError):
        write(refuse, commit_on=(LedgerError,))
    assert name() == "丙"


def test_writes_cannot_be_nested(app):
    with pytest.raises(RuntimeError):
        write(lambda: write(lambda: None))


@pytest.mark.sqlite_only("the SQLite file's own")
def test_the_write_lock_is_taken_up_front(app):
    statements = []
    original = db.begin

    def begin(lock_type=None):
        statements.append(lock_type)
        return original(lock_type)

    db.obj.begin = begin
    try:
        write(lambda: None)
    finally:
        del db.obj.begin
    assert statements == ["IMMEDIATE"]
