"""The swipes hub: what the card reader (刷卡器) saw, per terminal, for the terminal's page.

The reader's thread publishes here; the API's stream and polling views wait here. Events are
kept in memory only, a few per terminal with increasing ids: a swipe is for the cashier at
the counter now, never a record (the ledger keeps what a card did). A page that reconnects
names the last id it saw and gets what it missed, if it is still recent.

Four kinds of event: "swipe" (card number and expiry), "retry" (a bad read: 请重新刷卡),
"status" (the reader "connected" or "disconnected"; a terminal without a reader is "none"),
and "printer" (the receipt printer's state and its last job, from printing.Printing).

No Flask here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

KEEP = 20  # events kept per terminal
FRESH_SECONDS = 30.0  # older events are not handed to a page that reconnects


@dataclass(frozen=True)
class Event:
    id: int
    kind: str  # "swipe", "retry" or "status"
    data: dict = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


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
        return self._publish(terminal_id, "retry", {})

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
        oldest = time.monotonic() - self.fresh
        return [e for e in self._events.get(terminal_id, ()) if e.id > after and e.at >= oldest]
