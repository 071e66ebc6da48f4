"""`make bench`, its PostgreSQL phase (a chain): consume through `python app.py` processes that
share one PostgreSQL, beside the database's raw commit rate, in the same run as bench.py's
SQLite figures (bench.py calls `chain` after its own table).

Over a fresh temp dir, this

1. starts a durable PostgreSQL (tests/pgserver.py, fsync on, as a chain's server keeps it) on
   a free port and makes a database `bench` on it;
2. starts the first `python app.py` on it alone (KAKATONG_DATABASE_URL, a data dir shared by
   every process, KAKATONG_TLS=0, 16 waitress threads as bench.py's server), until /healthz
   answers: it creates the schema and the data dir's secrets; imports one card per client
   (`flask --app app import-cards`, 40 000.00 each, no PIN); through it, changes the default
   passwords of operator 01 and the system operator, who registers one POS terminal per
   client (POST /api/v1/terminals);
3. measures consume at 1, 8 and 16 clients through one process, then at 16 clients through 2
   and through 4 processes (the others started for it), the clients spread over the processes
   in turn. Each client signs in on the process it is given (as operator 01, at its own
   terminal with its key), and posts 1.00 from its own card, each with its own request_id,
   over its own keep-alive connection. A chain's cards and terminals are rows every process
   writes: one card and one terminal per client, as at a real chain's tills, measure
   throughput rather than one row's lock (each posting locks its card's row and its
   terminal's, for the trace number, to its commit; with all clients at one terminal, its
   row is what they queue on, docs/benchmarks.md);
4. stops the processes and measures PostgreSQL's raw commit rate: single-row INSERT and
   COMMIT in a loop, from one psycopg2 connection on the same server;
5. prints the table, one PASS/FAIL line per client count for one process against the SQLite
   figure of the same run (at least RATIO of it), how throughput moves with processes at 16
   clients, a check in a fresh process that the books agree and hold exactly the consumes
   answered 201, and the CPU of the servers, of PostgreSQL (every process of its cluster),
   and of the clients.

Skipped, saying so, where this machine has no PostgreSQL binaries.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import bench as base

sys.path.insert(0, str(base.ROOT / "tests"))
import pgserver  # noqa: E402  (tests/pgserver.py: the throw-away PostgreSQL of tests and bench)

CHAIN_CLIENTS = 16
# (processes, clients): 1 and 8 clients through one process, as SQLite's figures, and 16
# clients through 1, 2 and 4 processes.
SHAPES = ((1, 1), (1, base.CLIENTS), (1, CHAIN_CLIENTS), (2, CHAIN_CLIENTS), (4, CHAIN_CLIENTS))
RATIO = 0.8  # one process on PostgreSQL against SQLite, same clients, same run
COMPARED = (1, base.CLIENTS)  # the client counts compared
START_TIMEOUT = 60.0
DATABASE = "bench"
SYSADMIN, SYSADMIN_DEFAULT, SYSADMIN_PASSWORD = "99", "00000000", "24680135"
FIRST_TERMINAL = 20000001  # the clients' terminals: 20000001, 20000002, ...


# ---------------------------------------------------------------- PostgreSQL


def create_database(url: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{url}/postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()


def commit_rate(url: str, count: int) -> float:
    """Raw commits per second: a one-row INSERT and its COMMIT, `count` times, from one
    connection (psycopg2 begins each transaction itself, as the app's writes do)."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS commit_bench (id BIGSERIAL PRIMARY KEY, v BIGINT)"
            )
            conn.commit()
            started = time.perf_counter()
            for i in range(count):
                cursor.execute("INSERT INTO commit_bench (v) VALUES (%s)", (i,))
                conn.commit()
            elapsed = time.perf_counter() - started
            cursor.execute("DROP TABLE commit_bench")
            conn.commit()
    finally:
        conn.close()
    return count / elapsed


def postgres_ceiling(url: str, seconds: float) -> base.Result:
    """Raw commits per second on the chain's server (in its `postgres` database), sized to
    take about `seconds`."""
    guess = commit_rate(url, 50)
    count = max(100, min(100_000, int(guess * seconds)))
    return base.Result(
        "postgres commit", 1, requests=count, seconds=count / commit_rate(url, count)
    )


def cluster_pids(directory: Path) -> list[int]:
    """The postmaster and every process it started (backends, WAL writer, checkpointer…)."""
    try:
        postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return []
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == postmaster:
            pids.append(int(entry.name))
    return pids


# ---------------------------------------------------------------- the server processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chain_env(data_dir: Path, url: str) -> dict[str, str]:
    """What every process of the chain (and its commands) is started with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAKATONG_")}
    return env | {
        "KAKATONG_DATABASE_URL": url,
        "KAKATONG_DATA_DIR": str(data_dir),
        "KAKATONG_HOST": "127.0.0.1",
        "KAKATONG_TLS": "0",
        "KAKATONG_DEMO": "0",
        "KAKATONG_THREADS": str(base.THREADS),
        "KAKATONG_LOG_LEVEL": "WARNING",
        "KAKATONG_MSR": "",
    }


class Process:
    """One `python app.py` of the chain, on a port of its own."""

    def __init__(self, index: int, env: dict[str, str], work: Path):
        self.port = free_port()
        self.env = env | {"KAKATONG_PORT": str(self.port)}
        self.log = work / f"app{index + 1}.log"
        self.child: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.child = subprocess.Popen(
                [sys.executable, "app.py"], cwd=base.ROOT, env=self.env, stdout=out, stderr=out
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.child.poll() is not None:
                raise RuntimeError(f"app.py exited as it started:\n{base.tail(self.log)}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not answer /healthz:\n{base.tail(self.log)}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            base.stop_server(self.child)


def import_cards(env: dict[str, str], work: Path) -> None:
    """One card per client, through the shop's own command."""
    path = work / "cards.csv"
    path.write_text(base.cards_csv(CHAIN_CLIENTS))
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "import-cards", str(path)],
        cwd=base.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import-cards failed:\n{done.stdout}{done.stderr}")


def set_up_staff(port: int, terminals: int) -> list[tuple[str, str]]:
    """Operator 01's and the system operator's own passwords instead of the defaults, and
    `terminals` POS terminals registered by the system operator: (terminal ID, key) each."""
    client = base.Client(port)
    try:
        for staff_no, old, new in (("01", "0000", base.PASSWORD),
                                   (SYSADMIN, SYSADMIN_DEFAULT, SYSADMIN_PASSWORD)):  # fmt: skip
            change = {"old_password": old, "new_password": new}
            client.expect(200, "POST", f"/api/v1/staff/{staff_no}/password", change)
        session = {"operator_no": SYSADMIN, "password": SYSADMIN_PASSWORD}
        token = client.expect(201, "POST", "/api/v1/session", session)["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        registered = []
        for i in range(terminals):
            terminal = {"terminal_id": str(FIRST_TERMINAL + i), "name": f"收银台 {i + 2}"}
            answer = client.expect(201, "POST", "/api/v1/terminals", terminal)
            registered.append((answer["terminal_id"], answer["terminal_key"]))
        client.expect(204, "DELETE", "/api/v1/session")
        return registered
    finally:
        client.close()


def sign_in(port: int, terminal: tuple[str, str] | None) -> str:
    """Operator 01 at a terminal (its ID and key; None: the shop's first terminal, 10000001):
    a bearer token for that process (sessions may be each process's)."""
    client = base.Client(port)
    try:
        session = {"operator_no": "01", "password": base.PASSWORD, "terminal_id": "10000001"}
        if terminal is not None:
            session |= {"terminal_id": terminal[0], "terminal_key": terminal[1]}
        return client.expect(201, "POST", "/api/v1/session", session)["token"]
    finally:
        client.close()


# ---------------------------------------------------------------- measuring


def consume_phases(
    env: dict[str, str],
    work: Path,
    cluster: Path,
    seconds: float,
    shapes: tuple[tuple[int, int], ...] = SHAPES,
    own_terminals: bool = True,
) -> list[base.Result]:
    """Each shape, the processes started as the shapes need them and all stopped at the end;
    without `own_terminals`, every client at the shop's one terminal (10000001)."""
    processes: list[Process] = []
    terminals: list[tuple[str, str]] = []
    tokens: dict[tuple[int, int], str] = {}  # (process, client) -> token
    run_id = uuid.uuid4().hex[:12]
    results = []
    try:
        for count, clients in shapes:
            added = [Process(i, env, work) for i in range(len(processes), count)]
            if not processes and added:  # the first alone: the schema, the secrets, the cards
                first, *added = added
                first.start()
                processes.append(first)
                first.wait_ready()
                import_cards(env, work)
                wanted = max(n for _, n in shapes) if own_terminals else 0
                terminals = set_up_staff(first.port, wanted)
            for process in added:
                process.start()
            processes += added
            for process in added:
                process.wait_ready()
            conns = []
            for i in range(clients):
                at = i % count
                if (at, i) not in tokens:
                    terminal = terminals[i] if own_terminals else None
                    tokens[(at, i)] = sign_in(processes[at].port, terminal)
                conns.append(base.Client(processes[at].port, tokens[(at, i)]))
            serving = processes[:count]
            try:
                workers = [
                    base.Worker(c, base.consumer(base.card_no(i), f"{run_id}-{count}p{clients}"))
                    for i, c in enumerate(conns)
                ]
                pids = [p.child.pid for p in serving]
                watched = {
                    "servers" if count > 1 else "server": lambda pids=pids: pids,
                    "postgres": lambda: cluster_pids(cluster),
                }
                result = base.measure("consume", workers, seconds, watched)
            finally:
                for c in conns:
                    c.close()
            result.processes = count
            results.append(result)
        return results
    finally:
        for process in processes:
            process.stop()


# ---------------------------------------------------------------- reporting


def compared(results: list[base.Result], sqlite: list[base.Result]) -> list[tuple[bool, str]]:
    """One process on PostgreSQL against SQLite's figure of the same run, per client count."""
    ours = {(r.processes, r.clients): r for r in results if r.what == "consume"}
    theirs = {r.clients: r for r in sqlite if r.what == "consume"}
    outcome = []
    for clients in COMPARED:
        pg, lite = ours[(1, clients)], theirs[clients]
        ratio = pg.rate / lite.rate if lite.rate else 0.0
        outcome.append(
            (
                ratio >= RATIO,
                f"PostgreSQL consume at {clients} client(s), 1 process >= {RATIO} x SQLite: "
                f"{ratio:.2f} x ({pg.rate:.0f} vs {lite.rate:.0f} tx/s)",
            )
        )
    return outcome


def scaling(results: list[base.Result]) -> list[str]:
    """Throughput at CHAIN_CLIENTS clients by processes, and against the raw commit rate."""
    by = {r.processes: r for r in results if r.what == "consume" and r.clients == CHAIN_CLIENTS}
    one = by[1].rate
    steps = ", ".join(
        f"{n} process{'es' if n > 1 else ''} {by[n].rate:.0f} tx/s"
        + (f" ({by[n].rate / one:.2f} x)" if n > 1 and one else "")
        for n in sorted(by)
    )
    lines = [f"info  consume at {CHAIN_CLIENTS} clients: {steps}"]
    ceiling = next((r for r in results if r.what == "postgres commit"), None)
    if ceiling is not None and ceiling.rate:
        best = max(r.rate for r in results if r.what == "consume")
        lines.append(
            f"info  best consume = {best / ceiling.rate:.2f} x PostgreSQL's raw commit rate "
            f"({best:.0f} vs {ceiling.rate:.0f} commits/s from one connection)"
        )
    return lines


def chain(seconds: float, sqlite: list[base.Result]) -> tuple[list[tuple[bool, str]], bool]:
    """The whole phase over a temp dir deleted afterwards: (targets, books agree)."""
    print()
    if pgserver.binaries() is None:
        print("PostgreSQL: skipped (no PostgreSQL binaries on this machine: apt-get install "
              "postgresql; tests/pgserver.py finds them)")  # fmt: skip
        return [], True
    work = Path(tempfile.mkdtemp(prefix="kakatong-chainbench-"))
    os.chmod(work, 0o755)  # as root, the cluster runs as `postgres`, which must reach its dir
    cluster = work / "postgres"
    data_dir = work / "data"
    try:
        print(
            f"PostgreSQL (a chain): data in {work} (a durable cluster, python app.py processes, "
            f"{CHAIN_CLIENTS} cards of {base.CARD_BALANCE})",
            flush=True,
        )
        server = pgserver.start(cluster, durable=True)
        try:
            create_database(server, DATABASE)
            env = chain_env(data_dir, f"{server}/{DATABASE}")
            results = consume_phases(env, work, cluster, seconds)
            results.append(postgres_ceiling(f"{server}/postgres", seconds))
            answered = sum(r.requests + r.warmed_up for r in results if r.what == "consume")
            books_ok, books = base.check_books(data_dir, answered, env)
        except Exception:
            for log in sorted(work.glob("app*.log")):
                print(f"{log.name}:\n{base.tail(log)}", file=sys.stderr)
            raise
        finally:
            pgserver.stop(cluster)
        outcome = compared(results, sqlite)
        print()
        print(base.table(results, processes=True))
        print()
        for ok, text in outcome:
            print(f"{'PASS' if ok else 'FAIL'}  {text}")
        for line in scaling(results):
            print(line)
        print(books)
        print()
        print(base.cpu_notes(results))
        return outcome, books_ok
    finally:
        shutil.rmtree(work, ignore_errors=True)
