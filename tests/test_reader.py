"""The card reader: stripe parsing, framing, and the port thread on a real pty."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

import pytest

from kakatong.devices.reader import (
    REASONS,
    Frame,
    Framer,
    ReaderThread,
    Swipe,
    SwipeError,
    parse_swipe,
)
from kakatong.devices.swipes import READS, Hub

PAN = "6222021234567890123"
TRACK1 = f"%B{PAN}^ZHANG/SAN^2512101123456?"
TRACK2 = f";{PAN}=25121011234?"
SHORT2 = ";1680860097157114=2612?"  # a membership card's track 2: PAN, expiry, nothing more


@pytest.mark.parametrize(
    "data, card_no, expires, name, tracks",
    [
        (TRACK1, PAN, "2512", "ZHANG/SAN", (1,)),
        (TRACK2, PAN, "2512", None, (2,)),
        (SHORT2, "1680860097157114", "2612", None, (2,)),
        (TRACK1 + TRACK2, PAN, "2512", "ZHANG/SAN", (1, 2)),
        (TRACK1.encode() + TRACK2.encode(), PAN, "2512", "ZHANG/SAN", (1, 2)),
        (b"\x02" + TRACK2.encode() + b"\x03\x5a", PAN, "2512", None, (2,)),  # STX, ETX, LRC
        (b"\x02" + (TRACK1 + TRACK2).encode() + b"\x03", PAN, "2512", "ZHANG/SAN", (1, 2)),
        (TRACK2 + "\x31", PAN, "2512", None, (2,)),  # an LRC byte right after the end sentinel
        (TRACK1 + "\x41" + TRACK2 + "\x31", PAN, "2512", "ZHANG/SAN", (1, 2)),
        (TRACK2 + "\r\n", PAN, "2512", None, (2,)),
        ("\r\n" + TRACK1 + TRACK2 + "\r", PAN, "2512", "ZHANG/SAN", (1, 2)),
        (f"%B{PAN}^ zhang san  ^2512?", PAN, "2512", "zhang san", (1,)),
        (f"%B{PAN}^^2512?", PAN, "2512", None, (1,)),
        ("%E?" + TRACK2, PAN, "2512", None, (2,)),  # the reader could not read track 1
        (TRACK1 + TRACK2 + ";0112345?", PAN, "2512", "ZHANG/SAN", (1, 2)),  # track 3 read past
    ],
)
def test_parse_swipe_reads_card_number_and_expiry(data, card_no, expires, name, tracks):
    assert parse_swipe(data) == Swipe(card_no=card_no, expires=expires, name=name, tracks=tracks)


@pytest.mark.parametrize(
    "data, reason",
    [
        ("", "garbage"),
        ("\r\n", "garbage"),
        ("hello world", "garbage"),
        (b"\xff\xfe\x00\x81", "garbage"),
        (";62220\xff21234567=2512?", "garbage"),
        ("xx" + TRACK2, "garbage"),
        (TRACK2 + "junk", "garbage"),
        (f";{PAN}=2512", "half_swipe"),  # no end sentinel
        (f"%B{PAN}^ZHANG/SAN^2512", "half_swipe"),
        (f";{PAN}", "half_swipe"),
        (f";{PAN}=25?", "half_swipe"),  # track cut short
        (f"%B{PAN}^ZHANG?", "half_swipe"),
        (f"%B{PAN}^ZHANG/SAN^25?", "half_swipe"),
        (f";{PAN}=2512\r\n", "half_swipe"),
        (f"%{PAN}=2512?", "wrong_sentinel"),  # track 2 data after the track 1 sentinel
        (f";B{PAN}^ZHANG/SAN^2512?", "wrong_sentinel"),  # track 1 data after ;
        (f":{PAN}=2512?", "wrong_sentinel"),
        (f"{PAN}=2512?", "wrong_sentinel"),
        (f";{PAN}=2512!", "wrong_sentinel"),
        (f"%A{PAN}^ZHANG/SAN^2512?", "bad_track"),
        (f"%B{PAN}^ZHANG/SAN^25X2?", "bad_track"),
        (f";{PAN}=2512AB?", "bad_track"),
        (";1234567=2512?", "bad_pan"),  # 7 digits
        (";12345678901234567890=2512?", "bad_pan"),  # 20 digits
        ("%B1234567^ZHANG/SAN^2512?", "bad_pan"),
        ("%B12345AB90^ZHANG/SAN^2512?", "bad_pan"),
        ("%B1680860097157114^X^2612?;1680106700000018=2612?", "pan_mismatch"),
        ("%E?;E?", "read_error"),
    ],
)
def test_parse_swipe_refuses_with_a_reason(data, reason):
    with pytest.raises(SwipeError) as caught:
        parse_swipe(data)
    assert caught.value.reason == reason
    assert reason in REASONS


# ------------------------------------------------------------------ Framer


def test_framer_joins_a_swipe_split_across_reads():
    framer = Framer(gap=0.15)
    assert framer.feed(b"%B6222021234567890123^ZHA", now=1.0) == []
    assert framer.feed(b"NG/SAN^2512101?;62220212345", now=1.01) == []
    assert framer.feed(b"67890123=2512?", now=1.02) == []
    assert framer.poll(now=1.1) == []  # not quiet long enough
    [frame] = framer.poll(now=1.2)
    assert frame.reason is None
    assert parse_swipe(frame.data).card_no == PAN


def test_framer_ends_a_swipe_at_cr_lf_without_waiting():
    framer = Framer()
    [frame] = framer.feed(TRACK2[:10].encode(), now=1.0) + framer.feed(
        TRACK2[10:].encode() + b"\r\n", now=1.01
    )
    assert frame.data == TRACK2.encode()


def test_framer_splits_two_swipes_in_one_read():
    framer = Framer()
    frames = framer.feed((TRACK1 + TRACK2 + "\r\n" + SHORT2 + "\r\n").encode(), now=1.0)
    assert [parse_swipe(f.data).card_no for f in frames] == [PAN, "1680860097157114"]
    # Framed by the reader and without CR/LF: STX/ETX/LRC separate them.
    framed = b"\x02" + TRACK2.encode() + b"\x03\x40" + b"\x02" + SHORT2.encode() + b"\x03\x41"
    frames = framer.feed(framed, now=2.0)
    assert [parse_swipe(f.data).card_no for f in frames] == [PAN, "1680860097157114"]
    # Track 1 always comes first: a % after a complete swipe starts the next one.
    frames = framer.feed((TRACK1 + TRACK2 + TRACK1).encode(), now=3.0) + framer.poll(now=3.5)
    assert [f.reason for f in frames] == [None, None]
    assert [parse_swipe(f.data).tracks for f in frames] == [(1, 2), (1,)]


def test_framer_reports_junk_between_swipes_as_garbage():
    framer = Framer()
    frames = framer.feed(f"{TRACK2}\r\nNOISE\r\n{SHORT2}\r\n".encode(), now=1.0)
    assert [(f.data, f.reason) for f in frames] == [
        (TRACK2.encode(), None),
        (b"NOISE", "garbage"),
        (SHORT2.encode(), None),
    ]
    # Without terminators: the junk is not glued onto either swipe.
    frames = framer.feed(f"{TRACK2}\x31junk{SHORT2}".encode(), now=2.0) + framer.poll(now=3.0)
    assert [(f.data, f.reason) for f in frames] == [
        ((TRACK2 + "\x31").encode(), None),
        (b"junk", "garbage"),
        (SHORT2.encode(), None),
    ]
    # Junk alone, then quiet.
    assert framer.feed(b"\x00\xff\x13", now=4.0) == []
    assert framer.poll(now=4.5) == [Frame(b"\x00\xff\x13", "garbage")]


def test_framer_hands_on_a_half_swipe_after_a_stall():
    framer = Framer(gap=0.15, stall=1.0)
    assert framer.feed(b";62220212345", now=1.0) == []
    assert framer.poll(now=1.5) == []  # no end sentinel yet: wait longer than the gap
    [frame] = framer.poll(now=2.1)
    with pytest.raises(SwipeError) as caught:
        parse_swipe(frame.data)
    assert caught.value.reason == "half_swipe"


def test_framer_drops_runaway_input():
    framer = Framer(limit=64)
    frames = framer.feed(b"%B" + b"7" * 100, now=1.0)
    assert [f.reason for f in frames] == ["too_long"]
    # The rest of that burst is skipped, up to its end; the next swipe reads normally.
    assert framer.feed(b"7" * 100 + b"?\r\n", now=1.01) == []
    [frame] = framer.feed(SHORT2.encode() + b"\r\n", now=1.02)
    assert frame == Frame(SHORT2.encode())


# ------------------------------------------------------------------ ReaderThread on a pty


class Pty:
    """A real pseudo-terminal: the reader opens the slave side, the test writes to the master."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes | str) -> None:
        os.write(self.master, data.encode("latin-1") if isinstance(data, str) else data)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def point(link: str, target: str) -> None:
    """Re-point the symlink the reader is configured with, atomically (a replug)."""
    tmp = link + ".new"
    os.symlink(target, tmp)
    os.replace(tmp, link)


class Events:
    """What the thread reported, each kind in its own queue."""

    def __init__(self) -> None:
        self.swipes: queue.Queue[Swipe] = queue.Queue()
        self.errors: queue.Queue[str] = queue.Queue()
        self.statuses: queue.Queue[str] = queue.Queue()

    def status(self, wanted: str, timeout: float = 2.0) -> None:
        while True:
            if self.statuses.get(timeout=timeout) == wanted:
                return

    def swipe(self, timeout: float = 2.0) -> Swipe:
        return self.swipes.get(timeout=timeout)

    def error(self, timeout: float = 2.0) -> str:
        return self.errors.get(timeout=timeout)


@pytest.fixture
def reader(tmp_path):
    """Start a ReaderThread on a symlink path; the test decides what the link points at."""
    threads: list[ReaderThread] = []

    def start(link: str, **options) -> tuple[ReaderThread, Events]:
        events = Events()
        thread = ReaderThread(
            link,
            9600,
            on_swipe=options.pop("on_swipe", events.swipes.put),
            on_error=events.errors.put,
            on_status=events.statuses.put,
            backoff=0.02,
            max_backoff=0.1,
            stall=0.3,
            **options,
        )
        thread.start()
        threads.append(thread)
        return thread, events

    yield start
    for thread in threads:
        thread.stop()
        assert not thread.is_alive()


def test_reader_thread_reads_swipes_from_a_pty(tmp_path, reader):
    pty = Pty()
    link = str(tmp_path / "msr")
    point(link, pty.path)
    thread, events = reader(link)
    events.status("connected")
    assert thread.status == "connected"

    pty.write(TRACK1 + TRACK2 + "\r\n")
    assert events.swipe() == Swipe(PAN, "2512", "ZHANG/SAN", (1, 2))
    pty.write(SHORT2)  # no terminator: the quiet gap ends it
    assert events.swipe().card_no == "1680860097157114"
    pty.write(b"\x02" + TRACK2.encode() + b"\x03\x5a")  # framed by the reader
    assert events.swipe().card_no == PAN
    pty.write(SHORT2[:9])  # split across writes
    pty.write(SHORT2[9:] + "\r\n")
    assert events.swipe().card_no == "1680860097157114"

    pty.write(b"\x00\x13\xfe\xfenoise\r\n")
    assert events.error() == "garbage"
    pty.write(";16808600971\r\n")  # a half swipe, ended by the reader's CR
    assert events.error() == "half_swipe"
    pty.write(";1680860097")  # a half swipe and then nothing
    assert events.error() == "half_swipe"
    pty.write(";1680860097157114=2612!\r\n")
    assert events.error() == "wrong_sentinel"
    pty.write("%B1234567^X^2612?\r\n")
    assert events.error() == "bad_pan"

    pty.write(SHORT2 + "\r\n")  # still reading after all that
    assert events.swipe().card_no == "1680860097157114"
    assert events.swipes.empty() and events.errors.empty()
    pty.unplug()


def test_reader_thread_survives_an_unplug_and_a_replug(tmp_path, reader):
    pty = Pty()
    link = str(tmp_path / "msr")
    point(link, pty.path)
    thread, events = reader(link)
    events.status("connected")
    pty.write(SHORT2 + "\r\n")
    assert events.swipe().card_no == "1680860097157114"

    pty.unplug()
    events.status("disconnected")
    assert thread.status == "disconnected"
    assert thread.is_alive()

    replugged = Pty()
    point(link, replugged.path)
    events.status("connected")
    replugged.write(TRACK2 + "\r\n")
    assert events.swipe().card_no == PAN
    replugged.unplug()


def test_reader_thread_waits_for_a_missing_device(tmp_path, reader):
    link = str(tmp_path / "msr")  # nothing there yet
    thread, events = reader(link)
    events.status("disconnected")
    assert thread.status == "disconnected"
    # It keeps retrying: give it a few failed opens before the device appears.
    threading.Event().wait(0.2)
    assert thread.is_alive()

    pty = Pty()
    point(link, pty.path)
    events.status("connected")
    pty.write(SHORT2 + "\r\n")
    assert events.swipe().card_no == "1680860097157114"
    pty.unplug()


def test_reader_thread_reopen_points_it_at_another_port(reader):
    first, second = Pty(), Pty()
    thread, events = reader(first.path)
    events.status("connected")
    thread.reopen(second.path)
    events.status("connected")  # reported again after the switch
    second.write(SHORT2 + "\r\n")
    assert events.swipe().card_no == "1680860097157114"
    first.unplug()
    second.unplug()


def test_reader_thread_survives_a_failing_callback(tmp_path, reader):
    got: queue.Queue[Swipe] = queue.Queue()
    calls = []

    def on_swipe(swipe):
        calls.append(swipe)
        if len(calls) == 1:
            raise RuntimeError("the screen went away")
        got.put(swipe)

    pty = Pty()
    thread, events = reader(pty.path, on_swipe=on_swipe)
    events.status("connected")
    pty.write(TRACK2 + "\r\n")
    pty.write(SHORT2 + "\r\n")
    assert got.get(timeout=2).card_no == "1680860097157114"
    assert thread.is_alive()
    pty.unplug()


def test_reader_thread_stops_promptly(tmp_path):
    pty = Pty()
    thread = ReaderThread(pty.path, 9600, on_swipe=print, on_error=print)
    thread.start()
    thread.stop()
    assert not thread.is_alive()
    assert thread.status == "disconnected"
    pty.unplug()


def test_line_noise_is_every_bad_read_to_the_screen_but_not_a_warning_each(reader, caplog):
    caplog.set_level(logging.DEBUG, logger="kakatong.reader")
    pty = Pty()
    thread, events = reader(pty.path)
    events.status("connected")
    pty.write(b"\xf8\x80\x1e\xe6\x98\x9e\x00\xfe\r\n" * 30)  # a reader on the wrong baud rate
    assert [events.error() for _ in range(30)] == ["garbage"] * 30
    dropped = [r for r in caplog.records if "swipe dropped" in r.getMessage()]
    assert len(dropped) == 30
    warned = [r.getMessage() for r in dropped if r.levelno == logging.WARNING]
    assert len(warned) == 1, warned
    pty.write(b"junk\r\n")
    assert events.error() == "garbage"
    time.sleep(1.05)
    pty.write(b"junk\r\n")
    assert events.error() == "garbage"
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned[-1].endswith("; 30 more since the last"), warned
    pty.unplug()


def test_a_refused_swipe_is_logged_without_its_card_number_or_name():
    with pytest.raises(SwipeError) as refused:
        parse_swipe("%B1680860097157114^LI/SI^4912?;1680860097157115=4912?")
    assert "1680860097157114" not in str(refused.value) and "LI/SI" not in str(refused.value)


# ------------------------------------------------------------------ the swipes hub


def test_bad_reads_in_a_row_are_one_event_counted_for_each_cursor():
    hub = Hub(keep=5)
    first = hub.retry("T1")
    hub.set_printer("T1", {"printer": "ok"})  # other news between bad reads breaks no run
    for _ in range(48):
        hub.retry("T2")  # another terminal's noise: never in T1's run or count
        last = hub.retry("T1")
    swipe = hub.swipe("T1", "1680860097157114", "4912")
    kinds = [(e.kind, e.data.get("count")) for e in hub.after("T1", 0)]
    assert kinds == [("printer", None), ("retry", 49), ("swipe", None)]  # 49 reads, kept: 3
    assert [e.data for e in hub.after("T1", first.id) if e.kind == "retry"] == [{"count": 48}]
    assert [e.id for e in hub.after("T1", last.id - 1)] == [last.id, swipe.id]
    assert hub.after("T1", last.id - 1)[0].data == {"count": 1}
    # After the swipe, a new run.
    again = hub.retry("T1")
    assert [(e.id, e.data) for e in hub.after("T1", swipe.id)] == [(again.id, {"count": 1})]
    assert [e.data["count"] for e in hub.after("T2", 0)] == [48]


def test_a_run_of_bad_reads_longer_than_it_names_is_still_counted():
    hub = Hub()
    for _ in range(READS + 5):
        hub.retry("T1")
    [event] = hub.after("T1", 0)
    assert event.data == {"count": READS + 5} and len(event.reads) == READS


def test_a_bad_read_long_after_the_last_starts_a_new_run():
    hub = Hub(fresh=0.05)
    hub.retry("T1")
    time.sleep(0.1)
    new = hub.retry("T1")
    assert [(e.id, e.data) for e in hub.after("T1", 0)] == [(new.id, {"count": 1})]
