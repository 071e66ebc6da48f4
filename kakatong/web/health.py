"""Is the box alive, and is it fit to sell: /healthz and /readyz, for a container's health check
or a monitor. And the figures both they and the back office's 系统状态 page read: the
database's size, the disk's free space, the last backup.

/healthz answers while the process does and touches nothing. /readyz checks what a sale needs:
the database opens and takes the write lock (BEGIN IMMEDIATE, nothing written), the disk that
holds the data dir has room, and the last backup is recent (the backup service's own verdict,
app.extensions["kakatong.backups"], when it runs). 200 when all are ok, 503 when any is not;
each check says why. Both are plain paths outside /api, need no sign-in and read no session.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Blueprint, current_app, jsonify

from ..store.db import write
from ..store.models import Meta
from ..store.runtime import utcnow

bp = Blueprint("health", __name__)
log = logging.getLogger("kakatong.health")

# The disk holding the data dir has room when at least this much is free, and at least the
# database's own size (room for the next backup's copy beside it).
MIN_FREE_BYTES = 100 * 1024 * 1024

# The endpoints that must answer without the database (factory.py opens none for them).
NO_DATABASE = frozenset({"health.healthz", "health.readyz"})


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks = {"database": database_check(), "disk": disk_check(), "backup": backup_check()}
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return jsonify(body), 200 if ready else 503


# ---------------------------------------------------------------- the checks


def database_check() -> dict:
    """The database opens and takes the write lock (an empty write transaction: BEGIN
    IMMEDIATE, nothing written); its schema version said."""
    try:
        version = write(lambda: Meta.get_by_id("schema_version").value)
    except Exception as exc:
        log.warning("readyz: the database check failed: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "detail": f"writable, schema version {version}"}


@dataclass(frozen=True)
class Disk:
    total: int
    free: int
    needed: int  # what the check asks to be free

    @property
    def free_pct(self) -> float:
        return round(100 * self.free / self.total, 1) if self.total else 0.0

    @property
    def ok(self) -> bool:
        return self.free >= self.needed


def data_dir() -> Path:
    return Path(current_app.config["KAKATONG"].data_dir)


def database_files() -> dict[str, int]:
    """The database's files and their sizes in bytes: the file, its WAL and shared memory
    (none for a chain's PostgreSQL, whose files are its server's)."""
    config = current_app.config["KAKATONG"]
    if config.on_postgres:
        return {}
    path = config.database_path
    sizes = {}
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        try:
            sizes[part.name] = part.stat().st_size
        except OSError:
            sizes[part.name] = 0
    return sizes


def disk() -> Disk:
    usage = shutil.disk_usage(data_dir())
    return Disk(usage.total, usage.free, max(MIN_FREE_BYTES, sum(database_files().values())))


def disk_check() -> dict:
    try:
        found = disk()
    except OSError as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    said = f"{mib(found.free)} MiB free of {mib(found.total)} MiB ({found.free_pct} %)"
    if not found.ok:
        return {"ok": False, "detail": f"{said}; at least {mib(found.needed)} MiB needed"}
    return {"ok": True, "detail": said}


def backups():
    """The backup service (app.extensions["kakatong.backups"]), or None where none runs."""
    return current_app.extensions.get("kakatong.backups")


def backup_status():
    """The backup service's status() (last_good, stale, warning), or None where none runs."""
    service = backups()
    return service.status() if service is not None else None


def backup_check() -> dict:
    try:
        status = backup_status()
    except Exception as exc:
        log.exception("readyz: the backup service's status failed")
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    if status is None:
        if current_app.config["KAKATONG"].on_postgres:
            return {"ok": True, "detail": "the chain's PostgreSQL is backed up by its server"}
        return {"ok": True, "detail": "backups not running"}
    last = status.last_good
    when = f"last good backup {iso(last.made_at)}" if last is not None else "no backup yet"
    if status.stale:
        return {"ok": False, "detail": f"{status.warning or 'backup is stale'} ({when})"}
    return {"ok": True, "detail": when}


# ---------------------------------------------------------------- small helpers


def mib(size: int) -> int:
    return size // (1024 * 1024)


def iso(moment: datetime) -> str:
    """A UTC time as the database keeps it (naive) in ISO 8601: 2026-11-25T02:03:04Z."""
    return moment.replace(microsecond=0).isoformat() + "Z"


def ago(moment: datetime, now: datetime | None = None) -> float:
    """Seconds since a UTC time (naive)."""
    return ((now or utcnow()) - moment).total_seconds()
