"""Backups: checked online copies, the retention, the second place, the schedule, and the
restore (command line and into a running server)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import GOLD, PLAIN, aged, body, operator_actor, rid

import kakatong.store.db as db
import kakatong.store.schema as schema
from kakatong.domain import ledger
from kakatong.factory import create_app
from kakatong.store import backup
from kakatong.store.models import Card


def balance(card_no: str) -> int:
    return Card.get(Card.card_no == card_no).balance_fen


def service(app) -> backup.Backups:
    return app.extensions["kakatong.backups"]


def sell(amount: str = "1.00", card: str = PLAIN):
    return ledger.consume(operator_actor(), card, amount, request_id=rid())


@pytest.fixture
def mount(tmp_path):
    """A filesystem of its own (tmpfs) of a given size: a USB stick, as far as the backups
    can tell. Needs root (CI runs as root)."""
    mounted = []

    def make(name: str, size: str = "64m") -> Path:
        where = tmp_path / name
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def on_disk(app) -> int:
    """PLAIN's balance as another process would read it."""
    raw = sqlite3.connect(service(app).database)
    try:
        sql = "SELECT balance_fen FROM card WHERE card_no = ?"
        return raw.execute(sql, (PLAIN,)).fetchone()[0]
    finally:
        raw.close()


# ---------------------------------------------------------------- a backup


def test_the_backup_command_makes_a_checked_copy(app, runner):
    sell()
    result = runner.invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    made = backup.backups_in(Path(app.config["KAKATONG"].data_dir) / "backups")
    assert len(made) == 1 and str(made[0].path) in result.output
    assert "integrity and verify ok" in result.output
    # A whole database on its own: no -wal beside it, the same books.
    copy = sqlite3.connect(made[0].path)
    assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert copy.execute("SELECT balance_fen FROM card WHERE card_no = ?", (PLAIN,)).fetchone() == (
        balance(PLAIN),
    )
    copy.close()
    assert made[0].sha256 == backup.sha256_of(made[0].path)
    assert (made[0].cards, made[0].journal_rows) == (4, 4)
    # The second place isn't set: the command says so.
    assert "KAKATONG_BACKUP_DIR" in result.output


def test_a_backup_to_a_path_never_overwrites(app, runner, tmp_path):
    target = tmp_path / "elsewhere" / "shop.sqlite3"
    target.parent.mkdir()
    assert runner.invoke(args=["backup", str(target)]).exit_code == 0
    assert backup.check_copy(target).ok
    again = runner.invoke(args=["backup", str(target)])
    assert again.exit_code != 0 and "不会覆盖" in again.output
    # A directory: the copy gets a backup's name in it.
    assert runner.invoke(args=["backup", str(target.parent)]).exit_code == 0
    assert len(backup.backups_in(target.parent)) == 1


def test_a_copy_that_fails_its_check_is_not_a_backup(app, tmp_path, caplog):
    """verify runs on the copy: books that don't agree make no backup, and leave no file."""
    sell()
    db.db.execute_sql("UPDATE card SET balance_fen = balance_fen + 1 WHERE card_no = ?", (GOLD,))
    with pytest.raises(backup.BackupError, match="检查未通过") as failed:
        service(app).run()
    assert GOLD in str(failed.value)
    directory = service(app).directory
    assert list(directory.iterdir()) == []
    status = service(app).status()
    assert status.last_good is None and status.stale
    assert any("最近一次备份失败" in w for w in status.warnings)
    # Said in the log too (and so on the 系统状态 page's last errors).
    failed_lines = [r for r in caplog.records if r.name == "kakatong.backups"]
    assert [r.levelname for r in failed_lines] == ["ERROR"]
    assert "检查未通过" in failed_lines[0].getMessage()


def test_a_backup_is_consistent_while_the_shop_sells(app):
    """Sales keep being posted by other threads while copies are taken: each copy is a
    database whose books agree (verify, in the check), and none stops a sale."""
    errors = []
    stop = threading.Event()

    def seller():
        try:
            while not stop.is_set():
                sell("0.01")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=seller) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        made = [service(app).run() for _ in range(3)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert all(b.journal_rows >= 3 for b in made)
    assert ledger.verify() == []


# ---------------------------------------------------------------- the retention


def fake(directory: Path, made_at: datetime, reason: str = "") -> backup.Backup:
    path = directory / backup.backup_name(made_at, reason)
    path.write_bytes(b"x")
    b = backup.Backup(path, made_at, 1, backup.sha256_of(path), reason)
    backup.write_manifest(backup.manifest_path(path), b)
    return b


def newest_by(made: list[backup.Backup], bucket, count: int) -> set[Path]:
    """The newest backup of each of the `count` latest buckets."""
    newest: dict = {}
    for b in made:  # oldest first: the last one of each bucket stays
        newest[bucket(b.made_at)] = b.path
    return {newest[key] for key in sorted(newest)[-count:]}


def test_the_retention_keeps_hours_days_and_months(tmp_path):
    start = datetime(2025, 1, 1, 0, 30)
    # Every 20 minutes for 400 days, and one kept before an upgrade.
    made = [
        backup.Backup(tmp_path / f"{i}", start + timedelta(minutes=20 * i), 1, "")
        for i in range(400 * 72)
    ]
    kept_aside = backup.Backup(tmp_path / "u", start, 1, "", reason="before-v7")
    keep = backup.to_keep([*made, kept_aside], hourly=48, daily=30, monthly=12)
    hours = newest_by(made, lambda t: (t.date(), t.hour), 48)
    days = newest_by(made, lambda t: t.date(), 30)
    months = newest_by(made, lambda t: (t.year, t.month), 12)
    assert keep == hours | days | months | {kept_aside.path, made[-1].path}
    assert len(hours) == 48 and len(days) == 30 and len(months) == 12
    assert len(keep) < 48 + 30 + 12 + 1  # the newest day and month are also the newest hour


def test_prune_deletes_what_the_retention_drops(tmp_path):
    now = datetime(2026, 12, 5, 12, 0)
    for hours in range(10):
        fake(tmp_path, now - timedelta(hours=hours))
    fake(tmp_path, now - timedelta(days=400), reason="replaced")
    gone = backup.prune(tmp_path, hourly=3, daily=1, monthly=1, shop="ab12")
    left = backup.backups_in(tmp_path)
    assert len(gone) == 7
    assert [b.made_at for b in left if not b.reason] == [now - timedelta(hours=h) for h in range(3)]
    assert [b.reason for b in left if b.reason] == ["replaced"]
    assert not any(p.exists() or backup.manifest_path(p).exists() for p in gone)


def test_prune_spares_another_shops_backups(tmp_path):
    """A stick that holds the old shop's backups, in a new box started before the restore:
    the new shop's backups never prune the old shop's."""
    now = datetime(2026, 12, 5, 12, 0)
    for hours in range(5):
        for shop in ("old", "new"):
            made = fake(tmp_path, now - timedelta(hours=hours, minutes=30 if shop == "old" else 0))
            marked = backup.Backup(**{**made.__dict__, "shop": shop})
            backup.write_manifest(backup.manifest_path(made.path), marked)
    backup.prune(tmp_path, hourly=1, daily=1, monthly=1, shop="new")
    left = backup.backups_in(tmp_path)
    assert sorted(b.shop for b in left) == ["new"] + ["old"] * 5


# ---------------------------------------------------------------- the schedule


def test_the_schedule_backs_up_hourly_only_after_activity(app):
    backups = service(app)
    now = datetime.utcnow()
    assert backups.due(now)  # none yet
    first = backups.run()
    assert not backups.due(now)
    # An hour later with nothing done: not due; a sale since: due.
    later = first.made_at + timedelta(hours=1, minutes=1)
    assert not backups.due(later)
    sell()
    assert backups.due(later)
    assert not backups.due(first.made_at + timedelta(minutes=30))
    # Hourly off: daily only.
    from kakatong.domain import settings

    settings.update({"backup_hourly": False})
    assert not backups.due(later)
    assert backups.due(first.made_at + timedelta(hours=24))


def test_the_thread_takes_the_first_backup_and_clears_leftovers(app):
    backups = service(app)
    backups.directory.mkdir(parents=True)
    left = backups.directory / ".kakatong-20260101T000000Z.sqlite3.tmp"
    left.write_bytes(b"half a copy")
    backups.start(interval=0.2)
    try:
        deadline = datetime.utcnow() + timedelta(seconds=30)
        while not backup.backups_in(backups.directory) and datetime.utcnow() < deadline:
            threading.Event().wait(0.1)
    finally:
        backups.stop()
    assert len(backup.backups_in(backups.directory)) == 1
    assert not left.exists()


# ---------------------------------------------------------------- the second place


def second_app(tmp_path, second: Path | str):
    return create_app({"data_dir": tmp_path / "data", "demo": True, "backup_dir": str(second)})


def test_each_backup_is_copied_to_the_second_place(tmp_path, mount):
    stick = mount("stick")
    app = second_app(tmp_path, stick)
    made = service(app).run()
    copy = stick / made.path.name
    assert copy.read_bytes() == made.path.read_bytes()
    assert backup.read_backup(copy).sha256 == made.sha256
    assert list(stick.glob(".*")) == []  # nothing half-written left
    status = service(app).status()
    assert status.second_state == "ok" and status.warnings == []
    assert status.second_last.path == copy
    # The retention applies there too.
    for hours in range(1, 60):
        fake(stick, made.made_at - timedelta(hours=hours))
    service(app).run()
    assert len(backup.backups_in(stick)) <= 48 + 30 + 12


def test_a_full_second_place_is_reported_and_the_local_backup_counts(tmp_path, mount):
    stick = mount("stick", size="64k")  # smaller than the database
    app = second_app(tmp_path, stick)
    made = service(app).run()
    assert made.path.exists()
    status = service(app).status()
    assert status.second_state == "full" and status.last_good == made
    assert any("空间不足" in w for w in status.warnings)
    assert list(stick.iterdir()) == []


@pytest.mark.parametrize(
    ("where", "state", "words"),
    [
        ("", "unset", "未设置第二备份位置"),
        ("missing", "missing", "不存在或无法写入"),
        ("same", "same_disk", "同一磁盘"),
    ],
)
def test_a_second_place_that_would_not_survive_the_disk_is_warned_of(tmp_path, where, state, words):
    second = {"": "", "missing": tmp_path / "nowhere", "same": tmp_path / "same"}[where]
    if where == "same":
        second.mkdir()
    app = second_app(tmp_path, second)
    service(app).run()
    status = service(app).status()
    assert status.second_state == state
    assert any(words in w for w in status.warnings)
    assert not status.stale  # the local backup is good


def test_a_stale_second_place_is_warned_of(tmp_path, mount):
    stick = mount("stick")
    app = second_app(tmp_path, stick)
    made = service(app).run()
    # The stick's copy ages: a backup of two days ago is its newest.
    old = made.made_at - timedelta(days=2)
    for path in stick.iterdir():
        path.unlink()
    fake(stick, old)
    status = service(app).status(now=made.made_at + timedelta(minutes=1))
    assert status.second_state == "stale"
    assert any("超过一天" in w for w in status.warnings)


# ---------------------------------------------------------------- restore


def test_restore_brings_back_the_backup_and_keeps_what_it_replaced(app, runner, tmp_path):
    sell("10.00")
    taken = service(app).run()
    before = balance(PLAIN)
    sell("20.00")
    assert balance(PLAIN) == before - 2000
    result = runner.invoke(args=["restore", str(taken.path), "--yes"])
    assert result.exit_code == 0, result.output
    assert "a good backup (4 cards" in result.output
    db.db.close()
    assert balance(PLAIN) == before
    assert ledger.verify() == []
    replaced = [b for b in backup.backups_in(service(app).directory) if b.reason == "replaced"]
    assert len(replaced) == 1 and str(replaced[0].path) in result.output
    old = sqlite3.connect(replaced[0].path)
    assert old.execute("SELECT balance_fen FROM card WHERE card_no = ?", (PLAIN,)).fetchone() == (
        before - 2000,
    )
    old.close()
    # The owner's file is as it was.
    assert backup.sha256_of(taken.path) == taken.sha256


def broken_copies(taken: backup.Backup, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    def edited(name: str, statement: str) -> Path:
        path = tmp_path / name
        path.write_bytes(taken.path.read_bytes())
        raw = sqlite3.connect(path)
        raw.execute(statement)
        raw.commit()
        raw.close()
        return path

    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    cut = tmp_path / "cut.sqlite3"
    cut.write_bytes(taken.path.read_bytes()[: taken.size // 2])
    return {
        "newer": (
            edited("newer.sqlite3", "UPDATE meta SET value = '99' WHERE key = 'schema_version'"),
            "更新的软件版本",
        ),
        "pepper": (
            edited("pepper.sqlite3", "UPDATE meta SET value = 'ffff' WHERE key = 'pepper_mark'"),
            "另一家店",
        ),
        "books": (
            edited("books.sqlite3", "UPDATE card SET points = points + 1"),
            "账目不符",
        ),
        "text": (text, "不是 SQLite"),
        "cut": (cut, "检查未通过"),
    }


@pytest.mark.parametrize("kind", ["newer", "pepper", "books", "text", "cut"])
def test_restore_refuses_what_this_shop_cannot_take(app, runner, tmp_path, kind):
    taken = service(app).run()
    sell("3.00")
    path, words = broken_copies(taken, tmp_path)[kind]
    now = balance(PLAIN)
    before = sorted(p.name for p in service(app).directory.iterdir())
    result = runner.invoke(args=["restore", str(path), "--yes"])
    assert result.exit_code != 0 and words in result.output, result.output
    assert balance(PLAIN) == now
    assert sorted(p.name for p in service(app).directory.iterdir()) == before


def test_restore_asks_first(app, runner):
    taken = service(app).run()
    sell("3.00")
    now = balance(PLAIN)
    result = runner.invoke(args=["restore", str(taken.path)], input="n\n")
    assert result.exit_code != 0 and "nothing was changed" in result.output
    assert balance(PLAIN) == now
    assert [p for p in service(app).directory.iterdir() if p.name.startswith(".")] == []


def test_an_older_backup_is_upgraded_as_it_is_restored(app, runner, tmp_path):
    from test_upgrade import UNDO

    taken = service(app).run()
    old = tmp_path / "old.sqlite3"
    old.write_bytes(taken.path.read_bytes())
    raw = sqlite3.connect(old)
    UNDO[schema.SCHEMA_VERSION](raw)
    raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                (str(schema.SCHEMA_VERSION - 1),))  # fmt: skip
    raw.commit()
    raw.close()
    sell("5.00")
    result = runner.invoke(args=["restore", str(old), "--yes"])
    assert result.exit_code == 0, result.output
    assert f"upgraded from schema version {schema.SCHEMA_VERSION - 1}" in result.output
    db.db.close()
    assert ledger.verify() == []
    assert db.db.execute_sql("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(schema.SCHEMA_VERSION),
    )


def test_restore_into_a_running_server(app, live_api):
    """The server's threads keep their connections: each sees the restored database at its
    next request, and goes on selling from there."""
    assert live_api.transact("consume", PLAIN, amount="1.00").status_code == 201
    taken = service(app).run()
    held = on_disk(app)
    for _ in range(3):
        assert live_api.transact("consume", PLAIN, amount="2.00").status_code == 201
    work = service(app).directory / ".restore-test.sqlite3"
    backup.prepare_restore(taken.path, work, schema.SCHEMA_VERSION)
    backup.apply_restore(service(app).database, work, service(app).directory)
    assert on_disk(app) == held
    # The backup's sessions are not restored: the terminal signs in again.
    assert live_api.transact("consume", PLAIN, amount="1.00").status_code == 401
    live_api.tokens.clear()
    # The server's own threads read the restored database: the next sale starts from it.
    sold = body(live_api.transact("consume", PLAIN, amount="1.00"))
    assert sold["balance"] == f"{(held - 100) / 100:.2f}", sold
    assert on_disk(app) == held - 100
    assert ledger.verify() == []
    assert os.path.exists(service(app).database)


def test_a_restore_loses_no_sale_made_while_it_runs(app):
    """Sales go on in other threads while a restore is applied: each acknowledged one is in
    the database kept aside or, made after the restore, in the restored one; none in neither."""
    taken = service(app).run()
    work = service(app).directory / ".restore-race.sqlite3"
    backup.prepare_restore(taken.path, work, schema.SCHEMA_VERSION)
    sold: list[int] = []
    stop = threading.Event()

    def seller():
        while not stop.is_set():
            sold.append(sell("0.01").record.voucher_no)

    threads = [threading.Thread(target=seller) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        while len(sold) < 5:
            threading.Event().wait(0.01)
        kept = backup.apply_restore(service(app).database, work, service(app).directory)
        count = len(sold)
        while len(sold) < count + 5:
            threading.Event().wait(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()

    def vouchers(path: Path) -> set[int]:
        raw = sqlite3.connect(path)
        try:
            return {row[0] for row in raw.execute("SELECT voucher_no FROM journal")}
        finally:
            raw.close()

    aside, live = vouchers(kept.path), vouchers(service(app).database)
    assert [v for v in sold if v not in aside and v not in live] == []
    assert ledger.verify() == []


def test_a_prepared_copy_gone_or_changed_restores_nothing(app, tmp_path):
    taken = service(app).run()
    sell("3.00")
    now = balance(PLAIN)
    for spoil in ("gone", "changed"):
        work = service(app).directory / f".restore-{spoil}.sqlite3"
        backup.prepare_restore(taken.path, work, schema.SCHEMA_VERSION)
        if spoil == "gone":
            work.unlink()
        else:
            raw = sqlite3.connect(work)
            raw.execute("UPDATE card SET balance_fen = 0")
            raw.commit()
            raw.close()
        with pytest.raises(backup.BackupError, match="已不存在或已改变"):
            backup.apply_restore(service(app).database, work, service(app).directory)
        db.db.close()
        assert balance(PLAIN) == now
    assert not [b for b in backup.backups_in(service(app).directory) if b.reason == "replaced"]


def test_a_backup_of_another_page_size_restores(app, tmp_path):
    taken = service(app).run()
    other = tmp_path / "big-pages.sqlite3"
    raw = sqlite3.connect(taken.path, isolation_level=None)
    raw.execute(f"VACUUM INTO '{other}'")
    raw.close()
    raw = sqlite3.connect(other, isolation_level=None)
    raw.execute("PRAGMA page_size = 8192")
    raw.execute("VACUUM")
    assert raw.execute("PRAGMA page_size").fetchone() == (8192,)
    raw.close()
    before = balance(PLAIN)
    sell("4.00")
    work = service(app).directory / ".restore-pages.sqlite3"
    backup.prepare_restore(other, work, schema.SCHEMA_VERSION)
    backup.apply_restore(service(app).database, work, service(app).directory)
    db.db.close()
    assert balance(PLAIN) == before and ledger.verify() == []


def test_the_command_does_not_restore_under_a_running_server(app, runner):
    taken = service(app).run()
    data = Path(app.config["KAKATONG"].data_dir)
    held = backup.hold_server_lock(data)
    try:
        assert backup.server_running(data)
        result = runner.invoke(args=["restore", str(taken.path), "--yes"])
        assert result.exit_code != 0 and "the server is running" in result.output
    finally:
        held.close()
    assert not backup.server_running(data)
    assert runner.invoke(args=["restore", str(taken.path), "--yes"]).exit_code == 0


def test_backups_past_the_retention_make_room_first(tmp_path, mount):
    """A stick filled with copies the retention no longer keeps (it was lowered) takes the
    next backup: they go before it is written, not after."""
    stick = mount("stick", size="1m")
    app = second_app(tmp_path, stick)
    made = service(app).run()
    from kakatong.domain import settings

    settings.update({"backup_keep_hourly": 1, "backup_keep_daily": 1, "backup_keep_monthly": 1})
    filler = made.path.read_bytes()
    for hours in range(1, 40):
        old = stick / backup.backup_name(made.made_at - timedelta(hours=hours))
        try:
            old.write_bytes(filler)
        except OSError:
            old.unlink(missing_ok=True)
            break
        b = backup.Backup(old, made.made_at - timedelta(hours=hours), len(filler),
                          made.sha256, shop=made.shop)  # fmt: skip
        backup.write_manifest(backup.manifest_path(old), b)
    assert service(app).status().second_state == "full"
    sell()
    service(app).run()
    status = service(app).status()
    assert status.second_state == "ok", status.warnings
    assert len(backup.backups_in(stick)) <= 2


def test_a_backup_stamped_ahead_of_the_clock_does_not_stop_the_schedule(app):
    backups = service(app)
    made = backups.run()
    aged(made, -timedelta(days=200))
    now = made.made_at + timedelta(minutes=1)
    assert backups.due(now)
    status = backups.status(now=now)
    assert status.stale and any("时间在未来" in w for w in status.warnings)
    backups.run()
    assert not backups.due(datetime.utcnow())
