"""Branches (门店): each terminal is a branch's, each journal row records its branch, the
statistics and the journal filter by branch with a whole-chain view, a staff member limited
to a branch sees only theirs, and a single shop sees no branch at all."""

from __future__ import annotations

import re

import pytest
from conftest import GOLD, PINS, PLAIN, Office, html, rid

from kakatong.domain import branches, ledger, reports, terminals
from kakatong.domain.actors import Actor
from kakatong.domain.errors import LedgerError
from kakatong.store.models import Branch, Staff, Terminal, Transaction
from kakatong.store.runtime import shop_date, utcnow
from kakatong.store.schema import DEFAULT_BRANCH


def at(terminal_id: str, staff_no: str = "01") -> Actor:
    s = Staff.get(Staff.staff_no == staff_no)
    t = Terminal.get(Terminal.terminal_id == terminal_id)
    return Actor(s.id, s.staff_no, s.role, t.id, t.terminal_id)


@pytest.fixture
def chain(app):
    """The demo shop with a second branch and its counter 10000002; sales at both."""
    second = branches.create(None, "二店", "北京路 8 号")
    counter, _key = terminals.register("10000002", "二店收银台")
    Terminal.update(branch=second).where(Terminal.id == counter.id).execute()
    first = at("10000001")
    other = at("10000002")
    ledger.recharge(first, PLAIN, "100.00", "cash", request_id=rid())
    ledger.consume(other, PLAIN, "30.00", request_id=rid())  # 通存通兑: spent at the other
    ledger.consume(other, GOLD, "50.00", request_id=rid(), pin=PINS[GOLD])
    ledger.consume(first, GOLD, "10.00", request_id=rid(), pin=PINS[GOLD])
    return branches.first(), second


def test_a_single_shop_has_one_branch_with_every_terminal_in_it(app):
    (only,) = branches.every()
    assert only.name == DEFAULT_BRANCH and not branches.is_chain()
    assert {t.branch_id for t in Terminal.select()} == {only.id}
    # Its demo cards' opening entries are the branch's too.
    assert {r.branch_id for r in Transaction.select()} == {only.id}


def test_each_journal_row_records_its_terminals_branch(chain):
    first, second = chain
    by_terminal = {(r.terminal.terminal_id, r.branch_id) for r in
                   Transaction.select().where(Transaction.terminal.is_null(False))}  # fmt: skip
    assert by_terminal == {("10000001", first.id), ("10000002", second.id)}
    # A terminal moved to another branch later leaves its earlier rows where they were made.
    Terminal.update(branch=first).where(Terminal.terminal_id == "10000002").execute()
    posted = ledger.consume(at("10000002"), PLAIN, "1.00", request_id=rid())
    assert posted.record.branch_id == first.id
    assert Transaction.select().where(Transaction.branch == second.id).count() == 2
    assert ledger.verify() == []


def test_the_statistics_of_each_branch_add_up_to_the_chains(chain):
    first, second = chain
    today = shop_date(utcnow())
    _, whole = reports.daily_stats(today, today)
    _, one = reports.daily_stats(today, today, first.id)
    _, two = reports.daily_stats(today, today, second.id)
    assert (two.count, two.consume_fen, two.recharge_fen) == (2, 30_00 + 44_00, 0)
    assert (one.count, one.consume_fen, one.recharge_fen) == (2, 8_80, 100_00)
    for name in ("count", "consume_fen", "recharge_fen", "points_awarded", "points_redeemed"):
        assert getattr(one, name) + getattr(two, name) == getattr(whole, name), name


def test_the_journal_filters_by_branch(chain):
    first, second = chain
    rows, total = reports.journal(reports.JournalFilter(branch_id=second.id))
    assert total == 2 and {r.terminal.terminal_id for r in rows} == {"10000002"}
    _, every = reports.journal(reports.JournalFilter())
    _, of_first = reports.journal(reports.JournalFilter(branch_id=first.id))
    assert of_first + total == every


def test_branch_names_are_checked(app):
    with pytest.raises(LedgerError) as refused:
        branches.create(None, "  ", "")
    assert refused.value.code == "invalid_setting"
    with pytest.raises(LedgerError) as refused:
        branches.create(None, DEFAULT_BRANCH, "")
    assert refused.value.code == "branch_exists"
    made = branches.create(None, "三店", "")
    assert branches.update(None, made.id, "三店（东）", "东街 1 号").address == "东街 1 号"
    with pytest.raises(LedgerError) as refused:
        branches.update(None, 999, "x", "")
    assert refused.value.code == "branch_not_found"
    assert Branch.select().count() == 2


def branch_select(page: str) -> list[str] | None:
    found = re.search(r'<select[^>]*name="branch"[^>]*>(.*?)</select>', page, re.S)
    return re.findall(r">([^<]+)</option>", found.group(1)) if found else None


def test_a_single_shop_sees_no_branch_choice(office):
    assert branch_select(html(office.get("/reports/stats"))) is None
    assert branch_select(html(office.get("/reports/journal"))) is None


def test_the_owner_of_a_chain_chooses_a_branch_or_the_whole_chain(chain, office):
    first, second = chain
    assert branch_select(html(office.get("/reports/stats"))) == ["全部门店", DEFAULT_BRANCH, "二店"]
    whole = html(office.get("/reports/stats"))
    only_second = html(office.get(f"/reports/stats?branch={second.id}"))
    assert "74.00" in only_second and "8.80" not in only_second
    assert "82.80" in whole  # 8.80 + 30.00 + 44.00 spent in the chain
    page = html(office.get(f"/reports/journal?branch={second.id}"))
    assert page.count("10000002") >= 2 and "10000001-" not in page
    refused = html(office.get("/reports/journal?branch=999"))
    assert "门店不存在" in refused


def test_a_supervisor_limited_to_a_branch_reads_only_that_branch(chain, client):
    first, second = chain
    Staff.update(branch=second).where(Staff.staff_no == "00").execute()
    supervisor = Office(client)
    supervisor.sign_in("00")
    page = html(supervisor.get("/reports/stats"))
    assert branch_select(page) is None  # no choice: their branch
    assert "74.00" in page and "8.80" not in page
    page = html(supervisor.get(f"/reports/journal?branch={first.id}"))  # asking for another: theirs
    assert "10000001-" not in page and "10000002" in page
