"""The receipt printer (小票打印机): the slip's text, its bytes, the device, and the print queue.

- `receipt_lines` lays out one copy of a `receipts.Receipt` in the columns of 58 mm or 80 mm
  paper; `document_lines` lays out the other slips (settlement, journal, test page).
- `encode` is the one function every printed character goes through. python-escpos's own text
  path is not used for Chinese: it encodes a line as GB18030 only when the line holds a hanzi,
  turns full-width punctuation in a line without one into "?", and sends "¥" as a 4-byte
  GB18030 sequence that a GBK printer cannot print.
- `escpos_bytes` wraps the encoded lines in the ESC/POS commands (init, Chinese mode, title
  style, feed, cut); `image_bytes` sends them as a picture instead, for printers without
  Chinese fonts; `Settings.slip` picks one as a terminal's printer settings say, and
  `receipt_slips` gives every copy of a receipt.
- `open_printer` turns a printer URL (checked by `terminals.parse_printer_url`) into a
  python-escpos printer.
- `PrintQueue` prints in a background thread, so a transaction never waits for or fails
  because of the printer; each job's outcome is kept, and a failed job can be retried.
- `failure_reason` names why a print failed with a stable code (`FAILURES`: what the cashier
  reads, in Chinese); the device's own words stay in the job's `error`, for the log and the
  back office.
"""

from __future__ import annotations

import copy
import errno
import fcntl
import itertools
import logging
import os
import queue
import select
import socket
import struct
import termios
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ..domain import receipts
from ..domain.terminals import ENCODINGS, PAPER_COLUMNS, is_device, parse_printer_url

log = logging.getLogger(__name__)

COPY_CODES = {"商户存根": "MERCHANT COPY", "持卡人存根": "CARDHOLDER COPY"}
DEFAULT_TITLE = "签购单"
SIGNATURE_NOTE = "本人确认以上交易，同意将其记入本卡账户"

# ---------------------------------------------------------------------------------------------
# Encoding

# Substitutions tried, in order, for a character the printer cannot take as it is:
#   1. this table (typographic marks GBK lacks, and "¥", which GB18030 has only as 4 bytes);
#   2. its NFKC form (compatibility characters: "½" -> "1⁄2" -> "1/2", "ﬁ" -> "fi");
#   3. its NFKD form without combining marks (accented letters GB lacks: "ő" -> "o").
# Only when all three fail does it become "?" — logged, never silent.
# Control characters (C0, DEL, C1) are never sent: an ESC or GS inside a merchant name or an
# operator name would be taken by the printer as a command. They become "?" too.
_GB_SUBSTITUTES = {
    "¥": "￥",  # U+FFE5: A3 A4 in GBK and GB18030, printable by every Chinese printer
    "•": "·",
    "€": "EUR",
    "⁄": "/",
}
REPLACEMENT = "?"


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


def _is_hanzi(char: str) -> bool:
    return "CJK UNIFIED IDEOGRAPH" in unicodedata.name(char, "")


def _fits(text: str, encoding: str) -> bytes | None:
    """The bytes of text if every character encodes as the printer can print it, else None.

    GB printers print one- and two-byte GB codes; a four-byte GB18030 code is printable only
    for a hanzi (the GB18030 font's extension A), not for a symbol such as "½" or "¥".
    """
    out = bytearray()
    for char in text:
        if _is_control(char):
            return None
        try:
            encoded = char.encode(encoding)
        except UnicodeEncodeError:
            return None
        if encoding != "utf-8" and len(encoded) > 2 and not _is_hanzi(char):
            return None
        out += encoded
    return bytes(out)


def _substitute(char: str, encoding: str) -> bytes:
    table = _GB_SUBSTITUTES if encoding != "utf-8" else {}
    candidates = [table[char]] if char in table else []
    nfkc = unicodedata.normalize("NFKC", char)
    candidates.append(nfkc)
    candidates.append("".join(_GB_SUBSTITUTES.get(c, c) for c in nfkc))
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    )
    candidates.append(stripped)
    for candidate in candidates:
        if candidate and candidate != char:
            encoded = _fits(candidate, encoding)
            if encoded is not None:
                return encoded
    log.warning("printer: U+%04X cannot be printed in %s, sent as ?", ord(char), encoding)
    return REPLACEMENT.encode("ascii")


def encode(text: str, encoding: str = "gb18030") -> bytes:
    """One line of slip text as the bytes the printer prints: gb18030 (default), gbk or utf-8.

    Every character is encoded on its own, strictly; one the printer cannot print goes through
    the substitutions above. In gb18030 and gbk "¥" is sent as the full-width "￥" (A3 A4).
    """
    encoding = _codec(encoding)
    out = bytearray()
    for char in text:
        encoded = _fits(char, encoding)
        out += encoded if encoded is not None else _substitute(char, encoding)
    return bytes(out)


def _codec(encoding: str) -> str:
    name = encoding.lower().replace("_", "-")
    name = {"utf8": "utf-8", "gb-18030": "gb18030", "cp936": "gbk"}.get(name, name)
    if name not in ENCODINGS:
        raise ValueError(f"printer encoding {encoding!r}: use one of {', '.join(ENCODINGS)}")
    return name


# ---------------------------------------------------------------------------------------------
# Layout


def columns(text: str) -> int:
    """Columns the text takes on the printer: 2 for a wide, full-width or ambiguous character.

    A GB printer draws every two-byte code full width, and the ambiguous ones ("·", "—", "×")
    are two-byte codes there; "¥" is printed as "￥". Combining marks take none.
    """
    total = 0
    for char in text:
        char = "￥" if char == "¥" else char
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F", "A") else 1
    return total


# Where Chinese text breaks best: after these (a comma, a full stop, a closing bracket), and
# before an opening bracket. A line never starts with the first kind nor ends with the second.
_CLOSING = set("，。、；：！？）》」』】〕”’,.;:!?)]}%")
_OPENING = set("（《「『【〔“‘([{")
_STRONG = set("，。、；：！？）》」』】〕”")  # Chinese: where a phrase ends


def _phrases(text: str) -> list[str]:
    """The text cut where a line may break best: after a space or a closing punctuation mark,
    before an opening one. Each piece keeps its trailing spaces."""
    pieces, piece = [], ""
    for i, char in enumerate(text):
        if char in _OPENING and piece.strip() and piece[-1] not in _OPENING:
            pieces.append(piece)
            piece = ""
        piece += char
        after = text[i + 1] if i + 1 < len(text) else ""
        ends = (char == " " and after != " ") or (char in _CLOSING and after not in _CLOSING)
        if ends and not (char in ".,:" and after.isdigit()):  # 1,234.56 and 10:30 stay whole
            pieces.append(piece)
            piece = ""
    if piece:
        pieces.append(piece)
    return pieces


def _units(phrase: str) -> list[str]:
    """A phrase too long for a line, cut where it can break at all: between two hanzi, or
    inside a word only where nothing else will do. A closing mark stays with what it closes,
    an opening one with what it opens."""
    units: list[str] = []
    for char in phrase:
        wide = columns(char) == 2
        if not units:
            units.append(char)
        elif char in _CLOSING or units[-1][-1] in _OPENING:
            units[-1] += char
        elif not wide and columns(units[-1][-1]) == 1 and units[-1][-1] != " ":
            units[-1] += char  # a word of letters and digits stays whole where it can
        else:
            units.append(char)
    return units


def _hard(unit: str, width: int) -> list[str]:
    parts, part = [], ""
    for char in unit:
        if part and columns(part + char) > width:
            parts.append(part)
            part = ""
        part += char
    return [*parts, part] if part else parts


def _wrap(text: str, width: int) -> list[str]:
    """The text in lines no wider than width, broken between words and, in Chinese, at
    punctuation first: 本人确认以上交易， / 同意将其记入本卡账户, never 记入本 / 卡账户 while a
    better break fits. A line is ended at its last Chinese punctuation mark rather than at a
    later space when that leaves it at least half full."""
    lines: list[str] = []
    current: list[str] = []  # the phrases of the line being filled

    def end_line(upto: int) -> None:
        lines.append("".join(current[:upto]).rstrip())
        del current[:upto]
        if current:
            current[0] = current[0].lstrip()

    for phrase in _phrases(text):
        while current and columns(("".join(current) + phrase).rstrip()) > width:
            upto, used = len(current), 0
            for n, piece in enumerate(current, 1):
                used += columns(piece)
                if piece.rstrip()[-1:] in _STRONG and 2 * used >= width:
                    upto = n
            end_line(upto)
        if not current and lines:
            phrase = phrase.lstrip()
        if columns(phrase.rstrip()) <= width:
            current.append(phrase)
            continue
        line = ""  # a phrase longer than a line: cut where it can break at all
        for unit in _units(phrase):
            if columns((line + unit).rstrip()) <= width:
                line += unit
                continue
            if line.strip():
                lines.append(line.rstrip())
            pieces = _hard(unit, width)
            lines += [piece.rstrip() for piece in pieces[:-1]]
            line = pieces[-1] if pieces else ""
        current = [line] if line else []
    if current or not lines:
        lines.append("".join(current).rstrip())
    return lines


def _centre(text: str, width: int) -> list[str]:
    return [" " * ((width - columns(line)) // 2) + line for line in _wrap(text, width)]


def _pair(label: str, value: str, width: int) -> list[str]:
    """Label left, value right; a value too long to share the label's line goes on lines of
    its own below it, broken between words, as one block flush with the right edge (each of
    its lines starting in the same column, as a value does)."""
    gap = width - columns(label) - columns(value)
    if gap >= 1:
        return [label + " " * gap + value]
    block = _wrap(value, width)
    indent = width - max(columns(part) for part in block)
    return _wrap(label, width) + [" " * indent + part for part in block]


def receipt_lines(
    receipt: receipts.Receipt, *, width_chars: int, copy_label: str | None, reprint: bool
) -> list[str]:
    """One copy of the slip as text lines no wider than width_chars; the first is the title."""
    width = width_chars
    r = receipt
    lines = _centre(r.receipt_title or DEFAULT_TITLE, width)
    if copy_label:
        code = COPY_CODES.get(copy_label)
        lines += _centre(f"{copy_label} {code}" if code else copy_label, width)
    if reprint:
        lines += _centre("重印 REPRINT", width)
    if r.voided:
        lines += _centre("此交易已撤销 VOIDED", width)
    rule = "-" * width
    lines.append(rule)

    for line in receipts.lines(r):
        value = "-" if line.value in (None, "") else line.value
        if line.money:
            sign = value[0] if value[0] in "+-" else ""
            value = sign + "¥" + value.removeprefix(sign)  # +¥88.00
        elif line.value_code:
            value = f"{value} {line.value_code}"
        lines.extend(_pair(f"{line.label} {line.label_code}", value, width))
    lines.append(rule)
    if r.signature_required:
        lines += _wrap("持卡人签名 CARDHOLDER SIGNATURE", width)
        lines += ["", "", "_" * width]
        lines += _wrap(SIGNATURE_NOTE, width)
    footer = receipts.footer(r)
    if footer:
        if r.signature_required:
            lines.append(rule)
        for line in footer:
            lines += _centre(f"{line.label}：{line.value}" if line.label else line.value, width)
    return lines


# ---------------------------------------------------------------------------------------------
# ESC/POS

ESC_INIT = b"\x1b\x40"  # ESC @
FS_CHINESE_ON = b"\x1c\x26"  # FS &
FS_CHINESE_OFF = b"\x1c\x2e"  # FS .
TITLE_ON = b"\x1b\x45\x01\x1d\x21\x01"  # ESC E 1 (bold), GS ! 1 (double height, same width)
TITLE_OFF = b"\x1d\x21\x00\x1b\x45\x00"
FEED_BEFORE_CUT = b"\x1b\x64\x04"  # ESC d 4: the cutter sits a few lines above the head
FEED_TO_TEAR = b"\x1b\x64\x06"  # no cutter: past the tear bar
CUT_PARTIAL = b"\x1d\x56\x42\x00"  # GS V 66 0


def escpos_bytes(
    lines: Iterable[str],
    *,
    encoding: str = "gb18030",
    chinese_mode: bool = True,
    cut: bool = True,
    title_lines: int = 1,
) -> bytes:
    """One slip as raw ESC/POS; the first title_lines lines in bold double height.

    Chinese mode (FS &) makes a GB printer read a byte >= 0x80 with the next as one GB code; it
    is switched on after ESC @ when chinese_mode says so (off: the printer's own default is
    left alone). For utf-8 it is always switched off (FS .), because in Chinese mode the
    printer would pair UTF-8 bytes into wrong hanzi; the printer's UTF-8 setting decodes them.
    GS ! is used for the title rather than ESC !, which leaves hanzi unstyled on most printers.
    """
    encoding = _codec(encoding)
    out = bytearray(ESC_INIT)
    if encoding == "utf-8":
        out += FS_CHINESE_OFF
    elif chinese_mode:
        out += FS_CHINESE_ON
    for n, line in enumerate(lines):
        if n < title_lines:
            out += TITLE_ON + encode(line, encoding) + b"\n" + TITLE_OFF
        else:
            out += encode(line, encoding) + b"\n"
    out += FEED_BEFORE_CUT + CUT_PARTIAL if cut else FEED_TO_TEAR
    return bytes(out)


@dataclass(frozen=True)
class Settings:
    """How a terminal's printer is reached and what it can print (its terminal parameters)."""

    url: str = "none"
    encoding: str = "gb18030"
    chinese_mode: bool = True
    paper_mm: int = 58
    image: bool = False  # no Chinese font in the printer: each slip is sent as a picture
    cut: bool = True  # the printer has a cutter

    @property
    def configured(self) -> bool:
        return (self.url or "").strip().lower() not in ("", "none")

    @property
    def columns(self) -> int:
        if self.paper_mm not in PAPER_COLUMNS:
            raise ValueError(f"paper width {self.paper_mm} mm: use 58 or 80")
        return PAPER_COLUMNS[self.paper_mm]

    def slip(self, lines: list[str], title_lines: int = 1) -> bytes:
        """One slip in this printer's terms: text in its encoding, or a picture."""
        if self.image:
            return image_bytes(lines, paper_mm=self.paper_mm, cut=self.cut, title_lines=title_lines)
        return escpos_bytes(
            lines,
            encoding=self.encoding,
            chinese_mode=self.chinese_mode,
            cut=self.cut,
            title_lines=title_lines,
        )


def receipt_slips(
    receipt: receipts.Receipt, settings: Settings, *, reprint: bool = False
) -> list[list[str]]:
    """Every copy of the receipt (one slip per label in receipt.copies), as lines for
    `Settings.slip`."""
    return [
        receipt_lines(receipt, width_chars=settings.columns, copy_label=label, reprint=reprint)
        for label in receipt.copies or (None,)
    ]


def document_lines(
    title: str,
    header: Iterable[tuple[str, object]],
    body: Iterable[object],
    *,
    width_chars: int,
    subtitle: str | None = None,
) -> list[str]:
    """A slip that is not a receipt (settlement totals, the journal, a test page).

    The title (and subtitle) centred, the header's (label, value) pairs, a rule, then the
    body: a (label, value) pair is laid out as on the receipt, "-" is a rule, text is wrapped.
    """
    width = width_chars
    rule = "-" * width
    lines = _centre(title, width)
    if subtitle:
        lines += _centre(subtitle, width)
    for label, value in header:
        lines += _pair(label, "-" if value in (None, "") else str(value), width)
    lines.append(rule)
    for item in body:
        if isinstance(item, tuple):
            label, value = item
            lines += _pair(str(label), "-" if value in (None, "") else str(value), width)
        elif item == "-":
            lines.append(rule)
        else:
            lines += _wrap(str(item), width)
    lines.append(rule)
    return lines


# ---------------------------------------------------------------------------------------------
# Image mode: for printers without Chinese fonts, each slip is drawn and sent as a raster image.

# Dots across the printable width: 8 dots/mm, the 12-dot half-width cell of text mode.
PAPER_DOTS = {58: 384, 80: 576}
CELL = 12  # dots per column, as the printer's own 12×24 font
LINE_DOTS = 30
# Fonts with hanzi, tried in order; the index picks Simplified Chinese glyphs in a collection.
FONT_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)


def find_font() -> tuple[str, int]:
    """A font that has hanzi (path, index in its collection); RuntimeError when there is none."""
    import os

    for path, index in FONT_CANDIDATES:
        if os.path.exists(path):
            return path, index
    raise RuntimeError(
        "image mode needs a Chinese font: apt-get install fonts-noto-cjk (or fonts-wqy-microhei)"
    )


def render_image(lines: list[str], *, paper_mm: int = 58, title_lines: int = 1) -> Any:
    """The slip's lines drawn in black on white, one bit a dot, in text mode's columns."""
    from PIL import Image, ImageDraw, ImageFont

    if paper_mm not in PAPER_DOTS:
        raise ValueError(f"paper width {paper_mm} mm: use 58 or 80")
    path, index = find_font()
    font = ImageFont.truetype(path, 22, index=index)
    image = Image.new("1", (PAPER_DOTS[paper_mm], LINE_DOTS * len(lines) + 8), 1)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        x, y = 0, 4 + row * LINE_DOTS
        bold = 1 if row < title_lines else 0
        for char in line:
            if _is_control(char):
                char = REPLACEMENT
            wide = columns(char)
            if char != " ":
                draw.text(
                    (x, y),
                    "￥" if char == "¥" else char,
                    font=font,
                    fill=0,
                    stroke_width=bold,
                    stroke_fill=0,
                )
            x += wide * CELL
    return image


def image_bytes(
    lines: list[str], *, paper_mm: int = 58, cut: bool = True, title_lines: int = 1
) -> bytes:
    """One slip as an ESC/POS raster image (GS v 0), made by python-escpos, then feed and cut."""
    from escpos.printer import Dummy

    device = Dummy()
    # python-escpos's profile data is shared by every printer object of the process: this one
    # gets its own copy before its paper width is set (two widths printing at once otherwise
    # overwrite each other's).
    device.profile.profile_data = copy.deepcopy(device.profile.profile_data)
    device.profile.profile_data["media"] = {"dpi": 203, "width": {"pixels": PAPER_DOTS[paper_mm]}}
    device.image(render_image(lines, paper_mm=paper_mm, title_lines=title_lines))
    return ESC_INIT + device.output + (FEED_BEFORE_CUT + CUT_PARTIAL if cut else FEED_TO_TEAR)


# ---------------------------------------------------------------------------------------------
# Devices


class ConnectTimeout(TimeoutError):
    """The printer did not take the connection in time (off, or a wrong address)."""


class Stalled(TimeoutError):
    """The printer took the connection but no more data (out of paper, cover open, jammed)."""


class Interrupted(Exception):
    """The attempt was given up because the printer's settings changed under it."""


# Each wait is cut into slices this long, to notice an interrupt between them.
SLICE = 0.1
# How long a network printer may take to accept the connection: a printer that is on answers
# at once; one that is off, or an address where nothing is, must not hold the queue long.
CONNECT_TIMEOUT = 3.0


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Interrupted("the printer's settings changed")


def write_device(
    path: str, data: bytes, *, timeout: float = 10.0, cancel: threading.Event | None = None
) -> None:
    """Write to a printer's device file (file://), within `timeout` seconds in all.

    Opened without creating or emptying anything, and refused unless it is a character device
    or a pipe. A pipe nobody reads yet, or a device that takes no more bytes, is waited for
    until the timeout, never for ever (the print queue's worker would hang with it); `cancel`
    set gives up at once (Interrupted)."""
    deadline = time.monotonic() + timeout
    flags = os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    while True:
        _check(cancel)
        try:
            fd = os.open(path, flags)
            break
        except OSError as e:
            if e.errno != errno.ENXIO or time.monotonic() >= deadline:  # ENXIO: no reader
                raise
            time.sleep(0.05)
    try:
        if not is_device(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, f"{path} is not a printer device")
        view = memoryview(data)
        while view:
            _check(cancel)
            left = deadline - time.monotonic()
            if left <= 0:
                raise Stalled(f"{path}: the printer took no more data for {timeout:g} s")
            if not select.select([], [fd], [], min(left, SLICE))[1]:
                continue
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue
    finally:
        os.close(fd)


def _unsent(sock: socket.socket) -> int | None:
    """Bytes the socket still holds that the printer has not acknowledged (Linux: SIOCOUTQ);
    None where the system cannot say."""
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
    except (OSError, AttributeError):
        return None


def write_socket(
    host: str,
    port: int,
    data: bytes,
    *,
    timeout: float = 10.0,
    connect_timeout: float = CONNECT_TIMEOUT,
    cancel: threading.Event | None = None,
) -> None:
    """Send to a network printer (tcp://, its raw port 9100) and close.

    The connection must be taken within `connect_timeout` (ConnectTimeout); then the printer
    must keep taking the bytes: `timeout` seconds without any taken is a printer out of paper
    or jammed (Stalled), however long a slow printer takes in all. The job is done once the
    printer has acknowledged every byte, not when they are only in this side's buffers.
    `cancel` set gives up at once (Interrupted): the address was changed meanwhile."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, socket.AF_INET, socket.SOCK_STREAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            raise OSError(code, f"{os.strerror(code)} ({host}:{port})")
        deadline = time.monotonic() + connect_timeout
        while True:
            _check(cancel)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectTimeout(
                    f"{host}:{port} did not take the connection within {connect_timeout:g} s"
                )
            if select.select([], [sock], [], min(left, SLICE))[1]:
                break
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, f"{os.strerror(code)} ({host}:{port})")
        view = memoryview(data)
        moved = time.monotonic()
        unsent = None
        while True:
            _check(cancel)
            if view:
                if select.select([], [sock], [], SLICE)[1]:
                    try:
                        sent = sock.send(view)
                    except BlockingIOError:
                        sent = 0
                    if sent:
                        view, moved = view[sent:], time.monotonic()
            else:
                now_unsent = _unsent(sock)
                if not now_unsent:  # all acknowledged (or the system cannot tell)
                    return
                if now_unsent != unsent:
                    unsent, moved = now_unsent, time.monotonic()
                time.sleep(0.01)
            if time.monotonic() - moved > timeout:
                raise Stalled(f"{host}:{port} took no more data for {timeout:g} s")
    finally:
        sock.close()


def open_printer(url: str, *, timeout: float = 10.0) -> Any:
    """The python-escpos printer a URL names, not yet connected; None for "none" (no printer).

    timeout bounds a network printer's connect and send, and a serial printer's writes.
    Raises ValueError for a URL that names no printer, RuntimeError when the driver a kind
    needs (pyusb for usb://, pycups for cups://) is not installed.
    """
    from escpos import printer as escpos_printer

    kind, args = parse_printer_url(url)
    if kind == "none":
        return None
    if kind == "tcp":
        return escpos_printer.Network(**args, timeout=timeout)
    if kind == "usb":
        if not escpos_printer.Usb.is_usable():
            raise RuntimeError("usb:// printers need pyusb: pip install 'python-escpos[usb]'")
        return escpos_printer.Usb(args["vendor"], args["product"], timeout=int(timeout * 1000))
    if kind == "serial":
        return escpos_printer.Serial(**args, timeout=timeout)
    if kind == "file":
        return escpos_printer.File(**args)
    if not escpos_printer.CupsPrinter.is_usable():
        raise RuntimeError("cups:// printers need pycups: pip install 'python-escpos[cups]'")
    return escpos_printer.CupsPrinter(**args)


def send(
    url: str, data: bytes, *, timeout: float = 10.0, cancel: threading.Event | None = None
) -> bool:
    """Open the printer, send the bytes, close it. False when the URL is "none"; raises else.

    Network printers and device files give up at once when `cancel` is set (Interrupted)."""
    kind, args = parse_printer_url(url)
    if kind == "file":
        write_device(args["devfile"], data, timeout=timeout, cancel=cancel)
        return True
    if kind == "tcp":
        write_socket(args["host"], args["port"], data, timeout=timeout, cancel=cancel)
        return True
    device = open_printer(url, timeout=timeout)
    if device is None:
        return False
    try:
        device.open()
    except Exception as e:
        if type(e).__name__ == "NoBackendError":  # pyusb without the libusb library
            raise RuntimeError(
                "usb:// printers need the libusb library (Debian: apt-get install libusb-1.0-0)"
            ) from e
        raise
    try:
        serial_port = getattr(device, "_device", None)
        if hasattr(serial_port, "write_timeout"):
            serial_port.write_timeout = timeout  # a port held by flow control must not hang
        device._raw(data)
    finally:
        device.close()
    return True


# ---------------------------------------------------------------------------------------------
# The print queue


# Why a print failed, as a stable code, and what the cashier reads: what to do about it. The
# device's own words (English, errno) stay in the job's `error` for the log and the back office.
FAILURES = {
    "not_connected": "打印机未连接：请检查电源和连线",
    "timeout": "连接打印机超时：请检查打印机地址和网络",
    "paper_or_fault": "打印机不接收数据：请检查是否缺纸或故障",
    "bad_address": "打印机地址不正确：请检查终端参数",
    "no_driver": "缺少打印机驱动或字体：请联系管理员",
    "no_permission": "无权使用打印机：请联系管理员",
    "stopped": "打印服务已停止",
    "fault": "打印机故障：请检查打印机",
}
_NOT_CONNECTED = {
    errno.ECONNREFUSED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.ENOENT,
    errno.ENODEV,
    errno.ENXIO,
}
_DROPPED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


def failure_reason(error: BaseException) -> str:
    """The FAILURES code of an exception a print raised (or one it was raised from)."""
    seen: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in seen and len(seen) < 5:
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    for e in seen:
        if isinstance(e, (Stalled, *_DROPPED)):
            return "paper_or_fault"  # it took the connection, then not the slip
        if isinstance(e, TimeoutError):
            return "timeout"
        if isinstance(e, (socket.gaierror, ValueError)):
            return "bad_address"
        if isinstance(e, PermissionError):
            return "no_permission"
        if isinstance(e, OSError) and e.errno in _NOT_CONNECTED:
            return "not_connected"
        if type(e).__name__ in ("DeviceNotFoundError", "USBNotFoundError"):
            return "not_connected"
        if isinstance(e, RuntimeError):
            return "no_driver"
    return "fault"


@dataclass(frozen=True)
class PrintJob:
    id: int
    description: str
    data: bytes | Callable[[], bytes]  # or what makes them, run by the worker
    state: str = "queued"  # queued, printing, printed, failed, skipped (no printer)
    error: str | None = None  # the device's words, for the log and the back office
    reason: str | None = None  # a failed job: why, a key of FAILURES
    attempts: int = 0
    url: str | None = None  # where it was last sent
    finished_at: float | None = None
    meta: dict = field(default_factory=dict)  # the caller's: what the job is about

    @property
    def done(self) -> bool:
        return self.state in ("printed", "failed", "skipped")

    @property
    def message(self) -> str | None:
        """A failed job: what the cashier reads (Chinese)."""
        return FAILURES.get(self.reason or "fault") if self.state == "failed" else None


def _error_text(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


class PrintQueue:
    """A worker thread printing jobs one at a time, in order, from a queue.

    `url` is a printer URL or a callable giving the current one (read for each attempt, so a
    settings change applies to the next print). submit() and retry() never block and never
    raise; outcomes are kept for the last `keep` jobs. `on_change` is called with a job each
    time its state changes (printing, printed, failed, skipped), on the worker's thread.

    A printer that cannot be reached holds the queue for one attempt's timeout, not one for
    each job: when an attempt fails, the jobs that were already waiting for the same address
    fail with it at once (重印 prints them again), and jobs queued later are tried again.
    address_changed() gives up an attempt in hand at another address (one that hangs, say):
    its job is tried again at once, at the new one.
    """

    def __init__(
        self,
        url: str | Callable[[], str],
        *,
        timeout: float = 10.0,
        keep: int = 200,
        on_change: Callable[[PrintJob], None] | None = None,
    ) -> None:
        self._url = url if callable(url) else (lambda: url)
        self.timeout = timeout
        self._keep = keep
        self._jobs: OrderedDict[int, PrintJob] = OrderedDict()
        # Ids go on rising across restarts of the server: a page that saw job 5 before a
        # restart must not take the new job 5 for it.
        self._ids = itertools.count(int(time.time() * 1000))
        # Each time a job is queued (again) it takes the next number: which jobs were already
        # waiting when an attempt failed.
        self._queued = itertools.count(1)
        self._last_queued = 0
        # (url, the last number queued then, error, reason) of the last attempt that failed.
        self._down: tuple[str, int, str, str] | None = None
        self._cancel = threading.Event()
        self._attempt_url: str | None = None  # where the attempt in hand goes
        self._changed = threading.Condition()
        self._queue: queue.Queue[tuple[int, int] | None] = queue.Queue()
        self._stopped = False
        self.last_error: str | None = None
        self.last_reason: str | None = None
        self._last_state: str | None = None
        self._on_change = on_change
        self._thread = threading.Thread(target=self._run, name="printer", daemon=True)
        self._thread.start()

    def submit(
        self, data: bytes | Callable[[], bytes], description: str = "", meta: dict | None = None
    ) -> int:
        """Queue a job; its id at once. After stop() the job is recorded as failed.

        data is the bytes to send, or a function making them, called by the worker (so that
        drawing a slip as an image never holds up the caller); if it raises, the job fails.
        """
        with self._changed:
            job = PrintJob(
                id=next(self._ids),
                description=description,
                data=data if callable(data) else bytes(data),
                meta=dict(meta or {}),
            )
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
            self._enqueue(job)
            return job.id

    def retry(self, job_id: int) -> bool:
        """Queue a failed job again; False when there is no such failed job."""
        with self._changed:
            job = self._jobs.get(job_id)
            if job is None or job.state != "failed":
                return False
            self._jobs[job_id] = replace(
                job, state="queued", error=None, reason=None, finished_at=None
            )
            self._enqueue(self._jobs[job_id])
            return True

    def address_changed(self, url: str) -> None:
        """The printer's address is now `url`: an attempt in hand at another address (a network
        printer that does not answer, a device that takes nothing) is given up, and its job
        tried again at once at this one. An attempt at the same address goes on."""
        with self._changed:
            if self._attempt_url is not None and self._attempt_url != url:
                self._cancel.set()

    def _enqueue(self, job: PrintJob) -> None:
        # Called with self._changed held.
        if self._stopped:
            self._finish(job.id, "failed", "print queue stopped", "stopped", None)
        else:
            self._last_queued = next(self._queued)
            self._queue.put((job.id, self._last_queued))

    def job(self, job_id: int) -> PrintJob | None:
        with self._changed:
            return self._jobs.get(job_id)

    def jobs(self) -> list[PrintJob]:
        with self._changed:
            return list(self._jobs.values())

    def wait(self, job_id: int, timeout: float = 10.0) -> PrintJob | None:
        """The job once it is done (or as it stands when timeout runs out)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                job = self._jobs.get(job_id)
                left = deadline - time.monotonic()
                if job is None or job.done or left <= 0:
                    return job
                self._changed.wait(left)

    def status(self) -> str:
        """For the status bar: "none" (no printer set), "ok", "failed: <error>", or "unknown"
        before anything was printed."""
        try:
            if (self._url() or "").strip().lower() in ("", "none"):
                return "none"
        except Exception as e:  # a broken settings callable is a printer problem, shown
            return f"failed: {_error_text(e)}"
        with self._changed:
            if self._last_state == "failed":
                return f"failed: {self.last_error}"
            return "ok" if self._last_state == "printed" else "unknown"

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the job in hand and end the thread; jobs still queued end failed."""
        with self._changed:
            self._stopped = True
        self._queue.put(None)
        self._thread.join(timeout)
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is not None:
                with self._changed:
                    self._finish(entry[0], "failed", "print queue stopped", "stopped", None)

    def _finish(
        self, job_id: int, state: str, error: str | None, reason: str | None, url: str | None
    ) -> None:
        # Called with self._changed held.
        job = self._jobs.get(job_id)
        if job is not None:
            self._jobs[job_id] = replace(
                job, state=state, error=error, reason=reason, url=url, finished_at=time.time()
            )
        if state in ("printed", "failed"):
            self._last_state = state
            self.last_error = error if state == "failed" else None
            self.last_reason = reason if state == "failed" else None
        self._changed.notify_all()

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            job_id, number = entry
            with self._changed:
                job = self._jobs.get(job_id)
                if job is None or job.state != "queued":
                    continue
            self._attempt(job, number)

    def _attempt(self, job: PrintJob, number: int) -> None:
        """Print one job: tried again at once while an interrupt (a new address) cuts it."""
        while True:
            with self._changed:
                job = replace(job, state="printing", attempts=job.attempts + 1)
                self._jobs[job.id] = job
            self._notify(job)
            # Cleared before the address is read: an interrupt from here on is for this one.
            self._cancel.clear()
            url, error, reason = None, None, None
            try:
                url = self._url()
                with self._changed:
                    self._attempt_url = url
                down = self._down
                if down is not None and down[0] == url and number <= down[1]:
                    # Waiting when the printer failed: the same failure, without its wait.
                    outcome, error, reason = "failed", down[2], down[3]
                else:
                    data = job.data() if callable(job.data) else job.data
                    printed = send(url, data, timeout=self.timeout, cancel=self._cancel)
                    outcome = "printed" if printed else "skipped"
            except Interrupted:
                with self._changed:
                    self._attempt_url = None
                log.info("printer: job %s (%s) tried again at the new address", job.id, url)
                continue
            except Exception as e:  # whatever the device does, the worker carries on
                outcome, error, reason = "failed", _error_text(e), failure_reason(e)
                log.warning("printer: job %s (%s) failed: %s", job.id, job.description, error)
                if url is not None:
                    with self._changed:
                        self._down = (url, self._last_queued, error, reason)
            with self._changed:
                self._attempt_url = None
                if outcome == "printed":
                    self._down = None
                self._finish(job.id, outcome, error, reason, url)
                finished = self._jobs.get(job.id)
            self._notify(finished)
            return

    def _notify(self, job: PrintJob | None) -> None:
        if self._on_change is None or job is None:
            return
        try:
            self._on_change(job)
        except Exception:  # a listener's failure is not the printer's
            log.exception("printer: on_change failed for job %s", job.id)
