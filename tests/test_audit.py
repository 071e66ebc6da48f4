"""The audit log: every staff, card-status, PIN-reset, setting, terminal and void action leaves
one row, in the same transaction; rows can be neither changed nor deleted."""

import pytest
from conftest import GOLD, SUPERVISOR_PASSWORD, body, ensure_password, rid

from kakatong.domain import audit, cards, ledger, staff, terminals
from kakatong.domain import settings as shop_settings
from kakatong.domain.actors import actor_of
from kakatong.domain.errors import LedgerError
from kakatong.store.db import db
from kakatong.store.models import AuditLog


def actions():
    return [(r.action, r.staff_no, r.target) for r in AuditLog.select().order_by(AuditLog.id)]


def test_api_actions_leave_audit_rows_with_who_where_and_what(api, supervisor):
    ensure_password("owner")
    ensure_password("01")
    r = api.post("/api/v1/cards/" + GOLD + "/status", {"status": "frozen"}, as_="owner")
    assert r.status_code == 200, body(r)
    r = api.put("/api/v1/settings", {"pin_attempt_limit": 5}, as_="owner")
    assert r.status_code == 200
    r = api.post("/api/v1/cards/" + GOLD + "/status", {"status": "active"}, as_="owner")
    r = api.transact("consume", GOLD, amount="10")
    voucher = body(r)["voucher_no"]
    r = api.post(
        f"/api/v1/transactions/{voucher}/void",
        {"supervisor_password": SUPERVISOR_PASSWORD, "pin": "123456", "request_id": rid()},
    )
    assert r.status_code == 201, body(r)
    r = api.post("/api/v1/staff", {"operator_no": "07", "password": "4455"}, as_="owner")
    assert r.status_code == 201, body(r)
    assert actions()[-5:] == [
        ("card.status", "owner", GOLD),
        ("settings.update", "owner", None),
        ("card.status", "owner", GOLD),
        ("void", "01", voucher),
        ("staff.add", "owner", "07"),
    ]
    row = AuditLog.select().where(AuditLog.action == "settings.update").get()
    assert audit.details_of(row) == {"pin_attempt_limit": {"from": 3, "to": 5}}
    assert (row.terminal_id, row.address) == ("10000001", "127.0.0.1")


def test_a_refused_action_leaves_no_audit_row(app):
    before = actions()
    with pytest.raises(LedgerError):
        shop_settings.update({"pin_attempt_limit": 99})
    with pytest.raises(LedgerError):
        cards.set_status(actor_of(staff.find("owner")), GOLD, "inactive")
    assert actions() == before


def test_domain_calls_without_a_signed_in_actor_are_the_system(app):
    staff.set_password("02", "7788")
    terminals.register("10000009", "收银台 9")
    assert actions()[-2:] == [
        ("staff.password_reset", "system", "02"),
        ("terminal.register", "system", "10000009"),
    ]
    assert AuditLog.select().order_by(AuditLog.id.desc()).get().address == "cli"


def test_the_audit_log_is_append_only_in_the_database(app):
    staff.set_password("02", "7788")
    count = AuditLog.select().count()
    with pytest.raises(Exception, match="audit rows cannot be changed"):
        db.execute_sql("UPDATE audit_log SET staff_no = 'x'")
    with pytest.raises(Exception, match="audit rows cannot be deleted"):
        db.execute_sql("DELETE FROM audit_log")
    assert AuditLog.select().count() == count


def test_entries_filter_and_page(app):
    for no in ("02", "03", "04"):
        staff.set_password(no, "7788")
    rows, total = audit.entries(audit.AuditFilter(target="03"))
    assert total == 1 and rows[0].target == "03"
    rows, total = audit.entries(audit.AuditFilter(action="staff.password_reset"), 1, 2)
    assert total == 3 and [r.target for r in rows] == ["04", "03"]
    with pytest.raises(LedgerError):
        audit.entries(audit.AuditFilter(action="nonsense"))


def test_the_demo_import_at_first_start_and_an_import_are_audited(app):
    rows = cards.parse_import(
        ",".join(cards.IMPORT_COLUMNS) + "\n6200000000000001,,,,,,,,,,5.00,3\n"
    )
    ledger.import_cards(rows)
    row = AuditLog.select().order_by(AuditLog.id.desc()).get()
    assert row.action == "card.import"
    assert audit.details_of(row) == {"balance_fen": 500, "cards": 1, "points": 3}
