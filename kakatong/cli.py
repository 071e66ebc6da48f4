"""Admin commands (`flask --app app <command>`) and the first-run initialisation they share
with the server: init, import-cards, set-password, verify, print-test."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .config import Config
from .devices import printer, printing
from .domain import cards, ledger, staff, terminals
from .domain.errors import LedgerError
from .store.db import write
from .store.models import Card, Level, Merchant, Terminal
from .store.schema import integrity_check, upgrade

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


def initialise(config: Config) -> list[str]:
    """Create or upgrade the database and its first-run data. Safe to run any number of times;
    returns what it did."""
    before, after = upgrade()
    done = [
        f"created the database at schema version {after}"
        if before == 0
        else f"upgraded the schema from version {before} to {after}"
        if before != after
        else f"schema at version {after}"
    ]

    def first_run() -> None:
        if not Merchant.select().exists():
            Merchant.create(**DEFAULT_MERCHANT)
            done.append(f"created the merchant {DEFAULT_MERCHANT['merchant_name']}")
        if not Terminal.select().where(Terminal.kind == "pos").exists():
            Terminal.create(terminal_id=DEFAULT_TERMINAL_ID, name="收银台 1")
            done.append(f"created terminal {DEFAULT_TERMINAL_ID}")
        if not Terminal.select().where(Terminal.kind == "backoffice").exists():
            # A shop that already gave 99000001 to a counter keeps it: the next free ID.
            taken = {t.terminal_id for t in Terminal.select(Terminal.terminal_id)}
            number = int(BACKOFFICE_TERMINAL_ID)
            while str(number) in taken:
                number += 1
            Terminal.create(terminal_id=str(number), name="后台", kind="backoffice")
            done.append(f"created the back office's terminal {number}")
        if not Level.select().exists():
            Level.create(**DEFAULT_LEVEL)
        staff.create_defaults()

    def demo_stock() -> None:
        Level.get_or_create(name=DEMO_LEVEL["name"], defaults=DEMO_LEVEL)
        Card.get_or_create(card_no=DEMO_INACTIVE)

    write(first_run)
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
