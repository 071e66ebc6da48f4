"""Sessions at a terminal: sign in (签到), whoami, sign out (签退), lock (锁定) and unlock.

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

from flask import g, jsonify, request

from ...domain import branches, formats, staff, terminals
from ...domain.actors import ALL_ROLES, CAN_TRANSACT, Actor
from ...store.models import Terminal
from .contract import bearer_token, body, operation, session_store
from .schemas import (
    json_response,
    locked_schema,
    object_schema,
    ref_to,
    request_body,
    string_schema,
)

# 系统设置 from an operator's session: the system operator's session opened from it ends after
# this many idle seconds (and with the operator's session).
SYSTEM_IDLE_SECONDS = 600

_LOCK_DESCRIPTION = """\
锁定: the staff member steps away from the terminal. Until POST /api/v1/session/unlock with \
their own password, every call of this session answers `terminal_locked` (423) but GET and \
DELETE /api/v1/session and the unlock; locking a locked session is `terminal_locked` too. \
Only this session is locked, not the terminal's other sessions. Takes no body."""


_SIGN_IN_BODY = object_schema(
    {
        "operator_no": string_schema(None, description="员工号: 00, 01–05, 99 or owner"),
        "password": string_schema(None),
        "terminal_id": string_schema(
            None,
            nullable=True,
            description=("终端号; may be left out while the shop has exactly one POS terminal"),
        ),
        "terminal_key": string_schema(
            None,
            nullable=True,
            description="终端密钥; needed at a terminal that has a key, ignored at one without",
        ),
    },
    ["operator_no", "password"],
)


@operation(
    "POST",
    "/v1/session",
    "session",
    "Sign in (签到)",
    "Opens a session at a terminal and returns its bearer token. The terminal "
    "is checked first, then its key, then the password. A terminal that has a key "
    "(every one registered with POST /api/v1/terminals) opens sessions only with "
    "it in `terminal_key`: `terminal_key_required` when missing, "
    "`wrong_terminal_key` when wrong; wrong keys count per terminal like "
    "passwords, with the terminal key check (POST "
    "/api/v1/terminals/{terminal_id}/bind), up to `staff_locked`. A terminal "
    "without a key (the one terminal of a fresh shop) takes any call. An unknown "
    "operator number and a "
    "wrong password answer alike (`wrong_password`). A staff member still on "
    "the published default password cannot sign in "
    "(`password_change_required`): change it first with "
    "POST /api/v1/staff/{operator_no}/password. The owner has no default "
    "(`password_not_set` until `flask set-password owner …`). After "
    "`password_attempt_limit` wrong passwords in a row for an operator number "
    "(known or not; default 5) every attempt is `staff_locked` (with "
    "`minutes_left`) for `password_lock_minutes` (default 15), right password "
    "or not. Sessions live in the database (the token only as a keyed hash): a token works "
    "on every server process of a chain and outlives a restart; 12 idle hours end it. In a "
    "chain, a staff member limited to one branch signs in only at its terminals "
    "(`wrong_branch`).",
    roles=None,
    body=request_body(_SIGN_IN_BODY, {"operator_no": "01", "password": "2580"}),
    errors=(
        "bad_request",
        "terminal_required",
        "terminal_not_found",
        "terminal_key_required",
        "wrong_terminal_key",
        "password_not_set",
        "staff_locked",
        "wrong_password",
        "staff_disabled",
        "password_change_required",
        "wrong_branch",
    ),
    ok=json_response(ref_to("Session"), "signed in"),
    status=201,
)
def sign_in():
    data = body()
    terminal = terminals.for_sign_in(data.get("terminal_id"))
    terminals.check_key(terminal, data.get("terminal_key"))
    member = staff.authenticate(data.get("operator_no"), data.get("password"))
    branches.check_sign_in(member, terminal)
    actor = Actor(
        member.id, member.staff_no, member.role, terminal.id, terminal.terminal_id, member.name,
        request.remote_addr,
    )  # fmt: skip
    token = session_store().open(actor)
    return jsonify(
        {
            "token": token,
            "operator_no": member.staff_no,
            "name": member.name,
            "role": member.role,
            "terminal_id": terminal.terminal_id,
            "batch_no": formats.six(terminal.batch_no),
        }
    ), 201


@operation(
    "GET",
    "/v1/session",
    "session",
    "The current session",
    "Who the bearer token belongs to, at which terminal, and whether the "
    "session is locked. Answers while it is locked.",
    roles=ALL_ROLES,
    ok=json_response(ref_to("Whoami"), "the session"),
    while_locked=True,
)
def whoami():
    a = g.actor
    return jsonify(
        {
            "operator_no": a.staff_no,
            "name": a.name,
            "role": a.role,
            "terminal_id": a.terminal_id,
            "locked": g.locked,
        }
    )


@operation(
    "DELETE",
    "/v1/session",
    "session",
    "Sign out (签退)",
    "Ends the session of this token, locked or not.",
    roles=ALL_ROLES,
    ok={"description": "signed out (no body)"},
    status=204,
    while_locked=True,
)
def sign_out():
    session_store().close(bearer_token())
    return "", 204


@operation(
    "POST",
    "/v1/session/lock",
    "session",
    "Lock the session (锁定)",
    _LOCK_DESCRIPTION,
    roles=ALL_ROLES,
    ok=json_response(locked_schema(True), "locked"),
)
def lock_session():
    session_store().set_locked(bearer_token(), True)
    return jsonify({"locked": True})


@operation(
    "POST",
    "/v1/session/unlock",
    "session",
    "Unlock the session",
    "The password of the staff member signed in on this session, theirs and no "
    "one else's (not the supervisor's), unlocks it; a missing one is a wrong one. "
    "Wrong passwords count at a door of their own, apart from sign-in: after "
    "`password_attempt_limit` in a row every attempt is `staff_locked` (with "
    "`minutes_left`) for `password_lock_minutes`, right password or not; the "
    "session may still sign out. Answers on an unlocked session too.",
    roles=ALL_ROLES,
    body=request_body(
        object_schema({"password": string_schema(None)}, ["password"]), {"password": "2580"}
    ),
    errors=("bad_request", "staff_locked", "wrong_password"),
    ok=json_response(locked_schema(False), "unlocked"),
    while_locked=True,
)
def unlock_session():
    staff.check_own_password(g.actor, body().get("password"))
    session_store().set_locked(bearer_token(), False)
    return jsonify({"locked": False})


@operation(
    "POST",
    "/v1/session/system",
    "session",
    "System settings from a session (系统设置)",
    "The main menu's 8.系统设置: the system operator's (99) password, typed at the terminal "
    "where another staff member is signed in, opens a second session, of the system "
    "operator at the same terminal, without ending the caller's. It is short-lived: it ends "
    f"after {SYSTEM_IDLE_SECONDS // 60} idle minutes (`idle_seconds`), when it signs out "
    "(DELETE /api/v1/session with its token), and with the caller's session (signed out, "
    "expired, or ended by a password change). The password is checked as at sign-in, and "
    "wrong ones count with sign-in's (`staff_locked`). The terminal page keeps the token in "
    "memory only, never in storage: a reload is back in the caller's session.",
    roles=CAN_TRANSACT,
    body=request_body(
        object_schema({"password": string_schema(None)}, ["password"]), {"password": "24680135"}
    ),
    errors=("staff_locked", "wrong_password", "staff_disabled", "password_change_required"),
    ok=json_response(ref_to("Session"), "the system operator's session, with `idle_seconds`"),
    status=201,
)
def system_session():
    member = staff.authenticate(staff.SYSADMIN_NO, body().get("password"))
    caller = g.actor
    actor = Actor(
        member.id, member.staff_no, member.role, caller.terminal_pk, caller.terminal_id,
        member.name, request.remote_addr,
    )  # fmt: skip
    token = session_store().open_within(bearer_token(), actor, SYSTEM_IDLE_SECONDS)
    terminal = Terminal.get_by_id(caller.terminal_pk)
    return jsonify(
        {
            "token": token,
            "operator_no": member.staff_no,
            "name": member.name,
            "role": member.role,
            "terminal_id": caller.terminal_id,
            "batch_no": formats.six(terminal.batch_no),
            "idle_seconds": SYSTEM_IDLE_SECONDS,
        }
    ), 201
