"""Terminals: the POS manual's terminal parameters (终端参数设置) of each terminal."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from . import audit, printer, runtime
from .db import write
from .errors import LedgerError
from .models import Terminal
from .staff import Actor, guarded

# parameter -> (check, message)
PARAMETERS = {
    "name": (lambda v: isinstance(v, str) and 0 < len(v.strip()) <= 40, "终端名称不正确"),
    "receipt_copies": (lambda v: type(v) is int and v in (1, 2), "签购单联数只能是 1 或 2"),
    "standby_type": (lambda v: v in ("consume", "points_earn"), "待机交易只能是储值消费或积分累加"),
    "manual_entry": (lambda v: type(v) is bool, "手输卡号只能开或关"),
    "service_code_prompt": (lambda v: type(v) is bool, "服务代码只能开或关"),
    "next_trace_no": (
        lambda v: type(v) is int and 1 <= v <= 999_999,
        "流水号必须在 1 到 999999 之间",
    ),
    "language": (lambda v: v in ("zh", "en"), "语言只能是 zh 或 en"),
    "clear_journal_view": (lambda v: v is True, "清流水只能是 true"),
    # The receipt printer (小票打印机), see printer.Settings.
    "printer_url": (
        lambda v: _printer_url_ok(v),
        "打印机地址不正确，可用 tcp://地址:9100、usb://VID:PID、serial:///dev/ttyS0?baudrate=9600、"
        "file:///dev/usb/lp0、cups://队列名 或 none",
    ),
    "printer_encoding": (lambda v: v in printer.ENCODINGS, "打印编码只能是 gb18030、gbk 或 utf-8"),
    "printer_chinese_mode": (lambda v: type(v) is bool, "中文模式只能开或关"),
    "paper_mm": (lambda v: type(v) is int and v in printer.PAPER_COLUMNS, "纸宽只能是 58 或 80"),
    "printer_image": (lambda v: type(v) is bool, "图片打印只能开或关"),
    "printer_cut": (lambda v: type(v) is bool, "切纸只能开或关"),
}
PRINTER_PARAMETERS = (
    "printer_url",
    "printer_encoding",
    "printer_chinese_mode",
    "paper_mm",
    "printer_image",
    "printer_cut",
)


def _printer_url_ok(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 200:
        return False
    try:
        printer.parse_url(value)
    except ValueError:
        return False
    return True


def find(terminal_id: object) -> Terminal:
    terminal = (
        Terminal.get_or_none(Terminal.terminal_id == terminal_id)
        if isinstance(terminal_id, str)
        else None
    )
    if terminal is None:
        raise LedgerError("terminal_not_found")
    return terminal


def update(terminal_id: object, changes: object, actor: Actor | None = None) -> Terminal:
    """Change a terminal's parameters; every change is checked before any is written.

    `next_trace_no` sets the trace number the next transaction gets (流水号), as on the POS.
    """
    terminal = find(terminal_id)
    if not isinstance(changes, dict) or not changes:
        raise LedgerError("bad_request")
    for key, value in changes.items():
        check = PARAMETERS.get(key)
        if check is None:
            raise LedgerError("invalid_setting", f"未知参数：{key}", setting=key)
        if not check[0](value):
            raise LedgerError("invalid_setting", check[1], setting=key)
    values = {k: v for k, v in changes.items() if k not in ("next_trace_no", "clear_journal_view")}
    if changes.get("clear_journal_view"):
        values["journal_view_from"] = runtime.utcnow()
    if "name" in values:
        values["name"] = values["name"].strip()
    if "printer_url" in values:
        values["printer_url"] = values["printer_url"].strip() or "none"
        if values["printer_url"].lower() == "none":
            values["printer_url"] = "none"
    if "next_trace_no" in changes:
        values["last_trace"] = changes["next_trace_no"] - 1

    def apply() -> Terminal:
        Terminal.update(**values).where(Terminal.id == terminal.id).execute()
        audit.record(actor, "terminal.update", terminal.terminal_id, **changes)
        return Terminal.get_by_id(terminal.id)

    return write(apply)


# ---------------------------------------------------------------- terminals and their keys

TERMINAL_ID = re.compile(r"[0-9]{8}", re.ASCII)
KEY_DIGITS = 16  # typed once on the terminal's keypad by the system operator


def _key_hash(key: str) -> str:
    return hmac.new(runtime.pepper, f"terminal-key:{key}".encode(), hashlib.sha256).hexdigest()


def new_key() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(KEY_DIGITS))


def register(terminal_id: object, name: object, actor: Actor | None = None) -> tuple[Terminal, str]:
    """A new terminal (终端) and its key, which is shown once and kept only as a keyed hash."""
    if not isinstance(terminal_id, str) or TERMINAL_ID.fullmatch(terminal_id) is None:
        raise LedgerError("invalid_terminal_id")
    if not PARAMETERS["name"][0](name):
        raise LedgerError("invalid_setting", PARAMETERS["name"][1], setting="name")
    key = new_key()

    def apply() -> Terminal:
        if Terminal.select().where(Terminal.terminal_id == terminal_id).exists():
            raise LedgerError("terminal_exists")
        audit.record(actor, "terminal.register", terminal_id, name=name.strip())
        return Terminal.create(terminal_id=terminal_id, name=name.strip(), key_hash=_key_hash(key))

    return write(apply), key


def rotate_key(terminal_id: object, actor: Actor | None = None) -> str:
    """A new key for a terminal (终端密钥管理): the old one stops working at once."""
    terminal = find(terminal_id)
    key = new_key()

    def apply() -> None:
        Terminal.update(key_hash=_key_hash(key)).where(Terminal.id == terminal.id).execute()
        audit.record(actor, "terminal.key_rotate", terminal.terminal_id)

    write(apply)
    return key


def check_key(terminal: Terminal, key: object) -> None:
    """A terminal with a key opens sessions only with it; guesses count like passwords."""
    if terminal.key_hash is None:
        return
    if not isinstance(key, str) or not key:
        raise LedgerError("terminal_key_required")

    def matches() -> bool:
        return hmac.compare_digest(_key_hash(key), terminal.key_hash)

    if not guarded(f"{terminal.terminal_id}@terminal-key", matches):
        raise LedgerError("wrong_terminal_key")


def list_terminals() -> list[Terminal]:
    """Every terminal, by terminal ID (the back office's own among them)."""
    return list(Terminal.select().order_by(Terminal.terminal_id))


def next_trace_no(terminal: Terminal) -> int:
    """The trace number (流水号) the terminal's next transaction gets: six digits, wrapping."""
    return terminal.last_trace % 999_999 + 1
