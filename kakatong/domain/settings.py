"""Shop-wide settings: each one's type, default and allowed values, stored as JSON text.

The merchant's own fields (merchant_id, merchant_name, receipt_title) live on the Merchant row
and are edited through the same two functions, so a caller sees one flat mapping.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from ..store.codes import TRANSACTION_TYPES
from ..store.db import db, sql, write
from ..store.models import Merchant, Setting
from . import audit
from .actors import Actor
from .errors import LedgerError


@dataclass(frozen=True)
class Spec:
    default: object
    valid: Callable[[object], bool]
    label: str


def _int_between(low: int, high: int) -> Callable[[object], bool]:
    return lambda v: type(v) is int and low <= v <= high


def _types(value: object) -> bool:
    # Each a type's name first: set() of a list holding a list or an object raises TypeError.
    return (
        isinstance(value, list)
        and all(isinstance(v, str) and v in TRANSACTION_TYPES for v in value)
        and len(set(value)) == len(value)
    )


OFFLINE_SWITCHES = ("consume", "points_earn", "upload")


def _offline_types(value: object) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(v, str) and v in OFFLINE_SWITCHES for v in value)
        and len(set(value)) == len(value)
    )


def _text(max_len: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, str) and 0 < len(v.strip()) <= max_len


def _printable(value: str) -> bool:
    """No control character: a printer takes ESC or GS in a text as a command."""
    return not any(unicodedata.category(char) == "Cc" for char in value)


def _optional_text(max_len: int) -> Callable[[object], bool]:
    """Up to max_len characters, without spaces around them or control characters; "" for
    none."""
    return lambda v: isinstance(v, str) and len(v) <= max_len and v == v.strip() and _printable(v)


def _phone(value: object) -> bool:
    """A shop's phone as the slip prints it: digits, spaces, + - ( ); "" for none."""
    return (
        isinstance(value, str)
        and (value == "" or re.fullmatch(r"\+?[0-9][0-9 ()\-]{2,19}", value) is not None)
        and value == value.strip()
    )


SPECS: dict[str, Spec] = {
    "points_unit_fen": Spec(1000, _int_between(1, 100_000_00), "每积 1 分所需消费金额（分）"),
    "single_limit_fen": Spec(50_000_00, _int_between(1, 1_000_000_00), "单笔交易限额（分）"),
    "pin_attempt_limit": Spec(3, _int_between(1, 10), "密码错误次数上限"),
    "pin_lock_minutes": Spec(30, _int_between(1, 24 * 60), "密码锁定时间（分钟）"),
    "password_attempt_limit": Spec(5, _int_between(1, 20), "员工密码错误次数上限"),
    "password_lock_minutes": Spec(15, _int_between(1, 24 * 60), "员工密码锁定时间（分钟）"),
    "enabled_types": Spec(list(TRANSACTION_TYPES), _types, "开通的交易类型"),
    "web_idle_minutes": Spec(30, _int_between(5, 12 * 60), "后台无操作自动退出（分钟）"),
    "captcha_always": Spec(False, lambda v: type(v) is bool, "后台登录总是需要验证码"),
    # 离线交易 (the manual's section 6): which of 离线储值消费, 离线积分累加 and 批量离线交易上传
    # a terminal offers, and the limits it enforces while it cannot reach the server.
    "offline_types": Spec(list(OFFLINE_SWITCHES), _offline_types, "开通的离线交易"),
    "offline_single_limit_fen": Spec(200_00, _int_between(1, 1_000_000_00), "离线单笔限额（分）"),
    "offline_card_total_fen": Spec(
        500_00, _int_between(1, 10_000_000_00), "每卡离线累计限额（分，两次上传之间）"
    ),
    "offline_card_count": Spec(5, _int_between(1, 100), "每卡离线笔数上限（两次上传之间）"),
    "offline_signin_hours": Spec(12, _int_between(1, 72), "离线沿用签到的时限（小时）"),
    "offline_max_age_days": Spec(7, _int_between(1, 90), "离线交易上传期限（天）"),
    # The receipt's footer (签购单底部): each printed only when set.
    "backup_hourly": Spec(True, lambda v: type(v) is bool, "有交易时每小时备份（否则每天一次）"),
    "backup_keep_hourly": Spec(48, _int_between(1, 1000), "保留每小时备份（份）"),
    "backup_keep_daily": Spec(30, _int_between(1, 1000), "保留每日备份（份）"),
    "backup_keep_monthly": Spec(12, _int_between(1, 1000), "保留每月备份（份）"),
    "shop_address": Spec("", _optional_text(60), "门店地址"),
    "shop_phone": Spec("", _phone, "门店电话"),
    "receipt_footer": Spec("", _optional_text(60), "签购单底部文字"),
}

MERCHANT_FIELDS: dict[str, Spec] = {
    "merchant_id": Spec(
        "", lambda v: isinstance(v, str) and re.fullmatch(r"[0-9]{15}", v) is not None, "商户号"
    ),
    "merchant_name": Spec("", _text(40), "商户名"),
    "receipt_title": Spec("", _text(40), "签购单名"),
}


# The merchant's one row beside each setting stored (or beside none): one round trip.
_LOAD = sql(
    "SELECT s.key, s.value, "
    + ", ".join(f"m.{name}" for name in MERCHANT_FIELDS)
    + " FROM merchant m LEFT JOIN setting s ON 1 = 1"
)


def load() -> dict:
    """Every setting with its current value. (Fixed SQL: every transaction reads these.)"""
    values = {key: spec.default for key, spec in SPECS.items()}
    rows = db.execute_sql(_LOAD).fetchall()
    for key, value, *_merchant in rows:
        if key in SPECS:
            values[key] = json.loads(value)
    values.update(zip(MERCHANT_FIELDS, rows[0][2:], strict=True))
    return values


def update(changes: dict, actor: Actor | None = None) -> dict:
    """Validate every change first, then write them all in one transaction."""
    if not isinstance(changes, dict) or not changes:
        raise LedgerError("bad_request")
    for key, value in changes.items():
        spec = SPECS.get(key) or MERCHANT_FIELDS.get(key)
        if spec is None:
            raise LedgerError("invalid_setting", f"未知参数：{key}", setting=key)
        if not spec.valid(value):
            raise LedgerError("invalid_setting", f"参数值不正确：{spec.label}", setting=key)

    def apply() -> None:
        was = load()
        merchant_changes = {k: v for k, v in changes.items() if k in MERCHANT_FIELDS}
        if merchant_changes:
            Merchant.update(**merchant_changes).execute()
        for key, value in changes.items():
            if key in SPECS:
                text = json.dumps(value)
                Setting.insert(key=key, value=text).on_conflict(
                    conflict_target=[Setting.key], update={Setting.value: text}
                ).execute()
        changed = {k: {"from": was[k], "to": v} for k, v in changes.items() if was[k] != v}
        if changed:
            audit.record(actor, "settings.update", None, **changed)

    write(apply)
    return load()
