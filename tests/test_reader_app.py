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
from conftest import GOLD, PASSWORDS, LiveServer, another_database, ensure_password

from kakatong.factory import create_app, start_reader, stop_reader
from kakatong.store.db import db

STREAM = "/api/v1/terminal/swipes/stream"
POLL = "/api/v1/terminal/swipes"
SWIPE = f";{GOLD}=49121010000000000?\r\n".encode()
BAD = b";1234?\r\n"  # a track cut short: 请重新刷卡
# A reader on the wrong baud rate: bytes that are no stripe, in lines; each line a bad read.
NOISE = b"\xf8\x80\x1e\xe6\x98\x9e\x00\xfe\r\n"


class Pty:
    """A real pseudo-terminal in raw mode: the reader opens the slave side by its path, the
    test writes to the master. `pty[0]` is the master, `pty[1]` the path."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def __getitem__(self, index: int):
        return (self.master, self.path)[index]

    def unplug(self) -> None:
        """Both ends closed: the reader's next read fails and the device node goes away."""
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None


def point(link: str, target: str) -> None:
    """Point the reader's symlink at a device, atomically (a replug)."""
    tmp = link + ".new"
    os.symlink(target, tmp)
    os.replace(tmp, link)


@pytest.fixture
def pty():
    pty = Pty()
    yield pty
    pty.unplug()


@pytest.fixture
def app(tmp_path, pty):
    # KAKATONG_MSR names a symlink to the pty, as a /dev/serial/by-id/… path does: a test can
    # unplug the reader (the link goes away) and plug another one in (the link comes back).
    link = str(tmp_path / "msr")
    point(link, pty.path)
    # threads=8: the LiveServer's pool, so the cap of streams is 2.
    app = create_app({"data_dir": tmp_path, "demo": True, "msr": link, "threads": 8})
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

    def __init__(self, url: str, token: str, verify: str | bool = True):
        self.response = requests.get(
            url + STREAM,
            headers={"Authorization": "Bearer " + token},
            stream=True,
            timeout=10,
            verify=verify,
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
        {
            "id": answer["last_id"],
            "event": "swipe",
            "card_no": GOLD,
            "expires": "4912",
            "count": None,
        }
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
    plain = create_app(
        {"data_dir": tmp_path / "plain", "demo": True, "database_url": another_database()}
    )
    assert "kakatong.reader" not in plain.extensions
    ensure_password("01")
    client = plain.test_client()
    token = client.post("/api/v1/session", json={"operator_no": "01", "password": "2580"})
    auth = {"Authorization": "Bearer " + token.get_json()["token"]}
    answer = client.get(POLL, headers=auth).get_json()
    reader_part = {key: answer[key] for key in ("swipes", "reader", "last_id")}
    assert reader_part == {"swipes": [], "reader": "none", "last_id": 0}
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
            expect(page.locator("#st-reader")).to_have_text("刷卡器 正常")
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


# ---------------------------------------------------------------- one reader, one terminal


def bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


READER_EVENTS = ("swipe", "retry", "status")


def quiet(stream: Stream, heartbeats: int = 2, timeout: float = 5.0) -> list:
    """The reader's events a stream delivers until it has said it is alive `heartbeats` times:
    each heartbeat ends a full wait on the hub, so an event published before this call would
    have come first. (Other kinds, such as the terminal's own printer, are not the reader's.)"""
    seen, end = [], time.monotonic() + timeout
    while heartbeats:
        kind, data = stream.events.get(timeout=max(0.0, end - time.monotonic()))
        if kind == "heartbeat":
            heartbeats -= 1
        elif kind in READER_EVENTS:
            seen.append((kind, data))
    return seen


def close_streams(app, streams: list[Stream]) -> None:
    for stream in streams:
        stream.close()
    slots_free(app)


def slots_free(app, timeout: float = 5.0) -> None:
    """Wait until the server has let go of every stream slot. It notices a closed stream when
    a heartbeat fails to go out, which needs the server still running: stopped first, it would
    keep writing into the void until the stream ends by itself."""
    slots = app.extensions["kakatong.stream_slots"]
    taken = 0
    try:
        while taken < max(1, app.config["KAKATONG"].threads // 4):
            assert slots.acquire(timeout=timeout), "a closed stream still holds its slot"
            taken += 1
    finally:
        for _ in range(taken):
            slots.release()


def test_a_terminal_never_gets_another_terminals_swipes(app, live_server, token, pty):
    url = live_server.url
    reader_terminal = app.extensions["kakatong.reader"].terminal_id
    assert reader_terminal == "10000001"  # the demo's one POS terminal, when the reader started
    assert requests.get(url + "/api/v1/session", headers=bearer(token)).json()["terminal_id"] == (
        reader_terminal
    )
    # The system operator registers a second counter; operator 02 signs in there with its key.
    ensure_password("99")
    admin = requests.post(
        url + "/api/v1/session", json={"operator_no": "99", "password": PASSWORDS["99"]}
    ).json()["token"]
    r = requests.post(
        url + "/api/v1/terminals",
        json={"terminal_id": "10000002", "name": "收银台 2"},
        headers=bearer(admin),
    )
    assert r.status_code == 201, r.text
    ensure_password("02")
    r = requests.post(
        url + "/api/v1/session",
        json={
            "terminal_id": "10000002",
            "terminal_key": r.json()["terminal_key"],
            "operator_no": "02",
            "password": PASSWORDS["02"],
        },
    )
    assert r.status_code == 201 and r.json()["terminal_id"] == "10000002", r.text
    other = r.json()["token"]

    a, b = Stream(url, token), Stream(url, other)
    try:
        assert (a.response.status_code, b.response.status_code) == (200, 200)
        a.next("status", reader="connected")
        b.next("status", reader="none")  # no reader is wired to terminal B at all
        write(pty, SWIPE)
        assert a.next("swipe")["card_no"] == GOLD
        write(pty, b"\x7fnoise on the line\r\n")
        a.next("retry")
        assert quiet(b) == [], "terminal B was handed terminal A's reader events"

        # Both slots are held by the streams, so these polls answer at once. after=0 asks for
        # everything the hub still keeps for the terminal.
        got_a = requests.get(url + POLL, params={"after": 0}, headers=bearer(token)).json()
        got_b = requests.get(url + POLL, params={"after": 0}, headers=bearer(other)).json()
        assert [(s["event"], s["card_no"]) for s in got_a["swipes"]] == [
            ("swipe", GOLD),
            ("retry", None),
        ]
        assert got_a["reader"] == "connected"
        assert got_b["swipes"] == [] and got_b["reader"] == "none"
    finally:
        close_streams(app, [a, b])


# ---------------------------------------------------------------- the page without a stream


def test_the_page_polls_when_refused_a_stream_and_a_swipe_still_moves_it(
    app, live_server, token, pty
):
    from browser import chromium, expect, page_errors

    app.config["KAKATONG_STREAM_SECONDS"] = 30  # the held streams outlast the test
    held = [Stream(live_server.url, token) for _ in range(2)]  # every slot (8 threads // 4)
    try:
        for stream in held:
            assert stream.response.status_code == 200
            stream.next("status")
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 800, "height": 480})
            page = context.new_page()
            errors = page_errors(page)
            feed: list[tuple[str, int]] = []  # the page's swipe requests: (path, status)
            page.on(
                "response",
                lambda r: (
                    "/terminal/swipes" in r.url
                    and feed.append((r.url.removeprefix(live_server.url), r.status))
                ),
            )
            page.goto(live_server.url + "/terminal")
            terminal = page.locator("#terminal")
            expect(terminal).to_have_attribute("data-screen", "welcome")
            for name in ["enter", "0", "1", "enter", "2", "5", "8", "0", "enter"]:
                page.locator(f'[data-key="{name}"]').click()
            expect(terminal).to_have_attribute("data-screen", "signed-in")
            page.locator('[data-key="enter"]').click()
            expect(terminal).to_have_attribute("data-screen", "standby")
            # With no stream to be had, only a poll can say the reader is there. Streams that
            # merely failed would be retried for seconds first (1 s, 2 s, 4 s back-off).
            expect(page.locator("#st-reader")).to_have_text("刷卡器 正常", timeout=2500)
            assert feed[:2] == [(STREAM, 503), (POLL, 200)], feed
            write(pty, SWIPE)  # the first poll has set the page's cursor: the swipe is after it
            expect(terminal).to_have_attribute("data-screen", "confirm", timeout=2500)
            expect(page.locator("#lines")).to_contain_text(f"CARD: {GOLD}")
            assert [path for path, _ in feed].count(STREAM) == 1, feed  # no retry: it polls
            assert all(path.startswith(POLL + "?after=") for path, _ in feed[2:]), feed
            context.close()
            assert errors == [], errors
    finally:
        close_streams(app, held)


# ---------------------------------------------------------------- unplugged and back


def unplug(app, pty: Pty) -> str:
    """The reader pulled out: its by-id link goes away and so does the device."""
    link = app.config["KAKATONG"].msr
    os.unlink(link)
    pty.unplug()
    return link


def test_an_unplug_and_a_replug_arrive_on_the_stream_as_status_events(app, live_server, token, pty):
    app.config["KAKATONG_STREAM_SECONDS"] = 10  # one stream sees it all
    stream = Stream(live_server.url, token)
    replugged = Pty()
    try:
        assert stream.response.status_code == 200
        stream.next("status", reader="connected")
        link = unplug(app, pty)
        stream.next("status", reader="disconnected")
        # The fallback says so too (no `after`: it answers at once).
        assert requests.get(live_server.url + POLL, headers=bearer(token)).json()["reader"] == (
            "disconnected"
        )
        point(link, replugged.path)
        stream.next("status", reader="connected")  # at its next retry (0.2, 0.4 … s after)
        write(replugged, SWIPE)
        swipe = stream.next("swipe")
        assert swipe["card_no"] == GOLD and swipe["expires"] == "4912"
    finally:
        close_streams(app, [stream])
        replugged.unplug()


def test_the_page_shows_the_reader_unplugged_and_back(app, live_server, pty):
    from browser import chromium, expect, page_errors

    ensure_password("01")
    replugged = Pty()
    try:
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 800, "height": 480})
            page = context.new_page()
            errors = page_errors(page)
            page.goto(live_server.url + "/terminal")
            terminal = page.locator("#terminal")
            for name in ["enter", "0", "1", "enter", "2", "5", "8", "0", "enter"]:
                page.locator(f'[data-key="{name}"]').click()
            expect(terminal).to_have_attribute("data-screen", "signed-in")
            page.locator('[data-key="enter"]').click()
            expect(terminal).to_have_attribute("data-screen", "standby")
            reader = page.locator("#st-reader")
            expect(reader).to_have_text("刷卡器 正常")
            expect(reader).to_have_attribute("data-ok", "1")

            link = unplug(app, pty)
            expect(reader).to_have_text("刷卡器 故障", timeout=3000)
            expect(reader).to_have_attribute("data-ok", "0")
            # The reader retries 0.2, 0.4, 0.8, 1.6… s after the unplug (5 s at most).
            point(link, replugged.path)
            expect(reader).to_have_text("刷卡器 正常", timeout=8000)
            expect(reader).to_have_attribute("data-ok", "1")
            write(replugged, SWIPE)
            expect(terminal).to_have_attribute("data-screen", "confirm")
            expect(page.locator("#lines")).to_contain_text(f"CARD: {GOLD}")
            context.close()
            assert errors == [], errors
        slots_free(app)  # the page's stream, aborted with the page
    finally:
        replugged.unplug()


# ---------------------------------------------------------------- bad reads


def test_line_noise_is_collapsed_and_counted_not_queued(app, live_server, token, pty):
    """A burst of bad reads is one `retry` event with its count, for a page that polls or
    reconnects after it: it does not push the good swipe after it out of what is kept."""
    auth = bearer(token)
    first = requests.get(live_server.url + POLL, headers=auth, timeout=5).json()
    write(pty, NOISE * 30 + SWIPE)
    deadline = time.monotonic() + 5
    while True:
        got = requests.get(
            live_server.url + POLL, params={"after": first["last_id"]}, headers=auth, timeout=10
        ).json()
        if any(s["event"] == "swipe" for s in got["swipes"]) or time.monotonic() > deadline:
            break
    assert [(s["event"], s["count"], s["card_no"]) for s in got["swipes"]] == [
        ("retry", 30, None),
        ("swipe", None, GOLD),
    ]
    # A page that had seen part of the burst is told of the rest only.
    stream = Stream(live_server.url, token)
    try:
        stream.next("status")
        write(pty, NOISE * 3)
        told = 0
        while told < 3:  # one event or several, as the stream happened to wake
            told += stream.next("retry")["count"]
        assert told == 3
        assert quiet(stream) == []
    finally:
        close_streams(app, [stream])


def sign_in_page(page, url: str) -> None:
    from browser import sign_in

    ensure_password("01")
    page.goto(url + "/terminal")
    sign_in(page)


def test_the_good_swipe_after_a_bad_read_shows_and_line_noise_is_one_screen(app, live_server, pty):
    from browser import chromium, expect, key, page_errors, screen, shoot

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 800, "height": 480})
        page = context.new_page()
        errors = page_errors(page)
        sign_in_page(page, live_server.url)
        expect(page.locator("#st-reader")).to_have_text("刷卡器 正常")
        write(pty, BAD)
        screen(page, "misread")
        write(pty, SWIPE)  # on the 请重新刷卡 screen: taken, as on the screen behind it
        screen(page, "confirm")
        expect(page.locator("#lines")).to_contain_text(f"CARD: {GOLD}")
        key(page, "cancel")
        screen(page, "standby")

        write(pty, NOISE * 30)  # a burst of line noise: one screen, counted
        screen(page, "misread")
        expect(page.locator("#lines")).to_contain_text("读卡失败次数 30")
        shoot(page, "reader-noise")
        key(page, "cancel")  # one press, back to standby
        screen(page, "standby")
        write(pty, SWIPE)
        screen(page, "confirm")
        context.close()
        assert errors == [], errors


def test_a_reader_swipe_on_a_screen_that_takes_none_says_so(app, live_server, pty):
    from browser import chromium, expect, key, page_errors, screen

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 800, "height": 480})
        page = context.new_page()
        errors = page_errors(page)
        sign_in_page(page, live_server.url)
        expect(page.locator("#st-reader")).to_have_text("刷卡器 正常")
        key(page, "enter")
        screen(page, "menu")
        write(pty, SWIPE)
        expect(page.locator("#notice")).to_have_text("当前界面不能刷卡")
        screen(page, "menu")
        context.close()
        assert errors == [], errors
