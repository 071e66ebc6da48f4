"""Fixtures over real parts: a real SQLite file in a temp dir, the real app, and the real
server (waitress) on a loopback port."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from waitress import wasyncore
from waitress.server import create_server

from kakatong.domain import staff as staff_domain
from kakatong.domain.actors import Actor
from kakatong.factory import create_app
from kakatong.store.db import db
from kakatong.store.models import Staff, Terminal

# Passwords the tests set in place of the defaults (a default password cannot sign in).
PASSWORDS = {"01": "2580", "02": "3691", "00": "135790", "99": "24680135", "owner": "owner-pass-1"}
SUPERVISOR_PASSWORD = PASSWORDS["00"]

# Demo cards (kakatong/cli.py): card number -> PIN
GOLD = "1680860097157114"  # 金卡会员 88 % ×150, PIN 123456, 1000.00, 300 points
PLAIN = "1680106700000018"  # 普通会员, no PIN, 500.00, 120 points
SILVER = "1680860079316804"  # 普通会员, PIN 888888, 200.00, 0 points
INACTIVE = "1680106700000026"
PINS = {GOLD: "123456", PLAIN: None, SILVER: "888888"}


# The suite runs on SQLite, and again on PostgreSQL when this names a server (make test starts
# one, tests/pgserver.py): each test then gets a new, empty database of its own there.
POSTGRES = os.environ.get("KAKATONG_TEST_POSTGRES", "")
ON_POSTGRES = bool(POSTGRES)


def _admin(command: str) -> None:
    import psycopg2

    conn = psycopg2.connect(POSTGRES + "/postgres")
    conn.autocommit = True
    try:
        conn.cursor().execute(command)
    finally:
        conn.close()


# On PostgreSQL the suite runs what the engine can change. Left to the SQLite run:
# the SQLite file's own features (its backups and restore, its migrations from earlier
# versions, a full disk, a SIGKILLed server's file), and files whose tests reach the database
# only through what the rest already proves on both: browsers drawing pages, devices, the
# documents, HTTPS. A single test of the SQLite file is marked `sqlite_only`.
SQLITE_ONLY_FILES = {
    "test_backup.py",
    "test_backoffice_backups.py",
    "test_upgrade.py",
    "test_storage_full.py",
    "test_crash.py",
    "test_big_reads.py",  # (SQLite's query plans on a big shop)
}
ENGINE_NEUTRAL_FILES = {
    "test_backoffice_browser.py", "test_https_browser.py", "test_offline_browser.py",
    "test_slips_browser.py", "test_terminal_page.py", "test_terminal_screens.py",
    "test_backoffice_layout.py", "test_https.py", "test_printer.py", "test_reader.py",
    "test_docs.py", "test_layers.py", "test_openapi.py", "test_logs.py",
}  # fmt: skip


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sqlite_only(reason): a test of the SQLite file itself, not run on PostgreSQL"
    )


def pytest_collection_modifyitems(config, items):
    if not ON_POSTGRES:
        return
    kept, left = [], []
    for item in items:
        name = item.path.name
        if (
            name in SQLITE_ONLY_FILES
            or name in ENGINE_NEUTRAL_FILES
            or item.get_closest_marker("sqlite_only")
        ):
            left.append(item)
        else:
            kept.append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def outside(statement: str, data_dir) -> None:
    """Run one statement on the test's database from a connection of its own, as another
    program would (the app's connection closed first)."""
    if not db.is_closed():
        db.close()
    if ON_POSTGRES:
        import psycopg2

        conn = psycopg2.connect(os.environ["KAKATONG_DATABASE_URL"])
    else:
        import sqlite3

        conn = sqlite3.connect(Path(data_dir) / "kakatong.sqlite3")
    try:
        conn.cursor().execute(statement)
        conn.commit()
    finally:
        conn.close()


_MADE: list[str] = []


def another_database() -> str:
    """A second, empty database for a test that starts another shop beside its own: on
    PostgreSQL a new database (dropped after the test), on SQLite "" (the shop's data_dir
    names its file)."""
    if not ON_POSTGRES:
        return ""
    name = "t_" + uuid.uuid4().hex[:16]
    _admin(f"CREATE DATABASE {name}")
    _MADE.append(name)
    return f"{POSTGRES}/{name}"


def drop_trigger(name: str, table: str) -> None:
    """Take one of the schema's triggers away (a test of what verify or a rule then finds)."""
    if ON_POSTGRES:
        db.execute_sql(f"DROP TRIGGER {name} ON {table}")
    else:
        db.execute_sql(f"DROP TRIGGER {name}")


@pytest.fixture(autouse=True)
def database_url(monkeypatch):
    """On PostgreSQL, a new, empty database for each test (dropped after it), named by
    KAKATONG_DATABASE_URL for every app and server process the test starts; "" on SQLite."""
    if not ON_POSTGRES:
        yield ""
        return
    name = "t_" + uuid.uuid4().hex[:16]
    _admin(f"CREATE DATABASE {name}")
    url = f"{POSTGRES}/{name}"
    monkeypatch.setenv("KAKATONG_DATABASE_URL", url)
    yield url
    if db.obj is not None and not db.is_closed():
        db.close()
    for made in [name, *_MADE]:
        _admin(f"DROP DATABASE {made} WITH (FORCE)")
    _MADE.clear()


@pytest.fixture
def app(tmp_path):
    app = create_app({"data_dir": tmp_path, "demo": True})
    app.config["TESTING"] = True
    # Short swipe streams, frequent heartbeats: a page closed at the end of a test frees its
    # server thread at once, and the live server stops without waiting for it.
    app.config["KAKATONG_STREAM_SECONDS"] = 2
    app.config["KAKATONG_HEARTBEAT_SECONDS"] = 0.5
    yield app
    app.extensions["kakatong.printing"].stop()  # the print queues' threads, if any
    if not db.is_closed():
        db.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def rid() -> str:
    return uuid.uuid4().hex


@dataclass
class Api:
    """A signed-in API caller over any client with .post/.get (test client or requests)."""

    client: object
    base: str = ""
    tokens: dict = field(default_factory=dict)

    def _call(self, method, path, staff_no=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if staff_no is not None:
            headers["Authorization"] = "Bearer " + self.token(staff_no)
        response = getattr(self.client, method)(self.base + path, headers=headers, **kwargs)
        return response

    def token(self, staff_no: str) -> str:
        if staff_no not in self.tokens:
            ensure_password(staff_no)
            r = self.client.post(
                self.base + "/api/v1/session",
                json={"operator_no": staff_no, "password": PASSWORDS[staff_no]},
            )
            assert r.status_code == 201, _json(r)
            self.tokens[staff_no] = _json(r)["token"]
        return self.tokens[staff_no]

    def get(self, path, as_="01", **kw):
        return self._call("get", path, as_, **kw)

    def post(self, path, json=None, as_="01", **kw):
        return self._call("post", path, as_, json=json, **kw)

    def put(self, path, json=None, as_="01", **kw):
        return self._call("put", path, as_, json=json, **kw)

    def delete(self, path, as_="01", **kw):
        return self._call("delete", path, as_, **kw)

    def transact(self, kind, card_no, as_="01", **fields):
        fields.setdefault("request_id", rid())
        if "pin" not in fields and PINS.get(card_no):
            fields["pin"] = PINS[card_no]
        return self.post("/api/v1/transactions", {"type": kind, "card_no": card_no, **fields}, as_)


def _json(response):
    return response.json if callable(getattr(response, "get_json", None)) else response.json()


def body(response) -> dict:
    return _json(response)


def ensure_password(staff_no: str) -> None:
    member = staff_domain.find(staff_no)
    if member.password_hash is None:
        staff_domain.set_password(staff_no, PASSWORDS[staff_no])


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def supervisor(app):
    """The supervisor's password changed from the default, so it can authorise."""
    ensure_password("00")
    return SUPERVISOR_PASSWORD


class LiveServer:
    """waitress serving the app on a free loopback port, in a thread of the test process."""

    def __init__(self, app, threads: int = 8, host: str = "127.0.0.1"):
        self.server = create_server(app, host=host, port=0, threads=threads)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        # waitress's own run() loops until interrupted; closing its sockets from another
        # thread would break its select(). This loop stops between two rounds instead.
        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.05, map=self.server._map, count=1)
        # Waits for the requests in hand, a closed page's swipe stream among them (short in
        # tests): a request left running would reach the next test's database, which the
        # process-wide `db` then names.
        self.server.task_dispatcher.shutdown()
        self.server.close()

    def stop(self):
        self._stopping.set()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def live_api(live_server):
    session = requests.Session()
    yield Api(session, base=live_server.url)
    session.close()


def aged(made, age):
    """A backup's file and manifest renamed as if it had been made `age` ago (a negative age:
    ahead of the clock); returns the new path."""
    from kakatong.store import backup

    older = made.path.with_name(backup.backup_name(made.made_at - age))
    made.path.rename(older)
    backup.manifest_path(made.path).rename(backup.manifest_path(older))
    return older


def operator_actor(staff_no: str = "01") -> Actor:
    """The Actor a domain call takes: this staff member at the one terminal."""
    s = Staff.get(Staff.staff_no == staff_no)
    t = Terminal.get(Terminal.kind == "pos")
    return Actor(s.id, s.staff_no, s.role, t.id, t.terminal_id)


# ---------------------------------------------------------------- the back office (HTML)

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Office:
    """A browser on the back office through Flask's test client: forms are posted with the
    CSRF token of the page they are on, as a browser would."""

    def __init__(self, client):
        self.client = client

    def get(self, path, **kw):
        return self.client.get(path, **kw)

    def csrf(self, page: str) -> str:
        html = self.client.get(page).get_data(as_text=True)
        found = _CSRF.search(html)
        assert found, f"no CSRF token on {page}"
        return found.group(1)

    def post(self, path, data=None, *, page=None, csrf=True, **kw):
        """POST a form; its CSRF token is taken from `page` (the form's own page by default)."""
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.csrf(page or path)
        return self.client.post(path, data=data, **kw)

    def sign_in(self, staff_no: str = "owner"):
        ensure_password("owner")  # until the owner has a password, every page is the first run
        ensure_password(staff_no)
        r = self.post(
            "/login", {"account": staff_no, "password": PASSWORDS[staff_no], "language": "zh"}
        )
        assert r.status_code == 302, r.get_data(as_text=True)
        return self


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def office(client):
    """The owner, signed in to the back office."""
    return Office(client).sign_in("owner")


@pytest.fixture
def office_as(app):
    """office_as("01"): a new browser signed in as that staff member."""
    return lambda staff_no: Office(app.test_client()).sign_in(staff_no)


# ---------------------------------------------------------------- a receipt printer


class Listener:
    """A TCP 'printer' on 127.0.0.1: collects each connection's bytes until the client closes."""

    def __init__(self, port: int = 0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                chunks = []
                while chunk := conn.recv(4096):
                    chunks.append(chunk)
                self.received.append(b"".join(chunks))

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.received

    def close(self):
        self._stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def free_port() -> int:
    """A loopback port nothing listens on (a printer that refuses the connection)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
