"""The `api` blueprint and its contract: each route is declared once, with `@operation`, and
that one declaration registers the Flask route, its role guard and its entry in the OpenAPI
document (openapi.py builds the document from `OPERATIONS`, in the order they were declared).

Also what every view shares: the session guard (`signed_in`), the JSON body check (`body`) and
the refusals turned into `{"error", "message"}` once, here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ...domain import actors, formats
from ...domain.actors import ALL_ROLES
from ...domain.errors import ERRORS, LedgerError
from .schemas import SCHEMAS, json_response, ref_to

bp = Blueprint("api", __name__, url_prefix="/api")

# The role sets of domain/actors.py by name, for the document's "Roles: … (`actors.NAME`)". Two
# sets may hold the same roles (CAN_READ_JOURNAL, CAN_MANAGE_STAFF): a set is known by identity.
_ROLE_SET_NAMES = {
    id(value): name
    for name, value in vars(actors).items()
    if isinstance(value, frozenset) and name.isupper()
}


# ---------------------------------------------------------------- refusals


@bp.errorhandler(LedgerError)
def _refused(exc: LedgerError):
    return jsonify(exc.as_dict()), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    error = LedgerError.for_http(exc.code)
    return jsonify(error.as_dict()), error.status


# ---------------------------------------------------------------- sessions and bodies


def session_store():
    return current_app.extensions["kakatong.sessions"]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def signed_in(roles: frozenset[str] = ALL_ROLES, while_locked: bool = False):
    """The view needs a session (Authorization: Bearer …) of one of these roles. A locked
    session (锁定) reaches only the views marked `while_locked` (unlock, sign-out, whoami)."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            bearer = bearer_token()
            session = session_store().get(bearer) if bearer else None
            if session is None:
                raise LedgerError("not_signed_in")
            if session.locked and not while_locked:
                raise LedgerError("terminal_locked")
            if session.actor.role not in roles:
                raise LedgerError("not_permitted")
            g.actor = session.actor
            g.locked = session.locked
            return view(*args, **kwargs)

        return inner

    return wrap


def body(*, any_field: bool = False) -> dict:
    """The JSON object sent. A field the route's declared request body does not name is
    refused: a typo such as `"supervisor_pasword"` must not be silently ignored. With
    `any_field`, the view checks the names itself (the settings name theirs). Not JSON, or
    JSON nested too deep, is `bad_request` (formats.json_arg)."""
    data = formats.json_arg(request.get_data(cache=True))
    if not isinstance(data, dict):
        raise LedgerError("bad_request", "请求体必须是 JSON 对象")
    fields = () if any_field else _DECLARED[request.endpoint].fields
    unknown = set(data) - set(fields) if fields else set()
    if unknown:
        raise LedgerError("bad_request", f"未知字段：{', '.join(sorted(unknown))}")
    return data


def _properties(schema: dict) -> list[str]:
    """The field names a request body schema allows: its own, a component's, or those of
    each of its `oneOf` alternatives."""
    if "$ref" in schema:
        return _properties(SCHEMAS[schema["$ref"].rpartition("/")[2]])
    if "properties" not in schema and "oneOf" in schema:
        names = [name for option in schema["oneOf"] for name in _properties(option)]
        return list(dict.fromkeys(names))
    return list(schema.get("properties", {}))


# ---------------------------------------------------------------- the declarations


@dataclass(frozen=True)
class Operation:
    """One route's contract: what `@operation` was given, and the view's name (its endpoint
    and operationId)."""

    method: str  # GET, POST, PUT, DELETE
    rule: str  # the Flask rule under the blueprint: /v1/cards/<card_no>
    view: str
    tag: str
    summary: str
    description: str
    roles: frozenset[str] | None  # None: no session needed
    while_locked: bool = False
    params: tuple = ()
    body: dict | None = None
    ok: dict = field(default_factory=dict)
    status: int = 200
    errors: tuple = ()
    # may write to the database: a full disk answers `storage_full`, a chain's database that
    # kept undoing the write for concurrent ones `database_busy`
    writes: bool = True

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the declared request body allows: what `body()` accepts."""
        if self.body is None:
            return ()
        return tuple(_properties(self.body["content"]["application/json"]["schema"]))

    @property
    def path(self) -> str:
        """The path in the document's form: /api/v1/cards/{card_no}."""
        return bp.url_prefix + re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", self.rule)

    def document(self) -> dict:
        """The OpenAPI operation. The refusals every guarded view can give are added here: a
        session (`not_signed_in`), a locked session (`terminal_locked`, but for the few views
        that answer `while_locked`), a role (`not_permitted`), a JSON object body
        (`bad_request`) and, where the view writes, a full disk (`storage_full`) and a chain's
        database too busy to take the write (`database_busy`). Every code
        is looked up in errors.ERRORS (a KeyError names an unknown one), so the document
        states the status the code really answers."""
        roles = self.roles
        codes = list(self.errors)
        if roles is not None:
            guards = ["not_signed_in"]
            if not self.while_locked:
                guards.append("terminal_locked")
            if roles != ALL_ROLES:
                guards.append("not_permitted")
            codes[:0] = guards
        if self.body is not None and "bad_request" not in codes:
            codes.append("bad_request")
        if self.writes:
            codes += ["storage_full", "database_busy"]
        error_codes = {code: ERRORS[code][0] for code in dict.fromkeys(codes)}
        allowed = sorted(roles) if roles is not None else []
        if roles is None:
            who = "No session needed."
        elif roles == ALL_ROLES:
            who = f"Roles: any signed-in staff member ({', '.join(allowed)})."
        else:
            who = f"Roles: {', '.join(allowed)} (`actors.{_ROLE_SET_NAMES[id(roles)]}`)."
        responses = {str(self.status): self.ok}
        for code_status in sorted(set(error_codes.values())):
            named = [c for c, s in error_codes.items() if s == code_status]
            responses[str(code_status)] = json_response(
                ref_to("Error"), "Refused: " + ", ".join(f"`{c}`" for c in named)
            )
        operation = {
            "operationId": self.view,
            "tags": [self.tag],
            "summary": self.summary,
            "description": f"{self.description}\n\n{who}",
            "security": [] if roles is None else [{"bearer": []}],
            "x-roles": allowed,
            "x-error-codes": error_codes,
        }
        if self.params:
            operation["parameters"] = list(self.params)
        if self.body is not None:
            operation["requestBody"] = self.body
        operation["responses"] = responses
        return operation


OPERATIONS: list[Operation] = []
_DECLARED: dict[str, Operation] = {}  # endpoint -> its declaration


def operation(
    method: str,
    rule: str,
    tag: str,
    summary: str,
    description: str,
    *,
    roles: frozenset[str] | None,
    while_locked: bool = False,
    params=(),
    body: dict | None = None,
    ok: dict,
    status: int = 200,
    errors=(),
    writes: bool | None = None,
) -> Callable:
    """Declares a route once: registers the view on the blueprint at `rule` for `method`,
    guarded by `signed_in(roles, while_locked)` unless `roles` is None (no session needed),
    and records its contract for the OpenAPI document. `roles` is a role set of
    domain/actors.py (ALL_ROLES for any signed-in role). `writes` (by default: any method
    but GET) says the view may write to the database, so a full disk may refuse it."""
    if roles is not None and id(roles) not in _ROLE_SET_NAMES:
        raise ValueError(f"{rule}: roles must be a role set of domain/actors.py")

    def register(view: Callable) -> Callable:
        declared = Operation(
            method, rule, view.__name__, tag, summary, description, roles, while_locked,
            tuple(params), body, ok, status, tuple(errors),
            method != "GET" if writes is None else writes,
        )  # fmt: skip
        OPERATIONS.append(declared)
        _DECLARED[f"{bp.name}.{view.__name__}"] = declared
        guarded = view if roles is None else signed_in(roles, while_locked)(view)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=guarded, methods=[method])
        return view

    return register
