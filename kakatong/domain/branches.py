"""Branches (门店): a single shop has one; a chain on one PostgreSQL has one per shop.

Cards, members, levels and balances are the chain's. Each terminal is a branch's, each journal
row records the branch it was posted at (the terminal's then), and a staff member may be
limited to one branch.
"""

from __future__ import annotations

from peewee import fn

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


def limit_of(actor: Actor) -> int | None:
    """The one branch an actor's rights apply to, or None: the whole chain. The owner is
    never limited."""
    return None if actor.role == "owner" else staff_branch(actor.staff_no)


def acting(actor: Actor | None) -> int:
    """The branch an actor acts at: its terminal's, else its own (a staff member limited to
    one), else the first (the CLI, the owner at no terminal)."""
    if actor is not None and actor.terminal_pk is not None:
        terminal = Terminal.get_or_none(Terminal.id == actor.terminal_pk)
        if terminal is not None and terminal.branch_id is not None:
            return terminal.branch_id
    if actor is not None and actor.staff_no:
        own = staff_branch(actor.staff_no)
        if own is not None:
            return own
    return first().id


def check_sign_in(member: Staff, terminal: Terminal) -> None:
    """A staff member limited to one branch signs in at that branch's terminals only."""
    if member.branch_id is not None and member.branch_id != terminal.branch_id:
        raise LedgerError("wrong_branch")


def report_branch(actor: Actor, requested: object = None) -> int | None:
    """The branch a report (statistics, journal) shows: the one an actor is limited to, or
    the one asked for, or None for the whole chain. A limited actor asking for another
    branch is refused (`not_permitted`); an unknown branch is `branch_not_found`."""
    limit = limit_of(actor)
    if requested is None or requested == "":
        return limit
    chosen = find(requested).id
    if limit is not None and chosen != limit:
        raise LedgerError("not_permitted")
    return chosen


def set_staff_branch(actor: Actor | None, staff: Staff, branch_id: object) -> int | None:
    """Limit a staff member to one branch (their sign-in, void and reset rights apply there,
    their reports show it), or free them (None: the whole chain). Not the owner."""
    if staff.role == "owner":
        raise LedgerError("not_permitted", "店主不限门店")
    chosen = None if branch_id is None or branch_id == "" else find(branch_id).id
    if chosen == staff.branch_id:
        return chosen

    def apply() -> None:
        Staff.update(branch=chosen).where(Staff.id == staff.id).execute()
        names = {b.id: b.name for b in every()}
        was, now = (names.get(b, "全部门店") for b in (staff.branch_id, chosen))
        audit.record(actor, "staff.branch", staff.staff_no, branch={"from": was, "to": now})

    write(apply)
    return chosen


def terminal_counts() -> dict[int, int]:
    """How many terminals each branch has."""
    rows = Terminal.select(Terminal.branch, fn.COUNT(Terminal.id)).group_by(Terminal.branch)
    return {branch_id: n for branch_id, n in rows.tuples()}
