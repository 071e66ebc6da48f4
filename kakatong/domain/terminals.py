"""Terminals: the POS manual's terminal parameters (终端参数设置) of each terminal."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..store import runtime
from ..store.db import write
from ..store.models import Terminal
from . import audit, branches
from .actors import Actor
from .errors import LedgerError
from .formats import SQL_INT_MAX, TERMINAL_ID, WRAP, after
from .staff import guarded

# parameter -> (check, message)
PARAMETERS = {
    "name": (lambda v: isinstance(v, str) and 0 < len(v.strip()) <= 40, "终端名称不正确"),
    "receipt_copies": (lambda v: type(v) is int and v in (1, 2), "签购单联数只能是 1 或 2"),
    "standby_type": (lambda v: v in ("consume", "points_earn"), "待机交易只能是储值消费或积分累加"),
    "manual_entry": (lambda v: type(v) is bool, "手输卡号只能开或关"),
    "service_code_prompt": (lambda v: type(v) is bool, "服务代码只能开或关"),
    "next_trace_no": (
        lambda v: type(v) is int and 1 <= v <= WRAP,
        "流水号必须在 1 到 999999 之间",
    ),
    "language": (lambda v: v in ("zh", "en"), "语言只能是 zh 或 en"),
    # 门店: the branch the terminal is at (its postings and slips are that branch's from then).
    "branch_id": (lambda v: type(v) is int and 0 < v <= SQL_INT_MAX, "门店不正确"),
    "clear_journal_view": (lambda v: v is True, "清流水只能是 true"),
    # The receipt printer (小票打印机), see printer.Settings.
    "printer_url": (
        lambda v: _printer_url_ok(v),
        "打印机地址不正确，可用 tcp://地址:9100、usb://VID:PID、serial:///dev/ttyS0?baudrate=9600、"
        "file:///dev/usb/lp0、cups://队列名 或 none",
    ),
    "printer_encoding": (lambda v: v in ENCODINGS, "打印编码只能是 gb18030、gbk 或 utf-8"),
    "printer_chinese_mode": (lambda v: type(v) is bool, "中文模式只能开或关"),
    "paper_mm": (lambda v: type(v) is int and v in PAPER_COLUMNS, "纸宽只能是 58 或 80"),
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


ENCODINGS = ("gb18030", "gbk", "utf-8")
# Paper width -> columns of the standard 12×24 font (a hanzi takes two).
PAPER_COLUMNS = {58: 32, 80: 48}
URL_KINDS = ("tcp://HOST:PORT", "usb://VID:PID", "serial:///dev/…?baudrate=…", "file:///…")
URL_KINDS += ("cups://QUEUE", "none")


def parse_printer_url(url: str) -> tuple[str, dict[str, Any]]:
    """The kind of printer a URL names and what opening it needs, without opening anything.

    ("none", {}) for "none" or nothing. Raises ValueError (its text says what is wrong and what
    would do) for a URL that names no printer. The terminal's settings check a URL with this.
    """
    text = (url or "").strip() if isinstance(url, str) else None
    if text is None:
        raise ValueError("the printer URL must be text")
    if text.lower() in ("", "none"):
        return "none", {}
    parts = urlsplit(text)
    scheme = parts.scheme.lower()

    def bad(why: str) -> ValueError:
        return ValueError(f"printer URL {url!r}: {why} (use one of: {', '.join(URL_KINDS)})")

    if scheme == "tcp":
        try:
            host, port = parts.hostname, parts.port
        except ValueError as e:
            raise bad(str(e)) from None
        if not host or parts.path not in ("", "/") or parts.query or port == 0:
            raise bad("tcp:// needs a host and, optionally, a port")
        if ":" in host:  # python-escpos connects over IPv4
            raise bad("tcp:// needs an IPv4 address or a host name")
        port = port or 9100
        return "tcp", {"host": host, "port": port}
    if scheme == "usb":
        ids = parts.netloc.split(":")
        try:
            vendor, product = (int(part, 16) for part in ids)
        except ValueError:
            raise bad("usb:// needs VID:PID in hex, such as usb://04b8:0202") from None
        if not (0 <= vendor <= 0xFFFF and 0 <= product <= 0xFFFF) or parts.path not in ("", "/"):
            raise bad("usb:// needs VID:PID in hex, such as usb://04b8:0202")
        return "usb", {"vendor": vendor, "product": product}
    if scheme == "serial":
        query = parse_qs(parts.query)
        if parts.netloc or not parts.path:
            raise bad("serial:// needs a device path, such as serial:///dev/ttyS0")
        try:
            baudrate = int(query.pop("baudrate", ["9600"])[-1])
        except ValueError:
            raise bad("baudrate must be a number") from None
        if query:
            raise bad(f"unknown serial setting {', '.join(query)}")
        if baudrate <= 0:
            raise bad("baudrate must be a positive number")
        return "serial", {"devfile": parts.path, "baudrate": baudrate}
    if scheme == "file":
        if parts.netloc or not parts.path or parts.query:
            raise bad("file:// needs an absolute path, such as file:///dev/usb/lp0")
        # A printer's device (or a pipe), never a file: the app must not be able to write
        # over its own database or anything else on the disk. One not plugged in yet is fine.
        if os.path.exists(parts.path) and not is_device(os.stat(parts.path).st_mode):
            raise bad("file:// must name a printer device such as /dev/usb/lp0, not a file")
        return "file", {"devfile": parts.path}
    if scheme == "cups":
        if not parts.netloc or parts.path not in ("", "/"):
            raise bad("cups:// needs a queue name, such as cups://POS58")
        return "cups", {"printer_name": parts.netloc}
    raise bad("unknown kind")


def is_device(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _printer_url_ok(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 200:
        return False
    try:
        parse_printer_url(value)
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


def _sole_pos() -> Terminal | None:
    """The shop's POS terminal when it has exactly one (a fresh shop's 10000001)."""
    pos = list(Terminal.select().where(Terminal.kind == "pos").limit(2))
    return pos[0] if len(pos) == 1 else None


def self_binding() -> str | None:
    """The terminal a screen binds itself to without asking: the shop's one POS terminal, while
    it has no key. Otherwise (None) the page asks once for a terminal ID and its key."""
    sole = _sole_pos()
    return sole.terminal_id if sole is not None and not sole.key_hash else None


def for_sign_in(terminal_id: object) -> Terminal:
    """The POS terminal a sign-in names; none named: the shop's one POS terminal
    (`terminal_required` when it has several). The back office is a terminal of its own for
    the ledger, and no screen signs in to it."""
    if terminal_id is None:
        sole = _sole_pos()
        if sole is None:
            raise LedgerError("terminal_required")
        return sole
    if not isinstance(terminal_id, str):
        raise LedgerError("bad_request")
    terminal = Terminal.get_or_none(Terminal.terminal_id == terminal_id, Terminal.kind == "pos")
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
    recorded = dict(changes)
    if "branch_id" in values:
        moved_to = branches.find(values.pop("branch_id"))
        values["branch"] = moved_to.id
        del recorded["branch_id"]
        recorded["branch"] = moved_to.name  # the audit log names it

    def apply() -> Terminal:
        Terminal.update(**values).where(Terminal.id == terminal.id).execute()
        audit.record(actor, "terminal.update", terminal.terminal_id, **recorded)
        return Terminal.get_by_id(terminal.id)

    return write(apply)


# ---------------------------------------------------------------- terminals and their keys

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
        return Terminal.create(
            terminal_id=terminal_id, name=name.strip(), key_hash=_key_hash(key),
            branch=branches.first(),
        )  # fmt: skip

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
    return after(terminal.last_trace)
