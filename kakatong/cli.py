"""Admin commands (`flask --app app <command>`) and the first-run initialisation they share
with the server: init, import-cards, set-password, verify, print-test, backup, restore."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .config import Config
from .devices import printer, printing
from .domain import branches, cards, ledger, staff, terminals
from .domain.errors import LedgerError
from .store import backup, move, runtime
from .store.db import is_database_url, serialised, write
from .store.models import Card, Level, Merchant, Meta, Terminal
from .store.schema import SCHEMA_VERSION, SchemaTooNew, integrity_check, upgrade

DEFAULT_MERCHANT = {
    "merchant_id": "898100000000001",
    "merchant_name": "卡卡通示范商户",
    "receipt_title": "卡卡通会员签购单",
}
DEFAULT_TERMINAL_ID = "10000001"
# The back office posts transactions as a terminal of its own (own trace numbers and batch).
BACKOFFICE_TERMINAL_ID = "99000001"
DEFAULT_LEVEL = {"name": "普通会员", "discount_pct": 100, "points_multiplier_pct": 100}

# The demo cards of a fresh database (KAKATONG_DEMO=1); the README lists them.
DEMO_LEVEL = {"name": "金卡会员", "discount_pct": 88, "points_multiplier_pct": 150}
DEMO_CSV = (
    ",".join(cards.IMPORT_COLUMNS)
    + """
1680106700000018,,,张三,male,,,普通会员,,,500.00,120
1680860097157114,A0001,13800138000,李四,female,1990-05-01,,金卡会员,2099-12-31,123456,1000.00,300
1680860079316804,,13900139000,王五,secret,,,普通会员,2099-12-31,888888,200.00,0
"""
)
DEMO_INACTIVE = "1680106700000026"


class NotStarted(RuntimeError):
    """The server must not start on this database; the message says why and what to do."""


class UpgradeFailed(NotStarted):
    """The schema could not be brought to this software's version; the database is as it was."""


def _version_on_disk() -> int:
    """The schema version of the database as it is (0: no database yet)."""
    if not Meta.table_exists():
        return 0
    row = Meta.get_or_none(Meta.key == "schema_version")
    return int(row.value) if row else 0


def _kept_before(config: Config, reason: str, copy: backup.Backup) -> backup.Backup:
    """The copy kept for this upgrade by an earlier attempt, if it holds the same database as
    the copy just made (which then goes): a server restarted over and over on a failing
    upgrade keeps one copy, not one per start."""
    for earlier in backup.backups_in(config.backups_path):
        if earlier.reason == reason and earlier.path != copy.path and earlier.sha256 == copy.sha256:
            copy.path.unlink(missing_ok=True)
            backup.manifest_path(copy.path).unlink(missing_ok=True)
            return earlier
    return copy


def _upgrade(config: Config) -> tuple[int, int, list[str]]:
    """upgrade(), after keeping a copy of an older database in data/backups (never pruned).
    A migration that fails is undone whole by SQLite: UpgradeFailed says so, and where the
    copy is."""
    found = _version_on_disk()
    done = []
    kept = None
    # (PostgreSQL upgrades in one transaction, its DDL included; its copies are pg_dump's.)
    if 0 < found < SCHEMA_VERSION and not config.on_postgres:
        try:
            kept = backup.make_backup(
                config.database_path,
                config.backups_path,
                [],
                reason=f"before-v{SCHEMA_VERSION}",
                check=False,
            )
        except backup.BackupError as exc:
            raise UpgradeFailed(
                f"the database is at schema version {found} and needs upgrading to "
                f"{SCHEMA_VERSION}, but no copy could be kept first ({exc}); nothing was "
                "changed"
            ) from None
        kept = _kept_before(config, f"before-v{SCHEMA_VERSION}", kept)
        done.append(f"kept a copy of the version {found} database at {kept.path}")
    try:
        before, after = upgrade()
    except SchemaTooNew as exc:
        raise UpgradeFailed(f"{exc}; nothing was changed") from None
    except Exception as exc:
        if found == 0:
            raise
        where = f"; a copy made before the attempt is at {kept.path}" if kept else ""
        raise UpgradeFailed(
            f"upgrading the database from schema version {found} to {SCHEMA_VERSION} failed "
            f"({type(exc).__name__}: {exc}); the database was left as it was, at version "
            f"{found}{where}"
        ) from exc
    return before, after, done


def _mark_pepper(done: list[str], config: Config) -> None:
    """Keep the pepper's mark in the database (a restore refuses another shop's), and check
    that the pepper in data/ is the one this database's PINs were set with. A shop's server
    says so loudly and serves (its cards without a PIN still work); a chain's process refuses
    to start: it would turn away every PIN the other branches' processes take."""
    mark = runtime.pepper_mark()
    write(lambda: Meta.insert(key="pepper_mark", value=mark).on_conflict_ignore().execute())
    if Meta.get_by_id("pepper_mark").value == mark:
        return
    if config.on_postgres:
        raise NotStarted(
            "the PIN pepper (pin_pepper in the data directory) is not the one the chain's "
            "database was created with: every card PIN check would fail. Copy pin_pepper and "
            "secret_key from the data directory of the chain's first process (README: a new "
            "branch)"
        )
    message = (
        "the PIN pepper (data/pin_pepper) is not the one this database's PINs were set "
        "with: no card PIN will verify. Put back the shop's own pin_pepper file"
    )
    logging.getLogger("kakatong").error("%s", message)
    done.append("WARNING: " + message)


def initialise(config: Config) -> list[str]:
    """Create or upgrade the database and its first-run data. Safe to run any number of times;
    returns what it did."""
    before, after, kept = _upgrade(config)
    done = kept + [
        f"created the database at schema version {after}"
        if before == 0
        else f"upgraded the schema from version {before} to {after}"
        if before != after
        else f"schema at version {after}"
    ]

    def first_run() -> None:
        serialised("first_run")
        if not Merchant.select().exists():
            Merchant.create(**DEFAULT_MERCHANT)
            done.append(f"created the merchant {DEFAULT_MERCHANT['merchant_name']}")
        branch = branches.ensure_one()
        if not Terminal.select().where(Terminal.kind == "pos").exists():
            Terminal.create(terminal_id=DEFAULT_TERMINAL_ID, name="收银台 1", branch=branch)
            done.append(f"created terminal {DEFAULT_TERMINAL_ID}")
        if not Terminal.select().where(Terminal.kind == "backoffice").exists():
            # A shop that already gave 99000001 to a counter keeps it: the next free ID.
            taken = {t.terminal_id for t in Terminal.select(Terminal.terminal_id)}
            number = int(BACKOFFICE_TERMINAL_ID)
            while str(number) in taken:
                number += 1
            Terminal.create(terminal_id=str(number), name="后台", kind="backoffice", branch=branch)
            done.append(f"created the back office's terminal {number}")
        if not Level.select().exists():
            Level.create(**DEFAULT_LEVEL)
        staff.create_defaults()

    def demo_stock() -> None:
        Level.get_or_create(name=DEMO_LEVEL["name"], defaults=DEMO_LEVEL)
        Card.get_or_create(card_no=DEMO_INACTIVE)

    write(first_run)
    _mark_pepper(done, config)
    if before == 0 and config.demo:
        write(demo_stock)
        ledger.import_cards(cards.parse_import(DEMO_CSV))
        done.append("created the demo cards")
    return done


def register(app: Flask) -> None:
    for command in (
        init_command,
        import_cards_command,
        set_password_command,
        verify_command,
        print_test_command,
        backup_command,
        restore_command,
        move_to_command,
    ):
        app.cli.add_command(command)


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create or upgrade the database (safe to run twice)."""
    config = current_app.config["KAKATONG"]
    # The app factory has already run initialise() once as it started; show what that did.
    for line in current_app.config["KAKATONG_INIT_LOG"] + initialise(config)[1:]:
        click.echo(line)
    click.echo(f"data in {config.data_dir}")


@click.command("import-cards")
@with_appcontext
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_cards_command(csv_file: Path) -> None:
    """Import members from a CSV file (all lines or none)."""
    try:
        text = csv_file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise click.ClickException("the file is not UTF-8 text") from None
    try:
        rows = cards.parse_import(text)
        count = ledger.import_cards(rows)
    except cards.ImportRefused as refused:
        for problem in refused.problems:
            where = f" {problem.column}" if problem.column else ""
            click.echo(f"line {problem.line}{where}: {problem.message}", err=True)
        lines = len({problem.line for problem in refused.problems})
        raise click.ClickException(f"{lines} bad line(s); nothing was imported") from None
    click.echo(f"imported {count} card(s)")


@click.command("set-password")
@with_appcontext
@click.argument("staff_no")
@click.argument("new_password")
def set_password_command(staff_no: str, new_password: str) -> None:
    """Set a staff member's password (the owner's on first start, or a forgotten one)."""
    try:
        staff.set_password(staff_no, new_password)
    except LedgerError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"password of {staff_no} set")


@click.command("verify")
@with_appcontext
def verify_command() -> None:
    """Recompute every balance and points from the journal; exit 1 on any mismatch."""
    problems = ledger.verify()
    integrity = integrity_check()
    if integrity != ["ok"]:
        problems.extend(f"integrity_check: {line}" for line in integrity)
    cards_count = Card.select().count()
    for line in problems:
        click.echo(line)
    if problems:
        click.echo(f"verify: {len(problems)} problem(s) found")
        sys.exit(1)
    click.echo(f"verify: ok ({cards_count} cards, journal and balances agree, integrity ok)")


@click.command("print-test")
@with_appcontext
@click.argument("terminal_id", required=False)
@click.option("--url", help="try this printer URL instead of the terminal's (nothing is saved)")
def print_test_command(terminal_id: str | None, url: str | None) -> None:
    """Print a test page on a terminal's receipt printer, now, and say what happened."""

    if terminal_id is None:
        first = Terminal.select().where(Terminal.kind == "pos").order_by(Terminal.terminal_id)
        terminal = first.first()
        if terminal is None:
            raise click.ClickException("no terminal")
    else:
        try:
            terminal = terminals.find(terminal_id)
        except LedgerError as exc:
            raise click.ClickException(f"{terminal_id}: {exc.message}") from None
    settings = printing.settings_of(terminal)
    if url is not None:
        try:
            terminals.parse_printer_url(url)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        settings = printer.Settings(**{**settings.__dict__, "url": url})
    if not settings.configured:
        raise click.ClickException(
            f"terminal {terminal.terminal_id} has no printer: set one in the back office "
            "(终端 → 打印机), or try one with --url tcp://HOST:9100"
        )
    try:
        data = settings.slip(printing.test_lines(terminal, settings))  # image mode: a font
        printer.send(settings.url, data)
    except Exception as exc:  # whatever the device said, said plainly
        raise click.ClickException(f"{settings.url}: {type(exc).__name__}: {exc}") from None
    click.echo(
        f"printed the test page for terminal {terminal.terminal_id} on {settings.url} "
        f"({settings.encoding}, {settings.paper_mm} mm, {'image' if settings.image else 'text'})"
    )


def backups_of(app: Flask) -> backup.Backups:
    service = app.extensions["kakatong.backups"]
    if service is None:
        raise click.ClickException(
            "the chain's database is PostgreSQL: back it up and restore it with the server's "
            "own tools (pg_dump, pg_restore; docs/deploy.md)"
        )
    return service


@click.command("backup")
@with_appcontext
@click.argument("path", required=False, type=click.Path(path_type=Path))
def backup_command(path: Path | None) -> None:
    """Take a checked backup now: into data/backups and the second place (KAKATONG_BACKUP_DIR),
    or to PATH (a new file, or a directory to put it in)."""
    service = backups_of(current_app)
    try:
        if path is None:
            made = service.run()
        else:
            directory, name = (path, None) if path.is_dir() else (path.parent, path.name)
            made = backup.make_backup(service.database, directory, backup.activity(), name=name)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"backup: {made.path} ({made.size} bytes, schema version {made.schema_version}, "
        f"{made.cards} cards, {made.journal_rows} journal rows; integrity and verify ok)"
    )
    if path is None:
        status = service.status()
        if status.second_state == "ok":
            click.echo(f"copied to {status.second_dir}")
        else:
            for warning in status.warnings:
                click.echo(f"warning: {warning}", err=True)
            if status.second_dir is not None:  # set, and not written: a script must notice
                sys.exit(1)


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="do not ask before replacing the database")
def restore_command(path: Path, yes: bool) -> None:
    """Replace the shop's database by a backup, after checking it (the database it replaces is
    kept in data/backups). Refuses a backup of a newer version or of another shop's pepper."""
    service = backups_of(current_app)
    config = current_app.config["KAKATONG"]
    if backup.server_running(Path(config.data_dir)):
        raise click.ClickException(
            "the server is running on this data: stop it first (its sales would not wait for "
            "the restore), or restore from the back office's 备份与恢复 page"
        )
    work = service.directory / f".cli-restore-{os.getpid()}.sqlite3"
    try:
        found = backup.prepare_restore(path, work, SCHEMA_VERSION)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    upgraded = (
        f", upgraded from schema version {found.upgraded_from}" if found.upgraded_from else ""
    )
    click.echo(
        f"{path}: a good backup ({found.cards} cards, {found.journal_rows} journal rows, the "
        f"last transaction at {found.last_transaction_at or '-'} UTC{upgraded})"
    )
    if not yes and not click.confirm(
        "Replace the shop's database by it? Everything after that backup is lost"
    ):
        backup.discard(work)
        raise click.ClickException("nothing was changed")
    try:
        kept = backup.apply_restore(service.database, work, service.directory)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored; the database it replaced is kept at {kept.path}")


@click.command("move-to")
@with_appcontext
@click.argument("url")
def move_to_command(url: str) -> None:
    """Copy this shop into an empty chain database on PostgreSQL (its first branch)."""
    config = current_app.config["KAKATONG"]
    if config.on_postgres:
        raise click.ClickException(
            "this process runs on a chain's database already: run move-to from the shop "
            "(without KAKATONG_DATABASE_URL)"
        )
    if not is_database_url(url):
        raise click.ClickException(
            "name the chain's database as postgresql://user:password@host:5432/dbname"
        )
    if backup.server_running(Path(config.data_dir)):
        raise click.ClickException(
            "the shop's server is running: stop it first, so that its last sales are in the copy"
        )
    problems = ledger.verify() + [line for line in integrity_check() if line != "ok"]
    if problems:
        for line in problems:
            click.echo(line)
        raise click.ClickException("the shop's books do not agree: nothing was copied")
    try:
        moved = move.move(config.database_path, url, ledger.verify, integrity_check)
    except move.MoveRefused as exc:
        raise click.ClickException(f"{exc}; nothing was copied") from None
    click.echo(f"{'table':<16}{'shop':>10}{'chain':>10}")
    for table, (shop_rows, chain_rows) in moved.counts.items():
        mark = "" if shop_rows == chain_rows else "  <- differs"
        click.echo(f"{table:<16}{shop_rows:>10}{chain_rows:>10}{mark}")
    differ = [t for t, (a, b) in moved.counts.items() if a != b]
    for line in moved.problems:
        click.echo(line)
    if differ or moved.problems:
        click.echo("move-to: the chain's copy does not agree with the shop (see above)")
        sys.exit(1)
    click.echo(
        f"move-to: ok, the shop is the chain's first branch (verify: ok; {config.database_path} "
        "was only read). Start the chain's processes with KAKATONG_DATABASE_URL set to it, "
        f"and with this data directory's pin_pepper, secret_key and offline_seal.pem "
        f"({config.data_dir})"
    )
