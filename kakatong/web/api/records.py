"""Domain objects as the API's JSON: money as yuan strings with two decimals, numbers of the
POS (trace, voucher, batch) as six-digit strings, times in the shop's zone."""

from __future__ import annotations

from dataclasses import asdict, fields

from flask import g

from ...domain import receipts, terminals
from ...domain.formats import six
from ...domain.money import format_fen
from ...domain.receipts import Receipt
from ...domain.reports import DayStats
from ...store import runtime
from ...store.codes import OFFLINE_STATUS_NAMES
from ...store.models import Branch, Card, Level, OfflineUpload, Staff, Terminal, Transaction


def _money(fen: int | None) -> str | None:
    return None if fen is None else format_fen(fen)


def _branch_name(branch_id: int | None) -> str | None:
    """A branch's name, the branches (a handful) read once per request, not once a row."""
    if branch_id is None:
        return None
    names = g.get("kakatong_branch_names")
    if names is None or branch_id not in names:
        names = {i: n for i, n in Branch.select(Branch.id, Branch.name).tuples()}
        g.kakatong_branch_names = names
    return names.get(branch_id)


def transaction(t: Transaction, branch_name: str | None = None) -> dict:
    """A journal row; `branch_name` if the caller has it (a posting reads it: ledger.Posted)."""
    original = t.original if t.original_id else None
    return {
        "type": t.type,
        "status": t.status,
        "card_no": t.card.card_no,
        "amount": format_fen(t.amount_fen),
        "points": t.points,
        "balance": format_fen(t.balance_after_fen),
        "points_balance": t.points_after,
        "price": _money(t.price_fen),
        "purchase_amount": _money(t.purchase_fen),
        "trace_no": six(t.trace_no),
        "voucher_no": six(t.voucher_no),
        "reference_no": t.reference_no,
        "batch_no": six(t.batch_no),
        "terminal_id": t.terminal.terminal_id if t.terminal_id else None,
        "operator_no": t.operator_no,
        "operator_name": t.operator.name if t.operator_id else None,
        "created_at": runtime.local(t.created_at).isoformat(timespec="seconds"),
        "settle_date": t.settle_date.isoformat(),
        "service_code": t.service_code,
        "payment_method": t.payment_method,
        "offline": t.offline,
        "sold_at": _time(t.sold_at),
        "original_voucher_no": six(original.voucher_no) if original else None,
        "branch_id": t.branch_id,
        "branch_name": branch_name or _branch_name(t.branch_id),
    }


def _time(moment) -> str | None:
    return None if moment is None else runtime.local(moment).isoformat(timespec="seconds")


def offline_upload(u: OfflineUpload) -> dict:
    return {
        "id": u.id,
        "terminal_id": u.terminal.terminal_id,
        "offline_trace_no": u.offline_trace_no,
        "type": u.type,
        "card_no": u.card_no,
        "amount": _money(u.amount_fen),
        "points": u.points,
        "service_code": u.service_code,
        "operator_no": u.operator_no,
        "sold_at": _time(u.sold_at),
        "received_at": _time(u.received_at),
        "status": u.status,
        "status_name": OFFLINE_STATUS_NAMES[u.status].name,
        "error": u.error,
        "message": u.message,
        "transaction": transaction(u.transaction) if u.transaction_id else None,
        "resolved_at": _time(u.resolved_at),
        "resolved_by": u.resolved_by,
        "payment_method": u.payment_method,
        "note": u.note,
    }


def receipt(r: Receipt) -> dict:
    """Every field of the receipt, in its order: the `*_fen` money as yuan strings under their
    names without `_fen` (null stays null), the copies as a list; then the slip's labelled
    lines in their order (`receipts.lines`) and its footer (`receipts.footer`)."""
    data = {}
    for field in fields(r):
        value = getattr(r, field.name)
        if field.name.endswith("_fen"):
            data[field.name.removesuffix("_fen")] = _money(value)
        else:
            data[field.name] = list(value) if field.name == "copies" else value
    data["lines"] = [asdict(line) for line in receipts.lines(r)]
    data["footer"] = [asdict(line) for line in receipts.footer(r)]
    return data


def level(lv: Level | None) -> dict | None:
    if lv is None:
        return None
    return {
        "name": lv.name,
        "discount_pct": lv.discount_pct,
        "points_multiplier_pct": lv.points_multiplier_pct,
    }


def card(c: Card, *, with_balance: bool) -> dict:
    now = runtime.utcnow()
    today = runtime.shop_date(now)
    body = {
        "card_no": c.card_no,
        "external_no": c.external_no,
        "phone": c.phone,
        "name": c.name,
        "gender": c.gender,
        "birthday": c.birthday.isoformat() if c.birthday else None,
        "id_number": c.id_number,
        "level": level(c.level),
        "expires_on": c.expires_on.isoformat() if c.expires_on else None,
        "expired": c.expires_on is not None and c.expires_on < today,
        "status": c.status,
        "has_pin": c.has_pin,
        "pin_locked": c.pin_locked_until is not None and c.pin_locked_until > now,
    }
    if with_balance:
        body["balance"] = format_fen(c.balance_fen)
        body["points"] = c.points
    return body


def day_stats(d: DayStats) -> dict:
    body = {} if d.date is None else {"date": d.date.isoformat()}
    body.update(
        count=d.count,
        recharge_total=format_fen(d.recharge_fen),
        consume_total=format_fen(d.consume_fen),
        balance_net=format_fen(d.balance_net_fen),
        points_awarded=d.points_awarded,
        points_redeemed=d.points_redeemed,
        points_net=d.points_net,
    )
    return body


def batch(totals: dict) -> dict:
    return {
        **{k: v for k, v in totals.items() if k not in ("types", "batch_no")},
        "batch_no": six(totals["batch_no"]),
        "types": {
            kind: {
                "count": t["count"],
                "amount": format_fen(t["amount_fen"]),
                "points": t["points"],
            }
            for kind, t in totals["types"].items()
        },
    }


def terminal(t: Terminal) -> dict:
    return {
        "terminal_id": t.terminal_id,
        "name": t.name,
        "kind": t.kind,
        "batch_no": six(t.batch_no),
        "next_trace_no": six(terminals.next_trace_no(t)),
        "receipt_copies": t.receipt_copies,
        "standby_type": t.standby_type,
        "manual_entry": t.manual_entry,
        "service_code_prompt": t.service_code_prompt,
        "language": t.language,
        "branch_id": t.branch_id,
        "branch_name": _branch_name(t.branch_id),
        "journal_view_from": (
            runtime.local(t.journal_view_from).isoformat(timespec="seconds")
            if t.journal_view_from
            else None
        ),
        "printer_url": t.printer_url,
        "printer_encoding": t.printer_encoding,
        "printer_chinese_mode": t.printer_chinese_mode,
        "paper_mm": t.paper_mm,
        "printer_image": t.printer_image,
        "printer_cut": t.printer_cut,
    }


def staff(s: Staff) -> dict:
    return {
        "operator_no": s.staff_no,
        "name": s.name,
        "role": s.role,
        "active": s.active,
        "password_set": s.password_hash is not None,
        "branch_id": s.branch_id,
    }


def branch(b: Branch, terminals: int) -> dict:
    return {"id": b.id, "name": b.name, "address": b.address, "terminals": terminals}
