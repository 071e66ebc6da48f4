"""Signed-in sessions: the terminals' and the API's bearer tokens (`api`), the back office's
sign-ins (`web`), kept in the database (table staff_session).

Every process of a chain reads the one database, so a token works on whichever process a
request reaches, and a session outlives a restart of the process that opened it. The token
itself is never stored: a row is found by the token's keyed hash, HMAC-SHA256 under the
app's secret key (shared by the chain's processes through the data dir). A copy of the
database, or a look at its rows, gives no token that signs in.

Time is the database's naive UTC (runtime.utcnow), the same on every process. Using a
session counts as activity, but only once a minute is it written (see TOUCH_SECONDS): the
hot path of a sale is a read of the session's row, not a write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g, has_app_context

from ..domain.actors import Actor
from ..store.db import Busy, StorageFull, db, sql, write
from ..store.models import StaffSession
from ..store.runtime import utcnow

# `last_seen_at` is written when it is older than this (or than a twentieth of the idle limit
# that applies, when that is shorter): a terminal busy all day writes its session's row once a
# minute, not at every request. A session may thus end up to that much (at most 5% of its
# idle limit, a minute of the API's 12 hours) before its exact idle time.
TOUCH_SECONDS = 60
# Rows idle for longer than any idle limit (the API's 12 hours; the back office's setting
# goes to 12 hours too) are deleted, at most once per PRUNE_EVERY seconds per store, when a
# session opens. A session met expired is deleted there and then.
PRUNE_AFTER = timedelta(days=1)
PRUNE_EVERY = 600

# The session and the one it was opened from (if any), in one read: the hot path's.
_READ = sql(
    "SELECT s.actor, s.started_at, s.last_seen_at, s.locked, s.parent, s.idle_seconds,"
    ' p."key", p.last_seen_at'
    ' FROM staff_session s LEFT JOIN staff_session p ON p."key" = s.parent AND p.kind = s.kind'
    ' WHERE s."key" = ? AND s.kind = ?'
)
_TOUCH = sql('UPDATE staff_session SET last_seen_at = ? WHERE "key" = ? AND last_seen_at < ?')
_MOMENT = StaffSession.last_seen_at  # reads a stored time back (SQLite gives text)


@dataclass
class Session:
    """A session as read from the database: a snapshot (changing it changes nothing)."""

    actor: Actor
    started: datetime
    last_seen: datetime
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


def _actor_json(actor: Actor) -> str:
    return json.dumps(dataclasses.asdict(actor), ensure_ascii=False, separators=(",", ":"))


def _quietly(fn: Callable[[], object]) -> None:
    """A write the session does not depend on (activity, an expired row, pruning): skipped
    inside another write transaction (write() does not nest), and given up on a full disk or
    a busy chain database; a read still answers."""
    if db.in_transaction():
        return
    with contextlib.suppress(StorageFull, Busy):
        write(fn)


class SessionStore:
    """The sessions of one kind ("api" or "web"), in the table staff_session. The key of a
    token is keyed by `secret` (the app's SECRET_KEY; by default read from current_app)."""

    def __init__(self, kind: str, secret: bytes | None = None, idle_seconds: int = 12 * 3600):
        if kind not in ("api", "web"):
            raise ValueError(f"unknown session kind: {kind!r}")
        self.kind = kind
        self.idle_seconds = idle_seconds
        self._secret = secret
        self._pruned_at: float | None = None  # time.monotonic(): when this process pruned

    def _key(self, token: str) -> str:
        secret = self._secret if self._secret is not None else current_app.config["SECRET_KEY"]
        if isinstance(secret, str):
            secret = secret.encode()
        return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()

    def open(self, actor: Actor) -> str:
        return self._open(actor, None, None)

    def open_within(self, parent_token: str, actor: Actor, idle_seconds: int) -> str:
        """A short-lived session opened from another one: it ends after `idle_seconds` idle,
        and with the session it was opened from (signed out, expired or ended)."""
        return self._open(actor, self._key(parent_token), idle_seconds)

    def _open(self, actor: Actor, parent: str | None, idle_seconds: int | None) -> str:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        row = {
            "key": self._key(token),
            "kind": self.kind,
            "staff_no": actor.staff_no,
            "actor": _actor_json(actor),
            "started_at": now,
            "last_seen_at": now,
            "locked": False,
            "parent": parent,
            "idle_seconds": idle_seconds,
        }
        write(lambda: StaffSession.insert(row).execute())
        self._prune()
        return token

    def get(self, token: str, idle_seconds: int | None = None) -> Session | None:
        """The session of a token, if it has not been idle longer than `idle_seconds` (the
        store's own limit unless given); each call counts as activity (written at most once
        per TOUCH_SECONDS)."""
        key = self._key(token)
        row = db.execute_sql(_READ, (key, self.kind)).fetchone()
        if row is None:
            return None
        actor, started, last_seen, locked, parent, own_idle, parent_key, parent_seen = row
        now = utcnow()
        idle = self.idle_seconds if idle_seconds is None else idle_seconds
        if own_idle is not None:
            idle = min(idle, own_idle)
        last_seen = _MOMENT.python_value(last_seen)
        expired = (now - last_seen).total_seconds() > idle
        if parent is not None:
            if parent_key is None:  # the session it belongs to has ended
                expired = True
            elif (now - _MOMENT.python_value(parent_seen)).total_seconds() > self.idle_seconds:
                expired = True  # the session it belongs to has expired
        if expired:
            _quietly(lambda: self._delete(StaffSession.key == key))
            return None
        if (now - last_seen).total_seconds() >= min(TOUCH_SECONDS, idle // 20):
            stamp = _MOMENT.db_value(now)
            _quietly(lambda: db.execute_sql(_TOUCH, (stamp, key, stamp)))
            last_seen = now
        session = Session(
            Actor(**json.loads(actor)),
            _MOMENT.python_value(started),
            last_seen,
            bool(locked),
            parent,
            own_idle,
        )
        if has_app_context():  # what clear(keep=…) writes back after a restore
            g.setdefault("kakatong_sessions_read", {})[(self.kind, key)] = session
        return session

    def set_locked(self, token: str, locked: bool) -> None:
        key = self._key(token)
        update = StaffSession.update(locked=locked).where(
            StaffSession.key == key, StaffSession.kind == self.kind
        )
        write(update.execute)

    def close(self, token: str) -> bool:
        """End a session, and the sessions opened from it."""
        key = self._key(token)
        return write(lambda: self._delete(StaffSession.key == key)) > 0

    def close_staff(self, staff_no: str) -> None:
        """End every session of a staff member (after a password change or disabling), and
        the sessions opened from them."""
        write(lambda: self._delete(StaffSession.staff_no == staff_no))

    def clear(self, keep: str | None = None) -> int:
        """End every session but the one of `keep` (and those opened from it), after a
        restore: the staff of the restored database may not be those who signed in. Returns
        how many ended.

        The restored database has the sessions of its own day, not the one of `keep`: that
        one, as this request read it (get), is written into it again under the same key."""
        kept = self._key(keep) if keep else None
        read = g.get("kakatong_sessions_read", {}) if has_app_context() else {}
        carried = read.get((self.kind, kept)) if kept else None

        def clear() -> int:
            ended = StaffSession.delete().where(StaffSession.kind == self.kind)
            if kept is not None:
                ended = ended.where(
                    StaffSession.key != kept,
                    StaffSession.parent.is_null() | (StaffSession.parent != kept),
                )
            count = ended.execute()
            if carried is not None and not StaffSession.get_or_none(StaffSession.key == kept):
                StaffSession.insert(
                    key=kept,
                    kind=self.kind,
                    staff_no=carried.actor.staff_no,
                    actor=_actor_json(carried.actor),
                    started_at=carried.started,
                    last_seen_at=carried.last_seen,
                    locked=carried.locked,
                    parent=carried.parent,
                    idle_seconds=carried.idle_seconds,
                ).execute()
            return count

        return write(clear)

    def _delete(self, which) -> int:
        """Delete this kind's sessions matching `which`, and those opened from a session no
        longer there (within a write). Returns how many of the first."""
        count = StaffSession.delete().where(StaffSession.kind == self.kind, which).execute()
        self._orphans()
        return count

    def _orphans(self) -> None:
        """Delete the sessions whose session they were opened from has ended."""
        parents = StaffSession.alias()
        there = parents.select(parents.key).where(parents.kind == self.kind)
        StaffSession.delete().where(
            StaffSession.kind == self.kind,
            StaffSession.parent.is_null(False),
            StaffSession.parent.not_in(there),
        ).execute()

    def _prune(self) -> None:
        """Delete the rows idle past any limit (PRUNE_AFTER), once per PRUNE_EVERY seconds."""
        if self._pruned_at is not None and time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = time.monotonic()
        cutoff = utcnow() - PRUNE_AFTER
        _quietly(lambda: self._delete(StaffSession.last_seen_at < cutoff))
