"""Branches (门店): each terminal is a branch's, each journal row records its branch, the
statistics and the journal filter by branch with a whole-chain view, a staff member limited
to a branch sees only theirs, and a single shop sees no branch at all."""

from __future__ import annotations

import re

import pytest
from conftest import GOLD, PINS, PLAIN, SUPERVISOR_PASSWORD, Office, ensure_password, html, rid

from kakatong.domain import branches, cards, ledger, reports, staff, terminals
from kakatong.domain.actors import Actor
from kakatong.domain.errors import LedgerError
from kakatong.domain.formats import six
from kakatong.store.db import is_postgres
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


# ---------------------------------------------------------------- a branch's own supervisor

BRANCH_SUPERVISOR = "86420"  # staff 10: a supervisor limited to the second branch


@pytest.fixture
def branch_supervisor(chain, supervisor):
    """Staff 10, a supervisor of the second branch only (00 stays the whole chain's)."""
    _first, second = chain
    owner = Staff.get(Staff.staff_no == "owner")
    me = Actor(owner.id, "owner", "owner", None, None)
    member = staff.add_operator(me, "10", BRANCH_SUPERVISOR, "二店主管", role="supervisor")
    branches.set_staff_branch(me, member, second.id)
    return chain


def sale_at(terminal_id: str) -> Transaction:
    return ledger.consume(at(terminal_id), PLAIN, "1.00", request_id=rid()).record


def refused_code(call) -> str:
    with pytest.raises(LedgerError) as refused:
        call()
    return refused.value.code


def test_a_branch_supervisor_authorises_at_their_branch_only(branch_supervisor):
    here, there = sale_at("10000002"), sale_at("10000001")
    void = ledger.void
    posted = void(at("10000002"), six(here.voucher_no), supervisor_password=BRANCH_SUPERVISOR,
                  request_id=rid())  # fmt: skip
    assert posted.record.type == "void"
    # The first branch's sale: 10's password is nobody's there, even at a second-branch till.
    assert refused_code(lambda: void(at("10000002"), six(there.voucher_no),
                                     supervisor_password=BRANCH_SUPERVISOR, request_id=rid())) \
        == "wrong_password"  # fmt: skip
    assert Transaction.get_by_id(there.id).status == "success"
    # 00 authorises everywhere, until the owner limits 00 too.
    void(at("10000001"), six(there.voucher_no), supervisor_password=SUPERVISOR_PASSWORD,
         request_id=rid())  # fmt: skip
    # PIN resets are judged at the terminal's branch.
    cards.reset_pin(at("10000002"), GOLD, "654321", BRANCH_SUPERVISOR)
    assert refused_code(lambda: cards.reset_pin(at("10000001"), GOLD, "111111",
                                                BRANCH_SUPERVISOR)) == "wrong_password"  # fmt: skip
    ledger.query(at("10000001"), GOLD, "654321")  # the second branch's reset held
    assert ledger.verify() == []


def test_00_limited_to_one_branch_authorises_nothing_at_another(branch_supervisor):
    first, second = branch_supervisor
    chief = Staff.get(Staff.staff_no == "00")
    branches.set_staff_branch(None, chief, second.id)
    there = sale_at("10000001")
    assert refused_code(lambda: ledger.void(at("10000001"), six(there.voucher_no),
                                            supervisor_password=SUPERVISOR_PASSWORD,
                                            request_id=rid())) == "wrong_password"  # fmt: skip
    cards.unlock_pin(at("10000002"), GOLD, SUPERVISOR_PASSWORD)  # at their own branch: yes


def test_in_a_single_shop_only_00_authorises(app, supervisor):
    owner = Staff.get(Staff.staff_no == "owner")
    me = Actor(owner.id, "owner", "owner", None, None)
    staff.add_operator(me, "10", BRANCH_SUPERVISOR, "副主管", role="supervisor")
    assert refused_code(lambda: cards.unlock_pin(at("10000001"), GOLD, BRANCH_SUPERVISOR)) \
        == "wrong_password"  # fmt: skip
    cards.unlock_pin(at("10000001"), GOLD, SUPERVISOR_PASSWORD)


def test_a_limited_supervisor_sees_no_transaction_of_another_branch(branch_supervisor):
    first, second = branch_supervisor
    there, here = sale_at("10000001"), sale_at("10000002")
    ten = Staff.get(Staff.staff_no == "10")
    own = Actor(ten.id, "10", "supervisor", None, None)
    assert ledger.find_voucher(own, six(here.voucher_no)).id == here.id
    assert refused_code(lambda: ledger.find_voucher(own, six(there.voucher_no))) \
        == "transaction_not_found"  # fmt: skip
    assert branches.report_branch(own) == second.id
    assert refused_code(lambda: branches.report_branch(own, first.id)) == "not_permitted"


def test_a_limited_member_signs_in_at_their_branch_only(branch_supervisor):
    _first, second = branch_supervisor
    ten = Staff.get(Staff.staff_no == "10")
    branches.check_sign_in(ten, Terminal.get(Terminal.terminal_id == "10000002"))
    counter = Terminal.get(Terminal.terminal_id == "10000001")
    assert refused_code(lambda: branches.check_sign_in(ten, counter)) == "wrong_branch"
    owner = Staff.get(Staff.staff_no == "owner")
    assert refused_code(lambda: branches.set_staff_branch(None, owner, second.id)) \
        == "not_permitted"  # fmt: skip


# ---------------------------------------------------------------- the back office's 门店 pages


def nav(page: str) -> list[str]:
    found = re.search(r'<nav class="side"[^>]*>(.*?)</nav>', page, re.S)
    return re.findall(r">([^<>]+)</a>", found.group(1))


def test_a_single_shop_has_no_branch_page(office):
    page = html(office.get("/"))
    # A chain's database shows 门店 from its first branch on: that is where the second is made.
    assert ("门店" in nav(page)) == is_postgres()
    assert "branch-today" not in page
    assert "门店" not in html(office.get("/terminals")).split("<table", 1)[1].split("</thead>")[0]
    if not is_postgres():
        assert office.get("/branches").status_code == 404
        assert "所属门店" not in html(office.get("/terminals/10000001"))


def test_the_owner_opens_a_branch_moves_a_till_and_limits_a_supervisor(chain, office, client):
    first, second = chain
    assert "门店" in nav(html(office.get("/")))
    made = office.post("/branches", {"name": "三店", "address": "东街 1 号"})
    third = Branch.get(Branch.name == "三店")
    assert made.headers["Location"].endswith(f"/branches/{third.id}")
    again = html(office.post("/branches", {"name": "二店", "address": ""}))
    assert "该门店名称已存在" in again and Branch.select().count() == 3
    renamed = office.post(f"/branches/{third.id}", {"name": "三店（东）", "address": "东街 2 号"})
    assert renamed.status_code == 302 and Branch.get_by_id(third.id).address == "东街 2 号"
    # The till moves: its next sale is the third branch's, its earlier ones stay where made.
    moved = office.post("/terminals/10000002/branch", {"branch": str(third.id)},
                        page="/terminals/10000002")  # fmt: skip
    assert moved.status_code == 302
    assert "三店（东）" in html(office.get("/terminals"))
    assert sale_at("10000002").branch_id == third.id
    forged = html(office.post("/terminals/10000002/branch", {"branch": "999"},
                              page="/terminals/10000002"))  # fmt: skip
    assert "门店不存在" in forged
    assert Terminal.get(Terminal.terminal_id == "10000002").branch_id == third.id
    # 00 limited to the first branch, signed out at once, then reads only that branch.
    ensure_password("00")
    signed_in = Office(app_client(client)).sign_in("00")
    limited = office.post("/staff/00/branch", {"branch": str(first.id)}, page="/staff/00")
    assert limited.status_code == 302
    assert Staff.get(Staff.staff_no == "00").branch_id == first.id
    assert signed_in.get("/").status_code == 302  # its session ended
    page = html(Office(app_client(client)).sign_in("00").get("/"))
    assert f"门店：{DEFAULT_BRANCH}" in page and "branch-today" not in page
    freed = office.post("/staff/00/branch", {"branch": ""}, page="/staff/00")
    assert freed.status_code == 302 and Staff.get(Staff.staff_no == "00").branch_id is None
    assert office.post("/staff/owner/branch", {"branch": ""}, page="/staff/01").status_code == 404
    log = html(office.get("/audit"))  # each change in the owner's log, branches by name
    assert "员工所属门店" in log and f"门店: 全部门店 → {DEFAULT_BRANCH}" in log
    assert "门店: 三店（东）" in log and "新建门店" in log


def test_the_owners_home_shows_each_branchs_day_and_the_chains(chain, office):
    page = html(office.get("/"))
    table = page.split('id="branch-today"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>", table)
    counts = {name: int(n) for name, n in rows}
    assert counts[DEFAULT_BRANCH] == 2 and counts["二店"] == 2
    assert '<td>全部门店</td><td class="num">4</td>' in table


def app_client(client):
    return client.application.test_client()
