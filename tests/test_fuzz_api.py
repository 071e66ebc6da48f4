"""Generated requests at every route of the OpenAPI document (`openapi.document()`), as every
role and signed out: no answer is a 5xx (a 500 is always a bug), every refusal is a code of
errors.py that the route documents, and the ledger verifies clean after each route's round.

Hypothesis builds each request from the route's own declaration: its path and query
parameters and its request body, with values that fit the schema, values that fit the shop
(the demo cards and their PINs, the supervisor's password, voucher numbers that exist), and
values that fit nothing (any JSON, numbers beyond 64 bits, unicode digits, bodies that are not
JSON or nest thousands deep). Flask's test client with TESTING on: an exception in a view is
raised here, with its traceback, rather than answered as a 500.

Written over hypothesis rather than schemathesis (not installed): the document is small and
regular (our own helpers build it), so a converter of a few lines covers it, and the shop's
values (a right PIN, the supervisor's password) reach the checks behind the format checks.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from urllib.parse import quote, urlencode

import pytest
from conftest import GOLD, INACTIVE, PASSWORDS, PINS, PLAIN, SILVER, ensure_password, free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kakatong.domain import ledger
from kakatong.domain.actors import Actor
from kakatong.domain.errors import ERRORS
from kakatong.factory import create_app
from kakatong.store.db import db
from kakatong.store.models import Card, PasswordGuard, Setting, Staff, Terminal
from kakatong.web.api.openapi import document

DOC = document()
OPERATIONS = [
    (path, method, operation)
    for path, methods in DOC["paths"].items()
    for method, operation in methods.items()
]
# The roles by staff number, and signed out: no token (None), or one the server never gave.
ROLES = ("01", "00", "owner", "99", None, "forged")
STAFF_OF = {"operator": "01", "supervisor": "00", "sysadmin": "99", "owner": "owner"}
# Codes any route may answer, whatever it documents: a path parameter that routes nowhere
# (a "/" in it), or a body over the limit.
ANYWHERE = {"not_found", "payload_too_large"}

# ---------------------------------------------------------------- values

BIG = [2**63, 2**63 - 1, -(2**63) - 1, 10**30, 2**64, -1, 0]
WILD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(BIG),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.from_regex(r"[0-9]{1,25}", fullmatch=True),
    st.sampled_from(["１２３４５６", "²", "٣", " 1", "1e3", "0x10", "-5", "", "null", "000001"]),
)
WILD = st.recursive(
    WILD_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
# What fits nothing, by the type a schema asks for: numbers beyond 64 bits for an integer,
# digits the ASCII check must refuse for a string, lists of lists and objects for an array.
WILD_OF = {
    "integer": st.one_of(st.sampled_from(BIG), st.integers(), WILD),
    "string": st.one_of(
        st.sampled_from([str(n) for n in BIG]),
        st.sampled_from(["１２３４５６", "²", "٣", "9" * 30, "\x00", "a" * 300]),
        WILD,
    ),
    "array": st.one_of(st.lists(WILD, min_size=1, max_size=3), WILD),
}
# The same as text, for a path, a query string or a header.
WILD_TEXT = st.one_of(
    st.sampled_from([str(n) for n in BIG]),
    st.sampled_from(["１２３４５６", "²", "٣", "9" * 30, "-1", " 1", "a" * 300]),
    st.text(max_size=20),
)


def _rid():
    return st.one_of(st.just("fuzz-replayed"), st.builds(lambda: uuid.uuid4().hex))


# What the shop knows, by field name: values that reach the checks behind the formats.
HINTS = {
    "card_no": st.sampled_from([GOLD, PLAIN, SILVER, INACTIVE, "1680999999999999"]),
    "pin": st.sampled_from(["123456", "888888", "000000"]),
    "old_pin": st.sampled_from(["123456", "888888"]),
    "new_pin": st.sampled_from(["123456", "654321"]),
    "supervisor_password": st.sampled_from([PASSWORDS["00"], "999999"]),
    "request_id": _rid(),
    "amount": st.sampled_from(["1", "0.01", "10.00", "99999"]),
    "points": st.sampled_from([1, 5, 1_000_000]),
    "voucher_no": st.integers(1, 12).map(lambda n: f"{n:06d}"),
    "operator_no": st.sampled_from(["01", "02", "07", "00", "99", "owner"]),
    "password": st.sampled_from([*PASSWORDS.values(), "0000"]),
    "old_password": st.sampled_from([*PASSWORDS.values(), "0000"]),
    "new_password": st.sampled_from(["4711", "86428642", "0000"]),
    "terminal_id": st.sampled_from(["10000001", "99000001", "10000002", "99999999"]),
    "trace_no": st.sampled_from(["1", "000001"]),
    "batch_no": st.sampled_from(["1", "000001"]),
    "page": st.sampled_from(["1", "2"]),
    "per_page": st.sampled_from(["1", "200"]),
    "after": st.sampled_from(["0", "5"]),
    "next_trace_no": st.sampled_from([1, 999_999]),
    "find": st.sampled_from([GOLD, "13800138000", "X1"]),
    "phone": st.sampled_from(["13700137000", "13800138000"]),
    "enabled_types": st.sampled_from([["consume"], ["consume", "recharge"], []]),
    "Last-Event-ID": st.sampled_from(["0", "5"]),
    "date_from": st.dates(date(2024, 1, 1), date(2030, 12, 31)).map(date.isoformat),
    "date_to": st.dates(date(2024, 1, 1), date(2030, 12, 31)).map(date.isoformat),
    "from": st.dates(date(2024, 1, 1), date(2030, 12, 31)).map(date.isoformat),
    "to": st.dates(date(2024, 1, 1), date(2030, 12, 31)).map(date.isoformat),
    "time_from": st.sampled_from(["2026-01-01T00:00", "2026-11-25T23:51:20+08:00"]),
    "time_to": st.sampled_from(["2030-01-01T00:00", "2026-11-25T15:51:20Z"]),
    # Set by the shop fixture: a printer that refuses at once.
    "printer_url": st.just("none"),
}


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = DOC["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
    return schema


def _fitting(schema: dict) -> st.SearchStrategy:
    """Values the schema allows (closely enough: the server is the judge)."""
    schema = _resolve(schema)
    if "oneOf" in schema:
        return st.one_of([_fitting(option) for option in schema["oneOf"]])
    if "enum" in schema:
        found = st.sampled_from(schema["enum"])
    elif schema.get("type") == "object" or "properties" in schema:
        return _object(schema)
    elif schema.get("type") == "array":
        found = st.lists(_fitting(schema.get("items", {})), max_size=4)
    elif schema.get("type") == "integer":
        found = st.integers(schema.get("minimum"), schema.get("maximum"))
    elif schema.get("type") == "boolean":
        found = st.booleans()
    elif schema.get("type") == "string" and "pattern" in schema:
        found = st.from_regex(schema["pattern"], fullmatch=True)
    elif schema.get("format") == "date":
        found = st.dates().map(lambda d: d.isoformat())
    elif schema.get("type") == "string":
        found = st.text(max_size=20)
    else:
        found = WILD
    return st.none() | found if schema.get("nullable") else found


def _good(name: str, schema: dict) -> st.SearchStrategy:
    return HINTS[name] if name in HINTS else _fitting(schema)


def _wild(schema: dict) -> st.SearchStrategy:
    return WILD_OF.get(_resolve(schema).get("type"), WILD)


def _properties(schema: dict) -> dict:
    """The fields an object body may have (each alternative's, for a oneOf)."""
    schema = _resolve(schema)
    found = dict(schema.get("properties", {}))
    for option in schema.get("oneOf", ()):
        found = {**_properties(option), **found}
    return found


def _object(schema: dict) -> st.SearchStrategy:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {name: _good(name, s) for name, s in properties.items() if name in required},
        optional={name: _good(name, s) for name, s in properties.items() if name not in required},
    )


def _raw(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _deep(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def _transaction(draw) -> dict:
    """A transaction that can post: the card's own PIN, a small amount, a fresh request id."""
    card_no = draw(st.sampled_from([GOLD, PLAIN, SILVER]))
    kind = draw(st.sampled_from(["consume", "recharge", "points_earn", "points_redeem"]))
    fields = {"type": kind, "card_no": card_no, "request_id": draw(_rid())}
    if PINS[card_no]:
        fields["pin"] = PINS[card_no]
    if kind in ("consume", "recharge"):
        fields["amount"] = draw(st.sampled_from(["0.01", "1", "10.50"]))
    else:
        fields["points"] = draw(st.integers(1, 3))
    if kind == "recharge":
        fields["payment_method"] = "cash"
    return fields


# Bodies that pass every check, for the routes whose checks run deep.
COHERENT = {"post_transaction": _transaction()}


def _declared_body(operation: dict) -> dict | None:
    content = operation.get("requestBody", {}).get("content", {})
    return content.get("application/json")


def _good_body(operation: dict) -> st.SearchStrategy:
    declared = _declared_body(operation)
    if declared is None:
        return st.none() | st.just({})
    shapes = [_fitting(declared["schema"])]
    if "example" in declared:
        shapes.append(st.just(declared["example"]))
    if operation["operationId"] in COHERENT:
        shapes += [COHERENT[operation["operationId"]]] * 2
    return st.one_of(shapes)


def _any_body() -> st.SearchStrategy:
    """Whatever a client might send: any JSON, not JSON, JSON nested thousands deep."""
    return st.one_of(
        WILD.map(_raw),
        st.binary(max_size=40),
        st.builds(
            _deep, st.sampled_from([21, 500, 2000, 60_000]), st.sampled_from(["list", "object"])
        ),
        st.sampled_from([b"NaN", b'{"a": Infinity}', b"\xff\xfe{}", b"[]", b""]),
    )


@st.composite
def requests_for(draw, path: str, operation: dict):
    """One request: the role, the URL (path and query), the body (bytes, or None) and the
    headers. Three kinds: everything fitting; everything fitting but one parameter or field,
    which fits nothing; and anything at all."""
    kind = draw(st.sampled_from(["fitting", "one_wild", "one_wild", "anything"]))
    allowed = [STAFF_OF[role] for role in operation["x-roles"]] or ROLES
    role = draw(st.sampled_from(allowed) | st.sampled_from(ROLES))
    parameters = operation.get("parameters", [])
    fields = _properties(_declared_body(operation)["schema"]) if _declared_body(operation) else {}
    slots = [("parameter", p["name"]) for p in parameters] + [("field", f) for f in fields]
    wild = draw(st.sampled_from(slots)) if slots and kind == "one_wild" else None

    values = {}
    for parameter in parameters:
        name, schema = parameter["name"], parameter["schema"]
        if wild == ("parameter", name) or kind == "anything":
            value = draw(WILD_TEXT)
        elif parameter["in"] == "path" or draw(st.integers(0, 2)) == 0:
            value = draw(_good(name, schema))
        else:
            continue  # an optional parameter left out
        values[parameter["in"], name] = value if isinstance(value, str) else json.dumps(value)

    url, query, headers = path, {}, {}
    for (where, name), value in values.items():
        if where == "path":
            url = url.replace("{" + name + "}", quote(value or "x", safe=""))
        elif where == "query":
            query[name] = value
        elif value.isascii() and value.isprintable():  # a header
            headers[name] = value
    if kind == "anything" and draw(st.booleans()):
        query[draw(st.text(min_size=1, max_size=6))] = draw(st.text(max_size=6))
    if query:
        url += "?" + urlencode(query)

    if kind == "anything":
        data = draw(st.none() | _any_body())
    else:
        body = draw(_good_body(operation))
        if wild is not None and wild[0] == "field" and isinstance(body, dict):
            body = {**body, wild[1]: draw(_wild(fields[wild[1]]))}
        data = None if body is None else _raw(body)
    return role, url, data, headers


def _examples(operation: dict) -> int:
    """More for a route with more to get wrong: about 4 tries for each parameter and field
    to be the wild one (the whole module runs in well under a minute)."""
    declared = _declared_body(operation)
    slots = len(operation.get("parameters", [])) + (
        len(_properties(declared["schema"])) if declared else 0
    )
    return min(30 + 12 * slots, 200)


# ---------------------------------------------------------------- the shop


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """One shop for the whole module (a new one per example would not fit the suite)."""
    app = create_app({"data_dir": tmp_path_factory.mktemp("fuzz"), "demo": True})
    app.config["TESTING"] = True
    app.config["KAKATONG_STREAM_SECONDS"] = 0.2
    app.config["KAKATONG_HEARTBEAT_SECONDS"] = 0.1
    app.config["KAKATONG_POLL_SECONDS"] = 0.01
    for staff_no in ("01", "02", "00", "99", "owner"):
        ensure_password(staff_no)
    # A printer that refuses at once, should a generated request give the terminal one.
    HINTS["printer_url"] = st.sampled_from(["none", f"tcp://127.0.0.1:{free_port()}"])
    # Transactions to look up, print and void: vouchers 000001 to 000004.
    auth = {"Authorization": f"Bearer {_token(app, '01')}"}
    for kind, card_no, fields in (
        ("consume", GOLD, {"amount": "10", "pin": "123456"}),
        ("recharge", PLAIN, {"amount": "20", "payment_method": "cash"}),
        ("points_earn", SILVER, {"points": 5, "pin": "888888"}),
        ("points_redeem", PLAIN, {"points": 5}),
    ):
        r = app.test_client().post(
            "/api/v1/transactions",
            json={"type": kind, "card_no": card_no, "request_id": uuid.uuid4().hex, **fields},
            headers=auth,
        )
        assert r.status_code == 201, r.get_json()
    yield app
    app.extensions["kakatong.printing"].stop()
    if not db.is_closed():
        db.close()


def _token(app, role: str | None) -> str | None:
    """A fresh session of that staff member at the shop's first terminal, opened directly in
    the session store: a generated request may have signed the last one out, locked it,
    changed the password or locked the account."""
    if role is None:
        return None
    if role == "forged":
        return "not-a-token"
    member = Staff.get(Staff.staff_no == role)
    terminal = Terminal.get(Terminal.terminal_id == "10000001")
    actor = Actor(member.id, member.staff_no, member.role, terminal.id, terminal.terminal_id)
    return app.extensions["kakatong.sessions"].open(actor)


@pytest.mark.parametrize(
    "path, method, operation",
    OPERATIONS,
    ids=[f"{method.upper()} {path}" for path, method, _ in OPERATIONS],
)
def test_generated_requests_get_no_5xx(shop, path, method, operation):
    client = shop.test_client()
    documented = set(operation["x-error-codes"]) | ANYWHERE
    # What an earlier route's requests left would hide this route's checks: the locks of
    # wrong passwords and PINs, cards frozen or lost, types switched off, a tiny limit.
    PasswordGuard.delete().execute()
    Card.update(pin_failures=0, pin_locked_until=None).execute()
    Card.update(status="active").where(Card.card_no.in_([GOLD, PLAIN, SILVER])).execute()
    Setting.delete().execute()

    @settings(
        max_examples=_examples(operation),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=requests_for(path, operation))
    def round_(request):
        role, url, data, headers = request
        token = _token(shop, role)
        if token is not None:
            headers = {**headers, "Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        response = client.open(url, method=method.upper(), data=data, headers=headers)
        try:
            assert response.status_code < 500, (url, data, response.get_data(as_text=True))
            if response.status_code >= 400:
                answer = response.get_json()
                assert answer["error"] in ERRORS and answer["message"], answer
                assert answer["error"] in documented, (method, url, data, answer)
        finally:
            response.close()  # a swipe stream frees its slot

    round_()
    assert ledger.verify() == []
