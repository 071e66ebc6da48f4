"""The card reader wired into the app: a real pty as KAKATONG_MSR, the real server, the swipes
read from its Server-Sent Events stream (and its polling fallback) by `requests`, and the
terminal page in headless Chromium."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import tty

import pytest
import requests
from conftest import GOLD, LiveServer, ensure_password

from kakatong import create_app, start_reader, stop_reader
from kakatong.db import db

STREAM = "/api/v1/terminal/swipes/stream"
POLL = "/api/v1/terminal/swipes"
SWIPE = f";{GOLD}=49121010000000000?\r\n".encode()


@pytest.fixture
def pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.fixture
def app(tmp_path, pty):
    # threads=8: the LiveServer's pool, so the cap of streams is 2.
    app = create_app({"data_dir": tmp_path, "demo": True, "msr": pty[1], "threads": 8})
    assert "kakatong.reader" not in app.extensions  # the admin commands build this app too
    start_reader(app)  # as app.py does when it serves
    app.config["TESTING"] = True
    app.config["KAKATONG_STREAM_SECONDS"] = 3
    app.config["KAKATONG_HEARTBEAT_SECONDS"] = 0.5
    app.config["KAKATONG_POLL_SECONDS"] = 3
    yield app
    stop_reader(app)
    if not db.is_closed():
        db.close()


def write(pty, data: bytes) -> None:
    os.write(pty[0], data)


class Stream:
    """One SSE stream read on a thread: its events, as (event, data) pairs, in a queue."""

    def __init__(self, url: str, token: str):
        self.response = requests.get(
            url + STREAM, headers={"Authorization": "Bearer " + token}, stream=True, timeout=10
        )
        self.events: queue.Queue = queue.Queue()
        self.ended = threading.Event()
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        kind, data = None, ""
        try:
            for line in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line.startswith(":"):
                    self.events.put(("heartbeat", None))
                elif line == "" and kind:
                    self.events.put((kind, json.loads(data)))
                    kind, data = None, ""
        except Exception:  # closed by the test while reading: the stream is over either way
            pass
        self.ended.set()

    def next(self, kind: str, timeout: float = 5.0, **match):
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                got, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if got == kind and all(data.get(k) == v for k, v in match.items()):
                return data
        raise AssertionError(f"no {kind} {match} within {timeout}s")

    def close(self):
        self.response.close()


@pytest.fixture
def token(live_server):
    ensure_password("01")
    r = requests.post(
        live_server.url + "/api/v1/session", json={"operator_no": "01", "password": "2580"}
    )
    return r.json()["token"]


def test_a_swipe_and_a_bad_read_arrive_on_the_stream_which_ends_by_itself(live_server, token, pty):
    stream = Stream(live_server.url, token)
    assert stream.response.status_code == 200
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    assert stream.response.headers["Cache-Control"] == "no-store"
    assert stream.response.headers["X-Accel-Buffering"] == "no"
    stream.next("status", reader="connected")
    write(pty, SWIPE)
    swipe = stream.next("swipe")
    assert swipe["card_no"] == GOLD and swipe["expires"] == "4912" and swipe["id"] > 0
    write(pty, b"\x7fnoise on the line\r\n")
    stream.next("retry")
    stream.next("heartbeat")
    assert stream.ended.wait(5), "the stream did not end by itself"
    stream.close()


def test_without_a_session_the_stream_is_refused(live_server):
    r = requests.get(live_server.url + STREAM, timeout=5)
    assert r.status_code == 401 and r.json()["error"] == "not_signed_in"


def test_open_streams_are_capped_then_answer_503(live_server, token):
    streams = [Stream(live_server.url, token) for _ in range(2)]  # 8 threads // 4
    for stream in streams:
        assert stream.response.status_code == 200
        stream.next("status")
    refused = requests.get(
        live_server.url + STREAM, headers={"Authorization": "Bearer " + token}, timeout=5
    )
    assert refused.status_code == 503
    assert refused.json()["error"] == "too_many_streams"
    # Normal requests still answer while the streams are open.
    health = requests.get(live_server.url + "/api/v1/health", timeout=5)
    assert health.status_code == 200
    for stream in streams:
        assert stream.ended.wait(6)
        stream.close()
    again = Stream(live_server.url, token)
    assert again.response.status_code == 200
    again.close()


def test_polling_returns_the_swipe(live_server, token, pty):
    auth = {"Authorization": "Bearer " + token}
    first = requests.get(live_server.url + POLL, headers=auth, timeout=5).json()
    deadline = time.monotonic() + 5
    while first["reader"] != "connected" and time.monotonic() < deadline:
        time.sleep(0.05)
        first = requests.get(live_server.url + POLL, headers=auth, timeout=5).json()
    assert first["reader"] == "connected" and first["swipes"] == []
    threading.Timer(0.3, write, (pty, SWIPE)).start()  # while the poll waits
    answer = requests.get(
        live_server.url + POLL, params={"after": first["last_id"]}, headers=auth, timeout=10
    ).json()
    assert answer["swipes"] == [
        {"id": answer["last_id"], "event": "swipe", "card_no": GOLD, "expires": "4912"}
    ]
    # A swipe is handed over once: polling after it waits, then answers nothing new.
    later = requests.get(
        live_server.url + POLL, params={"after": answer["last_id"]}, headers=auth, timeout=10
    ).json()
    assert later["swipes"] == []


def test_starting_the_reader_is_idempotent_and_stoppable(app):
    reader = app.extensions["kakatong.reader"]
    assert reader.daemon and reader.is_alive()
    assert start_reader(app) is reader
    stop_reader(app)
    assert not reader.is_alive()
    assert "kakatong.reader" not in app.extensions


def test_without_kakatong_msr_no_reader_runs_and_the_status_is_none(tmp_path):
    plain = create_app({"data_dir": tmp_path / "plain", "demo": True})
    assert "kakatong.reader" not in plain.extensions
    ensure_password("01")
    client = plain.test_client()
    token = client.post("/api/v1/session", json={"operator_no": "01", "password": "2580"})
    auth = {"Authorization": "Bearer " + token.get_json()["token"]}
    answer = client.get(POLL, headers=auth).get_json()
    assert answer == {"swipes": [], "reader": "none", "last_id": 0}
    db.close()


# ---------------------------------------------------------------- the terminal page


def test_a_reader_swipe_moves_the_page_like_a_wedge_swipe(app, pty):
    from browser import chromium, expect, page_errors

    server = LiveServer(app)
    try:
        ensure_password("01")
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 800, "height": 480})
            page = context.new_page()
            errors = page_errors(page)
            page.goto(server.url + "/terminal")
            terminal = page.locator("#terminal")
            expect(terminal).to_have_attribute("data-screen", "welcome")
            for name in ["enter", "0", "1", "enter", "2", "5", "8", "0", "enter"]:
                page.locator(f'[data-key="{name}"]').click()
            expect(terminal).to_have_attribute("data-screen", "signed-in")
            page.locator('[data-key="enter"]').click()
            expect(terminal).to_have_attribute("data-screen", "standby")
            expect(page.locator("#st-reader")).to_have_text("刷卡器 已连接")
            write(pty, SWIPE)
            expect(terminal).to_have_attribute("data-screen", "confirm")
            expect(page.locator("#code")).to_have_text("SALE")
            expect(page.locator("#lines")).to_contain_text(f"CARD: {GOLD}")
            expect(page.locator("#lines")).to_contain_text("EXP DATA: 12/49")
            page.locator('[data-key="cancel"]').click()
            expect(terminal).to_have_attribute("data-screen", "standby")
            write(pty, b";1234?\r\n")
            expect(terminal).to_have_attribute("data-screen", "misread")
            expect(page.locator("#lines")).to_contain_text("请重新刷卡")
            context.close()
            assert errors == [], errors
    finally:
        server.stop()
