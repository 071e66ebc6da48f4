"""Staff: roles, passwords (argon2id), sign-in checks and the supervisor's authorisation.

Terminal staff follow the POS manual: operators 01–05 (default password 0000), supervisor 00
(123456), system operator 99 (00000000). The back-office owner has no default password.
"""

from __future__ import annotations

import contextlib
import hmac
import re
from collections.abc import Callable
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..store import runtime
from ..store.db import write
from ..store.models import PasswordGuard, Staff
from . import audit, branches
from . import settings as shop_settings
from .actors import Actor, actor_of
from .errors import LedgerError

# argon2id at the OWASP floor the brief sets (19 MiB, t=2): about 35 ms here, paid at sign-in,
# a password change and a supervisor's authorisation, never by an ordinary transaction.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_DUMMY_HASH = _hasher.hash("not-a-password")

DEFAULT_PASSWORDS = {"operator": "0000", "supervisor": "123456", "sysadmin": "00000000"}
SUPERVISOR_NO = "00"
SYSADMIN_NO = "99"
OWNER_NO = "owner"
DEFAULT_STAFF = [
    ("00", "supervisor", "主管"),
    *((f"{n:02d}", "operator", f"操作员{n:02d}") for n in range(1, 6)),
    ("99", "sysadmin", "系统操作员"),
    (OWNER_NO, "owner", "店主"),
]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def password_matches(staff: Staff, password: str) -> bool:
    if not isinstance(password, str):
        return False
    if staff.password_hash is None:
        default = DEFAULT_PASSWORDS.get(staff.role)
        _burn(password)  # the same cost either way: timing tells nothing about the account
        return default is not None and _same(password, default)
    try:
        return _hasher.verify(staff.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _judge(key: str, staff: Staff | None, password: object) -> bool:
    """Check a staff password under the attempt limit (see `guarded`).

    The key is the staff number typed (known or not, so a lock says nothing about whether an
    account exists) and the door it was typed at: guessing at the sign-in door, which needs no
    session, cannot lock the supervisor out of authorising voids at the terminal.
    """

    def check() -> bool:
        if staff is None:
            _burn(str(password))
            return False
        return password_matches(staff, password)

    return guarded(key, check)


def guarded(key: str, check: Callable[[], bool]) -> bool:
    """Run a secret's `check` under the attempt limit: after N wrong ones in a row for one
    key, every attempt is refused (`staff_locked`) for a while, right or not. Terminal
    passwords are 4–8 digits; without this, an API caller could try them all."""

    key = key[:32]
    now = runtime.utcnow()
    guard = PasswordGuard.get_or_none(PasswordGuard.key == key)
    if guard is not None and guard.locked_until is not None and guard.locked_until > now:
        minutes = int((guard.locked_until - now).total_seconds() // 60) + 1
        raise LedgerError(
            "staff_locked", f"密码错误次数过多，请 {minutes} 分钟后再试", minutes_left=minutes
        )
    if check():
        if guard is not None:
            write(PasswordGuard.delete().where(PasswordGuard.key == key).execute)
        return True
    values = shop_settings.load()
    failures = 1 if guard is None or guard.locked_until is not None else guard.failures + 1
    locked_until = None
    if failures >= values["password_attempt_limit"]:
        locked_until = now + timedelta(minutes=values["password_lock_minutes"])

    def count() -> None:
        counted = dict(failures=failures, locked_until=locked_until, updated_at=now)
        PasswordGuard.insert(key=key, **counted).on_conflict(
            conflict_target=[PasswordGuard.key],
            update={getattr(PasswordGuard, name): value for name, value in counted.items()},
        ).execute()
        # Guesses at made-up staff numbers leave rows; a day later they mean nothing.
        PasswordGuard.delete().where(PasswordGuard.updated_at < now - timedelta(days=1)).execute()

    write(count)
    return False


def failures(staff_no: object, door: str) -> int:
    """Wrong passwords in a row for a staff number typed at a door (known or not)."""
    if not isinstance(staff_no, str):
        return 0
    guard = PasswordGuard.get_or_none(PasswordGuard.key == f"{staff_no}@{door}"[:32])
    return 0 if guard is None else max(guard.failures, 1 if guard.locked_until else 0)


def any_failures(door: str) -> bool:
    """Whether some staff number (known or not) has wrong passwords at a door: a page that
    asks for a password before it knows the account asks for the captcha too, so that the
    captcha `failures` will want for that account is always on the page."""
    return (
        PasswordGuard.select()
        .where(
            PasswordGuard.key.endswith(f"@{door}"),
            (PasswordGuard.failures > 0) | PasswordGuard.locked_until.is_null(False),
        )
        .exists()
    )


def _burn(password: str) -> None:
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher.verify(_DUMMY_HASH, password)


def validate_new_password(role: str, password: object) -> str:
    if not isinstance(password, str):
        raise LedgerError("invalid_password")
    if role == "owner":
        if not 8 <= len(password) <= 128:
            raise LedgerError("invalid_password", "密码至少 8 个字符")
    elif re.fullmatch(r"[0-9]{4,8}", password, re.ASCII) is None:
        raise LedgerError("invalid_password", "密码必须是 4 到 8 位数字")
    if password == DEFAULT_PASSWORDS.get(role):
        raise LedgerError("invalid_password", "新密码不能与初始密码相同")
    return password


def find(staff_no: object) -> Staff | None:
    if not isinstance(staff_no, str) or not staff_no:
        return None
    return Staff.get_or_none(Staff.staff_no == staff_no)


def authenticate(staff_no: object, password: object, door: str = "sign-in") -> Staff:
    """The staff member whose password this is, ready for a session; else a refusal.

    An unknown staff number and a wrong password answer alike (`wrong_password`). Each door
    (the terminal's sign-in, the back office's "web") keeps its own count of wrong passwords.
    """
    staff = find(staff_no)
    if staff is not None and staff.role == "owner" and staff.password_hash is None:
        raise LedgerError("password_not_set")
    if not _judge(f"{staff_no}@{door}", staff, password):
        raise LedgerError("wrong_password")
    if not staff.active:
        raise LedgerError("staff_disabled")
    if staff.password_hash is None:
        raise LedgerError("password_change_required")
    return staff


def change_password(
    staff_no: object,
    old_password: object,
    new_password: object,
    address: str | None = None,
    door: str = "sign-in",
) -> None:
    """Change a password; the old one is the proof, so no session is needed."""
    staff = find(staff_no)
    if staff is not None and staff.role == "owner" and staff.password_hash is None:
        raise LedgerError("password_not_set")
    # The new password's format first: a refusal of it must not tell a guesser that the old
    # one was right (the role's rule is the one for its staff number's kind).
    validate_new_password(staff.role if staff is not None else _role_of(staff_no), new_password)
    if not _judge(f"{staff_no}@{door}", staff, old_password):
        raise LedgerError("wrong_password")
    _store(staff, new_password, actor_of(staff, address), "staff.password_change")


def _role_of(staff_no: object) -> str:
    """The role an unknown staff number would have: its password rule, told alike."""
    return "owner" if staff_no == OWNER_NO else "operator"


def set_password(staff_no: str, new_password: str, actor: Actor | None = None) -> None:
    """Set a password without the old one (the CLI; the owner's first run, as `actor`)."""
    staff = find(staff_no)
    if staff is None:
        raise LedgerError("staff_not_found")
    validate_new_password(staff.role, new_password)
    _store(staff, new_password, actor, "staff.password_reset")


def set_first_owner_password(new_password: object, address: str | None = None) -> Staff:
    """The back office's first run: the owner's password, once. Refused once one is set, so
    the first-run page cannot be used to take over a shop."""
    owner = find(OWNER_NO)
    validate_new_password("owner", new_password)
    hashed = _hasher.hash(new_password)

    def apply() -> Staff:
        done = (
            Staff.update(password_hash=hashed)
            .where(Staff.id == owner.id, Staff.password_hash.is_null())
            .execute()
        )
        if done != 1:
            raise LedgerError("not_permitted", "店主密码已设置")
        audit.record(actor_of(owner, address), "staff.password_change", OWNER_NO, first_run=True)
        return Staff.get_by_id(owner.id)

    return write(apply)


def owner_password_set() -> bool:
    owner = find(OWNER_NO)
    return owner is not None and owner.password_hash is not None


def _store(
    staff: Staff, new_password: str, actor: Actor | None, action: str, end_locks: bool = False
) -> None:
    """The new password and its audit row in one write; with `end_locks`, a sign-in lock
    from the old password's guesses ends too (a new password is a fresh start)."""
    hashed = _hasher.hash(new_password)

    def apply() -> None:
        Staff.update(password_hash=hashed).where(Staff.id == staff.id).execute()
        audit.record(actor, action, staff.staff_no)
        if end_locks:
            keys = [f"{staff.staff_no}@{door}" for door in ("sign-in", "unlock", "web")]
            PasswordGuard.delete().where(PasswordGuard.key.in_(keys)).execute()

    write(apply)


def _authorisers(branch_id: int) -> list[Staff]:
    """Whose password authorises at a branch: 00's (unless the owner limited 00 to another
    branch), and in a chain each active supervisor limited to that branch (a branch's own
    supervisor). In a single shop, 00's alone, as the manual says."""
    found = [
        member
        for member in [find(SUPERVISOR_NO)]
        if member is not None and member.branch_id in (None, branch_id)
    ]
    if branches.is_chain():
        found.extend(
            Staff.select()
            .where(
                Staff.role == "supervisor",
                Staff.branch == branch_id,
                Staff.staff_no != SUPERVISOR_NO,
                Staff.active == True,  # noqa: E712
            )
            .order_by(Staff.staff_no)
        )
    return found


def authorise_supervisor(
    actor: Actor, supervisor_password: object, branch_id: int | None = None
) -> None:
    """A void, a PIN reset or unlock, a card back to active: the supervisor's password.

    It is judged at a branch: `branch_id` (a void: the original's), else the one the actor
    acts at. A supervisor limited to another branch authorises nothing here. The owner
    outranks the supervisor, so the owner's own session is authority enough.
    """
    if actor.role == "owner":
        return
    if not isinstance(supervisor_password, str) or not supervisor_password:
        raise LedgerError("bad_request", "请输入主管密码")
    where = branch_id if branch_id is not None else branches.acting(actor)
    candidates = _authorisers(where)
    # Wrong guesses lock authorising at this branch only; a single shop keeps 00's door.
    door = f"{SUPERVISOR_NO}@authorise" if not branches.is_chain() else f"b{where}@authorise"
    matched: list[Staff] = []

    def check() -> bool:
        for member in candidates:
            if password_matches(member, supervisor_password):
                matched.append(member)
                return True
        if not candidates:
            _burn(supervisor_password)
        return False

    if not guarded(door, check) or not matched[0].active:
        raise LedgerError("wrong_password", "主管密码错误")
    if matched[0].password_hash is None:
        # The default is printed in the manual: it authorises nothing until changed.
        raise LedgerError("password_change_required", "主管初始密码必须先修改")


# ---------------------------------------------------------------- operator management


OPERATOR_NO = re.compile(r"[0-9]{2}", re.ASCII)


def list_staff() -> list[Staff]:
    return list(Staff.select().order_by(Staff.staff_no))


def _authorise_staff_management(actor: Actor, supervisor_password: object) -> None:
    """员工管理: the supervisor's own session, the owner's, or the supervisor's password."""
    if actor.role not in ("supervisor", "owner"):
        authorise_supervisor(actor, supervisor_password)


def add_operator(
    actor: Actor, staff_no: object, password: object, name: object = None,
    supervisor_password: object = None, role: object = "operator",
) -> Staff:  # fmt: skip
    """Add an operator (添加操作员) with a first password of their own (not the default).

    Operator numbers are two digits other than 00 (supervisor) and 99 (system operator); a
    number removed earlier may be given again. The owner may add one as a supervisor (a
    second supervisor signs in with the supervisor's rights; authorising at a terminal stays
    with 00's password)."""
    if (
        not isinstance(staff_no, str)
        or OPERATOR_NO.fullmatch(staff_no) is None
        or staff_no
        in (
            SUPERVISOR_NO,
            "99",
        )
    ):
        raise LedgerError("invalid_staff_no")
    if name is not None and not isinstance(name, str):
        raise LedgerError("bad_request", "姓名格式不正确", field="name")
    if name is not None and len(name) > 40:
        raise LedgerError("bad_request", "姓名不能超过 40 个字符", field="name")
    if role not in ASSIGNABLE_ROLES:
        raise LedgerError("bad_request", "角色只能是操作员或主管", field="role")
    if role != "operator" and actor.role != "owner":
        raise LedgerError("not_permitted", "只有店主可以添加主管")
    validate_new_password("operator", password)
    _authorise_staff_management(actor, supervisor_password)
    hashed = _hasher.hash(password)
    label = (name or "").strip() or f"操作员{staff_no}"

    def apply() -> Staff:
        existing = Staff.get_or_none(Staff.staff_no == staff_no)
        if existing is not None and (existing.active or existing.role != "operator"):
            raise LedgerError("staff_exists")
        audit.record(actor, "staff.add", staff_no, role=role, name=label)
        if existing is None:
            return Staff.create(staff_no=staff_no, role=role, name=label, password_hash=hashed)
        Staff.update(active=True, role=role, name=label, password_hash=hashed).where(
            Staff.id == existing.id
        ).execute()
        return Staff.get_by_id(existing.id)

    return write(apply)


def remove_operator(actor: Actor, staff_no: object, supervisor_password: object = None) -> None:
    """Remove an operator (删除操作员). Their journal rows keep naming them, so the row stays,
    disabled: they can no longer sign in."""
    _authorise_staff_management(actor, supervisor_password)
    member = find(staff_no)
    if member is None or not member.active:
        raise LedgerError("staff_not_found")
    if member.role != "operator":
        raise LedgerError("not_permitted", "只能删除操作员")
    _set_active(actor, member, False)


ASSIGNABLE_ROLES = ("operator", "supervisor")


def _set_active(actor: Actor, member: Staff, active: bool) -> None:
    def apply() -> None:
        Staff.update(active=active).where(Staff.id == member.id).execute()
        audit.record(actor, "staff.enable" if active else "staff.disable", member.staff_no)

    write(apply)


def set_active(actor: Actor, staff_no: object, active: bool) -> Staff:
    """The owner disables a staff member (they can no longer sign in; their journal rows keep
    naming them) or enables them again. The owner's own account cannot be disabled."""
    if actor.role != "owner":
        raise LedgerError("not_permitted")
    member = find(staff_no)
    if member is None:
        raise LedgerError("staff_not_found")
    if member.role == "owner":
        raise LedgerError("not_permitted", "不能停用店主账户")
    if member.active != active:
        _set_active(actor, member, active)
    return Staff.get_by_id(member.id)


def set_role(actor: Actor, staff_no: object, role: object) -> Staff:
    """The owner makes an operator a supervisor or back. 00, 99 and the owner keep the roles
    the POS manual gives them."""
    if actor.role != "owner":
        raise LedgerError("not_permitted")
    member = find(staff_no)
    if member is None:
        raise LedgerError("staff_not_found")
    if role not in ASSIGNABLE_ROLES:
        raise LedgerError("bad_request", "角色只能是操作员或主管", field="role")
    if member.staff_no in (SUPERVISOR_NO, "99", OWNER_NO):
        raise LedgerError("not_permitted", "主管 00、系统操作员 99 和店主的角色不能修改")
    if member.role != role:

        def apply() -> None:
            Staff.update(role=role).where(Staff.id == member.id).execute()
            audit.record(actor, "staff.role", member.staff_no, role=role, was=member.role)

        write(apply)
    return Staff.get_by_id(member.id)


def check_password_reset(
    actor: Actor, supervisor_password: object, staff_no: object = None
) -> Staff | None:
    """What a password reset checks before the new password, in its order: the authority
    (the supervisor's password from an operator's session, counted as every authorisation
    is), then, where given, the staff member (`staff_not_found`) and whose it is
    (`not_permitted`: the supervisor sets operators' passwords only). 员工管理 at the
    terminal checks each entry as it is typed with this, before the new password is asked."""
    _authorise_staff_management(actor, supervisor_password)
    if staff_no is None:
        return None
    member = find(staff_no)
    if member is None or not member.active:
        raise LedgerError("staff_not_found")
    if member.role != "operator" and actor.role != "owner":
        raise LedgerError("not_permitted", "主管只能修改操作员的密码")
    return member


def reset_password(
    actor: Actor, staff_no: object, new_password: object, supervisor_password: object = None
) -> None:
    """Set another staff member's password (改密) without their old one: operators' by the
    supervisor; anyone's by the owner."""
    member = check_password_reset(actor, supervisor_password, staff_no)
    assert member is not None
    validate_new_password(member.role, new_password)
    _store(member, new_password, actor, "staff.password_reset", end_locks=True)


def check_own_password(actor: Actor, password: object) -> None:
    """The signed-in staff member's own password, to unlock a locked terminal (锁定)."""
    if not isinstance(password, str) or not password:
        raise LedgerError("bad_request", "请输入操作员密码")
    member = find(actor.staff_no)
    if not _judge(f"{actor.staff_no}@unlock", member, password):
        raise LedgerError("wrong_password")


def create_defaults() -> None:
    for staff_no, role, name in DEFAULT_STAFF:
        Staff.get_or_create(staff_no=staff_no, defaults={"role": role, "name": name})


def has_default_password(member: Staff) -> bool:
    """Still on the POS manual's default password (初始密码), which must be changed first."""
    return member.password_hash is None and member.role in DEFAULT_PASSWORDS


def role_changeable(member: Staff) -> bool:
    """Whether set_role may change this member's role: 00, 99 and the owner keep theirs."""
    return member.role in ASSIGNABLE_ROLES and member.staff_no not in (SUPERVISOR_NO, "99")
