"""The process's log: every record one line on stdout, as logfmt (the default), JSON lines or
the plain text of old (KAKATONG_LOG_FORMAT), from a level up (KAKATONG_LOG_LEVEL); and the
last warnings and errors kept in memory for the back office's 系统状态 page.

The server configures it once, at start (app.py). Everything else logs through the standard
library as before, under its own logger (kakatong, kakatong.https, kakatong.reader, the
printer's…), and comes out in the one format. A record may carry fields of its own
(`extra={"fields": {...}}`): the request and transaction lines do (web/observe.py), and each
field becomes a key of the line. Nothing here looks at what a line says: keeping PINs,
passwords, tokens and card numbers out of it is the business of whoever logs.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

FORMATS = ("logfmt", "json", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RING_SIZE = 50  # the warnings and errors 系统状态 shows


def _time(record: logging.LogRecord) -> str:
    """UTC, to the millisecond: 2026-11-25T02:03:04.567Z."""
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _pairs(record: logging.LogRecord, formatter: logging.Formatter) -> dict:
    """What one line says, in order: time, level, logger, then the record's own fields (an
    event: request, transaction) or its message; its exception's traceback last. Fields
    that are None are left out."""
    line = {"time": _time(record), "level": record.levelname.lower(), "logger": record.name}
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        line.update((key, value) for key, value in fields.items() if value is not None)
    else:
        line["msg"] = record.getMessage()
    if record.exc_info:
        line["exc"] = formatter.formatException(record.exc_info)
    elif record.stack_info:
        line["exc"] = record.stack_info
    return line


def _logfmt_value(value: object) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text and not any(c in text for c in ' ="\\') and text.isprintable():
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    """time=… level=info logger=kakatong msg="…": one line, readable by a person and parsed
    as it is by log tools (Loki's logfmt, Vector, Grafana)."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _pairs(record, self).items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line, Chinese as it is."""

    def format(self, record: logging.LogRecord) -> str:
        line = _pairs(record, self)
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """The human format of old: `time logger message`, an event's fields after its message,
    a traceback on the lines below."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        text = super().formatMessage(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            shown = " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields.items() if v is not None)
            text = f"{text} {shown}"
        return text


FORMATTERS = {"logfmt": LogfmtFormatter, "json": JsonFormatter, "text": TextFormatter}


# ---------------------------------------------------------------- the last errors


@dataclass(frozen=True)
class Entry:
    """A warning or an error as 系统状态 lists it."""

    at: datetime  # UTC, naive (as the database keeps times)
    level: str  # WARNING, ERROR, CRITICAL
    logger: str
    message: str


class Ring:
    """The last `size` warnings and errors of the process, newest last. In memory only: the
    log itself (stdout) is the record; this is what the owner sees without a terminal."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[Entry]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._entries))


class RingHandler(logging.Handler):
    def __init__(self, ring: Ring) -> None:
        super().__init__(logging.WARNING)
        self.ring = ring

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                message = f"{message} ({type(error).__name__}: {error})"
            at = datetime.fromtimestamp(record.created, UTC).replace(tzinfo=None)
            self.ring.add(Entry(at, record.levelname, record.name, message))
        except Exception:
            self.handleError(record)


# ---------------------------------------------------------------- set-up


def configure(
    log_format: str = "logfmt", level: str = "INFO", stream: TextIO | None = None
) -> Ring:
    """Send every record of the process to `stream` (stdout) in `log_format` from `level` up,
    and keep its warnings and errors in a Ring, which is returned. Replaces what an earlier
    call set up; an unknown format or level is a ValueError that names the variable."""
    chosen = log_format.strip().lower()
    if chosen not in FORMATTERS:
        raise ValueError(f"KAKATONG_LOG_FORMAT: {log_format!r} is none of {', '.join(FORMATS)}")
    named = level.strip().upper()
    if named not in LEVELS:
        raise ValueError(f"KAKATONG_LOG_LEVEL: {level!r} is none of {', '.join(LEVELS)}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "kakatong", False)]:
        root.removeHandler(handler)
    out = logging.StreamHandler(sys.stdout if stream is None else stream)
    out.setFormatter(FORMATTERS[chosen]())
    ring = Ring()
    kept = RingHandler(ring)
    for handler in (out, kept):
        handler.kakatong = True
        root.addHandler(handler)
    root.setLevel(named)
    # peewee logs each statement with its parameters at DEBUG: card numbers and the journal's
    # rows. Not even at DEBUG.
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
    return ring
