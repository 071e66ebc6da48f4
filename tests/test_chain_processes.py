"""A chain: several `python app.py` processes on ONE PostgreSQL database, and the money rules
across them. Each test starts real server processes (a shared data dir, so one PIN pepper and
one secret key), signs in at the shop's one POS terminal on each (a session is the chain's:
any process knows it), fires requests at two processes at the same moment (threads released by a barrier),
and then reads the journal straight from the database:

1. a double spend: two consumes that each fit the balance but together overdraw it;
2. one request_id at two processes at once: posted once, the other answer a replay;
3. one terminal's trace, voucher and reference numbers, its requests racing between processes;
4. one voucher voided through two processes at once: voided once;
5. settlement on one process while another posts into the batch: nothing lost between batches;
6. a session opened on one process: its token works on the other, and after a restart.

After each, `flask --app app verify` (the shop's own check) must pass on the database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
import requests
from conftest import GOLD, ON_POSTGRES, PASSWORDS, PINS, PLAIN, free_port

from kakatong.store.schema import VOUCHER_SEQUENCE

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="several server processes share a database only on PostgreSQL"
)

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = "10000001"  # the shop's one POS terminal (cli.DEFAULT_TERMINAL_ID)
OPERATOR, SUPERVISOR = "01", "00"
DEFAULT_PASSWORDS = {OPERATOR: "0000", SUPERVISOR: "123456"}  # the POS manual's defaults
START_TIMEOUT = 60.0
OPENING_FEN = {PLAIN: 500_00, GOLD: 1000_00}  # the demo cards' opening balances


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def fen(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, _, cents = text.lstrip("-+").partition(".")
    return sign * (int(whole) * 100 + int((cents + "00")[:2]))


def rid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:20]}"


# ---------------------------------------------------------------- the server processes


class Process:
    """One `python app.py` of the chain: its own port, the chain's database and data dir."""

    def __init__(self, name: str, data_dir: Path, log: Path):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = chain_env(data_dir) | {
            "KAKATONG_PORT": str(self.port),
            "KAKATONG_HTTPS_PORT": str(free_port()),
            "KAKATONG_HOST": "127.0.0.1",
            "KAKATONG_THREADS": "8",
        }
        self.child: subprocess.Popen | None = None
        self.token = ""
        self._local = threading.local()

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.child = subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=out, stderr=out
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.child.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.child.returncode}) as it started:\n{self.tail()}"
                )
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not answer /healthz:\n{self.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.child is None or self.child.poll() is not None:
            return
        self.child.terminate()
        try:
            self.child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def call(self, method: str, path: str, payload: dict | None = None, token: str | None = None):
        """(status, JSON body, headers); one keep-alive session per calling thread."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        headers = {}
        if token is None:
            token = self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = session.request(
            method, self.url + path, json=payload, headers=headers, timeout=60
        )
        data = response.json() if response.content else {}
        if response.status_code >= 500:
            raise AssertionError(
                f"{self.name}: {method} {path} {payload} answered {response.status_code} "
                f"{data}\n--- its log:\n{self.tail()}"
            )
        return response.status_code, data, response.headers

    def sign_in(self) -> None:
        status, data, _ = self.call(
            "POST",
            "/api/v1/session",
            {"operator_no": OPERATOR, "password": PASSWORDS[OPERATOR]},
            token="",
        )
        assert status == 201, (self.name, status, data)
        assert data["terminal_id"] == TERMINAL, data
        self.token = data["token"]

    def transact(self, kind: str, card_no: str, request_id: str, **fields):
        payload = {"type": kind, "card_no": card_no, "request_id": request_id, **fields}
        if PINS.get(card_no):
            payload["pin"] = PINS[card_no]
        return self.call("POST", "/api/v1/transactions", payload)

    def void(self, voucher_no: str, request_id: str, card_no: str):
        payload = {"supervisor_password": PASSWORDS[SUPERVISOR], "request_id": request_id}
        if PINS.get(card_no):
            payload["pin"] = PINS[card_no]
        return self.call("POST", f"/api/v1/transactions/{voucher_no}/void", payload)


def chain_env(data_dir: Path) -> dict:
    """What every process of the chain is started with (KAKATONG_DATABASE_URL is the test's
    database, set by conftest's `database_url`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAKATONG_")}
    return env | {
        "KAKATONG_DATABASE_URL": os.environ["KAKATONG_DATABASE_URL"],
        "KAKATONG_DATA_DIR": str(data_dir),
        "KAKATONG_TLS": "0",
        "KAKATONG_DEMO": "1",
        "KAKATONG_LOG_LEVEL": "WARNING",
        "KAKATONG_MSR": "",
    }


@pytest.fixture
def chain(database_url, tmp_path):
    """start(n): n server processes on the test's database, each signed in as operator 01 at
    terminal 10000001. The first starts alone (it creates the schema and the demo cards),
    the staff's default passwords are replaced through it, then the others start."""
    data_dir = tmp_path / "data"
    started: list[Process] = []

    def start(count: int = 2) -> list[Process]:
        processes = [Process(f"process {i + 1}", data_dir, tmp_path / f"p{i + 1}.log")
                     for i in range(count)]  # fmt: skip
        started.extend(processes)
        processes[0].start()
        processes[0].wait_ready()
        for staff_no, old in DEFAULT_PASSWORDS.items():
            status, data, _ = processes[0].call(
                "POST",
                f"/api/v1/staff/{staff_no}/password",
                {"old_password": old, "new_password": PASSWORDS[staff_no]},
                token="",
            )
            assert status == 200, data
        for process in processes[1:]:
            process.start()
        for process in processes[1:]:
            process.wait_ready()
        for process in processes:
            process.sign_in()
        return processes

    yield start
    for process in started:
        process.stop()


class Racer:
    """Runs callables at the same moment from threads of its own (released by a barrier)."""

    def __init__(self, width: int):
        self.pool = ThreadPoolExecutor(max_workers=width)

    def race(self, *calls):
        barrier = threading.Barrier(len(calls))

        def run(call):
            barrier.wait(timeout=30)
            return call()

        futures = [self.pool.submit(run, call) for call in calls]
        return [future.result(timeout=120) for future in futures]

    def close(self):
        self.pool.shutdown(wait=True)


@pytest.fixture
def racer():
    racer = Racer(8)
    yield racer
    racer.close()


# ---------------------------------------------------------------- the database, read directly


def query(sql: str, params: tuple = ()) -> list[dict]:
    import psycopg2
    import psycopg2.extras

    conn = psycopg2.connect(os.environ["KAKATONG_DATABASE_URL"])
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute(sql, params)
            return [dict(row) for row in cursor.fetchall()]
    finally:
        conn.close()


JOURNAL = """
    SELECT j.id, j.type, j.status, c.card_no, t.terminal_id, j.trace_no, j.voucher_no,
           j.reference_no, j.batch_no, j.amount_fen, j.points, j.balance_after_fen,
           j.request_id, o.voucher_no AS original_voucher_no
    FROM journal j JOIN card c ON c.id = j.card_id
    LEFT JOIN terminal t ON t.id = j.terminal_id
    LEFT JOIN journal o ON o.id = j.original_id
    ORDER BY j.id
"""


def journal() -> list[dict]:
    return query(JOURNAL)


def balance(card_no: str) -> int:
    return query("SELECT balance_fen FROM card WHERE card_no = %s", (card_no,))[0]["balance_fen"]


def assert_card_is_its_journal(card_no: str, expected_fen: int) -> None:
    """The card holds what the test counted, which is what its journal rows add up to, and
    no row of it ever left it negative."""
    rows = [row for row in journal() if row["card_no"] == card_no]
    assert balance(card_no) == expected_fen
    assert sum(row["amount_fen"] for row in rows) == expected_fen
    assert min(row["balance_after_fen"] for row in rows) >= 0


def assert_verify_passes(data_dir: Path) -> None:
    """`flask --app app verify` on the chain's database, as the shop would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "verify"],
        cwd=ROOT,
        env=chain_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verify: ok" in done.stdout, done.stdout + done.stderr


# ---------------------------------------------------------------- 1. double spend


def test_a_double_spend_across_two_processes_is_refused_once_per_round(chain, racer, tmp_path):
    """Each round the card holds X; each of two processes gets a consume of a (a <= X < 2a) at
    the same moment: exactly one is posted, the other is `insufficient_balance`."""
    a, b = chain(2)
    rounds = 25
    expected = OPENING_FEN[PLAIN]
    won = Counter()
    for n in range(rounds):
        if expected < 100_00:  # topped up, alternately through either process
            top_up = 100_00 - expected
            status, data, _ = (a, b)[n % 2].transact(
                "recharge", PLAIN, rid(f"top{n}"), amount=yuan(top_up), payment_method="cash"
            )
            assert status == 201, data
            expected += top_up
            assert fen(data["balance"]) == expected, data
        price = expected // 2 + 1  # fits alone, overdraws together
        ids = {a.name: rid(f"ds{n}a"), b.name: rid(f"ds{n}b")}
        answers = racer.race(
            *(
                partial(p.transact, "consume", PLAIN, ids[p.name], amount=yuan(price))
                for p in (a, b)
            )
        )
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [201, 409], (n, expected, price, answers)
        for process, (status, data, _) in zip((a, b), answers, strict=True):
            if status == 201:
                won[process.name] += 1
                assert fen(data["amount"]) == -price and fen(data["balance"]) == expected - price
                winner = ids[process.name]
            else:
                assert data["error"] == "insufficient_balance", (n, data)
                loser = ids[process.name]
        expected -= price
        rows = [row for row in journal() if row["request_id"] in (winner, loser)]
        assert [row["request_id"] for row in rows] == [winner], (n, rows)
        assert balance(PLAIN) == expected >= 0
    consumes = [row for row in journal() if row["card_no"] == PLAIN and row["type"] == "consume"]
    assert len(consumes) == rounds
    assert_card_is_its_journal(PLAIN, expected)
    assert sum(won.values()) == rounds
    assert_verify_passes(tmp_path / "data")


# ---------------------------------------------------------------- 2. one request_id, twice


def test_one_request_id_at_two_processes_at_once_is_posted_once(chain, racer, tmp_path):
    """The same request (same request_id, same body) at two processes at the same moment: both
    answer the one transaction, one of them as a replay; the journal has it once."""
    a, b = chain(2)
    rounds = 24
    expected = dict(OPENING_FEN)
    for n in range(rounds):
        request_id = rid(f"same{n}")
        if n % 2 == 0:  # a consume on the gold card (PIN, 88 %): 10.00 debits 8.80
            card, kind, fields, moved = GOLD, "consume", {"amount": "10.00"}, -8_80
        else:
            card, kind, fields, moved = PLAIN, "recharge", {"amount": "5.00"}, 5_00
            fields["payment_method"] = "wechat"
        answers = racer.race(
            *(partial(p.transact, kind, card, request_id, **fields) for p in (a, b))
        )
        assert [status for status, _, _ in answers] == [201, 201], (n, answers)
        bodies = [data for _, data, _ in answers]
        for key in ("voucher_no", "trace_no", "reference_no", "batch_no", "amount", "balance"):
            assert bodies[0][key] == bodies[1][key], (n, key, bodies)
        replayed = [headers.get("Idempotent-Replayed") == "true" for _, _, headers in answers]
        assert sorted(replayed) == [False, True], (n, [dict(h) for _, _, h in answers])
        expected[card] += moved
        assert fen(bodies[0]["amount"]) == moved and fen(bodies[0]["balance"]) == expected[card]
        rows = [row for row in journal() if row["request_id"] == request_id]
        assert len(rows) == 1, (n, rows)
        assert rows[0]["voucher_no"] == int(bodies[0]["voucher_no"]), (rows, bodies)
        assert rows[0]["trace_no"] == int(bodies[0]["trace_no"]), (rows, bodies)
        assert balance(card) == expected[card], n

    # Sent again afterwards, to each process in turn: the same transaction, a replay, nothing moved.
    last = [row for row in journal() if row["request_id"] and row["request_id"].startswith("same")]
    assert len(last) == rounds
    for process in (a, b):
        status, data, headers = process.transact(
            "recharge", PLAIN, last[-1]["request_id"], amount="5.00", payment_method="wechat"
        )
        assert status == 201 and headers.get("Idempotent-Replayed") == "true", data
        assert int(data["voucher_no"]) == last[-1]["voucher_no"]
    for card, fen_ in expected.items():
        assert_card_is_its_journal(card, fen_)
    assert_verify_passes(tmp_path / "data")


# ---------------------------------------------------------------- 3. the terminal's numbers


def test_one_terminals_numbers_stay_unique_and_in_order_across_processes(chain, racer, tmp_path):
    """Four clients of terminal 10000001, each alternating between the two processes, all at
    once: recharges, consumes and refusals. Every posted transaction has a trace number, a
    voucher number and a reference number of its own; the trace numbers run 1..N with no gap
    in the order the transactions committed (which the voucher numbers and the journal's ids
    follow too, and each client's own sequence); a refusal takes no number. The chain's
    voucher numbers come from a sequence (schema.VOUCHER_SEQUENCE): unique and increasing, but
    a posting undone after taking one (a write tried again) leaves a gap, so they are not
    required to run 1..N; the shop's counter (merchant.last_voucher) is not moved."""
    processes = chain(2)
    clients, per_client = 4, 12

    def client(c: int) -> list[tuple]:
        done = []
        for j in range(per_client):
            process = processes[(c + j) % len(processes)]
            request_id = rid(f"t{c}-{j}")
            if j % 4 == 3:  # more than the card holds: refused, and no number taken
                kind, fields = "consume", {"amount": "40000.00"}
            elif j % 2 == 0:
                kind, fields = "recharge", {"amount": "1.00", "payment_method": "cash"}
            else:
                kind, fields = "consume", {"amount": "1.00"}
            status, data, _ = process.transact(kind, PLAIN, request_id, **fields)
            done.append((c, j, process.name, request_id, status, data))
        return done

    results = [item for done in racer.race(*(partial(client, c) for c in range(clients)))
               for item in done]  # fmt: skip
    acked = {r[3]: r for r in results if r[4] == 201}
    refused = {r[3]: r for r in results if r[4] != 201}
    assert {(r[4], r[5]["error"]) for r in refused.values()} <= {(409, "insufficient_balance")}
    assert len(refused) == clients * (per_client // 4)
    assert len(acked) == clients * per_client - len(refused)

    rows = [row for row in journal() if row["terminal_id"] == TERMINAL]
    n = len(acked)
    assert len(rows) == n
    by_request = {row["request_id"]: row for row in rows}
    assert set(by_request) == set(acked)  # every acknowledged one, nothing refused
    assert not set(refused) & {row["request_id"] for row in journal()}
    for request_id, (_, _, _, _, _, data) in acked.items():
        row = by_request[request_id]
        assert (six(row["trace_no"]), six(row["voucher_no"]), row["reference_no"]) == (
            data["trace_no"], data["voucher_no"], data["reference_no"],
        ), (row, data)  # fmt: skip
        assert data["terminal_id"] == TERMINAL and row["batch_no"] == 1

    in_trace_order = sorted(rows, key=lambda row: row["trace_no"])
    assert [row["trace_no"] for row in in_trace_order] == list(range(1, n + 1))
    vouchers = [row["voucher_no"] for row in in_trace_order]
    assert vouchers == sorted(set(vouchers)) and vouchers[0] >= 1, vouchers
    ids = [row["id"] for row in in_trace_order]
    assert ids == sorted(ids), "trace order is not the journal's order"
    assert len({row["reference_no"] for row in rows}) == n
    # Each client waited for an answer before its next request: its numbers only grow.
    for c in range(clients):
        traces = [int(r[5]["trace_no"]) for r in results if r[0] == c and r[4] == 201]
        assert traces == sorted(traces) and len(set(traces)) == len(traces), (c, traces)
    # Both processes took part, and the terminal's and the shop's counters say what was used.
    assert {r[2] for r in acked.values()} == {p.name for p in processes}
    (terminal,) = query("SELECT last_trace FROM terminal WHERE terminal_id = %s", (TERMINAL,))
    assert terminal["last_trace"] == n
    assert query("SELECT last_voucher FROM merchant")[0]["last_voucher"] == 0
    taken = query(f"SELECT pg_sequence_last_value('{VOUCHER_SEQUENCE}') AS taken")[0]["taken"]
    assert taken >= vouchers[-1] >= n, (taken, vouchers[-1], n)

    recharges = sum(1 for r in acked.values() if r[5]["type"] == "recharge")
    consumes = sum(1 for r in acked.values() if r[5]["type"] == "consume")
    assert_card_is_its_journal(PLAIN, OPENING_FEN[PLAIN] + (recharges - consumes) * 1_00)
    assert_verify_passes(tmp_path / "data")


def six(number: int) -> str:
    return f"{number:06d}"


# ---------------------------------------------------------------- 4. void exactly once


def test_one_voucher_voided_through_two_processes_at_once_is_voided_once(chain, racer, tmp_path):
    """A consume, then the same voucher voided at two processes at the same moment (each with
    a request_id of its own): one void posted, the other `already_voided`; the card gets the
    money back once."""
    a, b = chain(2)
    rounds = 20
    expected = dict(OPENING_FEN)
    voids = Counter()
    for n in range(rounds):
        card, price, paid = (PLAIN, "3.00", 3_00) if n % 2 else (GOLD, "5.00", 4_40)
        status, sale, _ = (a, b)[n % 2].transact("consume", card, rid(f"v{n}"), amount=price)
        assert status == 201, sale
        assert fen(sale["balance"]) == expected[card] - paid
        voucher = sale["voucher_no"]
        ids = {a.name: rid(f"void{n}a"), b.name: rid(f"void{n}b")}
        answers = racer.race(*(partial(p.void, voucher, ids[p.name], card) for p in (a, b)))
        assert sorted(status for status, _, _ in answers) == [201, 409], (n, answers)
        for process, (status, data, _) in zip((a, b), answers, strict=True):
            if status == 201:
                voids[process.name] += 1
                assert data["type"] == "void" and data["original_voucher_no"] == voucher, data
                assert fen(data["amount"]) == paid and fen(data["balance"]) == expected[card]
            else:
                assert data["error"] == "already_voided", (n, data)
        rows = [row for row in journal() if row["original_voucher_no"] == int(voucher)]
        assert len(rows) == 1 and rows[0]["type"] == "void", (n, rows)
        (original,) = [row for row in journal() if row["voucher_no"] == int(voucher)]
        assert original["status"] == "voided"
        assert balance(card) == expected[card], (n, card)

    everything = journal()
    assert sum(1 for row in everything if row["type"] == "void") == rounds
    assert sum(1 for row in everything if row["type"] == "consume") == rounds
    assert all(row["status"] == "voided" for row in everything if row["type"] == "consume")
    assert sum(voids.values()) == rounds
    for card, fen_ in expected.items():
        assert_card_is_its_journal(card, fen_)
    assert_verify_passes(tmp_path / "data")


# ---------------------------------------------------------------- 5. settle while posting


def test_settling_on_one_process_while_another_posts_loses_nothing(chain, tmp_path):
    """Process 1 settles terminal 10000001 again and again while two clients post into its
    batch through process 2 without pause. Every posted transaction is in exactly one batch:
    a settled one, whose kept totals count it, or the batch still open; the settlements'
    totals and the open batch's add up to the journal."""
    settler, poster = chain(2)
    settlements_wanted = 15
    stop = threading.Event()
    posted: list[dict] = []
    lock = threading.Lock()
    problems: list[str] = []

    def post(c: int) -> None:
        j = 0
        while not stop.is_set():
            if j % 2 == 0:
                kind, fields = "recharge", {"amount": "2.00", "payment_method": "cash"}
            else:
                kind, fields = "consume", {"amount": "1.00"}
            request_id = rid(f"p{c}-{j}")
            try:
                status, data, _ = poster.transact(kind, PLAIN, request_id, **fields)
            except Exception as exc:  # a 5xx (Process.call), a lost connection
                problems.append(f"{request_id}: {exc}")
                return
            if status != 201:
                problems.append(f"{request_id}: {status} {data}")
                return
            with lock:
                posted.append(data | {"request_id": request_id})
            j += 1

    clients = [threading.Thread(target=post, args=(c,)) for c in range(2)]
    for thread in clients:
        thread.start()
    settled: list[dict] = []
    try:
        while len(settled) < settlements_wanted and not problems:
            time.sleep(0.03)
            status, data, _ = settler.call("POST", "/api/v1/settlements", {})
            assert status == 201, data
            settled.append(data)
    finally:
        time.sleep(0.1)  # a few more into the open batch
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
    assert not problems, problems
    assert len(settled) == settlements_wanted

    # The settlements as kept, batch by batch, and what the journal holds for each batch.
    kept = query(
        "SELECT s.batch_no, s.totals FROM settlement s JOIN terminal t ON t.id = s.terminal_id"
        " WHERE t.terminal_id = %s ORDER BY s.batch_no",
        (TERMINAL,),
    )
    assert [k["batch_no"] for k in kept] == list(range(1, settlements_wanted + 1))
    assert [int(s["batch_no"]) for s in settled] == list(range(1, settlements_wanted + 1))
    (terminal,) = query("SELECT batch_no FROM terminal WHERE terminal_id = %s", (TERMINAL,))
    open_batch = terminal["batch_no"]
    assert open_batch == settlements_wanted + 1

    rows = [row for row in journal() if row["terminal_id"] == TERMINAL]
    assert len(rows) == len(posted)
    by_request = {row["request_id"]: row for row in rows}
    assert set(by_request) == {p["request_id"] for p in posted}
    for answer in posted:  # each in the batch its answer named
        assert by_request[answer["request_id"]]["batch_no"] == int(answer["batch_no"]), answer

    def journal_totals(batch_no: int) -> dict:
        found = {}
        for row in rows:
            if row["batch_no"] == batch_no:
                t = found.setdefault(row["type"], {"count": 0, "amount_fen": 0, "points": 0})
                t["count"] += 1
                t["amount_fen"] += row["amount_fen"]
                t["points"] += row["points"]
        return found

    def kept_totals(totals: dict) -> dict:
        return {kind: t for kind, t in totals["types"].items() if t["count"]}

    answered = {p["request_id"]: p for p in posted}
    missed = []
    for k, answer in zip(kept, settled, strict=True):
        totals = json.loads(k["totals"])
        in_journal = journal_totals(k["batch_no"])
        if kept_totals(totals) != in_journal:
            newest = max(
                (row for row in rows if row["batch_no"] == k["batch_no"]),
                key=lambda row: row["voucher_no"],
            )
            said = {key: answered[newest["request_id"]][key]
                    for key in ("voucher_no", "trace_no", "batch_no", "amount")}  # fmt: skip
            missed.append(
                f"batch {k['batch_no']} settled with {kept_totals(totals)}; its journal rows add"
                f" up to {in_journal}; its newest row: {newest['type']} voucher"
                f" {newest['voucher_no']} trace {newest['trace_no']} ({newest['request_id']}),"
                f" answered {said}"
            )
        assert totals["count"] == answer["count"], (totals, answer)
    assert not missed, "\n".join(missed)

    # The open batch, as the settling process's terminal shows it, is the rest.
    status, batch, _ = settler.call("GET", "/api/v1/batch")
    assert status == 200 and int(batch["batch_no"]) == open_batch, batch
    settled_count = sum(json.loads(k["totals"])["count"] for k in kept)
    assert settled_count + batch["count"] == len(posted) == len(rows)
    settled_fen = sum(
        t["amount_fen"] for k in kept for t in json.loads(k["totals"])["types"].values()
    )
    open_fen = sum(fen(t["amount"]) for t in batch["types"].values())
    assert settled_fen + open_fen == sum(row["amount_fen"] for row in rows)
    assert all(1 <= row["batch_no"] <= open_batch for row in rows)

    recharges = sum(1 for p in posted if p["type"] == "recharge")
    consumes = len(posted) - recharges
    assert_card_is_its_journal(PLAIN, OPENING_FEN[PLAIN] + recharges * 2_00 - consumes * 1_00)
    assert_verify_passes(tmp_path / "data")


# ---------------------------------------------------------------- 6. one session, every process


def test_a_token_from_one_process_works_on_the_other_and_after_a_restart(chain, tmp_path):
    """Sessions live in the database: a token signed in on process 1 is known to process 2,
    its lock is seen there, it outlives a restart of process 1, and signing out on process 2
    ends it on process 1 too."""
    a, b = chain(2)
    token = a.token
    status, data, _ = b.call("GET", "/api/v1/session", token=token)
    assert status == 200, data
    assert (data["operator_no"], data["terminal_id"], data["locked"]) == (OPERATOR, TERMINAL, False)
    payload = {"type": "recharge", "card_no": PLAIN, "request_id": rid("s"), "amount": "1.00",
               "payment_method": "cash"}  # fmt: skip
    status, data, _ = b.call("POST", "/api/v1/transactions", payload, token=token)
    assert status == 201 and data["operator_no"] == OPERATOR, data

    # Locked on one process, locked on the other; unlocked there, unlocked here.
    assert a.call("POST", "/api/v1/session/lock", token=token)[0] == 200
    status, data, _ = b.call("GET", "/api/v1/batch", token=token)
    assert (status, data["error"]) == (423, "terminal_locked"), data
    status, data, _ = b.call(
        "POST", "/api/v1/session/unlock", {"password": PASSWORDS[OPERATOR]}, token=token
    )
    assert status == 200, data
    assert a.call("GET", "/api/v1/batch", token=token)[0] == 200

    # Process 1 restarted: the token still works there.
    a.stop()
    a.start()
    a.wait_ready()
    status, data, _ = a.call("GET", "/api/v1/session", token=token)
    assert status == 200 and data["operator_no"] == OPERATOR, data

    # The database holds the session under a keyed hash, never the token.
    rows = query("SELECT * FROM staff_session")
    assert rows and not any(token in str(value) for row in rows for value in row.values())

    # Signed out on process 2: ended on process 1 too.
    assert b.call("DELETE", "/api/v1/session", token=token)[0] == 204
    status, data, _ = a.call("GET", "/api/v1/session", token=token)
    assert (status, data["error"]) == (401, "not_signed_in"), data
    assert b.call("GET", "/api/v1/session")[0] == 200  # process 2's own session goes on
    assert_verify_passes(tmp_path / "data")
