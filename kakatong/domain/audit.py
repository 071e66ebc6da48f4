"""The audit log: who did what to staff, cards (their holder's details, phone and ID number
bindings, status, PIN changes, resets and unlocks, but never a PIN), settings, terminals,
vouchers, offline reconciliation and the backups (taken, downloaded, restored).

`record` runs inside the caller's write transaction, so an action and its audit row are
committed together or not at all. Rows are never changed or deleted (schema.AUDIT_TRIGGERS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..store import runtime
from ..store.models import AuditLog
from .actors import Actor
from .errors import LedgerError

# action -> what the owner reads in the log
ACTIONS: dict[str, str] = {
    "sign_in": "后台登录",
    "staff.add": "添加员工",
    "staff.disable": "停用员工",
    "staff.enable": "启用员工",
    "staff.role": "修改角色",
    "staff.branch": "员工所属门店",
    "staff.password_reset": "重置员工密码",
    "staff.password_change": "修改本人密码",
    "card.activate": "会员激活",
    "card.status": "卡状态变更",
    "card.update": "修改会员资料",
    "card.bind": "卡号绑定",
    "card.pin_change": "修改卡密码",
    "card.pin_reset": "重置卡密码",
    "card.pin_unlock": "解除卡密码锁定",
    "card.import": "导入会员",
    "card.export": "导出会员",
    "level.create": "新建会员等级",
    "level.update": "修改会员等级",
    "settings.update": "修改系统设置",
    "branch.create": "新建门店",
    "branch.update": "修改门店",
    "terminal.register": "登记终端",
    "terminal.update": "修改终端参数",
    "terminal.key_rotate": "更换终端密钥",
    "void": "交易撤销",
    "offline.retry": "离线对账：重新入账",
    "offline.paid_other": "离线对账：已另行收款",
    "offline.written_off": "离线对账：核销",
    "backup.run": "立即备份",
    "backup.download": "下载备份",
    "backup.restore": "恢复备份",
}


def record(actor: Actor | None, action: str, target: str | None = None, **details) -> None:
    """One audit row. Call it inside the write transaction that does the action."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    AuditLog.insert(
        created_at=runtime.utcnow(),
        # No actor: the admin commands on the box itself.
        staff=actor.staff_id if actor else None,
        staff_no=actor.staff_no if actor else "system",
        action=action,
        target=target,
        details=json.dumps(details, ensure_ascii=False, sort_keys=True, default=str),
        terminal_id=actor.terminal_id if actor else None,
        address=actor.address if actor else "cli",
    ).execute()


@dataclass(frozen=True)
class AuditFilter:
    staff_no: str | None = None
    action: str | None = None
    target: str | None = None
    date_from: date | None = None  # in the shop's zone
    date_to: date | None = None


def entries(filters: AuditFilter, page: int = 1, per_page: int = 50) -> tuple[list[AuditLog], int]:
    """The log, newest first, one page of it, and how many rows match in all."""
    if filters.action not in (None, *ACTIONS):
        raise LedgerError("bad_request", "操作类型不正确")
    if page < 1 or not 1 <= per_page <= 200:
        raise LedgerError("bad_request", "分页参数不正确")
    for name in ("date_from", "date_to"):
        day = getattr(filters, name)
        if day is not None and day.year not in runtime.YEARS:
            raise LedgerError("invalid_date", field=name)
    query = AuditLog.select()
    if filters.staff_no:
        query = query.where(AuditLog.staff_no == filters.staff_no)
    if filters.action:
        query = query.where(AuditLog.action == filters.action)
    if filters.target:
        query = query.where(AuditLog.target == filters.target)
    if filters.date_from:
        start = runtime.to_utc(_midnight(filters.date_from))
        query = query.where(AuditLog.created_at >= start)
    if filters.date_to:
        end = runtime.to_utc(_midnight(filters.date_to + timedelta(days=1)))
        query = query.where(AuditLog.created_at < end)
    total = query.count()
    rows = list(query.order_by(AuditLog.id.desc()).paginate(page, per_page))
    return rows, total


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def details_of(row: AuditLog) -> dict:
    return json.loads(row.details or "{}")
