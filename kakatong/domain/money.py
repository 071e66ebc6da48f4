"""Yuan text <-> integer fen, and nothing else. No float ever touches an amount."""

from __future__ import annotations

import re

# ASCII digits only: Python's \d would also take Arabic-Indic or full-width digits.
_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?", re.ASCII)
# Longer than this is over any limit; refusing it here keeps int() away from huge strings.
_MAX_INTEGER_DIGITS = 12


class AmountError(ValueError):
    """Not an amount (`code` "invalid_amount"), or absurdly large (`code` "over_limit")."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def parse_amount(text: object) -> int:
    """'90' -> 9000, '90.5' -> 9050, '49.50' -> 4950. Zero and anything else are refused.

    Only a str is an amount: a JSON number (int or float) is refused, because a float has
    already lost exactness before we see it.
    """
    if not isinstance(text, str):
        raise AmountError("invalid_amount")
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise AmountError("invalid_amount")
    whole, frac = match.group(1), match.group(2) or ""
    if len(whole) > _MAX_INTEGER_DIGITS:
        raise AmountError("over_limit")
    fen = int(whole) * 100 + int(frac.ljust(2, "0") or "0")
    if fen == 0:
        raise AmountError("invalid_amount")
    return fen


def format_fen(fen: int) -> str:
    """9000 -> '90.00', -4950 -> '-49.50', 0 -> '0.00'."""
    sign = "-" if fen < 0 else ""
    whole, frac = divmod(abs(fen), 100)
    return f"{sign}{whole}.{frac:02d}"


def apply_percent(fen: int, percent: int) -> int:
    """fen × percent ÷ 100, rounded half up to the fen (for a discount: 88 = 12 % off)."""
    if fen < 0 or percent < 0:
        raise ValueError("apply_percent takes non-negative values")
    return (fen * percent + 50) // 100
