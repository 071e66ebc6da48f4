"""The magnetic-stripe card reader (刷卡器): stripe parsing, framing and the port thread.

Three layers, each usable alone:

- `parse_swipe` turns one swipe's bytes into a `Swipe` (card number, expiry, name) or raises
  `SwipeError` with a stable reason code. It accepts what the terminal page's keyboard-wedge
  parser (static/terminal/keys.js, `parseStripe`) accepts: track 1 `%B<PAN>^<NAME>^<YYMM>…?` and/or
  track 2 `;<PAN>=<YYMM>…?`, a PAN of 8 to 19 digits, the two PANs equal when both are read.
- `Framer` cuts the raw byte stream of a serial port into swipes.
- `ReaderThread` owns the port: opens it with pyserial, reopens it with back-off when it is
  absent or unplugged, and hands swipes and dropped reads to callbacks.

Reason codes (`SwipeError.reason` and the `on_error` argument) — each means 请重新刷卡 on screen:

    garbage         bytes that are not stripe data (line noise, junk between swipes)
    half_swipe      a start sentinel without its end sentinel, or a track cut short
    wrong_sentinel  track data behind the wrong start sentinel, or none, or a wrong end sentinel
    bad_track       a track whose fields are malformed (letters where digits belong)
    bad_pan         a card number that is not 8 to 19 digits
    pan_mismatch    track 1 and track 2 name different card numbers
    read_error      the reader itself reports every track unreadable (`%E?`, `;E?`)
    too_long        more bytes than any swipe holds arrived without a terminator

No Flask here: the app wires the callbacks to its screens.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

log = logging.getLogger("kakatong.reader")

STX = "\x02"
ETX = "\x03"
START_SENTINELS = {"%": 1, ";": 2, "+": 3}
END_SENTINEL = "?"
REASONS = (
    "garbage",
    "half_swipe",
    "wrong_sentinel",
    "bad_track",
    "bad_pan",
    "pan_mismatch",
    "read_error",
    "too_long",
)

DROP_LOG_SECONDS = 1.0  # at most one warning a second for dropped swipes

_PAN = re.compile(r"[0-9]{8,19}")
# What a track looks like whatever sentinel it got: used to tell a wrong sentinel from noise.
_TRACK_SHAPE = re.compile(r"B[0-9]{1,19}\^|[0-9]{4,19}=[0-9]")


class SwipeError(ValueError):
    """A read that is not a usable swipe; `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Swipe:
    card_no: str
    expires: str | None  # "YYMM" as on the stripe
    name: str | None  # track 1 only
    tracks: tuple[int, ...]  # the tracks read, e.g. (1, 2)


# ------------------------------------------------------------------ parsing


def parse_swipe(data: bytes | str) -> Swipe:
    """One swipe's data -> Swipe, or SwipeError(reason).

    Framing added by the reader is dropped first: STX in front, ETX and what follows it (the
    LRC), a single LRC byte right after an end sentinel, CR/LF and spaces at either end.
    """
    text = data.decode("latin-1") if isinstance(data, bytes | bytearray) else data
    text = _unframe(text)
    if not text:
        raise SwipeError("garbage", "empty")
    if END_SENTINEL not in text and not any(s in text for s in START_SENTINELS):
        raise SwipeError("garbage", _show(text))

    found: list[tuple[int, str, str | None, str | None]] = []  # (track, pan, expires, name)
    errors: list[SwipeError] = []
    for sentinel, body, ended in _tracks(text):
        try:
            track = _parse_track(sentinel, body, ended)
        except SwipeError as error:
            errors.append(error)
            continue
        if track is not None:
            found.append(track)

    main = [t for t in found if t[0] in (1, 2)]
    if not main:
        if errors:
            raise errors[0]
        raise SwipeError("read_error", _show(text))
    pans = {t[1] for t in main}
    if len(pans) > 1:
        raise SwipeError("pan_mismatch", " != ".join(_show(p) for p in sorted(pans)))
    # Track 2 first, like the terminal page: it is the track banks and readers always carry.
    best = next((t for t in main if t[0] == 2), main[0])
    name = next((t[3] for t in main if t[0] == 1), None)
    return Swipe(
        card_no=best[1],
        expires=best[2],
        name=name,
        tracks=tuple(sorted({t[0] for t in found})),
    )


def _unframe(text: str) -> str:
    text = text.strip(" \r\n\t")
    text = text.lstrip(STX)
    if ETX in text:
        text = text[: text.index(ETX)]  # the LRC after ETX is the reader's, not ours to check
    return text.strip(" \r\n\t")


def _tracks(text: str):
    """Yield (sentinel, body, ended) for each track; SwipeError for bytes outside tracks."""
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char not in START_SENTINELS:
            segment = re.split(r"[?%;+]", text[pos:], maxsplit=1)[0]
            if _TRACK_SHAPE.search(segment):
                raise SwipeError("wrong_sentinel", _show(text[pos:]))
            raise SwipeError("garbage", _show(text[pos:]))
        end = text.find(END_SENTINEL, pos + 1)
        cut = min(
            (i for i in (text.find(s, pos + 1) for s in START_SENTINELS) if i != -1),
            default=-1,
        )
        if end == -1 or (cut != -1 and cut < end):
            # No end sentinel before the text (or the next track) begins: cut short.
            stop = len(text) if cut == -1 else cut
            yield char, text[pos + 1 : stop], False
            pos = stop
            continue
        yield char, text[pos + 1 : end], True
        pos = end + 1
        # A reader may send the track's LRC after its end sentinel: one byte, then the next
        # track or the end of the swipe.
        if pos < len(text) and text[pos] not in START_SENTINELS:
            after = text[pos + 1 : pos + 2]
            if after == "" or after in START_SENTINELS:
                pos += 1


def _parse_track(
    sentinel: str, body: str, ended: bool
) -> tuple[int, str, str | None, str | None] | None:
    number = START_SENTINELS[sentinel]
    if body == "E":  # the reader's own "could not read this track"
        raise SwipeError("read_error", f"track {number}")
    if number == 3:
        if not ended:
            raise SwipeError("half_swipe", f"track 3 {_show(body)}")
        return None  # track 3 is read past, never used
    if any(not " " <= c <= "~" for c in body):
        raise SwipeError("garbage", _show(body))
    if number == 1:
        return _track1(body, ended)
    return _track2(body, ended)


def _track1(body: str, ended: bool) -> tuple[int, str, str | None, str | None]:
    if body[:1].isdigit() and "=" in body:
        raise SwipeError("wrong_sentinel", f"track 2 data after %: {_show(body)}")
    if not ended:
        raise SwipeError("half_swipe", f"track 1 without end sentinel: {_show(body)}")
    if not body.startswith("B"):
        raise SwipeError("bad_track", f"track 1 format code: {_show(body)}")
    fields = body[1:].split("^", 2)
    if len(fields) < 3:
        if fields[0].isdigit() or fields[0] == "":
            raise SwipeError("half_swipe", f"track 1 cut short: {_show(body)}")
        raise SwipeError("bad_pan", _show(fields[0]))
    pan, name, rest = fields
    if not _PAN.fullmatch(pan):
        raise SwipeError("bad_pan", _show(pan))
    expires = rest[:4]
    if len(expires) < 4 and expires.isdigit():
        raise SwipeError("half_swipe", f"track 1 cut short: {_show(body)}")
    if not (len(expires) == 4 and expires.isdigit()):
        raise SwipeError("bad_track", f"track 1 expiry: {_show(rest)}")
    return 1, pan, expires, name.strip() or None


def _track2(body: str, ended: bool) -> tuple[int, str, str | None, str | None]:
    if body[:1].isalpha() or "^" in body:
        raise SwipeError("wrong_sentinel", f"track 1 data after ;: {_show(body)}")
    if not ended:
        if body and body[-1] not in "0123456789=":
            raise SwipeError("wrong_sentinel", f"track 2 ends with {body[-1]!r}")
        raise SwipeError("half_swipe", f"track 2 without end sentinel: {_show(body)}")
    pan, separator, rest = body.partition("=")
    if not separator:
        if pan.isdigit() or pan == "":
            raise SwipeError("half_swipe", f"track 2 cut short: {_show(body)}")
        raise SwipeError("bad_pan", _show(pan))
    if not _PAN.fullmatch(pan):
        raise SwipeError("bad_pan", _show(pan))
    if rest and not rest.isdigit():
        raise SwipeError("bad_track", f"track 2 data: {_show(rest)}")
    if len(rest) < 4:
        raise SwipeError("half_swipe", f"track 2 cut short: {_show(body)}")
    return 2, pan, rest[:4], None


def _show(text: str, limit: int = 40) -> str:
    """A short printable excerpt of the data, for a log line. A card number does not belong
    in a log: every digit of a run longer than four but its last four is masked, and so is
    a track 1 name (between "^" and "^")."""
    masked = re.sub(r"[0-9]{5,}", lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], text)
    masked = re.sub(r"\^[^^]*\^", "^***^", masked)
    shown = masked.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= limit else shown[:limit] + "…"


# ------------------------------------------------------------------ framing


@dataclass(frozen=True)
class Frame:
    """One thing the Framer cut out: a swipe's bytes (reason None) or dropped bytes."""

    data: bytes
    reason: str | None = None


_CRLF = b"\r\n"
_STARTS = b"%;+"
_STX = 0x02
_ETX = 0x03


class Framer:
    """Cuts a serial byte stream into swipes.

    A swipe starts at STX or a start sentinel and ends at CR/LF, at ETX (plus one LRC byte), at
    STX or `%` once an end sentinel has been seen, or after `gap` seconds of quiet once an end
    sentinel has been seen. Data that started but never reached an end sentinel is handed on
    after `stall` seconds of quiet (parse_swipe then calls it a half swipe). Bytes outside any
    swipe come out as a `garbage` frame, never glued onto the next swipe; more than `limit`
    bytes without an end come out as `too_long` and the rest of that burst is skipped.

    Times are passed in (`now`, seconds, monotonic) so the framer can be tested without sleeps.
    """

    def __init__(self, gap: float = 0.15, stall: float = 1.0, limit: int = 512) -> None:
        self.gap = gap
        self.stall = stall
        self.limit = limit
        self._buffer = bytearray()
        self._in_swipe = False  # a STX or start sentinel has been seen
        self._in_track = False  # between a start sentinel and its end sentinel
        self._ended = False  # an end sentinel has been seen in this swipe
        self._lrc = False  # the one byte allowed after an end sentinel has been taken
        self._etx = False  # ETX seen: the next byte may be the LRC
        self._skipping = False  # after too_long, until a terminator or quiet
        self._last = 0.0

    def feed(self, data: bytes, now: float | None = None) -> list[Frame]:
        now = time.monotonic() if now is None else now
        frames = self.poll(now)
        if data:
            self._last = now
        for byte in data:
            frames += self._byte(byte)
            if len(self._buffer) > self.limit:
                log.warning("reader: %d bytes without an end, dropped", len(self._buffer))
                frames.append(Frame(bytes(self._buffer), "too_long"))
                self._reset()
                self._skipping = True
        return frames

    def _byte(self, byte: int) -> list[Frame]:
        if self._skipping:
            self._skipping = byte not in _CRLF
            return []
        frames: list[Frame] = []
        if self._etx:
            self._etx = False
            if byte not in _CRLF and byte not in _STARTS and byte != _STX:
                self._buffer.append(byte)  # the LRC that follows ETX
                return self._cut()
            frames += self._cut()
        if byte in _CRLF:
            return frames + self._cut()
        if (
            byte == _STX
            or (byte in _STARTS and not self._in_swipe)
            or (byte == ord("%") and self._ended and not self._in_track)
        ):
            # A new swipe (track 1 always comes first): what came before is complete.
            frames += self._cut()
            self._in_swipe = True
            self._in_track = byte != _STX
        elif not self._in_swipe:
            pass  # junk: reported as garbage when the next swipe starts or all is quiet
        elif self._in_track:
            if byte == ord("?"):
                self._in_track = False
                self._ended = True
                self._lrc = False
            elif byte == _ETX:
                self._etx = True
        elif byte in _STARTS:
            self._in_track = True
        elif byte == _ETX:
            self._etx = True
        elif self._ended and not self._lrc:
            self._lrc = True  # one byte after the end sentinel: the track's LRC
        elif self._ended:
            # Junk after a complete swipe: the swipe stands alone, the junk is reported.
            frames += self._cut()
        self._buffer.append(byte)
        return frames

    def poll(self, now: float | None = None) -> list[Frame]:
        """Frames that quiet time has completed; call it when a read returns nothing."""
        now = time.monotonic() if now is None else now
        quiet = now - self._last
        if self._skipping and quiet >= self.gap:
            self._skipping = False
        if not self._buffer:
            return []
        if (not self._in_swipe or (self._ended and not self._in_track)) and quiet >= self.gap:
            return self._cut()
        if quiet >= self.stall:
            return self._cut()
        return []

    def flush(self) -> list[Frame]:
        """Whatever is buffered, as it is (the port has gone away)."""
        return self._cut()

    def _cut(self) -> list[Frame]:
        data = bytes(self._buffer)
        in_swipe = self._in_swipe
        self._reset()
        if not data.strip(b" \r\n\t\x00"):
            return []
        return [Frame(data)] if in_swipe else [Frame(data, "garbage")]

    def _reset(self) -> None:
        self._buffer.clear()
        self._in_swipe = self._in_track = self._ended = self._lrc = self._etx = False


# ------------------------------------------------------------------ the port thread


class ReaderThread(threading.Thread):
    """Reads the reader's port for the life of the app; never raises out of `run`.

    `url` is a device path (/dev/ttyUSB0, a stable /dev/serial/by-id/… symlink) or any pyserial
    URL. While the port cannot be opened, or after it goes away (unplugged), the thread retries
    with back-off from `backoff` doubling to `max_backoff` seconds; status goes "disconnected",
    then "connected" again once it opens. `reopen(url)` points the thread at another port.
    Callbacks run on this thread; an exception in one is logged and swallowed.
    """

    def __init__(
        self,
        url: str,
        baud: int,
        on_swipe: Callable[[Swipe], None],
        on_error: Callable[[str], None],
        on_status: Callable[[str], None] | None = None,
        *,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        gap: float = 0.15,
        stall: float = 1.0,
        limit: int = 512,
    ) -> None:
        super().__init__(name="kakatong-reader", daemon=True)
        self.url = url
        self.baud = baud
        self.on_swipe = on_swipe
        self.on_error = on_error
        self.on_status = on_status
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._framer_args = {"gap": gap, "stall": stall, "limit": limit}
        self._status = "disconnected"
        self._reported = False  # the first status is reported even if it is "disconnected"
        self._stop_event = threading.Event()
        self._reopen = threading.Event()
        self._warned = -DROP_LOG_SECONDS  # when a dropped swipe was last a warning
        self._unsaid = 0  # dropped swipes since, logged at DEBUG only

    @property
    def status(self) -> str:
        """Either "connected" (the port is open) or "disconnected"."""
        return self._status

    def stop(self, timeout: float = 1.0) -> None:
        self._stop_event.set()
        self._reopen.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def reopen(self, url: str | None = None) -> None:
        """Close the port and open `url` (or the same one again) at once."""
        if url is not None:
            self.url = url
        self._reopen.set()

    def run(self) -> None:
        delay = self.backoff
        while not self._stop_event.is_set():
            self._reopen.clear()
            url = self.url
            try:
                port = serial.serial_for_url(url, baudrate=self.baud, timeout=0.1)
            except (serial.SerialException, OSError, ValueError) as error:
                # Said once per outage at INFO: an absent reader would otherwise fill the log.
                level = logging.INFO if delay == self.backoff else logging.DEBUG
                log.log(level, "reader: cannot open %s (%s); retry in %.2fs", url, error, delay)
                self._set_status("disconnected")
                self._reopen.wait(delay)
                if self._stop_event.is_set():
                    break
                delay = min(delay * 2, self.max_backoff)
                continue
            delay = self.backoff
            log.info("reader: opened %s", url)
            self._set_status("connected")
            try:
                self._read(port)
            finally:
                try:
                    port.close()
                except Exception:  # closing a port that has gone away may fail too
                    log.debug("reader: close failed", exc_info=True)
            if not self._stop_event.is_set():
                self._set_status("disconnected")
                self._stop_event.wait(self.backoff)
        self._set_status("disconnected")

    def _read(self, port: serial.SerialBase) -> None:
        framer = Framer(**self._framer_args)
        while not (self._stop_event.is_set() or self._reopen.is_set()):
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as error:
                log.warning("reader: %s went away (%s)", self.url, error)
                self._handle(framer.flush())
                return
            frames = framer.feed(data) if data else framer.poll()
            self._handle(frames)

    def _handle(self, frames: list[Frame]) -> None:
        for frame in frames:
            if frame.reason is not None:
                self._drop(frame.reason, frame.data)
                continue
            try:
                swipe = parse_swipe(frame.data)
            except SwipeError as error:
                self._drop(error.reason, frame.data, error.detail)
                continue
            log.info("reader: swipe, tracks %s", swipe.tracks)
            self._call(self.on_swipe, swipe)

    def _drop(self, reason: str, data: bytes, detail: str = "") -> None:
        # A burst of line noise (a reader on the wrong baud rate) is one warning a second,
        # with the number of the others, not a line each.
        now = time.monotonic()
        if now - self._warned >= DROP_LOG_SECONDS:
            more = f"; {self._unsaid} more since the last" if self._unsaid else ""
            log.warning(
                "reader: swipe dropped: %s %s (%d bytes)%s", reason, detail, len(data), more
            )
            self._warned, self._unsaid = now, 0
        else:
            self._unsaid += 1
            log.debug("reader: swipe dropped: %s %s (%d bytes)", reason, detail, len(data))
        self._call(self.on_error, reason)

    def _set_status(self, status: str) -> None:
        if status == self._status and self._reported:
            return
        self._status = status
        self._reported = True
        log.info("reader: %s", status)
        if self.on_status is not None:
            self._call(self.on_status, status)

    def _call(self, callback: Callable, argument: object) -> None:
        try:
            callback(argument)
        except Exception:
            log.exception("reader: callback %r failed", callback)
