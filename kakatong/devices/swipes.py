"""The swipes hub: what the card reader (刷卡器) saw, per terminal, for the terminal's page.

The reader's thread publishes here; the API's stream and polling views wait here. Events are
kept in memory only, a few per terminal with increasing ids: a swipe is for the cashier at
the counter now, never a record (the ledger keeps what a card did). A page that reconnects
names the last id it saw and gets what it missed, if it is still recent.

Four kinds of event: "swipe" (card number and expiry), "retry" (a bad read: 请重新刷卡),
"status" (the reader "connected" or "disconnected"; a terminal without a reader is "none"),
and "printer" (the receipt printer's state and its last job, from printing.Printing).

Bad reads in a row are collapsed and counted, never queued: the newest takes the place of the
one before it, and a page is handed it as one "retry" whose `count` is how many of those bad
reads it has not seen yet. A burst of line noise (a reader on the wrong baud rate) is thus
one event, and cannot push the good swipe after it out of what is kept.

No Flask here.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field, replace

KEEP = 20  # events kept per terminal
FRESH_SECONDS = 30.0  # older events are not handed to a page that reconnects
READS = 1000  # the bad reads of a run a retry names by id; older ones are only counted


@dataclass(frozen=True)
class Event:
    id: int
    kind: str  # "swipe", "retry", "status" or "printer"
    data: dict = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    # A retry: the ids of the bad reads in a row it stands for (its own id last), and how many
    # came before those.
    reads: tuple[int, ...] = ()
    earlier: int = 0

    def unseen(self, after: int) -> int:
        """How many of the bad reads this retry stands for came after id `after`."""
        newer = len(self.reads) - bisect_right(self.reads, after)
        return newer + (self.earlier if newer == len(self.reads) else 0)


class Hub:
    def __init__(self, keep: int = KEEP, fresh: float = FRESH_SECONDS) -> None:
        self._changed = threading.Condition()
        self._events: dict[str, deque[Event]] = {}
        self._status: dict[str, str] = {}
        self._last = 0
        self.keep = keep
        self.fresh = fresh

    # -------------------------------------------------------------- the reader's side

    def swipe(self, terminal_id: str, card_no: str, expires: str | None) -> Event:
        return self._publish(terminal_id, "swipe", {"card_no": card_no, "expires": expires})

    def retry(self, terminal_id: str) -> Event:
        """A bad read. One in a row with the last (no swipe since, still fresh) takes its place
        and stands for both."""
        with self._changed:
            events = self._events.setdefault(terminal_id, deque(maxlen=self.keep))
            last = next((e for e in reversed(events) if e.kind in ("swipe", "retry")), None)
            reads, earlier = (), 0
            if last is not None and last.kind == "retry" and last.at >= self._oldest():
                events.remove(last)
                reads, earlier = last.reads, last.earlier
                if len(reads) >= READS:
                    reads, earlier = reads[1:], earlier + 1
            self._last += 1
            event = Event(self._last, "retry", {}, reads=(*reads, self._last), earlier=earlier)
            events.append(event)
            self._changed.notify_all()
            return event

    def set_status(self, terminal_id: str, status: str) -> None:
        with self._changed:
            if self._status.get(terminal_id) == status:
                return
            self._status[terminal_id] = status
        self._publish(terminal_id, "status", {"reader": status})

    # -------------------------------------------------------------- the printer's side

    def set_printer(self, terminal_id: str, status: dict) -> Event:
        """The terminal's printer: its state and its last job (printing.Printing.status)."""
        return self._publish(terminal_id, "printer", status)

    def _publish(self, terminal_id: str, kind: str, data: dict) -> Event:
        with self._changed:
            self._last += 1
            event = Event(self._last, kind, data)
            self._events.setdefault(terminal_id, deque(maxlen=self.keep)).append(event)
            self._changed.notify_all()
            return event

    # -------------------------------------------------------------- the page's side

    def status(self, terminal_id: str) -> str:
        with self._changed:
            return self._status.get(terminal_id, "none")

    def last_id(self) -> int:
        """Ids are the hub's, increasing across terminals: a page starts after this one."""
        with self._changed:
            return self._last

    def after(self, terminal_id: str, after: int) -> list[Event]:
        with self._changed:
            return self._newer(terminal_id, after)

    def wait(self, terminal_id: str, after: int, timeout: float) -> list[Event]:
        """The terminal's events newer than `after`, waiting up to `timeout` seconds for one;
        [] when none came."""
        with self._changed:
            self._changed.wait_for(lambda: self._newer(terminal_id, after), timeout)
            return self._newer(terminal_id, after)

    def _newer(self, terminal_id: str, after: int) -> list[Event]:
        """The terminal's fresh events after id `after`; a retry with its `count` of the bad
        reads that came after `after`."""
        oldest = self._oldest()
        return [
            replace(e, data={"count": e.unseen(after)}) if e.kind == "retry" else e
            for e in self._events.get(terminal_id, ())
            if e.id > after and e.at >= oldest
        ]

    def _oldest(self) -> float:
        return time.monotonic() - self.fresh
