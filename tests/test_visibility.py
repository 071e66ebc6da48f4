"""Who sees which transaction (ledger.visible_to): the supervisor and the owner every
terminal's, an operator only those of the terminal they are signed in at, as a POS holds only
its own journal. Another terminal's transaction is `transaction_not_found` to an operator, by
voucher or by trace number, in the API and in the back office alike: looked up, its receipt,
voided."""

from __future__ import annotations

import pytest
from conftest import GOLD, PINS, PLAIN, SUPERVISOR_PASSWORD, body, ensure_password, html, rid
from test_backoffice_trade import field_errors, hidden, posted, shown, state, submit

from kakatong.domain import branches, ledger, receipts
from kakatong.domain.actors import Actor
from kakatong.domain.errors import LedgerError
from kakatong.store.models import Staff, Terminal, Transaction

TX = "/api/v1/transactions"


@pytest.fixture
def elsewhere(api, client, supervisor):
    """A consume of operator 02 at a second POS terminal, 10000002: its voucher number. The
    API's callers sign in first, at the shop's first POS terminal, 10000001."""
    for staff_no in ("01", "02", "00", "owner"):
        api.token(staff_no)
    Terminal.create(terminal_id="10000002", name="收银台 2", branch=branches.first())
    ensure_password("02")
    r = client.post(
        "/api/v1/session",
        json={"operator_no": "02", "password": "3691", "terminal_id": "10000002"},
    )
    assert r.status_code == 201, body(r)
    auth = {"Authorization": "Bearer " + body(r)["token"]}
    r = client.post(
        TX,
        json={"type": "consume", "card_no": PLAIN, "amount": "10", "request_id": rid()},
        headers=auth,
    )
    assert r.status_code == 201 and body(r)["terminal_id"] == "10000002", body(r)
    return body(r)["voucher_no"]


def _void(api, voucher_no, as_="01"):
    return api.post(
        f"{TX}/{voucher_no}/void",
        {"supervisor_password": SUPERVISOR_PASSWORD, "request_id": rid()},
        as_=as_,
    )


def test_an_operator_cannot_read_another_terminals_transaction(api, elsewhere):
    for path in (f"{TX}/{elsewhere}", f"{TX}/{elsewhere}/receipt"):
        r = api.get(path, as_="01")
        assert (r.status_code, body(r)["error"]) == (404, "transaction_not_found"), path
        assert "balance" not in body(r) and "card_no" not in body(r)
        # The same answer as a voucher number never used: nothing to learn from it.
        never = api.get(path.replace(elsewhere, "999999"), as_="01")
        assert body(never) == body(r)
    # The supervisor and the owner read the journal: they see every terminal's.
    for who in ("00", "owner"):
        assert api.get(f"{TX}/{elsewhere}", as_=who).status_code == 200, who
        assert api.get(f"{TX}/{elsewhere}/receipt", as_=who).status_code == 200, who


def test_an_operator_reads_their_own_terminals_transactions(api, elsewhere):
    r = api.transact("consume", GOLD, amount="5")
    mine = body(r)["voucher_no"]
    assert api.get(f"{TX}/{mine}", as_="01").status_code == 200
    assert api.get(f"{TX}/{mine}/receipt", as_="01").status_code == 200
    # Another operator at the same terminal sees it too: the rule is the terminal's.
    assert api.get(f"{TX}/{mine}", as_="02").status_code == 200


def test_an_operator_cannot_void_another_terminals_transaction(api, elsewhere):
    before = state()
    r = _void(api, elsewhere)
    assert (r.status_code, body(r)["error"]) == (404, "transaction_not_found")
    assert state() == before
    # The supervisor may: the void is posted at the supervisor's terminal.
    r = _void(api, elsewhere, as_="00")
    assert r.status_code == 201, body(r)
    assert body(r)["terminal_id"] == "10000001"
    assert ledger.verify() == []


def test_the_domain_says_who_sees_what(app, elsewhere):
    record = Transaction.get(Transaction.voucher_no == int(elsewhere))
    pos = Terminal.get(Terminal.terminal_id == "10000001")

    def at(staff_no: str, terminal: Terminal | None) -> Actor:
        s = Staff.get(Staff.staff_no == staff_no)
        pk, tid = (terminal.id, terminal.terminal_id) if terminal else (None, None)
        return Actor(s.id, s.staff_no, s.role, pk, tid)

    assert not ledger.visible_to(at("01", pos), record)
    assert not ledger.visible_to(at("01", None), record)
    assert ledger.visible_to(at("02", record.terminal), record)
    assert ledger.visible_to(at("00", pos), record)
    assert ledger.visible_to(at("owner", None), record)
    for lookup in (
        lambda: ledger.find_voucher(at("01", pos), elsewhere),
        lambda: receipts.for_voucher(at("01", pos), elsewhere),
        lambda: ledger.find_by_trace(at("01", pos), "10000002", str(record.trace_no)),
    ):
        with pytest.raises(LedgerError) as refused:
            lookup()
        assert refused.value.code == "transaction_not_found"
    assert ledger.find_by_trace(at("00", pos), "10000002", str(record.trace_no)).id == record.id


def test_the_back_office_applies_the_same_rule(office_as, elsewhere):
    record = Transaction.get(Transaction.voucher_no == int(elsewhere))
    operator = office_as("01")
    assert operator.get(f"/receipts/{elsewhere}").status_code == 404
    # The void form offers an operator no other terminal than the back office's own …
    page = shown(operator, "void")
    assert 'value="99000001"' in page and 'value="10000002"' not in page
    # … and refuses another terminal's transaction by voucher or by trace number alike,
    # before showing anything of it to confirm.
    before = state()
    common = {"card_no": PLAIN, "pin": PINS[PLAIN] or ""}
    for fields in (
        {"by": "voucher", "original": elsewhere},
        {"by": "trace", "original": f"{record.trace_no:06d}", "terminal_id": "10000002"},
    ):
        page = html(submit(operator, "void", common | fields))
        assert field_errors(page, "original") == ["原交易不存在"], fields
        assert 'id="void-original"' not in page
    # A confirmation naming it (the page's hidden field altered) posts nothing either.
    page = html(submit(operator, "void", common | {"by": "voucher", "original": "999999"}))
    confirm = {"voucher_no": elsewhere, "card_no": PLAIN, "supervisor_password": "135790"}
    assert submit(operator, "void", confirm, page=page).status_code == 400
    assert state() == before
    # The supervisor sees every terminal's, and may void it here.
    supervisor = office_as("00")
    assert supervisor.get(f"/receipts/{elsewhere}").status_code == 200
    assert 'value="10000002"' in shown(supervisor, "void")
    page = html(submit(supervisor, "void", common | {"by": "voucher", "original": elsewhere}))
    assert 'id="void-original"' in page
    confirm = {"voucher_no": hidden(page, "voucher_no"), "card_no": hidden(page, "card_no")}
    void = posted(
        submit(supervisor, "void", confirm | {"supervisor_password": "135790"}, page=page)
    )
    assert void.original_id == record.id
    # The void was posted at the back office's terminal: the operator signed in there sees it.
    assert operator.get(f"/receipts/{void.voucher_no:06d}").status_code == 200
