"""Many clients at once, through the real server on a loopback port."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import requests
from conftest import GOLD, PASSWORDS, PLAIN, body, ensure_password, rid

from kakatong.domain import branches, ledger
from kakatong.store.models import Card, Terminal, Transaction


def _signed_in_session(url, staff_no, terminal_id=None):
    session = requests.Session()
    payload = {"operator_no": staff_no, "password": PASSWORDS[staff_no]}
    if terminal_id:
        payload["terminal_id"] = terminal_id
    r = session.post(url + "/api/v1/session", json=payload)
    assert r.status_code == 201, r.text
    session.headers["Authorization"] = "Bearer " + r.json()["token"]
    return session


def test_many_threads_spending_one_card_never_overdraw_it(app, live_server):
    """Two terminals, twelve clients, one card with 500.00: 60.00 each fits eight times."""
    Terminal.create(terminal_id="10000002", name="收银台 2", branch=branches.first())
    ensure_password("01")
    ensure_password("02")
    sessions = [
        _signed_in_session(live_server.url, no, tid)
        for no, tid in (("01", "10000001"), ("02", "10000002"))
        for _ in range(6)
    ]
    barrier = Barrier(len(sessions))

    def spend(session):
        barrier.wait()
        return session.post(
            live_server.url + "/api/v1/transactions",
            json={"type": "consume", "card_no": PLAIN, "amount": "60", "request_id": rid()},
        )

    with ThreadPoolExecutor(len(sessions)) as pool:
        results = list(pool.map(spend, sessions))
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 8 + [409] * 4
    assert {r.json()["error"] for r in results if r.status_code == 409} == {"insufficient_balance"}
    balances = sorted(r.json()["balance"] for r in results if r.status_code == 201)
    assert balances == sorted(f"{500 - 60 * n}.00" for n in range(1, 9))
    assert Card.get(Card.card_no == PLAIN).balance_fen == 2000
    assert ledger.verify() == []
    for s in sessions:
        s.close()


def test_the_same_request_id_sent_at_once_applies_once(app, live_server):
    ensure_password("01")
    sessions = [_signed_in_session(live_server.url, "01") for _ in range(8)]
    request = {"type": "consume", "card_no": GOLD, "amount": "100", "pin": "123456",
               "request_id": rid()}  # fmt: skip
    barrier = Barrier(len(sessions))

    def send(session):
        barrier.wait()
        return session.post(live_server.url + "/api/v1/transactions", json=request)

    with ThreadPoolExecutor(len(sessions)) as pool:
        results = list(pool.map(send, sessions))
    assert [r.status_code for r in results] == [201] * 8
    assert len({r.json()["voucher_no"] for r in results}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 7
    assert Transaction.select().where(Transaction.type == "consume").count() == 1
    assert Card.get(Card.card_no == GOLD).balance_fen == 100000 - 8800
    for s in sessions:
        s.close()


def test_verify_passes_after_a_mixed_concurrent_load(app, live_server, runner, supervisor):
    ensure_password("01")
    sessions = [_signed_in_session(live_server.url, "01") for _ in range(6)]

    def work(i):
        s = sessions[i % len(sessions)]
        url = live_server.url + "/api/v1/transactions"
        kind = ("consume", "recharge", "points_earn", "points_redeem")[i % 4]
        fields = {
            "consume": {"amount": "7.77"},
            "recharge": {"amount": "5", "payment_method": "cash"},
            "points_earn": {"points": 3},
            "points_redeem": {"points": 2},
        }[kind]
        r = s.post(url, json={"type": kind, "card_no": GOLD, "pin": "123456",
                              "request_id": rid(), **fields})  # fmt: skip
        if r.status_code == 201 and i % 5 == 0:
            s.post(f"{url}/{r.json()['voucher_no']}/void",
                   json={"supervisor_password": supervisor, "pin": "123456", "request_id": rid()})  # fmt: skip
        return r.status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(work, range(60)))
    assert codes.count(201) == 60
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output
    assert "verify: ok" in result.output
    for s in sessions:
        s.close()


def test_sessions_are_per_terminal(app, live_server):
    ensure_password("01")
    Terminal.create(terminal_id="10000002", name="收银台 2", branch=branches.first())
    r = requests.post(
        live_server.url + "/api/v1/session", json={"operator_no": "01", "password": "2580"}
    )
    assert (r.status_code, r.json()["error"]) == (400, "terminal_required")
    r = requests.post(
        live_server.url + "/api/v1/session",
        json={"operator_no": "01", "password": "2580", "terminal_id": "99999999"},
    )
    assert (r.status_code, r.json()["error"]) == (404, "terminal_not_found")
    s = _signed_in_session(live_server.url, "01", "10000002")
    t = s.post(
        live_server.url + "/api/v1/transactions",
        json={"type": "consume", "card_no": PLAIN, "amount": "1", "request_id": rid()},
    )
    assert body(t)["terminal_id"] == "10000002" and body(t)["trace_no"] == "000001"
    s.close()
