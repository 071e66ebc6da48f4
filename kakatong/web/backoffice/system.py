"""系统状态: how the box itself is — version, uptime, the database and the disk, the last
backup, each terminal's card reader and receipt printer, the last warnings and errors of the
log. For the shop's managers (supervisor, owner); `?format=json` gives the same as JSON.

What is shown is read here, from what the process keeps (the app's extensions) and the files
of the data dir; the figures /readyz checks come from web/health.py, so the page and the
check cannot disagree.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app, jsonify, render_template, request
from flask_babel import lazy_gettext as _l

from ... import __version__
from ...store.db import engine
from ...store.models import Meta, Terminal
from ...store.runtime import local, utcnow
from ...store.schema import SCHEMA_VERSION
from .. import health
from . import bp
from .admin import KIND_LABELS, PRINTER_STATES
from .web import CAN_SEE_SYSTEM, needs, size_text

READER_STATES = {
    "none": _l("未配置"),
    "connected": _l("正常"),
    "disconnected": _l("故障"),
}
LEVEL_NAMES = {"WARNING": _l("警告"), "ERROR": _l("错误"), "CRITICAL": _l("严重错误")}


@dataclass(frozen=True)
class TerminalState:
    terminal_id: str
    name: str
    kind: str
    reader: str  # none | connected | disconnected (devices/swipes.py)
    printer: str  # none | unknown | printing | ok | failed (devices/printing.py)
    printer_error: str | None


def _terminals() -> list[TerminalState]:
    hub = current_app.extensions["kakatong.swipes"]
    printing = current_app.extensions["kakatong.printing"]
    states = []
    for terminal in Terminal.select().order_by(Terminal.terminal_id):
        printer = printing.status(terminal)
        states.append(
            TerminalState(
                terminal.terminal_id,
                terminal.name,
                terminal.kind,
                hub.status(terminal.terminal_id),
                printer["printer"],
                printer.get("error"),
            )
        )
    return states


def _schema_version() -> int | None:
    row = Meta.get_or_none(Meta.key == "schema_version")
    return int(row.value) if row is not None else None


def _uptime(started: datetime, now: datetime) -> tuple[int, int, int]:
    """(days, hours, minutes) the process has run."""
    minutes = max(0, int((now - started).total_seconds()) // 60)
    return minutes // (24 * 60), minutes // 60 % 24, minutes % 60


def _where_the_database_is(config) -> str:
    """The SQLite file's path, or the chain's server and database without the password."""
    if not config.on_postgres:
        return str(config.database_path)
    url = urlsplit(config.database)
    host = url.hostname or "localhost"
    port = f":{url.port}" if url.port else ""
    user = f"{url.username}@" if url.username else ""
    return f"postgresql://{user}{host}{port}{url.path}"


def _status() -> dict:
    """Everything the page shows, as plain values (the JSON twin is this)."""
    now = utcnow()
    started = current_app.extensions["kakatong.started_at"]
    files = health.database_files()
    disk = health.disk()
    try:
        backups = health.backup_status()
        backup_problem = None
    except Exception as exc:  # the page still shows the rest
        backups, backup_problem = None, f"{type(exc).__name__}: {exc}"
    last = backups.last_good if backups is not None else None
    ring = current_app.extensions.get("kakatong.log_ring")
    return {
        "version": __version__,
        "python": platform.python_version(),
        "started_at": health.iso(started),
        "uptime_seconds": int((now - started).total_seconds()),
        "database": {
            "engine": engine(),
            "path": _where_the_database_is(current_app.config["KAKATONG"]),
            "files": files,
            "size": sum(files.values()),
            "schema_version": _schema_version(),
            "software_schema_version": SCHEMA_VERSION,
        },
        "disk": {
            "path": str(health.data_dir()),
            "total": disk.total,
            "free": disk.free,
            "free_pct": disk.free_pct,
            "needed": disk.needed,
            "ok": disk.ok,
        },
        "backup": {
            "running": backups is not None,
            "last_good": (
                {"path": str(last.path), "made_at": health.iso(last.made_at), "size": last.size}
                if last is not None
                else None
            ),
            "stale": backups.stale if backups is not None else None,
            "warning": backup_problem or (backups.warning if backups is not None else None),
        },
        "terminals": [
            {
                "terminal_id": t.terminal_id,
                "name": t.name,
                "kind": t.kind,
                "reader": t.reader,
                "printer": t.printer,
                "printer_error": t.printer_error,
            }
            for t in _terminals()
        ],
        "errors": (
            [
                {"at": health.iso(e.at), "level": e.level, "logger": e.logger, "message": e.message}
                for e in ring.entries()
            ]
            if ring is not None
            else None
        ),
    }


def _local(iso_text: str) -> str:
    """A UTC time of the status, in the shop's zone as the pages show times."""
    moment = datetime.fromisoformat(iso_text.removesuffix("Z"))
    return local(moment).strftime("%Y-%m-%d %H:%M:%S")


@bp.get("/system")
@needs(CAN_SEE_SYSTEM)
def system():
    status = _status()
    if request.args.get("format") == "json":
        return jsonify(status)
    return render_template(
        "backoffice/system.html",
        status=status,
        uptime=_uptime(current_app.extensions["kakatong.started_at"], utcnow()),
        size=size_text,
        local_time=_local,
        kinds=KIND_LABELS,
        reader_states=READER_STATES,
        printer_states=PRINTER_STATES,
        levels=LEVEL_NAMES,
    )
