"""Backups: checked online copies of the database, kept by a retention policy in the data
directory and in a second place, and restored into the live database.

A copy is taken with SQLite's backup API in one step from its own connection: in WAL mode a
reader never blocks a writer, so a sale waits on a backup for nothing (the step runs outside
the GIL too). The copy is then checked in a child process (`python -m kakatong.checkdb`):
integrity, schema version, the shop's pepper mark and the ledger's `verify`, so that a long
check holds neither the server's interpreter nor its memory. Only a copy that passed is
renamed to a backup's name: a file called `kakatong-….sqlite3` in a backup directory is a
good backup, and the JSON beside it says what was checked.

A restore writes a checked (and, if older, upgraded) copy into the live database through the
backup API again, as one write transaction: every open connection of the server sees the
restored database at its next statement, and the database it replaced is kept aside first.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import runtime
from .db import _write_lock, db

log = logging.getLogger("kakatong.backups")

PREFIX = "kakatong-"
SUFFIX = ".sqlite3"
STAMP = "%Y%m%dT%H%M%SZ"
# A backup's file: kakatong-20261205T031500Z.sqlite3 (UTC). Copies kept for a reason (before an
# upgrade, before a restore) carry it after the time and are never pruned by the retention.
CHECK_SECONDS = 30 * 60  # the checking child's limit (integrity + verify of a very large shop)
DAILY = timedelta(hours=24)
STALE = timedelta(hours=26)  # no good backup for this long: the back office and /readyz warn
HEADROOM = 1.2  # a copy is written only where the database's size times this is free


class BackupError(Exception):
    """A backup or a restore that did not happen, with why, in the shop's words (Chinese)."""


@dataclass(frozen=True)
class Check:
    """What the checking child found in a copy."""

    ok: bool
    problems: list[str]
    schema_version: int | None
    upgraded_from: int | None = None
    pepper_mark: str | None = None
    cards: int = 0
    journal_rows: int = 0
    last_transaction_at: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Backup:
    """A good backup on disk, from its file and the manifest beside it."""

    path: Path
    made_at: datetime  # UTC, naive (as the database stores times)
    size: int
    sha256: str
    reason: str = ""  # "" for a scheduled or asked-for backup; "before-v7", "before-restore"
    schema_version: int | None = None
    cards: int = 0
    journal_rows: int = 0
    activity: list = field(default_factory=list)
    shop: str = ""  # the pepper mark of the shop it is a backup of ("" not checked)

    @property
    def place(self) -> str:
        return self.path.parent.name


def stamp(moment: datetime) -> str:
    return moment.strftime(STAMP)


def backup_name(moment: datetime, reason: str = "") -> str:
    return f"{PREFIX}{stamp(moment)}{'-' + reason if reason else ''}{SUFFIX}"


def parse_name(name: str) -> tuple[datetime, str] | None:
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return None
    core = name[len(PREFIX) : -len(SUFFIX)]
    when, _, reason = core.partition("-")
    try:
        return datetime.strptime(when, STAMP), reason
    except ValueError:
        return None


# ---------------------------------------------------------------- copying and checking


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _forget_cached(path: Path) -> None:
    """Drop the file's pages from the kernel's cache, so that reading it back reads the
    device (a USB stick), not the memory it was written from."""
    if hasattr(os, "posix_fadvise"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _tmp(directory: Path, name: str) -> Path:
    """A hidden work file of this process and thread (two backups at once never share one)."""
    return directory / f".{name}.{os.getpid()}-{threading.get_ident()}.tmp"


def _free_name(directory: Path, made_at: datetime, reason: str) -> tuple[Path, datetime]:
    """The backup's name, a second later while that one is taken (two backups in a second)."""
    while (directory / backup_name(made_at, reason)).exists():
        made_at += timedelta(seconds=1)
    return directory / backup_name(made_at, reason), made_at


def copy_database(source: Path, dest: Path) -> None:
    """A consistent copy of the live database `source` at `dest` (a new file), self-contained
    (rollback journal mode, no -wal beside it) and on the disk."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10)
    dst = sqlite3.connect(str(dest))
    try:
        # One step: the read transaction holds a snapshot while writers go on in the WAL.
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()
    _fsync(dest)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_copy(path: Path, upgrade: bool = False) -> Check:
    """Check a copy in a child process (kakatong/checkdb.py): integrity, schema version,
    pepper mark, `verify`. With `upgrade`, an older copy is first brought to this software's
    schema (the copy is changed: never pass the shop's own file)."""
    command = [sys.executable, "-m", "kakatong.checkdb", str(path)]
    if upgrade:
        command.append("--upgrade")
    root = Path(__file__).resolve().parent.parent.parent
    try:
        done = subprocess.run(
            command,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=CHECK_SECONDS,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
    except subprocess.TimeoutExpired:
        return Check(False, ["检查超时"], None)
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(无输出)"]
        return Check(False, [f"检查程序出错：{tail[0]}"], None)
    return Check(**found)


def refusal(check: Check, newest: int) -> str | None:
    """Why a checked copy can't be restored into this shop, in the shop's words; None if it
    can."""
    if check.schema_version is not None and check.schema_version > newest:
        return (
            f"该备份来自更新的软件版本（数据结构版本 {check.schema_version}，"
            f"本机软件为 {newest}），请先升级软件再恢复"
        )
    if not check.ok:
        return "备份文件检查未通过：" + "；".join(check.problems[:5])
    if check.pepper_mark is not None and check.pepper_mark != runtime.pepper_mark():
        return (
            "该备份来自另一家店或另一套密钥（PIN 密钥 pin_pepper 不同），恢复后所有卡密码都无法"
            "校验：请连同原来的 pin_pepper 一起恢复"
        )
    return None


def write_manifest(path: Path, backup: Backup) -> None:
    data = asdict(backup)
    data["path"] = path.name
    data["made_at"] = backup.made_at.isoformat()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    _fsync(tmp)
    os.replace(tmp, path)


def manifest_path(path: Path) -> Path:
    return path.with_suffix(".json")


def read_backup(path: Path) -> Backup | None:
    """The good backup at `path` (a backup's name, a manifest beside it), or None."""
    parsed = parse_name(path.name)
    if parsed is None or not path.is_file():
        return None
    try:
        data = json.loads(manifest_path(path).read_text(encoding="utf-8"))
        return Backup(
            path=path,
            made_at=parsed[0],
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            reason=parsed[1],
            schema_version=data.get("schema_version"),
            cards=int(data.get("cards", 0)),
            journal_rows=int(data.get("journal_rows", 0)),
            activity=list(data.get("activity", [])),
            shop=str(data.get("shop", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def backups_in(directory: Path | None) -> list[Backup]:
    """The good backups in a directory, newest first."""
    if directory is None or not directory.is_dir():
        return []
    found = [read_backup(path) for path in directory.glob(f"{PREFIX}*{SUFFIX}")]
    return sorted((b for b in found if b is not None), key=lambda b: b.made_at, reverse=True)


def make_backup(
    source: Path,
    directory: Path,
    activity: list,
    reason: str = "",
    check: bool = True,
    name: str | None = None,
) -> Backup:
    """Copy the live database into `directory` as a backup, checked before it gets its name.
    Raises BackupError (nothing left behind) when the copy can't be made or fails its check."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        need = int(source.stat().st_size * HEADROOM)
        free = shutil.disk_usage(directory).free
    except OSError as exc:
        raise BackupError(f"无法写入 {directory}：{exc.strerror or exc}") from exc
    if free < need:
        raise BackupError(f"{directory} 空间不足：剩余 {free >> 20} MB，需要约 {need >> 20} MB")
    made_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    if name:
        final = directory / name
        if final.exists():
            raise BackupError(f"{final} 已存在，不会覆盖")
    tmp = _tmp(directory, name or backup_name(made_at, reason))
    try:
        copy_database(source, tmp)
        found = check_copy(tmp) if check else None
        if found is not None and not found.ok:
            raise BackupError("备份副本检查未通过：" + "；".join(found.problems[:5]))
        if not name:
            final, made_at = _free_name(directory, made_at, reason)
        backup = Backup(
            path=final,
            made_at=made_at,
            size=tmp.stat().st_size,
            sha256=sha256_of(tmp),
            reason=reason,
            schema_version=found.schema_version if found else None,
            cards=found.cards if found else 0,
            journal_rows=found.journal_rows if found else 0,
            activity=activity,
            shop=(found.pepper_mark or "") if found else "",
        )
        write_manifest(manifest_path(final), backup)
        os.replace(tmp, final)
        _fsync_dir(directory)
    except sqlite3.Error as exc:
        raise BackupError(f"无法复制数据库：{exc}") from exc
    except OSError as exc:
        raise BackupError(f"无法写入 {directory}：{exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return backup


def copy_backup(backup: Backup, directory: Path) -> Backup:
    """The same backup, copied into another directory: written beside its name, on the disk,
    read back and compared before it is renamed."""
    final = directory / backup.path.name
    tmp = _tmp(directory, final.name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(backup.path, tmp)
        _fsync(tmp)
        _forget_cached(tmp)
        if sha256_of(tmp) != backup.sha256:
            raise BackupError(f"{directory}：写入后读回的内容与备份不一致")
        copied = Backup(**{**asdict(backup), "path": final})
        write_manifest(manifest_path(final), copied)
        os.replace(tmp, final)
        _fsync_dir(directory)
    except OSError as exc:
        raise BackupError(f"无法写入 {directory}：{exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return copied


def to_keep(backups: list[Backup], hourly: int, daily: int, monthly: int) -> set[Path]:
    """The retention: the newest backup of each of the last `hourly` hours, `daily` days and
    `monthly` months that have one (in UTC), the newest of all, and every copy kept for a
    reason. The rest may go."""
    plain = sorted((b for b in backups if not b.reason), key=lambda b: b.made_at, reverse=True)
    keep = {b.path for b in backups if b.reason}
    if plain:
        keep.add(plain[0].path)
    for count, bucket in (
        (hourly, lambda t: (t.year, t.month, t.day, t.hour)),
        (daily, lambda t: (t.year, t.month, t.day)),
        (monthly, lambda t: (t.year, t.month)),
    ):
        seen: set = set()
        for b in plain:
            key = bucket(b.made_at)
            if key not in seen and len(seen) < count:
                seen.add(key)
                keep.add(b.path)
    return keep


def prune(directory: Path, hourly: int, daily: int, monthly: int, shop: str) -> list[Path]:
    """Delete the backups of this shop (its pepper mark, or none recorded) in `directory`
    that the retention doesn't keep; returns them. Another shop's backups on the same stick
    (a new box started before the old shop was restored) are never touched."""
    backups = [b for b in backups_in(directory) if b.shop in (shop, "")]
    keep = to_keep(backups, hourly, daily, monthly)
    gone = []
    for b in backups:
        if b.path not in keep:
            b.path.unlink(missing_ok=True)
            manifest_path(b.path).unlink(missing_ok=True)
            gone.append(b.path)
    return gone


# ---------------------------------------------------------------- restore


def prepare_restore(backup_file: Path, work: Path, newest: int) -> Check:
    """Copy a file offered for a restore to `work` and check it there: integrity, a Kakatong
    database of this schema or an older one (then upgraded, in the copy), this shop's pepper,
    `verify`. The owner's file is never changed. Raises BackupError, leaving nothing behind,
    when it is not a backup this shop can take."""
    with open(backup_file, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise BackupError("该文件不是卡卡通的备份（不是 SQLite 数据库）")
    work.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(backup_file, work)
        check = check_copy(work, upgrade=True)
        why = refusal(check, newest)
        if why:
            raise BackupError(why)
        _without_sessions(work)
        # What was checked, so that apply_restore writes exactly that or nothing.
        Path(f"{work}.sha256").write_text(sha256_of(work))
    except BaseException:
        discard(work)
        raise
    return check


def _without_sessions(work: Path) -> None:
    """The sessions a backup holds were signed in when it was made: after a restore everyone
    signs in again (the restore page keeps its owner's own)."""
    copy = sqlite3.connect(str(work), isolation_level=None)
    try:
        if copy.execute("SELECT 1 FROM sqlite_master WHERE name = 'staff_session'").fetchone():
            copy.execute("DELETE FROM staff_session")
    finally:
        copy.close()


def discard(work: Path) -> None:
    for extra in ("", "-journal", "-wal", "-shm", ".sha256"):
        Path(f"{work}{extra}").unlink(missing_ok=True)


def _same_page_size(work: Path, live: Path) -> None:
    """The backup API writes into a WAL database only at its own page size: a backup made at
    another one is rebuilt at the live database's (VACUUM, in the prepared copy)."""
    size = sqlite3.connect(f"file:{live}?mode=ro", uri=True)
    try:
        (wanted,) = size.execute("PRAGMA page_size").fetchone()
    finally:
        size.close()
    copy = sqlite3.connect(str(work), isolation_level=None)
    try:
        (found,) = copy.execute("PRAGMA page_size").fetchone()
        if found != wanted:
            copy.execute(f"PRAGMA page_size = {int(wanted)}")
            copy.execute("VACUUM")
    finally:
        copy.close()


def apply_restore(live: Path, work: Path, aside: Path) -> Backup:
    """Write a prepared copy (prepare_restore) over the live database, in one transaction,
    after keeping the live one aside in `aside` (listed with the backups, never pruned; not
    checked: it may be why the shop restores). Returns the copy kept aside.

    Both happen under this process's write lock, so no sale of the server lands between the
    copy kept aside and the restore (it would be in neither); a restore from another process
    is for a stopped server (server_running). The prepared copy must still be exactly what
    was checked: a copy gone or changed meanwhile restores nothing."""
    checked = Path(f"{work}.sha256")
    try:
        if not work.is_file() or not checked.is_file() or sha256_of(work) != checked.read_text():
            raise BackupError("准备好的恢复副本已不存在或已改变，数据库未改变：请重新检查备份文件")
        _same_page_size(work, live)
        aside.mkdir(parents=True, exist_ok=True)
        with _write_lock:
            kept, now = _free_name(aside, datetime.now(UTC).replace(tzinfo=None, microsecond=0),
                                   "replaced")  # fmt: skip
            try:
                copy_database(live, kept)
            except sqlite3.Error:
                # A database too damaged to be read through SQLite: its file as it is.
                shutil.copyfile(live, kept)
            write_manifest(
                manifest_path(kept),
                Backup(kept, now, kept.stat().st_size, sha256_of(kept), reason="replaced"),
            )
            src = sqlite3.connect(f"file:{work}?mode=ro", uri=True)
            dst = sqlite3.connect(str(live), timeout=30)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"恢复未完成，数据库未改变：{exc}") from exc
    except OSError as exc:
        raise BackupError(f"恢复未完成，数据库未改变：{exc.strerror or exc}") from exc
    finally:
        discard(work)
    return read_backup(kept) or Backup(kept, now, 0, "", reason="replaced")


# A running server holds this lock on a file of its data directory for as long as it runs:
# `flask restore` refuses to write under it (the server's sales would not wait for it).
SERVER_LOCK = ".server.lock"


def hold_server_lock(data_dir: Path):
    """Taken by the server at start and held until it ends (the open file is the lock)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    held = open(data_dir / SERVER_LOCK, "a")  # noqa: SIM115
    try:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        held.close()
        return None  # another server on the same data: the commands will see it running
    return held


def server_running(data_dir: Path) -> bool:
    path = data_dir / SERVER_LOCK
    if not path.exists():
        return False
    with open(path, "a") as probe:
        try:
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(probe.fileno(), fcntl.LOCK_UN)
    return False


def activity() -> list:
    """What changes when the shop does something: the newest row of each kept table. A backup
    remembers it; the next hourly one is taken only if it moved."""
    row = db.execute_sql(
        "SELECT (SELECT max(id) FROM journal), (SELECT max(id) FROM audit_log),"
        " (SELECT max(id) FROM settlement), (SELECT max(id) FROM offline_upload),"
        " (SELECT max(id) FROM card), (SELECT count(*) FROM setting)"
    ).fetchone()
    return list(row)


# ---------------------------------------------------------------- the service


@dataclass(frozen=True)
class Policy:
    hourly: bool = True  # every hour there was activity; otherwise daily only
    keep_hourly: int = 48
    keep_daily: int = 30
    keep_monthly: int = 12


@dataclass
class Status:
    """What the back office, /readyz and the home page say about backups."""

    last_good: Backup | None
    second_dir: Path | None
    second_last: Backup | None
    second_state: str  # ok | unset | missing | same_disk | full | stale | failed
    last_error: str | None
    last_error_at: datetime | None
    stale: bool
    warnings: list[str]
    local: list[Backup]
    second: list[Backup]

    @property
    def warning(self) -> str | None:
        return "；".join(self.warnings) or None


def _mount_of(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return path


class Backups:
    """The scheduled backups of one live database: a thread that takes one when due, keeps the
    retention in `directory` and the second place, and answers what the state is."""

    def __init__(
        self,
        database: Path,
        directory: Path,
        second: Path | None,
        policy: Callable[[], Policy],
        activity: Callable[[], list],
        newest_schema: int,
    ) -> None:
        self.database = database
        self.directory = directory
        self.second = second
        self.policy = policy
        self.activity = activity
        self.newest_schema = newest_schema
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.second_error: str | None = None
        self._lock = threading.Lock()  # one backup at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- taking one

    def due(self, now: datetime) -> bool:
        # A backup stamped ahead of now (a clock set back since) is not the newest: one is
        # taken by the clock as it is, rather than none until the clock catches up.
        newest = next(
            iter(b for b in backups_in(self.directory) if not b.reason and b.made_at <= now),
            None,
        )
        if newest is None:
            return True
        age = now - newest.made_at
        if age >= DAILY:
            return True
        if not self.policy().hourly or age < timedelta(hours=1):
            return False
        return self.activity() != newest.activity

    def run(self, reason: str = "") -> Backup:
        """Take a backup now into the directory and the second place, keep the retention.
        Raises BackupError when the local backup fails (a failing second place is recorded in
        the status, and the local backup still counts)."""
        with self._lock:
            now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
            policy = self.policy()
            keep = (policy.keep_hourly, policy.keep_daily, policy.keep_monthly)
            shop = runtime.pepper_mark()
            # What the retention lets go goes first: a disk or stick filled by copies past the
            # retention (a retention lowered, a stick shared) takes the next backup.
            for directory in (self.directory, self.second):
                if directory is not None and directory.is_dir():
                    prune(directory, *keep, shop=shop)
            try:
                backup = make_backup(self.database, self.directory, self.activity(), reason)
            except BackupError as exc:
                self.last_error, self.last_error_at = str(exc), now
                log.error("backup failed: %s", exc)
                raise
            self.last_error = self.last_error_at = None
            log.info(
                "backup: %s (%d bytes, %d cards, %d journal rows; checked)",
                backup.path, backup.size, backup.cards, backup.journal_rows,
            )  # fmt: skip
            prune(self.directory, *keep, shop=shop)
            self.second_error = None
            problem = self._second_problem(backup.size)
            if problem is None:
                try:
                    copy_backup(backup, self.second)
                    prune(self.second, *keep, shop=shop)
                except BackupError as exc:
                    self.second_error = str(exc)
                    log.warning("backup: the copy to the second place failed: %s", exc)
            else:
                log.warning("backup: not copied to a second place: %s", problem[1])
            return backup

    def _second_problem(self, size: int) -> tuple[str, str] | None:
        """(state, the shop's words) when the second place can't take a copy now."""
        if self.second is None:
            return (
                "unset",
                "未设置第二备份位置（KAKATONG_BACKUP_DIR）：磁盘损坏时备份会随数据一起丢失",
            )
        if not self.second.is_dir() or not os.access(self.second, os.W_OK | os.X_OK):
            return (
                "missing",
                f"第二备份位置 {self.second} 不存在或无法写入（U 盘或网络共享是否已接好？）",
            )
        data_mount = _mount_of(self.directory)
        mount = _mount_of(self.second)
        if (
            mount == data_mount
            or mount == Path("/")
            or self.second.stat().st_dev == (self.directory.stat().st_dev)
        ):
            return (
                "same_disk",
                f"第二备份位置 {self.second} 与数据在同一磁盘上：磁盘损坏时会一起丢失",
            )
        free = shutil.disk_usage(self.second).free
        need = int(size * HEADROOM)
        if free < need:
            return "full", (
                f"第二备份位置 {self.second} 空间不足：剩余 {free >> 20} MB，需要约 {need >> 20} MB"
            )
        return None

    # -- the thread

    def start(self, interval: float = 60.0) -> Backups:
        # What a process stopped in the middle of a copy left behind is never a backup.
        for directory in (self.directory, self.second):
            if directory is not None and directory.is_dir():
                for left in directory.glob(f".{PREFIX}*.tmp"):
                    left.unlink(missing_ok=True)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, args=(interval,), name="kakatong-backups", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                if self.due(datetime.now(UTC).replace(tzinfo=None)):
                    self.run()
            except BackupError:
                pass  # recorded in last_error, shown by the status
            except Exception as exc:  # the loop must outlive any one failure
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.last_error_at = datetime.now(UTC).replace(tzinfo=None)
                log.exception("backup failed")
            self._stop.wait(interval)

    # -- the state

    def status(self, now: datetime | None = None) -> Status:
        now = now or datetime.now(UTC).replace(tzinfo=None)
        local = backups_in(self.directory)
        ahead = [b for b in local if b.made_at > now + timedelta(minutes=5)]
        # A copy kept for a reason (before an upgrade, the database a restore replaced) was not
        # checked, and says nothing of whether the backups run.
        good = next((b for b in local if not b.reason and b not in ahead), None)
        second = backups_in(self.second) if self.second else []
        second_last = next(iter(second), None)
        problem = self._second_problem(good.size if good else self._live_size())
        if problem is not None:
            state, second_warning = problem
        elif self.second_error:
            state, second_warning = "failed", f"复制到第二备份位置失败：{self.second_error}"
        elif second_last is None or now - second_last.made_at > STALE:
            state = "stale"
            second_warning = f"第二备份位置 {self.second} 超过一天没有新的备份"
        else:
            state, second_warning = "ok", None
        stale = good is None or now - good.made_at > STALE
        warnings = []
        if self.last_error:
            warnings.append(f"最近一次备份失败：{self.last_error}")
        if stale:
            warnings.append("还没有任何备份" if good is None else "超过一天没有成功的备份")
        if second_warning:
            warnings.append(second_warning)
        if ahead:
            when = stamp(ahead[-1].made_at)
            warnings.append(f"有 {len(ahead)} 份备份的时间在未来（{when}）：本机时钟曾被调快？")
        return Status(
            last_good=good,
            second_dir=self.second,
            second_last=second_last,
            second_state=state,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            stale=stale,
            warnings=warnings,
            local=local,
            second=second,
        )

    def _live_size(self) -> int:
        """The database's size with what its WAL holds (a backup's is about that)."""
        paths = (self.database, Path(f"{self.database}-wal"))
        return sum(p.stat().st_size for p in paths if p.exists())

    def find(self, name: str) -> Backup | None:
        """A backup by its file name, in the directory or the second place."""
        if parse_name(name) is None or "/" in name or "\\" in name:
            return None
        for directory in (self.directory, self.second):
            if directory is not None:
                found = read_backup(directory / name)
                if found is not None:
                    return found
        return None
