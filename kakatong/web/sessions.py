"""Signed-in API sessions: bearer tokens held in memory.

Sessions need not survive a restart (staff sign in again, as on the POS after power-up), so
they are kept out of the database. Only a hash of each token is kept.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field

from flask import current_app

from ..domain.actors import Actor


@dataclass
class Session:
    actor: Actor
    started: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    locked: bool = False  # 锁定: the operator stepped away; their password unlocks it
    # A second session opened from this one (系统设置 from an operator's session): the key
    # of the session it belongs to, which it never outlives, and its own idle limit.
    parent: str | None = None
    idle_seconds: int | None = None


def end_sessions_of(staff_no: str) -> None:
    """A staff member removed or disabled, with a new password or role: every session they
    hold ends now, at the terminals (API tokens) and in the back office."""

    for store in ("kakatong.sessions", "kakatong.web_sessions"):
        current_app.extensions[store].close_staff(staff_no)


class SessionStore:
    def __init__(self, idle_seconds: int = 12 * 3600):
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.idle_seconds = idle_seconds

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def open(self, actor: Actor) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[self._key(token)] = Session(actor)
        return token

    def open_within(self, parent_token: str, actor: Actor, idle_seconds: int) -> str:
        """A short-lived session opened from another one: it ends after `idle_seconds` idle,
        and with the session it was opened from (signed out, expired or ended)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[self._key(token)] = Session(
                actor, parent=self._key(parent_token), idle_seconds=idle_seconds
            )
        return token

    def get(self, token: str, idle_seconds: int | None = None) -> Session | None:
        """The session of a token, if it has not been idle longer than `idle_seconds` (the
        store's own limit unless given); each call counts as activity."""
        now = time.monotonic()
        key = self._key(token)
        idle = self.idle_seconds if idle_seconds is None else idle_seconds
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if session.idle_seconds is not None:
                idle = min(idle, session.idle_seconds)
            parent = self._sessions.get(session.parent) if session.parent else None
            if now - session.last_seen > idle or (session.parent and parent is None):
                del self._sessions[key]
                return None
            if parent is not None and now - parent.last_seen > self.idle_seconds:
                del self._sessions[key]  # the session it belongs to has expired
                return None
            session.last_seen = now
            return session

    def set_locked(self, token: str, locked: bool) -> None:
        with self._lock:
            session = self._sessions.get(self._key(token))
            if session is not None:
                session.locked = locked

    def close(self, token: str) -> bool:
        """End a session, and the sessions opened from it."""
        with self._lock:
            closed = self._sessions.pop(self._key(token), None) is not None
            self._orphans()
            return closed

    def close_staff(self, staff_no: str) -> None:
        """End every session of a staff member (after a password change or disabling), and
        the sessions opened from them."""
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.actor.staff_no == staff_no]:
                del self._sessions[key]
            self._orphans()

    def clear(self, keep: str | None = None) -> int:
        """End every session but the one of `keep` (and those opened from it), after a
        restore: the staff of the restored database may not be those who signed in. Returns
        how many ended."""
        kept = self._key(keep) if keep else None
        with self._lock:
            before = len(self._sessions)
            for key, session in list(self._sessions.items()):
                if kept is None or kept not in (key, session.parent):
                    del self._sessions[key]
            return before - len(self._sessions)

    def _orphans(self) -> None:
        """Drop the sessions whose session they were opened from has ended (the lock held)."""
        sessions = self._sessions
        ended = [k for k, s in sessions.items() if s.parent and s.parent not in sessions]
        for key in ended:
            del self._sessions[key]
