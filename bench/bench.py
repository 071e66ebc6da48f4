"""`make bench`: how fast Kakatong posts a consume over HTTP, next to its own ceilings; with
`--big`, the owner's reads and the sales on two years of a busy shop (bench/bigbench.py).

In one run, over a fresh temp data dir, this measures

1. consume — `POST /api/v1/transactions`, 1.00 from a card — at 1, 4 and 8 concurrent clients;
2. `GET /api/v1/health`, the cheapest JSON endpoint, at 1 and 8 clients: the ceiling of the
   stack (waitress + Flask + this Python) on this machine;
3. raw SQLite commits per second with the app's pragmas (`kakatong.db.commit_bench`): the
   ceiling of the disk, since every consume is one durable (synchronous=FULL) commit;
4. how soon the terminal page shows its first screen in headless Chromium (target 300 ms);
5. then a chain (bench/chainbench.py): consume through `python app.py` processes sharing one
   durable PostgreSQL, at 1 and 8 clients through one process (target: at least 0.8 x the
   SQLite figures above) and at 16 clients through 1, 2 and 4 processes, with PostgreSQL's
   raw commit rate; skipped with --no-postgres, or where PostgreSQL is not installed;

and prints a table for each engine (requests, transactions per second, p50 and p99 latency),
a PASS/FAIL line per target (what a shop feels: consume p50 at 1 client < 5 ms, consume p99 at
4 clients, a busy shop's terminals, < 20 ms), the ratio of consume to health at 8 clients
(information: one CPython process is bound by one core, README's Speed), a check in a fresh
process that the books agree and hold exactly the consumes that were answered 201, and the CPU
each side used.

The server is a child process (waitress serving `kakatong.create_app` with 16 threads, on
127.0.0.1 and a free port), so it shares no GIL with the clients. The clients are threads of
this process, each with its own keep-alive `http.client` connection and its own card (no PIN,
40 000.00). The CPU lines show which side was busy: the server near 100% of one core means
the server is the limit; "rest of machine" is everything else, other processes included.

Usage: python bench/bench.py [--strict] [--seconds N] [--no-postgres] [--big [--runs N]]
Exit status: 0; 1 on a FAIL with --strict; 2 when the books do not agree.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREADS = 16  # waitress threads: enough for 8 clients with room to spare
CLIENTS = 8
CARD_BALANCE = "40000.00"  # 40 000 consumes of 1.00 per card: more than any run posts
PASSWORD = "2580"
MAX_PER_CLIENT = 20_000  # requests per client per measurement, besides the time bound
WARMUP = 200  # requests per client before each measurement...
WARMUP_SECONDS = 1.5  # ...or fewer, if they take longer than this
CONSUME_1_P50_MS = 5.0  # one cashier: a sale answers at once
BUSY_SHOP = 4  # a busy shop's terminals
CONSUME_BUSY_P99_MS = 20.0
NOISY = 0.25  # the rest of the machine busier than this (share of a core): a noisy run


# ---------------------------------------------------------------- the server process


def card_no(index: int) -> str:
    return f"168099{index:010d}"


def cards_csv(count: int) -> str:
    """An import file (cards.IMPORT_COLUMNS) of `count` cards without PIN or level."""
    header = "card_no,external_no,phone,name,gender,birthday,id_number,level,expires_on,pin,"
    lines = [header + "balance,points"]
    lines += [f"{card_no(i)},,,bench{i},,,,,,,{CARD_BALANCE},0" for i in range(count)]
    return "\n".join(lines) + "\n"


def serve(data_dir: Path) -> None:
    """The child: a fresh shop with one card per client, served by waitress on a free port."""
    sys.path.insert(0, str(ROOT))
    from waitress.server import create_server

    from kakatong.domain import cards, ledger
    from kakatong.factory import create_app

    app = create_app({"data_dir": data_dir, "demo": False, "threads": THREADS})
    ledger.import_cards(cards.parse_import(cards_csv(CLIENTS)))
    threads = app.config["KAKATONG"].threads
    server = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="kakatong")
    print(f"PORT {server.effective_port}", flush=True)
    server.run()


def start_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen, int]:
    with log.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=ROOT,
        )
    words = child.stdout.readline().decode().split()  # "PORT n", or nothing if it died
    if len(words) != 2 or words[0] != "PORT":
        stop_server(child)
        raise RuntimeError(f"the server did not start:\n{tail(log)}")
    return child, int(words[1])


def stop_server(child: subprocess.Popen) -> None:
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# ---------------------------------------------------------------- CPU accounting (Linux)


def _ticks(count: str) -> float:
    return int(count) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, None where /proc is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return _ticks(fields[11]) + _ticks(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu() -> float | None:
    """Busy CPU seconds of the whole machine, all cores (all but idle and iowait)."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return _ticks(str(sum(ticks) - ticks[3] - ticks[4]))
    except (OSError, IndexError, ValueError):
        return None


# Whose CPU to count besides the clients: a name and the processes it stands for, looked up
# at each sample (a chain's PostgreSQL starts a backend per connection). A bare pid: "server".
Watched = dict[str, Callable[[], list[int]]]


@dataclass(frozen=True)
class CpuSample:
    processes: dict[str, dict[int, float]]  # name -> pid -> CPU seconds, the readable ones
    clients: float
    machine: float | None

    @classmethod
    def now(cls, watched: int | Watched) -> CpuSample:
        if isinstance(watched, int):
            pid = watched
            watched = {"server": lambda: [pid]}
        processes = {}
        for who, pids in watched.items():
            cpu = {pid: process_cpu(pid) for pid in pids()}
            processes[who] = {pid: used for pid, used in cpu.items() if used is not None}
        return cls(processes, time.process_time(), machine_cpu())

    def shares(self, later: CpuSample, seconds: float) -> dict[str, float]:
        """CPU used since this sample by the server(s), the clients and the rest of the
        machine, each as a share of one core (a process started since: all of its CPU)."""
        used = {}
        for who, before in self.processes.items():
            after = later.processes.get(who)
            if before and after:
                spent = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
                used[who] = spent / seconds
        watched = sum(used.values())
        used["clients"] = (later.clients - self.clients) / seconds
        if watched and self.machine is not None and later.machine is not None:
            busy = (later.machine - self.machine) / seconds
            used["rest of machine"] = max(0.0, busy - watched - used["clients"])
        return used


# ---------------------------------------------------------------- a client


class Client:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port: int, token: str | None = None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def expect(self, status: int, method: str, path: str, payload: dict | None = None) -> dict:
        """One request; its JSON answer, or an error if the status is not the one expected."""
        body = None if payload is None else json.dumps(payload).encode()
        self.conn.request(method, path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != status:
            raise RuntimeError(f"{method} {path}: expected {status}, got {response.status}: {data}")
        return json.loads(data) if data else {}

    def close(self) -> None:
        self.conn.close()


def sign_in(port: int, terminal_id: str | None = None) -> str:
    """Change operator 01's default password through the API, then sign in (at `terminal_id`,
    in a shop of several terminals): a bearer token."""
    client = Client(port)
    try:
        change = {"old_password": "0000", "new_password": PASSWORD}
        client.expect(200, "POST", "/api/v1/staff/01/password", change)
        session = {"operator_no": "01", "password": PASSWORD}
        if terminal_id:
            session["terminal_id"] = terminal_id
        return client.expect(201, "POST", "/api/v1/session", session)["token"]
    finally:
        client.close()


Request = Callable[[Client, int], None]  # (client, sequence number): one checked request


def health(client: Client, seq: int) -> None:
    client.expect(200, "GET", "/api/v1/health")


def consumer(card: str, run_id: str) -> Request:
    """Consumes of 1.00 from one card, each with its own request_id."""

    def consume(client: Client, seq: int) -> None:
        payload = {
            "type": "consume",
            "card_no": card,
            "amount": "1.00",
            "request_id": f"{run_id}-{card[-4:]}-{seq}",
        }
        client.expect(201, "POST", "/api/v1/transactions", payload)

    return consume


# ---------------------------------------------------------------- measuring


@dataclass
class Result:
    what: str
    clients: int
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds; none for sqlite commit
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core, by whom
    warmed_up: int = 0  # requests sent before the measurement (they are in the books too)
    processes: int = 1  # server processes the clients were spread over (a chain)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


@dataclass
class Worker:
    """One client's loop: requests one after another until `count` or the time is up."""

    client: Client
    request: Request
    latencies: list[float] = field(default_factory=list)
    span: tuple[float, float] = (0.0, 0.0)
    error: BaseException | None = None

    def run(self, first: int, count: int, seconds: float, barrier: threading.Barrier) -> None:
        self.latencies = []
        barrier.wait()
        start = time.perf_counter()
        deadline = start + seconds
        try:
            for seq in range(first, first + count):
                sent = time.perf_counter()
                if sent >= deadline:
                    break
                self.request(self.client, seq)
                self.latencies.append(time.perf_counter() - sent)
        except BaseException as exc:  # the main thread reports it
            self.error = exc
        self.span = (start, time.perf_counter())


def run_workers(workers: list[Worker], first: int, count: int, seconds: float) -> float:
    """Run every worker at once; the wall time from the first start to the last end."""
    barrier = threading.Barrier(len(workers))
    threads = [
        threading.Thread(target=w.run, args=(first, count, seconds, barrier), daemon=True)
        for w in workers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in workers:
        if w.error is not None:
            raise RuntimeError(f"a client failed: {w.error!r}") from w.error
    return max(w.span[1] for w in workers) - min(w.span[0] for w in workers)


def measure(what: str, workers: list[Worker], seconds: float, server_pid: int | Watched) -> Result:
    """Warm up, then run the workers at once, bounded by MAX_PER_CLIENT and by `seconds`;
    the CPU of the server (a pid) or of the processes `server_pid` names (Watched)."""
    run_workers(workers, 0, WARMUP, min(seconds, WARMUP_SECONDS))
    warmed_up = sum(len(w.latencies) for w in workers)
    before = CpuSample.now(server_pid)
    elapsed = run_workers(workers, WARMUP, MAX_PER_CLIENT, seconds)
    latencies = [s for w in workers for s in w.latencies]
    return Result(
        what,
        len(workers),
        requests=len(latencies),
        seconds=elapsed,
        latencies=latencies,
        cpu=before.shares(CpuSample.now(server_pid), elapsed),
        warmed_up=warmed_up,
    )


def http_phases(port: int, server_pid: int, token: str, seconds: float) -> list[Result]:
    """consume at 1, 4 and 8 clients, then health at 1 and 8, over the same connections."""
    run_id = uuid.uuid4().hex[:12]
    clients = [Client(port, token) for _ in range(CLIENTS)]
    try:
        results = []
        for n in (1, BUSY_SHOP, CLIENTS):
            workers = [
                Worker(c, consumer(card_no(i), f"{run_id}-{n}")) for i, c in enumerate(clients[:n])
            ]
            results.append(measure("consume", workers, seconds, server_pid))
        for n in (1, CLIENTS):
            workers = [Worker(c, health) for c in clients[:n]]
            results.append(measure("health", workers, seconds, server_pid))
        return results
    finally:
        for c in clients:
            c.close()


def sqlite_ceiling(path: Path, seconds: float) -> Result:
    """Raw commits per second with the app's pragmas, sized to take about `seconds`."""
    sys.path.insert(0, str(ROOT))
    from kakatong.store.db import commit_bench

    guess = commit_bench(path, 50)
    count = max(100, min(100_000, int(guess * seconds)))
    rate = commit_bench(path, count)
    return Result("sqlite commit", 1, requests=count, seconds=count / rate)


# ---------------------------------------------------------------- verifying


def verify(data_dir: Path) -> None:
    """The child: the books (ledger.verify), the file's integrity and the consumes, as JSON."""
    sys.path.insert(0, str(ROOT))
    from kakatong.domain import ledger
    from kakatong.factory import create_app
    from kakatong.store.models import Transaction
    from kakatong.store.schema import integrity_check

    app = create_app({"data_dir": data_dir, "demo": False})
    with app.app_context():
        problems = ledger.verify()
        integrity = integrity_check()
        consumes = Transaction.select().where(Transaction.type == "consume").count()
    print(json.dumps({"problems": problems, "integrity": integrity, "consumes": consumes}))


def check_books(data_dir: Path, answered: int, env: dict | None = None) -> tuple[bool, str]:
    """The books in a fresh process (`env`: a chain's, with its KAKATONG_DATABASE_URL)."""
    done = subprocess.run(
        [sys.executable, __file__, "--verify", str(data_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    if done.returncode != 0:
        return False, f"verify: FAIL (the verify process failed)\n{done.stderr[-2000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    problems = report["problems"] + [f"integrity: {x}" for x in report["integrity"] if x != "ok"]
    if report["consumes"] != answered:
        problems.append(f"the journal holds {report['consumes']} consumes, {answered} got 201")
    if problems:
        return False, "verify: FAIL\n  " + "\n  ".join(problems[:20])
    return True, (
        f"verify: ok (in a fresh process: the books agree, integrity ok, "
        f"{report['consumes']} consumes in the journal = {answered} answered 201)"
    )


# ---------------------------------------------------------------- reporting


def table(results: list[Result], processes: bool = False) -> str:
    """One line per result; with `processes`, how many server processes served it."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    rows = [("what", "clients", "requests", "tx/s", "p50 ms", "p99 ms")]
    rows += [
        (
            r.what,
            str(r.clients),
            str(r.requests),
            f"{r.rate:.0f}",
            ms(r.percentile_ms(50)),
            ms(r.percentile_ms(99)),
        )
        for r in results
    ]
    if processes:
        rows = [(rows[0][0], "processes", *rows[0][1:])] + [
            (row[0], str(r.processes) if r.latencies else "-", *row[1:])
            for row, r in zip(rows[1:], results, strict=True)
        ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def targets(results: list[Result]) -> list[tuple[bool, str]]:
    by = {(r.what, r.clients): r for r in results}
    one, busy = by[("consume", 1)], by[("consume", BUSY_SHOP)]
    p50, p99 = one.percentile_ms(50), busy.percentile_ms(99)
    return [
        (
            p50 < CONSUME_1_P50_MS,
            f"consume p50 at 1 client < {CONSUME_1_P50_MS:.0f} ms: {p50:.2f} ms",
        ),
        (
            p99 < CONSUME_BUSY_P99_MS,
            f"consume p99 at {BUSY_SHOP} clients < {CONSUME_BUSY_P99_MS:.0f} ms: {p99:.2f} ms",
        ),
    ]


def ceiling_ratio(results: list[Result]) -> str:
    """Consume against the no-op at 8 clients: information, not a target (the server is one
    CPython process, bound by one core)."""
    by = {(r.what, r.clients): r for r in results}
    consume, stack = by[("consume", CLIENTS)], by[("health", CLIENTS)]
    ratio = consume.rate / stack.rate if stack.rate else 0.0
    return (
        f"info  consume at {CLIENTS} clients = {ratio:.2f} x health at {CLIENTS} clients "
        f"({consume.rate:.0f} vs {stack.rate:.0f} tx/s)"
    )


def cpu_notes(results: list[Result]) -> str:
    lines = [f"CPU used, as % of one core ({os.cpu_count()} cores here):"]
    for r in results:
        if r.cpu:
            used = ", ".join(f"{who} {share * 100:.0f}%" for who, share in r.cpu.items())
            spread = f", {r.processes} processes" if r.processes > 1 else ""
            lines.append(f"  {r.what:<8} {r.clients} client(s){spread}: {used}")
    busiest = max((r.cpu.get("rest of machine", 0.0) for r in results), default=0.0)
    if busiest > NOISY:
        lines.append(
            f"note: the rest of the machine used up to {busiest * 100:.0f}% of a core "
            "(other processes, or the kernel's disk and network work): the numbers are noisy"
        )
    return "\n".join(lines)


def report(results: list[Result], books: str) -> list[tuple[bool, str]]:
    outcome = targets(results)
    print()
    print(table(results))
    print()
    for ok, text in outcome:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    print(ceiling_ratio(results))
    print(books)
    print()
    print(cpu_notes(results))
    return outcome


# ---------------------------------------------------------------- main


PAGE_READY_MS = 300.0
CHROMIUM = "/usr/bin/chromium"


def terminal_page_ready(port: int, loads: int = 7) -> float | None:
    """Milliseconds from navigation to the terminal page's first screen (its "kkt-ready"
    mark), the median of a few fresh loads in headless Chromium; None without Chromium."""
    if not os.path.exists(CHROMIUM):
        return None
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )  # fmt: skip
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 800, "height": 480})
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/terminal")
            # Polled from here: wait_for_function with a string needs eval, which the page's
            # CSP refuses whenever the first look finds the page not yet ready.
            ready = "() => performance.getEntriesByName('kkt-ready').length > 0"
            while not page.evaluate(ready):
                time.sleep(0.005)
            times.append(page.evaluate("performance.getEntriesByName('kkt-ready')[0].startTime"))
            context.close()
        browser.close()
    return sorted(times)[len(times) // 2]


def bench(seconds: float) -> tuple[list[tuple[bool, str]], bool, list[Result]]:
    """The whole run over a temp dir that is deleted afterwards: (targets, books agree, the
    figures)."""
    work = Path(tempfile.mkdtemp(prefix="kakatong-bench-"))
    try:
        data_dir, log = work / "data", work / "server.log"
        print(f"data in {work} (a fresh shop, {CLIENTS} cards of {CARD_BALANCE})", flush=True)
        server, port = start_server(data_dir, log)
        try:
            results = http_phases(port, server.pid, sign_in(port), seconds)
            ready_ms = terminal_page_ready(port)
        except Exception:
            print(f"server log:\n{tail(log)}", file=sys.stderr)
            raise
        finally:
            stop_server(server)
        results.append(sqlite_ceiling(work / "commit-bench.sqlite3", seconds))
        answered = sum(r.requests + r.warmed_up for r in results if r.what == "consume")
        books_ok, books = check_books(data_dir, answered)
        outcome = report(results, books)
        if ready_ms is None:
            print(f"terminal page: not measured (no {CHROMIUM})")
        else:
            ok = ready_ms <= PAGE_READY_MS
            text = f"terminal page ready within {PAGE_READY_MS:.0f} ms: {ready_ms:.0f} ms (median)"
            print(f"{'PASS' if ok else 'FAIL'}  {text}")
            outcome.append((ok, text))
        return outcome, books_ok, results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--big", action="store_true", help="the big-data phase (bigbench.py)")
    parser.add_argument("--runs", type=int, default=7, help="--big: requests timed per read")
    parser.add_argument(
        "--no-postgres", action="store_true", help="skip the PostgreSQL phase (chainbench.py)"
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--verify", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.serve_dir or args.big:
        sys.path.insert(0, str(ROOT))
        import bigbench

        if args.serve_dir:
            bigbench.serve_existing(args.serve_dir)
            return 0
        outcome = bigbench.big(args.seconds, args.runs)
        return 1 if args.strict and not all(ok for ok, _ in outcome) else 0
    if args.verify:
        verify(args.verify)
        return 0
    outcome, books_ok, results = bench(args.seconds)
    if args.no_postgres:
        print("\nPostgreSQL: skipped (--no-postgres)")
    else:
        import chainbench

        chain_outcome, chain_books_ok = chainbench.chain(args.seconds, results)
        outcome += chain_outcome
        books_ok = books_ok and chain_books_ok
    if not books_ok:
        return 2
    return 1 if args.strict and not all(ok for ok, _ in outcome) else 0


if __name__ == "__main__":
    sys.exit(main())
