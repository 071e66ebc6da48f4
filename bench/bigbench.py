"""The big-data phase of `make bench`: the owner's reads and the cashiers' sales on two years of
a busy shop (bench/bigdata.py: 100 000 cards, 1 000 000 journal rows).

Over a copy of the cached database, this starts the real server (waitress, 16 threads, a child
process), signs in to the back office as the owner and measures, each as the median of several
requests over HTTP:

- the daily statistics over 31 and over 365 days; the journal's first page unfiltered and with
  each filter (type, trace number, voided, one month, a card, a terminal); the member search by
  name, phone and card number; the home page; a month of the journal as CSV;
- start-up to listening; the server's memory (RSS) idle, after the reads, and its peak under
  8 clients;
- consume over the API at 1 client (p50) and 4 clients (p99), alone and while one more client
  runs the 365-day statistics and a month's CSV in a loop, side by side;
- consume and the no-op health endpoint at 8 clients: their ratio, for information.

Usage: python bench/bench.py --big [--strict] [--seconds N] [--runs N]
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import bigdata

import bench as base

READ_MS = 50.0
START_S = 2.0
RSS_MB = 150.0
CONSUME_1_P50_MS = 5.0
CONSUME_4_P99_MS = 20.0
CONSUME_4_LOADED_P99_MS = 50.0
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# ---------------------------------------------------------------- the server


def serve_existing(data_dir: Path) -> None:
    """The child: the server on an existing shop's data dir."""
    from waitress.server import create_server

    from kakatong.factory import create_app

    app = create_app({"data_dir": data_dir, "demo": False, "threads": base.THREADS})
    threads = app.config["KAKATONG"].threads
    server = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="kakatong")
    print(f"PORT {server.effective_port}", flush=True)
    server.run()


def start(data_dir: Path, log: Path) -> tuple[subprocess.Popen, int, float]:
    """The server on `data_dir`: (process, port, seconds from exec to listening)."""
    started = time.perf_counter()
    with log.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, base.__file__, "--serve-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=base.ROOT,
        )
    words = child.stdout.readline().decode().split()
    listening = time.perf_counter() - started
    if len(words) != 2 or words[0] != "PORT":
        base.stop_server(child)
        raise RuntimeError(f"the server did not start:\n{base.tail(log)}")
    return child, int(words[1]), listening


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident memory now (VmRSS) and at its peak so far (VmHWM), in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


# ---------------------------------------------------------------- the owner's browser


class Office:
    """The back office over one keep-alive connection, with its session cookie."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, bytes]:
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return response.status, data

    def get(self, path: str) -> bytes:
        status, data = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
        return data

    def sign_in(self) -> None:
        _status, page = self.request("GET", "/login")
        token = _CSRF.search(page.decode()).group(1)
        form = {"csrf_token": token, "account": "owner", "language": "zh"}
        form["password"] = bigdata.OWNER_PASSWORD
        status, _data = self.request("POST", "/login", form)
        if status != 302:
            raise RuntimeError(f"the owner could not sign in ({status})")

    def close(self) -> None:
        self.conn.close()


def reads(today: date) -> list[tuple[str, str]]:
    """(what, path) of each read measured."""
    month_end = today.replace(day=1) - timedelta(days=1)
    month = f"date_from={month_end.replace(day=1)}&date_to={month_end}"
    quoted = urllib.parse.quote
    return [
        ("statistics, 31 days", f"/reports/stats?from={today - timedelta(days=30)}&to={today}"),
        ("statistics, 365 days", f"/reports/stats?from={today - timedelta(days=364)}&to={today}"),
        ("journal, unfiltered", "/reports/journal"),
        ("journal, type consume", "/reports/journal?type=consume"),
        ("journal, type points_redeem", "/reports/journal?type=points_redeem"),
        ("journal, trace number", "/reports/journal?trace_no=123456"),
        ("journal, voided", "/reports/journal?status=voided"),
        ("journal, one month", f"/reports/journal?{month}"),
        ("journal, one card", f"/reports/journal?card_no={bigdata.card_no(bigdata.BENCH_CARDS)}"),
        ("journal, one terminal", "/reports/journal?terminal_id=10000002"),
        ("journal, page 20", "/reports/journal?type=recharge&page=20"),
        ("members, by name", f"/members?q={quoted('张')}"),
        ("members, by phone", f"/members?q={bigdata.phone(1234)}"),
        ("members, by card number", f"/members?q={bigdata.card_no(4321)}"),
        ("home page", "/"),
        ("journal CSV, one month", f"/reports/journal?{month}&format=csv"),
    ]


def time_reads(office: Office, paths: list[tuple[str, str]], runs: int) -> list[tuple]:
    """(what, median ms, min ms, max ms, bytes) of each read: one warm-up, then `runs`."""
    results = []
    for what, path in paths:
        size = len(office.get(path))
        took = []
        for _ in range(runs):
            started = time.perf_counter()
            office.get(path)
            took.append((time.perf_counter() - started) * 1000)
        results.append((what, statistics.median(took), min(took), max(took), size))
        print(f"  {what:<30} {statistics.median(took):8.1f} ms", flush=True)
    return results


# ---------------------------------------------------------------- sales with the owner at work


class ReportLoop:
    """A back-office client computing a year's statistics and a month's CSV, again and again."""

    def __init__(self, port: int, paths: list[str]):
        self.office = Office(port)
        self.office.sign_in()
        self.paths = paths
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for path in self.paths:
                    started = time.perf_counter()
                    self.office.get(path)
                    self.latencies.append(time.perf_counter() - started)
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> ReportLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.office.close()
        if self.error is not None:
            raise RuntimeError(f"the report loop failed: {self.error!r}") from self.error


class BackupLoop(ReportLoop):
    """The owner pressing 立即备份 again and again: the server copies the live database with
    SQLite's backup API and checks the copy in a child process (integrity, verify)."""

    def __init__(self, port: int):
        super().__init__(port, [])

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                page = self.office.get("/backups").decode()
                token = _CSRF.search(page).group(1)
                started = time.perf_counter()
                status, _data = self.office.request("POST", "/backups/run", {"csrf_token": token})
                if status != 303:
                    raise RuntimeError(f"POST /backups/run: {status}")
                self.latencies.append(time.perf_counter() - started)
        except BaseException as exc:
            self.error = exc


def sales(port: int, pid: int, seconds: float, loop_paths: list[str]) -> dict:
    token = base.sign_in(port, bigdata.POS_TERMINALS[0])
    run_id = uuid.uuid4().hex[:12]
    cards = [bigdata.card_no(i) for i in range(bigdata.BENCH_CARDS)]
    clients = [base.Client(port, token) for _ in range(base.CLIENTS)]

    def workers(n: int, tag: str) -> list[base.Worker]:
        return [
            base.Worker(c, base.consumer(cards[i], f"{run_id}-{tag}"))
            for i, c in enumerate(clients[:n])
        ]

    try:
        out = {"c1": base.measure("consume", workers(1, "1"), seconds, pid)}
        out["c4"] = base.measure("consume", workers(4, "4"), seconds, pid)
        with ReportLoop(port, loop_paths) as loop:
            out["c4 loaded"] = base.measure("consume", workers(4, "4r"), seconds, pid)
        out["reports"] = loop.latencies
        with BackupLoop(port) as backing_up:
            # Rounds until a whole backup has been taken while they ran (each with request
            # ids of its own: a repeated id would be answered as a replay).
            rounds = []
            while not backing_up.latencies and backing_up.error is None:
                tag = f"4b{len(rounds)}"
                rounds.append(base.measure("consume", workers(4, tag), seconds, pid))
        out["c4 backups"] = base.Result(
            "consume",
            4,
            requests=sum(r.requests for r in rounds),
            seconds=sum(r.seconds for r in rounds),
            latencies=[x for r in rounds for x in r.latencies],
            cpu=rounds[-1].cpu,
        )
        out["backups"] = backing_up.latencies
        out["c8"] = base.measure("consume", workers(8, "8"), seconds, pid)
        out["rss c8"] = memory_mb(pid)
        out["h8"] = base.measure("health", [base.Worker(c, base.health) for c in clients], 3, pid)
        return out
    finally:
        for c in clients:
            c.close()


# ---------------------------------------------------------------- the run


def big(seconds: float, runs: int) -> list[tuple[bool, str]]:
    cached = bigdata.ensure()
    work = Path(tempfile.mkdtemp(prefix="kakatong-bigbench-"))
    try:
        data_dir, log = work / "data", work / "server.log"
        copied = time.perf_counter()
        shutil.copytree(cached, data_dir)
        print(f"copied the cached shop in {time.perf_counter() - copied:.1f} s", flush=True)
        server, port, listening = start(data_dir, log)
        try:
            today = datetime.now(ZoneInfo(os.environ.get("KAKATONG_TZ", "Asia/Shanghai"))).date()
            office = Office(port)
            office.sign_in()
            idle = memory_mb(server.pid)
            print(f"listening after {listening:.2f} s; RSS {idle['VmRSS']:.0f} MiB", flush=True)
            paths = reads(today)
            measured = time_reads(office, paths, runs) if runs else []
            after_reads = memory_mb(server.pid)
            office.close()
            by_name = dict(paths)
            loop = [by_name["statistics, 365 days"], by_name["journal CSV, one month"]]
            sold = sales(port, server.pid, seconds, loop)
            final = memory_mb(server.pid)
        except Exception:
            print(f"server log:\n{base.tail(log)}", file=sys.stderr)
            raise
        finally:
            base.stop_server(server)
        return report(measured, listening, idle, after_reads, sold, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(measured, listening, idle, after_reads, sold, final) -> list[tuple[bool, str]]:
    print()
    print(f"{'read':<30} {'median ms':>10} {'min':>8} {'max':>8} {'bytes':>10}")
    print("-" * 70)
    for what, median, low, high, size in measured:
        print(f"{what:<30} {median:10.1f} {low:8.1f} {high:8.1f} {size:10d}")
    print()
    alone, loaded = sold["c4"], sold["c4 loaded"]
    reports_ms = sorted(x * 1000 for x in sold["reports"])

    def pct(r, p):
        return r.percentile_ms(p)

    print("consume at 4 clients        alone    with the owner's reports")
    print("-" * 62)
    print(f"{'requests':<24} {alone.requests:>9}    {loaded.requests:>9}")
    print(f"{'tx/s':<24} {alone.rate:>9.0f}    {loaded.rate:>9.0f}")
    print(f"{'p50 ms':<24} {pct(alone, 50):>9.2f}    {pct(loaded, 50):>9.2f}")
    print(f"{'p99 ms':<24} {pct(alone, 99):>9.2f}    {pct(loaded, 99):>9.2f}")
    if reports_ms:
        print(
            f"(the report client meanwhile: {len(reports_ms)} requests, "
            f"median {statistics.median(reports_ms):.0f} ms, max {reports_ms[-1]:.0f} ms)"
        )
    during = sold["c4 backups"]
    backups_s = sorted(sold["backups"])
    print()
    print("consume at 4 clients        alone    while backups are taken")
    print("-" * 62)
    print(f"{'requests':<24} {alone.requests:>9}    {during.requests:>9}")
    print(f"{'p50 ms':<24} {pct(alone, 50):>9.2f}    {pct(during, 50):>9.2f}")
    print(f"{'p99 ms':<24} {pct(alone, 99):>9.2f}    {pct(during, 99):>9.2f}")
    print(
        f"(backups meanwhile: {len(backups_s)}, each copied and checked in "
        f"{statistics.median(backups_s):.1f} s at the median)"
    )
    print()
    others = [sold["c1"], alone, sold["c8"], sold["h8"]]
    print(base.table(others))
    ratio = sold["c8"].rate / sold["h8"].rate if sold["h8"].rate else 0.0
    print(f"consume at 8 clients = {ratio:.2f} x health at 8 clients (information, not a target)")
    peak = max(sold["rss c8"]["VmHWM"], final["VmHWM"])
    print(
        f"server RSS: idle {idle['VmRSS']:.0f} MiB, after the reads {after_reads['VmRSS']:.0f} "
        f"MiB, under 8 clients {sold['rss c8']['VmRSS']:.0f} MiB, peak {peak:.0f} MiB"
    )
    print()
    outcome = [
        (median < READ_MS, f"{what} < {READ_MS:.0f} ms: {median:.1f} ms (median)")
        for what, median, *_ in measured
    ]
    outcome += [
        (listening < START_S, f"start-up to listening < {START_S:.0f} s: {listening:.2f} s"),
        (peak < RSS_MB, f"server peak RSS < {RSS_MB:.0f} MiB: {peak:.0f} MiB"),
        (
            pct(sold["c1"], 50) < CONSUME_1_P50_MS,
            f"consume p50 at 1 client < {CONSUME_1_P50_MS:.0f} ms: {pct(sold['c1'], 50):.2f} ms",
        ),
        (
            pct(alone, 99) < CONSUME_4_P99_MS,
            f"consume p99 at 4 clients < {CONSUME_4_P99_MS:.0f} ms: {pct(alone, 99):.2f} ms",
        ),
        (
            pct(loaded, 99) < CONSUME_4_LOADED_P99_MS,
            f"consume p99 at 4 clients with reports < {CONSUME_4_LOADED_P99_MS:.0f} ms: "
            f"{pct(loaded, 99):.2f} ms",
        ),
    ]
    outcome.append(
        (
            pct(during, 99) < CONSUME_4_P99_MS,
            f"consume p99 at 4 clients while backups are taken < {CONSUME_4_P99_MS:.0f} ms: "
            f"{pct(during, 99):.2f} ms",
        )
    )
    for ok, text in outcome:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return outcome
