"""`make crash`: kill the server mid-sale, again and again, and prove the books survive.

Over a fresh temp data dir, with a handful of cards imported with known balances, each cycle

1. runs 8 client threads against the real server (a child process: waitress serving
   `kakatong.factory.create_app` on 127.0.0.1 and a free port, no TLS, no demo data), each
   posting a random mix of consumes, recharges and voids of its own earlier acknowledged
   transactions, each with a fresh `request_id`; a client-side ledger keeps what was
   acknowledged (201 with a voucher), what was refused (a business refusal such as
   `insufficient_balance`) and what was sent but never answered;
2. SIGKILLs the server at a random moment 0.2–2 s into the cycle, while requests are in
   flight, and starts it again on the same data dir (SQLite recovers its WAL), timing how long
   it takes from the kill until it answers;
3. retries every unanswered request with the SAME request_id and body: the API's idempotency
   must answer it with the transaction posted before the kill (`Idempotent-Replayed: true`),
   or post it now, never both;
4. checks, in a fresh process that reads the data dir: every acknowledged request is in the
   journal exactly once under the voucher it was answered with, with its card, type, amount
   and points; nothing refused is there; nothing is there that no client was answered for;
   every void's original is voided; every card's balance and points are its opening figures
   plus what the client ledger says; `ledger.verify` finds nothing and SQLite's
   integrity_check says ok.

After the last cycle the server is stopped and `flask --app app verify`, the shop's own
command, must pass on the data dir. One line per cycle, then a summary.

Usage: python bench/crash.py --cycles N [--seed S] [--restart-limit SECONDS]
Exit status: 0; 1 on the first violation (what was violated is printed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREADS = 16  # waitress threads: enough for 8 clients with room to spare
CLIENTS = 8
CARDS = 4  # shared by the clients: two terminals' worth of contention on each card
OPENING_FEN = 100_000_00  # each card's opening balance (100 000.00)
OPENING_POINTS = 1_000
MAX_AMOUNT_FEN = 50_00  # each consume or recharge: 0.01 to 50.00
OPERATOR, OPERATOR_PASSWORD = "01", "2580"
SUPERVISOR, SUPERVISOR_PASSWORD = "00", "135790"
DEFAULTS = {OPERATOR: "0000", SUPERVISOR: "123456"}
KILL_AFTER = (0.2, 2.0)  # seconds into the cycle
RESTART_LIMIT = 5.0  # seconds from the SIGKILL until the server answers again
# Answers that refuse a request and change nothing (docs/api.md, "Order of checks"): a client
# may meet these when cards run low; anything else that is not 201 is a violation.
REFUSALS = {"insufficient_balance", "void_refused"}
PAYMENT_METHODS = ("cash", "bank_card", "wechat", "alipay", "other")


class Violation(Exception):
    """What the crash loop found broken."""


# ---------------------------------------------------------------- the server process


def card_no(index: int) -> str:
    return f"168077{index:010d}"


def cards_csv() -> str:
    """An import file (cards.IMPORT_COLUMNS) of the cards, without PIN or level."""
    header = "card_no,external_no,phone,name,gender,birthday,id_number,level,expires_on,pin,"
    lines = [header + "balance,points"]
    opening = f"{OPENING_FEN // 100}.{OPENING_FEN % 100:02d}"
    lines += [f"{card_no(i)},,,crash{i},,,,,,,{opening},{OPENING_POINTS}" for i in range(CARDS)]
    return "\n".join(lines) + "\n"


def app_overrides(data_dir: Path) -> dict:
    return {"data_dir": data_dir, "demo": False, "tls": False, "threads": THREADS}


def serve(data_dir: Path, port_file: Path, first: bool) -> None:
    """The child: the shop on `data_dir` (made, with its cards, on the first start), served by
    waitress on a free port, which it writes to `port_file` once it listens."""
    sys.path.insert(0, str(ROOT))
    from waitress.server import create_server

    from kakatong.domain import cards, ledger
    from kakatong.factory import create_app

    app = create_app(app_overrides(data_dir))
    if first:
        ledger.import_cards(cards.parse_import(cards_csv()))
    server = create_server(app, host="127.0.0.1", port=0, threads=THREADS, ident="kakatong")
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(server.effective_port))
    partial.replace(port_file)
    server.run()


class Server:
    """The server child process, started and SIGKILLed again and again on one data dir. Its
    output goes to a log file (never a pipe nobody reads, which would stall it)."""

    def __init__(self, work: Path):
        self.work = work
        self.data_dir = work / "data"
        self.log = work / "server.log"
        self.port_file = work / "port"
        self.child: subprocess.Popen | None = None
        self.port = 0
        self.starts = 0

    def start(self, timeout: float = 60.0) -> None:
        self.port_file.unlink(missing_ok=True)
        args = [sys.executable, __file__, "--serve", str(self.data_dir), str(self.port_file)]
        if self.starts == 0:
            args.append("--first")
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.child = subprocess.Popen(args, stdout=log, stderr=log, cwd=ROOT)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not self.port_file.exists():
            if self.child.poll() is not None:
                raise Violation(f"the server exited ({self.child.returncode}) as it started")
            if time.monotonic() > deadline:
                raise Violation(f"the server did not listen within {timeout:.0f} s")
            time.sleep(0.005)
        self.port = int(self.port_file.read_text())
        while True:  # listening; now answering
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise Violation(f"the server did not answer within {timeout:.0f} s")
            time.sleep(0.005)

    def kill(self) -> None:
        self.child.send_signal(signal.SIGKILL)
        self.child.wait()

    def stop(self) -> None:
        if self.child is None or self.child.poll() is not None:
            return
        self.child.terminate()
        try:
            self.child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


# ---------------------------------------------------------------- the API


def call(
    port: int, method: str, path: str, payload: dict | None = None, token: str | None = None
) -> tuple[int, dict, dict]:
    """One request on a new connection: (status, JSON answer, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = None if payload is None else json.dumps(payload).encode()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {}), dict(response.getheaders())
    finally:
        conn.close()


def set_passwords(port: int) -> None:
    """The operator's and the supervisor's default passwords replaced (a default signs in to
    nothing), once, on the first start."""
    for staff_no, new in ((OPERATOR, OPERATOR_PASSWORD), (SUPERVISOR, SUPERVISOR_PASSWORD)):
        change = {"old_password": DEFAULTS[staff_no], "new_password": new}
        status, answer, _ = call(port, "POST", f"/api/v1/staff/{staff_no}/password", change)
        if status != 200:
            raise Violation(f"changing {staff_no}'s password: {status} {answer}")


def sign_in(port: int) -> str:
    """Operator 01 at terminal 10000001: sessions live in memory, so once per start."""
    session = {"operator_no": OPERATOR, "password": OPERATOR_PASSWORD}
    status, answer, _ = call(port, "POST", "/api/v1/session", session)
    if status != 201:
        raise Violation(f"sign-in after a restart: {status} {answer}")
    return answer["token"]


# ---------------------------------------------------------------- the client-side ledger


@dataclass
class Ack:
    """A request the server answered 201 for: the transaction as the client expects it."""

    request_id: str
    kind: str  # consume, recharge, void
    card: str
    delta_fen: int
    points: int
    voucher: int
    original: int | None = None  # a void: the voucher it voids


@dataclass
class Sent:
    """One request as sent (kept as it is, to be retried byte for byte the same)."""

    request_id: str
    client: int  # which client sent it
    kind: str
    card: str
    path: str
    payload: dict
    delta_fen: int  # what it should move if it is applied
    points: int | None  # a void: minus the original's; None: the server's answer says
    original: Ack | None = None


@dataclass
class Ledger:
    """What the clients know, over all cycles."""

    opening: dict[str, tuple[int, int]]  # card -> (fen, points)
    acked: dict[str, Ack] = field(default_factory=dict)  # by request_id
    refused: set[str] = field(default_factory=set)
    unanswered: list[Sent] = field(default_factory=list)  # since the last kill
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expected_cards(self) -> dict[str, tuple[int, int]]:
        totals = dict(self.opening)
        for ack in self.acked.values():
            fen, points = totals[ack.card]
            totals[ack.card] = (fen + ack.delta_fen, points + ack.points)
        return totals


def settle_answer(ledger: Ledger, sent: Sent, status: int, answer: dict) -> Ack | None:
    """Record one answer in the ledger; a Violation if it is not one the API may give."""
    if status in (200, 201) and answer.get("voucher_no"):
        ack = Ack(
            sent.request_id,
            sent.kind,
            sent.card,
            delta_fen=sent.delta_fen,
            points=sent.points if sent.points is not None else int(answer["points"]),
            voucher=int(answer["voucher_no"]),
            original=sent.original.voucher if sent.original else None,
        )
        wrong = []
        if answer.get("card_no") != sent.card:
            wrong.append(f"card {answer.get('card_no')}")
        if fen_of(answer.get("amount", "")) != ack.delta_fen:
            wrong.append(f"amount {answer.get('amount')} (expected {ack.delta_fen} fen)")
        if int(answer.get("points", 0)) != ack.points:
            wrong.append(f"points {answer.get('points')} (expected {ack.points})")
        expected_type = "void" if sent.kind == "void" else sent.kind
        if answer.get("type") != expected_type:
            wrong.append(f"type {answer.get('type')}")
        if wrong:
            raise Violation(f"request {sent.request_id} ({sent.kind}) answered with {wrong}")
        with ledger.lock:
            if sent.request_id in ledger.acked:
                raise Violation(f"request {sent.request_id} acknowledged twice")
            ledger.acked[sent.request_id] = ack
        return ack
    if status == 409 and answer.get("error") in REFUSALS:
        with ledger.lock:
            ledger.refused.add(sent.request_id)
        return None
    raise Violation(f"request {sent.request_id} ({sent.kind}): unexpected {status} {answer}")


def fen_of(text: str) -> int | None:
    """ "-12.34" -> -1234 (the API's yuan strings), None if it is not one."""
    try:
        sign = -1 if text.startswith("-") else 1
        whole, _, cents = text.lstrip("-").partition(".")
        return sign * (int(whole) * 100 + int(cents.ljust(2, "0")[:2]))
    except (AttributeError, ValueError):
        return None


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


# ---------------------------------------------------------------- the clients


class Client:
    """One terminal's worth of traffic: a keep-alive connection, its own acknowledged
    transactions to void from, and its own request_id sequence (kept over the cycles)."""

    def __init__(self, number: int, run_id: str, ledger: Ledger, rng: random.Random):
        self.number = number
        self.run_id = run_id
        self.ledger = ledger
        self.rng = rng
        self.seq = 0
        self.voidable: list[Ack] = []
        self.error: BaseException | None = None
        self.sent = 0

    def next_request(self) -> Sent:
        self.seq += 1
        request_id = f"{self.run_id}-{self.number}-{self.seq}"
        roll = self.rng.random()
        if roll < 0.2 and self.voidable:
            original = self.voidable.pop(self.rng.randrange(len(self.voidable)))
            payload = {"supervisor_password": SUPERVISOR_PASSWORD, "request_id": request_id}
            return Sent(
                request_id,
                self.number,
                "void",
                original.card,
                f"/api/v1/transactions/{original.voucher:06d}/void",
                payload,
                delta_fen=-original.delta_fen,
                points=-original.points,
                original=original,
            )
        card = card_no(self.rng.randrange(CARDS))
        amount = self.rng.randint(1, MAX_AMOUNT_FEN)
        payload = {"card_no": card, "amount": yuan(amount), "request_id": request_id}
        if roll < 0.6:
            payload["type"] = "consume"
            return Sent(request_id, self.number, "consume", card, "/api/v1/transactions",
                        payload, -amount, None)  # fmt: skip
        payload["type"] = "recharge"
        payload["payment_method"] = self.rng.choice(PAYMENT_METHODS)
        return Sent(request_id, self.number, "recharge", card, "/api/v1/transactions",
                    payload, amount, 0)  # fmt: skip

    def run(self, port: int, token: str, stop: threading.Event) -> None:
        """Requests one after another until the server dies under it (or `stop`)."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        try:
            while not stop.is_set():
                sent = self.next_request()
                try:
                    conn.request("POST", sent.path, json.dumps(sent.payload).encode(), headers)
                    response = conn.getresponse()
                    status, data = response.status, response.read()
                except (OSError, http.client.HTTPException):
                    with self.ledger.lock:
                        self.ledger.unanswered.append(sent)
                    return  # the server is gone: this client waits for the next cycle
                self.sent += 1
                ack = settle_answer(self.ledger, sent, status, json.loads(data) if data else {})
                if ack is not None and ack.kind != "void":
                    self.voidable.append(ack)
        except BaseException as exc:  # the main thread reports it
            self.error = exc
        finally:
            conn.close()


def retry(ledger: Ledger, clients: list[Client], port: int, token: str) -> tuple[int, int, int]:
    """Every unanswered request again, the same request_id and body: (replayed, posted now,
    refused now). A retry left unanswered by a server that is up is a violation."""
    replayed = posted = refused = 0
    pending, ledger.unanswered = ledger.unanswered, []
    for sent in pending:
        try:
            status, answer, headers = call(port, "POST", sent.path, sent.payload, token)
        except (OSError, http.client.HTTPException) as exc:
            raise Violation(f"retry of {sent.request_id} got no answer: {exc!r}") from exc
        ack = settle_answer(ledger, sent, status, answer)
        if ack is None:
            refused += 1
            continue
        if headers.get("Idempotent-Replayed") == "true":
            replayed += 1
        else:
            posted += 1
        if ack.kind != "void":
            clients[sent.client].voidable.append(ack)
    return replayed, posted, refused


# ---------------------------------------------------------------- checking


def inspect(data_dir: Path) -> None:
    """The child: the journal, the cards, ledger.verify and integrity_check, as JSON. It
    opens the database file alone (no app start-up writes) and closes it when it exits."""
    sys.path.insert(0, str(ROOT))
    from kakatong.domain import ledger
    from kakatong.store.db import db, open_database
    from kakatong.store.schema import integrity_check

    open_database(data_dir / "kakatong.sqlite3")
    rows = db.execute_sql(
        "SELECT j.request_id, j.type, j.status, j.voucher_no, c.card_no, j.amount_fen,"
        " j.points, o.voucher_no FROM journal j JOIN card c ON c.id = j.card_id"
        " LEFT JOIN journal o ON o.id = j.original_id ORDER BY j.id"
    ).fetchall()
    cards = db.execute_sql("SELECT card_no, balance_fen, points FROM card").fetchall()
    snapshot = {
        "journal": [
            dict(
                zip(
                    (
                        "request_id",
                        "type",
                        "status",
                        "voucher",
                        "card",
                        "amount_fen",
                        "points",
                        "original",
                    ),
                    row,
                    strict=True,
                )
            )
            for row in rows
        ],  # fmt: skip
        "cards": {no: [fen, points] for no, fen, points in cards},
        "verify": ledger.verify(),
        "integrity": integrity_check(),
    }
    db.close()
    print(json.dumps(snapshot))


def snapshot_of(data_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--inspect", str(data_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    if done.returncode != 0:
        raise Violation(f"the checking process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check(ledger: Ledger, snapshot: dict) -> list[str]:
    """Everything the client ledger says against the data dir's snapshot (inspect): the
    violations found, none when the books hold exactly what was acknowledged."""
    problems = [f"ledger.verify: {p}" for p in snapshot["verify"]]
    if snapshot["integrity"] != ["ok"]:
        problems += [f"integrity_check: {line}" for line in snapshot["integrity"]]
    journal = snapshot["journal"]
    by_request = Counter(row["request_id"] for row in journal if row["request_id"])
    by_voucher = Counter(row["voucher"] for row in journal if row["voucher"] is not None)
    rows = {row["request_id"]: row for row in journal if row["request_id"]}
    pending = {sent.request_id for sent in ledger.unanswered}
    voided = {ack.original for ack in ledger.acked.values() if ack.kind == "void"}

    for ack in ledger.acked.values():
        what = f"acknowledged {ack.kind} {ack.request_id} (voucher {ack.voucher:06d})"
        if by_request[ack.request_id] != 1:
            problems.append(f"{what} is in the journal {by_request[ack.request_id]} times")
            continue
        if by_voucher[ack.voucher] != 1:
            problems.append(f"{what}: voucher in the journal {by_voucher[ack.voucher]} times")
        row = rows[ack.request_id]
        expected = {
            "voucher": ack.voucher,
            "type": ack.kind,
            "card": ack.card,
            "amount_fen": ack.delta_fen,
            "points": ack.points,
            "original": ack.original,
            "status": "voided" if ack.voucher in voided else "success",
        }
        wrong = {k: row[k] for k, v in expected.items() if row[k] != v}
        if wrong:
            problems.append(f"{what}: the journal says {wrong}, the client {expected}")
    for request_id in sorted(ledger.refused):
        if by_request[request_id]:
            problems.append(f"refused request {request_id} is in the journal")
    for request_id, count in sorted(by_request.items()):
        if request_id in pending:
            if count > 1:
                problems.append(f"unanswered request {request_id} applied {count} times")
        elif request_id not in ledger.acked and request_id not in ledger.refused:
            problems.append(f"journal row {request_id} was never acknowledged to a client")
    for row in journal:
        if not row["request_id"] and row["type"] != "opening":
            problems.append(f"journal row {row} has no request_id")

    expected_cards = ledger.expected_cards()
    for card, (fen, points) in sorted(expected_cards.items()):
        held = snapshot["cards"].get(card)
        if held is None:
            problems.append(f"card {card} is missing")
        elif not pending and tuple(held) != (fen, points):
            problems.append(
                f"card {card} holds {held[0]} fen / {held[1]} points; the opening balance and"
                f" the acknowledged transactions add up to {fen} fen / {points} points"
            )
    return problems


# ---------------------------------------------------------------- the loop


@dataclass
class Totals:
    acknowledged: int = 0
    refused: int = 0
    unanswered: int = 0
    replayed: int = 0  # unanswered, found posted before the kill
    posted_on_retry: int = 0
    refused_on_retry: int = 0
    worst_restart: float = 0.0
    restarts: list[float] = field(default_factory=list)


def run(cycles: int, seed: int, restart_limit: float, keep: bool = False) -> int:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="kakatong-crash-"))
    started = time.monotonic()
    server = Server(work)
    ledger = Ledger({card_no(i): (OPENING_FEN, OPENING_POINTS) for i in range(CARDS)})
    run_id = f"crash{seed}"
    clients = [Client(n, run_id, ledger, random.Random(rng.random())) for n in range(CLIENTS)]
    totals = Totals()
    print(
        f"crash loop: {cycles} cycles, seed {seed}, {CLIENTS} clients, {CARDS} cards of "
        f"{yuan(OPENING_FEN)}; data in {work}",
        flush=True,
    )
    try:
        server.start()
        set_passwords(server.port)
        token = sign_in(server.port)
        for cycle in range(1, cycles + 1):
            before = len(ledger.acked), len(ledger.refused)
            stop = threading.Event()
            threads = [
                threading.Thread(target=c.run, args=(server.port, token, stop), daemon=True)
                for c in clients
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(*KILL_AFTER))
            server.kill()
            killed = time.monotonic()
            stop.set()
            for t in threads:
                t.join(timeout=30)
            for c in clients:
                if c.error is not None:
                    raise Violation(f"cycle {cycle}, client {c.number}: {c.error}") from c.error
            if any(t.is_alive() for t in threads):
                raise Violation(f"cycle {cycle}: a client hung after the kill")
            unanswered = len(ledger.unanswered)

            server.start()
            restart = time.monotonic() - killed
            totals.restarts.append(restart)
            totals.worst_restart = max(totals.worst_restart, restart)
            if restart > restart_limit:
                raise Violation(
                    f"cycle {cycle}: the server answered {restart:.2f} s after the SIGKILL "
                    f"(limit {restart_limit:.1f} s)"
                )
            token = sign_in(server.port)
            replayed, posted, refused_now = retry(ledger, clients, server.port, token)
            problems = check(ledger, snapshot_of(server.data_dir))
            if problems:
                shown = "\n  ".join(problems[:20])
                more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
                raise Violation(f"cycle {cycle}: {len(problems)} violation(s):\n  {shown}{more}")

            acked = len(ledger.acked) - before[0] - replayed - posted
            totals.acknowledged += acked
            totals.refused += len(ledger.refused) - before[1] - refused_now
            totals.unanswered += unanswered
            totals.replayed += replayed
            totals.posted_on_retry += posted
            totals.refused_on_retry += refused_now
            print(
                f"cycle {cycle:>3}: {acked:>4} acknowledged, {unanswered} unanswered -> "
                f"retried: {replayed} had been posted, {posted} posted now, {refused_now} "
                f"refused; restart {restart:.2f} s; journal {len(ledger.acked)} ok, verify ok",
                flush=True,
            )
        server.stop()
        final = flask_verify(server.data_dir)
        elapsed = time.monotonic() - started
        restarts = sorted(totals.restarts)
        median = restarts[len(restarts) // 2] if restarts else 0.0
        print(
            f"\nPASS  {cycles} cycles in {elapsed:.0f} s: {totals.acknowledged} transactions "
            f"acknowledged ({len(ledger.acked)} in the journal with the retries), "
            f"{totals.refused + totals.refused_on_retry} refused; {totals.unanswered} "
            f"unanswered at a kill, retried: {totals.replayed} had been posted before the "
            f"kill, {totals.posted_on_retry} posted on the retry, {totals.refused_on_retry} "
            f"refused; every acknowledged transaction in the journal exactly once, every "
            f"balance as the clients count it\n"
            f"      restart after SIGKILL: worst {totals.worst_restart:.2f} s, median "
            f"{median:.2f} s (limit {restart_limit:.1f} s)\n"
            f"      {final}\n"
            f"      {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"SQLite {sqlite3.sqlite_version}",
            flush=True,
        )
        return 0
    except Violation as exc:
        print(f"\nFAIL  (seed {seed}) {exc}", flush=True)
        print(f"server log (tail):\n{server.tail()}", file=sys.stderr)
        keep = True
        print(f"data kept in {work}", file=sys.stderr)
        return 1
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def flask_verify(data_dir: Path) -> str:
    """The shop's own `flask --app app verify` on the data dir, the server stopped."""
    env = dict(os.environ, KAKATONG_DATA_DIR=str(data_dir), KAKATONG_DEMO="0", KAKATONG_TLS="0")
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "verify"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    last = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode != 0:
        raise Violation(f"flask verify failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return f"flask --app app verify: {last.removeprefix('verify: ')}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100, help="kill and restart this often")
    parser.add_argument("--seed", type=int, default=None, help="the random seed (default: any)")
    parser.add_argument("--restart-limit", type=float, default=RESTART_LIMIT,
                        help="seconds from a SIGKILL until the server answers again")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir")
    parser.add_argument("--serve", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inspect", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve, first=args.first)
        return 0
    if args.inspect:
        inspect(args.inspect)
        return 0
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    return run(args.cycles, seed, args.restart_limit, args.keep)


if __name__ == "__main__":
    sys.exit(main())
