"""Branches (门店): a single shop has one; a chain on one PostgreSQL has one per shop.

Cards, members, levels and balances are the chain's. Each terminal is a branch's, each journal
row records the branch it was posted at (the terminal's then), and a staff member may be
limited to one branch.
"""

from __future__ import annotations

from ..store.db import write
from ..store.models import Branch, Staff, Terminal
from ..store.schema import DEFAULT_BRANCH
from . import audit
from .actors import Actor
from .errors import LedgerError

NAME_MAX = 40
ADDRESS_MAX = 80


def every() -> list[Branch]:
    """The branches, oldest first."""
    return list(Branch.select().order_by(Branch.id))


def is_chain() -> bool:
    """Whether there is more than one branch: only then does anything speak of branches."""
    return Branch.select().limit(2).count() > 1


def first() -> Branch:
    """The oldest branch: where terminals go when no branch is named."""
    found = Branch.select().order_by(Branch.id).first()
    if found is None:
        raise LedgerError("branch_not_found")
    return found


def ensure_one() -> Branch:
    """The first branch, made if there is none, and every terminal without a branch put in
    it (in the caller's write transaction: a new database's first start)."""
    found = Branch.select().order_by(Branch.id).first()
    if found is None:
        found = Branch.create(name=DEFAULT_BRANCH)
    Terminal.update(branch=found).where(Terminal.branch.is_null()).execute()
    return found


def find(branch_id: object) -> Branch:
    if type(branch_id) is not int:
        try:
            branch_id = int(str(branch_id))
        except ValueError:
            raise LedgerError("branch_not_found") from None
    found = Branch.get_or_none(Branch.id == branch_id)
    if found is None:
        raise LedgerError("branch_not_found")
    return found


def _text(value: object, field: str, limit: int, required: bool) -> str:
    if not isinstance(value, str) or len(value.strip()) > limit or (required and not value.strip()):
        raise LedgerError("invalid_setting", f"门店{field}须为 {limit} 字以内", setting=field)
    return value.strip()


def create(actor: Actor | None, name: object, address: object = "") -> Branch:
    """A new branch (a shop joining the chain)."""
    name = _text(name, "名称", NAME_MAX, True)
    address = _text(address, "地址", ADDRESS_MAX, False)

    def apply() -> Branch:
        if Branch.select().where(Branch.name == name).exists():
            raise LedgerError("branch_exists")
        made = Branch.create(name=name, address=address)
        audit.record(actor, "branch.create", name, address=address)
        return made

    return write(apply)


def update(actor: Actor | None, branch_id: object, name: object, address: object) -> Branch:
    """A branch's name and the address its slips print."""
    name = _text(name, "名称", NAME_MAX, True)
    address = _text(address, "地址", ADDRESS_MAX, False)

    def apply() -> Branch:
        branch = find(branch_id)
        if Branch.select().where(Branch.name == name, Branch.id != branch.id).exists():
            raise LedgerError("branch_exists")
        changes = {
            k: {"from": getattr(branch, k), "to": v}
            for k, v in (("name", name), ("address", address))
            if getattr(branch, k) != v
        }
        if changes:
            Branch.update(name=name, address=address).where(Branch.id == branch.id).execute()
            audit.record(actor, "branch.update", name, **changes)
        return find(branch.id)

    return write(apply)


def staff_branch(staff_no: str) -> int | None:
    """The branch a staff member is limited to, or None (the whole chain)."""
    row = Staff.select(Staff.branch).where(Staff.staff_no == staff_no).first()
    return row.branch_id if row is not None else None
