"""The shared input formats, each checked in one place: a request's JSON, whole numbers with
their bounds, six-digit numbers and their wrap, the reference number, card numbers (typed, in
groups of four, or swiped), request ids, service codes, voucher, trace and terminal numbers. A
bad value is a LedgerError with its stable code.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from ..store import runtime
from .errors import LedgerError

# ---------------------------------------------------------------- JSON and whole numbers

# No request of the API nests deeper than 3 (a settings change: an object holding a list).
MAX_JSON_DEPTH = 20
# SQLite's INTEGER is 64-bit: a larger number must be refused before it reaches a query.
SQL_INT_MAX = 2**63 - 1
# The last page a paged list (the journal, the members) may be asked for: page × rows per page
# stays far inside SQLite's OFFSET.
MAX_PAGE = 1_000_000


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def json_arg(raw: bytes | str) -> object:
    """A request's JSON text as Python values, or `bad_request`: not JSON (NaN and Infinity
    are not), not UTF-8, or nested deeper than MAX_JSON_DEPTH. The one JSON reader of what a
    client sends: the parser's own recursion (RecursionError, about 1,000 deep) never reaches
    the server's log."""
    too_deep = LedgerError("bad_request", f"JSON 嵌套不能超过 {MAX_JSON_DEPTH} 层")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise too_deep from None
    except ValueError:  # UnicodeDecodeError is a ValueError
        raise LedgerError("bad_request", "请求体不是有效的 JSON") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise too_deep
    return data


def _depth(data: object) -> int:
    """How deep lists and objects nest in `data` (a scalar: 0), without recursion."""
    deepest, level = 0, [(data, 1)]
    while level:
        value, depth = level.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                break
            level.extend((child, depth + 1) for child in value)
    return deepest


def int_arg(value: object, name: str, low: int = 0, high: int = SQL_INT_MAX) -> int:
    """A whole number as a query string, a path, a form or a JSON body sends it: ASCII digits,
    or a JSON integer (not true or false), from `low` to `high`; else `bad_request` naming
    its field. Digits are bounded before int() sees them, so no number reaches SQLite beyond
    its 64 bits."""
    if isinstance(value, str):
        digits = value.isascii() and value.isdigit() and len(value) <= 64
        value = int(value) if digits and len(value.lstrip("0")) <= len(str(high)) else None
    if type(value) is not int or not low <= value <= high:
        bounds = f"不小于 {low} 的" if high == SQL_INT_MAX else f" {low} 到 {high} 之间的"
        raise LedgerError("bad_request", f"{name} 必须是{bounds}整数", field=name)
    return value


# ---------------------------------------------------------------- six-digit numbers

# Trace (流水号) and batch (批次号) numbers are six digits and wrap from 999999 to 000001.
WRAP = 999_999


def six(number: int | None) -> str | None:
    """Trace, voucher and batch numbers as the POS prints them: six digits."""
    return None if number is None else f"{number:06d}"


def after(number: int) -> int:
    """The six-digit number that follows `number`: 999999 is followed by 000001."""
    return number % WRAP + 1


def reference_no(now: datetime, voucher_no: int) -> str:
    """REF.NO: the local time hhmmss and the voucher number, 12 digits, unique in the shop."""
    return runtime.local(now).strftime("%H%M%S") + f"{voucher_no % 1_000_000:06d}"


VOUCHER_NO = re.compile(r"[0-9]{1,9}", re.ASCII)
SIX_DIGITS = re.compile(r"[0-9]{1,6}", re.ASCII)  # a trace or batch number as typed
TERMINAL_ID = re.compile(r"[0-9]{8}", re.ASCII)


def voucher_arg(value: object) -> int:
    if not isinstance(value, str) or VOUCHER_NO.fullmatch(value) is None:
        raise LedgerError("bad_request", "凭证号必须是数字")
    return int(value)


# ---------------------------------------------------------------- card numbers

CARD_NO = re.compile(r"[0-9]{8,19}", re.ASCII)
# A keyboard-wedge reader types the stripe where a card number is asked for: track 2
# ";PAN=…?" or track 1 "%BPAN^NAME^…?". The card number is the PAN.
_TRACK = re.compile(r"^(?:%B([0-9]{8,19})\^|;([0-9]{8,19})=)", re.ASCII)


def card_no_arg(value: object) -> str:
    if not isinstance(value, str) or CARD_NO.fullmatch(value) is None:
        raise LedgerError("invalid_card_no")
    return value


def typed_card_no(text: str) -> str:
    """A card number as a page received it: a swiped stripe, or digits in groups of four as
    printed on the card ("1680 8600 9715 7114"), become the number; anything else stays as
    typed, for card_no_arg to judge."""
    text = text.strip()
    swiped = _TRACK.match(text)
    if swiped:
        return swiped.group(1) or swiped.group(2)
    joined = text.replace(" ", "")
    return joined if joined.isascii() and joined.isdigit() else text


# ---------------------------------------------------------------- a request's own fields

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)
SERVICE_CODE = re.compile(r"[0-9A-Za-z]{1,20}", re.ASCII)


def request_id_arg(value: object) -> str:
    if not isinstance(value, str) or REQUEST_ID.fullmatch(value) is None:
        raise LedgerError("bad_request", "request_id 必须是 1 到 64 位字母、数字或 ._:-")
    return value


def service_code_arg(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or SERVICE_CODE.fullmatch(value) is None:
        raise LedgerError("bad_request", "服务代码必须是 1 到 20 位字母或数字")
    return value
