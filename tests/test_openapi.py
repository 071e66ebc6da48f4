"""The API's documents against the code: the OpenAPI document (kakatong/web/api/openapi.py, built
from the routes' `@operation` declarations) and docs/api.md (the guide). Each test fails when
one of them drifts from what the app does."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from conftest import (
    GOLD,
    INACTIVE,
    PINS,
    PLAIN,
    SUPERVISOR_PASSWORD,
    body,
    ensure_password,
    operator_actor,
    rid,
)
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from kakatong.devices import printer
from kakatong.domain import cards, formats, ledger, money, receipts, settings, terminals
from kakatong.domain.errors import ERRORS
from kakatong.web.api.contract import OPERATIONS
from kakatong.web.api.openapi import document

DOC = document()
API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"
METHODS = ("get", "post", "put", "delete", "patch")
STAFF_OF_ROLE = {"operator": "01", "supervisor": "00", "sysadmin": "99", "owner": "owner"}
NO_CARD = "9999999999999999"  # well-formed, never issued


def operations(doc=DOC):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def api_rules(app):
    """{(path in OpenAPI form, method): endpoint} of the `api` blueprint."""
    rules = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            rules[(path, method.lower())] = rule.endpoint
    return rules


# ---------------------------------------------------------------- (a) routes


def test_every_route_is_documented_and_every_documented_route_exists(app):
    routes = api_rules(app)
    documented = {(path, method) for path, method, _ in operations()}
    assert set(routes) - documented == set(), "routes missing from the OpenAPI document"
    assert documented - set(routes) == set(), "documented operations the app does not have"


def test_every_api_route_is_declared_once_and_every_declaration_is_a_route(app):
    """Each route of the `api` blueprint comes from one `@operation` declaration, which is
    what the document is built from."""
    declared = {(op.path, op.method.lower()): "api." + op.view for op in OPERATIONS}
    assert len(declared) == len(OPERATIONS), "a route declared twice"
    assert api_rules(app) == declared
    documented = [(path, method) for path, method, _ in operations()]
    assert documented == [(op.path, op.method.lower()) for op in OPERATIONS], (
        "the document lists the declarations, in their order"
    )


def test_the_fields_a_body_takes_are_its_declared_schemas():
    """body() refuses what the declared request body does not name; those names are the
    domain's where the domain has a list of its own."""
    fields = {op.view: set(op.fields) for op in OPERATIONS}
    assert fields["activate_card"] == {*cards.ACTIVATION_FIELDS, "activation_type"}
    assert fields["update_terminal"] == set(terminals.PARAMETERS)
    assert fields["post_transaction"] == {
        "type", "card_no", "amount", "points", "pin", "service_code", "payment_method", "request_id",
    }  # fmt: skip
    assert all(fields[op.view] for op in OPERATIONS if op.body is not None)


def test_operation_ids_are_the_view_names(app):
    routes = api_rules(app)
    for path, method, operation in operations():
        assert "api." + operation["operationId"] == routes[(path, method)], (path, method)


def test_path_parameters_are_declared(app):
    for path, _method, operation in operations():
        in_path = set(re.findall(r"{([^}]+)}", path))
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert in_path == declared, path


# ---------------------------------------------------------------- (b) error codes


def test_every_error_code_exists_with_its_status():
    for path, method, operation in operations():
        codes = operation["x-error-codes"]
        for code, status in codes.items():
            assert code in ERRORS, f"{method} {path}: unknown error code {code}"
            assert status == ERRORS[code][0], f"{method} {path}: {code} is {ERRORS[code][0]}"
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            named = re.findall(r"`([a-z_]+)`", response["description"])
            assert named, f"{method} {path} {status}: no codes named"
            assert {c: int(status) for c in named} == {
                c: s for c, s in codes.items() if s == int(status)
            }, f"{method} {path} {status}"
        statuses = {str(s) for s in codes.values()}
        assert statuses <= set(operation["responses"]), f"{method} {path}"


def documented_names(node, names=None) -> set[str]:
    """Every field, parameter, header and enum value the document names."""
    names = set() if names is None else names
    if isinstance(node, dict):
        names.update(node.get("properties", {}))
        names.update(node.get("headers", {}))
        if "in" in node and "name" in node:
            names.add(node["name"])
        names.update(v for v in node.get("enum", []) if isinstance(v, str))
        for value in node.values():
            documented_names(value, names)
    elif isinstance(node, list):
        for value in node:
            documented_names(value, names)
    return names


def test_error_codes_named_in_prose_exist():
    """In the document's descriptions and in docs/api.md, a `snake_case` word that is not a
    documented field, parameter or value is an error code, and must exist."""
    names = documented_names(DOC)
    for where, text in (("openapi.py", json.dumps(DOC, ensure_ascii=False)), ("api.md", api_md())):
        for word in set(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", text)) - names:
            assert word in ERRORS, f"{where} names `{word}`: neither a field nor an error code"


def test_error_schema_knows_every_code():
    assert DOC["components"]["schemas"]["Error"]["properties"]["error"]["enum"] == list(ERRORS)


def test_guarded_operations_answer_not_signed_in():
    for path, method, operation in operations():
        guarded = operation["security"] != []
        assert guarded == bool(operation["x-roles"]), (method, path)
        assert ("not_signed_in" in operation["x-error-codes"]) == guarded, (method, path)


# ---------------------------------------------------------------- (c) valid OpenAPI 3


def test_the_document_is_valid_openapi_3():
    assert DOC["openapi"].startswith("3.0.")
    validate_spec(DOC)


def test_the_served_document_is_this_document(client):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.json == json.loads(json.dumps(DOC))


def test_examples_match_their_schemas():
    for path, method, operation in operations():
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content and "example" in content:
            errors = schema_errors(content["schema"], content["example"])
            assert errors == [], f"{method} {path}: {errors}"
    for name, component in DOC["components"]["schemas"].items():
        for schema in _with_examples(component):
            assert schema_errors(schema, schema["example"]) == [], name


def _with_examples(schema):
    if "example" in schema:
        yield schema
    for sub in schema.get("properties", {}).values():
        yield from _with_examples(sub)


# ---------------------------------------------------------------- (d) docs/api.md


def api_md() -> str:
    return API_MD.read_text(encoding="utf-8")


def test_the_guide_documents_the_same_endpoints():
    headings = re.findall(r"^### `([A-Z]+) (/\S+)`$", api_md(), re.MULTILINE)
    assert len(headings) == len(set(headings)), "an endpoint is documented twice"
    in_guide = {(path, method.lower()) for method, path in headings}
    in_document = {(path, method) for path, method, _ in operations()}
    assert in_document - in_guide == set(), "endpoints missing from docs/api.md"
    assert in_guide - in_document == set(), "docs/api.md documents endpoints that do not exist"


def test_the_guides_error_table_is_errors_py():
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \| ([^|]+?) \|", api_md(), re.MULTILINE)
    assert {code: (int(status), message) for code, status, message in rows} == ERRORS


def guide_sections() -> dict:
    """{(path, method): the text under its `### `METHOD /path`` heading}."""
    sections = {}
    for section in re.split(r"^### ", api_md(), flags=re.MULTILINE)[1:]:
        heading = re.match(r"`([A-Z]+) (/\S+)`$", section, re.MULTILINE)
        if heading is not None:  # the other ### headings are conventions
            sections[(heading[2], heading[1].lower())] = section
    return sections


def _line(section: str, label: str) -> str:
    found = re.search(rf"^\*\*{label}:\*\* (.+)$", section, re.MULTILINE)
    assert found, f"no **{label}:** line under {section.splitlines()[0]}"
    return found[1]


def test_the_guide_names_the_documented_roles():
    sections = guide_sections()
    for path, method, operation in operations():
        line = _line(sections[(path, method)], "Roles")
        if operation["x-roles"]:
            named = set(re.findall(r"`(operator|supervisor|sysadmin|owner)`", line))
            assert named == set(operation["x-roles"]), (method, path, line)
        else:
            assert line.startswith("none"), (method, path, line)


def test_the_guide_lists_the_documented_errors():
    sections = guide_sections()
    for path, method, operation in operations():
        line = _line(sections[(path, method)], "Errors")
        listed = {code: int(status) for code, status in re.findall(r"`([a-z_]+)` (\d{3})", line)}
        assert listed == operation["x-error-codes"], (method, path)


def test_the_guides_examples_call_documented_endpoints():
    for path, section in guide_sections().items():
        for method, url in re.findall(
            r"curl -s (?:-X ([A-Z]+) )?'?https?://[^/\s]+(/[^\s'?]*)", section
        ):
            template = re.sub(r"/[0-9]+(?=/|$)", "/{x}", url)
            documented = re.sub(r"{[^}]+}", "{x}", path[0])
            assert (template, (method or "GET").lower()) == (documented, path[1]), url


# ---------------------------------------------------------------- (e) real responses


def _registry():
    resource = Resource.from_contents(DOC, default_specification=DRAFT4)
    return Registry().with_resource("urn:kakatong:openapi", resource)


REGISTRY = _registry()


def schema_errors(schema: dict, instance) -> list[str]:
    """Validate against a schema of the document, its $refs resolved in the document."""
    rooted = json.loads(
        json.dumps(schema).replace('"#/components/', '"urn:kakatong:openapi#/components/')
    )
    validator = OAS30Validator(rooted, registry=REGISTRY, format_checker=oas30_format_checker)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def check(response, path: str, method: str) -> dict:
    """The response is one the document allows for this operation; returns its body."""
    operation = DOC["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path} answered {status}: {response.data}"
    documented = operation["responses"][status]
    data = response.get_json(silent=True)
    if "content" not in documented:
        assert not response.data
        return data
    errors = schema_errors(documented["content"]["application/json"]["schema"], data)
    assert errors == [], f"{method} {path} {status}: {errors}\n{data}"
    if data and "error" in data:
        assert data["error"] in operation["x-error-codes"], f"{method} {path}: {data['error']}"
    return data


TX = "/api/v1/transactions"


def test_a_consume_and_its_replay_match_the_transaction_schema(api):
    fields = {"type": "consume", "card_no": GOLD, "amount": "100", "pin": PINS[GOLD]}
    fields["request_id"] = rid()
    first = api.post(TX, fields)
    posted = check(first, TX, "post")
    assert posted["amount"] == "-88.00" and "Idempotent-Replayed" not in first.headers
    again = api.post(TX, fields)
    assert check(again, TX, "post") == posted
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = api.post(TX, {**fields, "amount": "1"})
    assert check(reused, TX, "post")["error"] == "request_id_reused"
    found = api.get(f"{TX}/{posted['voucher_no']}")
    assert check(found, TX + "/{voucher_no}", "get") == posted


def test_the_other_transactions_match_the_schema(api):
    for fields in (
        {"type": "recharge", "amount": "50.5", "payment_method": "wechat"},
        {"type": "points_earn", "points": 10},
        {"type": "points_earn", "amount": "100"},
        {"type": "points_redeem", "points": 5},
    ):
        check(api.transact(fields.pop("type"), PLAIN, **fields), TX, "post")


def test_a_card_matches_the_card_schema(api):
    for staff_no in ("01", "owner"):
        r = api.get(f"/api/v1/cards/{GOLD}", as_=staff_no)
        data = check(r, "/api/v1/cards/{card_no}", "get")
        assert ("balance" in data) == (staff_no == "owner")
    check(api.get("/api/v1/cards?find=13800138000"), "/api/v1/cards", "get")
    r = api.post(f"/api/v1/cards/{GOLD}/query", {"pin": PINS[GOLD]})
    check(r, "/api/v1/cards/{card_no}/query", "post")


def test_daily_stats_match_the_schema(api):
    api.transact("consume", GOLD, amount="100")
    api.transact("recharge", PLAIN, amount="20", payment_method="cash")
    data = check(api.get("/api/v1/stats/daily", as_="00"), "/api/v1/stats/daily", "get")
    assert data["totals"]["count"] == 2 and "date" not in data["totals"]
    assert all("date" in day for day in data["days"])


def test_batch_settlement_journal_and_void_match_the_schema(api, supervisor):
    posted = body(api.transact("consume", GOLD, amount="10"))
    check(api.get(TX + "?per_page=5", as_="00"), TX, "get")
    void = api.post(
        f"{TX}/{posted['voucher_no']}/void",
        {"supervisor_password": supervisor, "request_id": rid(), "pin": PINS[GOLD]},
    )
    assert check(void, TX + "/{voucher_no}/void", "post")["type"] == "void"
    assert "transactions" in check(api.get("/api/v1/batch"), "/api/v1/batch", "get")
    closed = check(api.post("/api/v1/settlements"), "/api/v1/settlements", "post")
    assert "settled_at" in closed


def test_a_receipt_says_what_the_slip_says(api, supervisor):
    posted = body(api.transact("consume", GOLD, amount="100"))
    url = f"{TX}/{posted['voucher_no']}/receipt"
    receipt = check(api.get(url), TX + "/{voucher_no}/receipt", "get")
    assert list(receipt) == [
        *(f.name.removesuffix("_fen") for f in dataclasses.fields(receipts.Receipt)),
        "lines",
        "footer",
    ]
    assert receipt["card_no"] == "168086******7114"
    # The slip's lines, in order, as the printer prints them: decided once.
    assert [line["key"] for line in receipt["lines"]] == [
        "merchant_name", "merchant_id", "terminal_id", "operator", "card_no", "holder_name",
        "level", "expires_on", "type", "batch_no", "voucher_no", "reference_no", "trace_no",
        "date_time", "payment_method", "price", "discount", "saved", "amount", "balance",
        "points", "points_after",
    ]  # fmt: skip
    assert receipt["footer"] == []  # no address, phone or line of the owner's set
    printed = printer.receipt_lines(
        receipts.for_voucher(operator_actor("01"), posted["voucher_no"]),
        width_chars=48,
        copy_label=None,
        reprint=False,
    )
    rules = [i for i, text in enumerate(printed) if set(text) == {"-"}]
    labelled = printed[rules[0] + 1 : rules[1]]  # between the rules: one text line each here
    assert len(labelled) == len(receipt["lines"])
    for line, text in zip(receipt["lines"], labelled, strict=True):
        assert text.startswith(f"{line['label']} {line['label_code']}"), (line, text)
        money = "¥" if line["money"] else ""
        value = " ".join(filter(None, (line["value"], line["value_code"])))
        assert text.endswith(money + value), (line, text)
    assert (receipt["type"], receipt["type_name"], receipt["type_code"]) == (
        "consume",
        "储值消费",
        "SALE",
    )
    assert (receipt["amount"], receipt["price"], receipt["purchase"]) == ("88.00", "100.00", None)
    assert receipt["balance_after"] == posted["balance"]
    assert receipt["voucher_no"] == posted["voucher_no"] and receipt["voided"] is False
    assert receipt["copies"] == ["商户存根", "持卡人存根"]
    assert receipt["original_voucher_no"] is None
    void = body(
        api.post(
            f"{TX}/{posted['voucher_no']}/void",
            {"supervisor_password": supervisor, "request_id": rid(), "pin": PINS[GOLD]},
        )
    )
    slip = check(api.get(f"{TX}/{void['voucher_no']}/receipt"), TX + "/{voucher_no}/receipt", "get")
    assert (slip["type"], slip["original_voucher_no"]) == ("void", posted["voucher_no"])
    assert slip["original_type_name"] == "储值消费" and slip["amount"] == "88.00"
    # Its amount line signed as the balance moved: back to the card.
    assert [line["value"] for line in slip["lines"] if line["key"] == "amount"] == ["+88.00"]
    assert slip["signature_required"] is True and slip["original_type"] == "consume"
    assert check(api.get(url), TX + "/{voucher_no}/receipt", "get")["voided"] is True
    for refused, code in ((f"{TX}/999999999/receipt", "transaction_not_found"),):
        assert check(api.get(refused), TX + "/{voucher_no}/receipt", "get")["error"] == code
    assert api.get(url, as_="99").get_json()["error"] == "not_permitted"


def test_errors_match_the_error_schema(api):
    data = check(api.transact("consume", GOLD, amount="10", pin="000000"), TX, "post")
    assert data["error"] == "wrong_pin" and data["attempts_left"] == 2
    for _ in range(2):
        data = check(api.transact("consume", GOLD, amount="10", pin="000000"), TX, "post")
    assert data["error"] == "pin_locked" and "locked_until" in data
    amount = api.transact("consume", PLAIN, amount=90.5)
    assert check(amount, TX, "post")["error"] == "invalid_amount"
    fields = api.transact("consume", PLAIN, amount="1", payment_method="cash")
    assert check(fields, TX, "post")["fields"] == ["payment_method"]
    missing = api.get(f"/api/v1/cards/{NO_CARD}")
    assert check(missing, "/api/v1/cards/{card_no}", "get")["error"] == "card_not_found"
    setting = api.put("/api/v1/settings", {"pin_attempt_limit": 0}, as_="99")
    assert check(setting, "/api/v1/settings", "put")["setting"] == "pin_attempt_limit"
    parameter = api.put("/api/v1/terminals/10000001", {"next_trace_no": 0}, as_="99")
    assert check(parameter, TERMINAL, "put")["setting"] == "next_trace_no"


C = "/api/v1/cards/{card_no}"
TERMINAL = "/api/v1/terminals/{terminal_id}"
MEMBER = "/api/v1/staff/{operator_no}"
REFUSALS = [
    # (signed in as, method, documented path, card or voucher in the URL, query, body, code)
    (None, "post", "/api/v1/session", None, "", {"operator_no": "01", "password": "1"},
     "wrong_password"),
    (None, "post", "/api/v1/session", None, "",
     {"operator_no": "01", "password": "2580", "terminal_id": "99999999"}, "terminal_not_found"),
    (None, "post", "/api/v1/staff/{operator_no}/password", "01", "",
     {"old_password": "2580", "new_password": "12"}, "invalid_password"),
    ("01", "post", "/api/v1/cards", None, "", {"card_no": GOLD}, "card_exists"),
    ("01", "get", "/api/v1/cards", None, "?find=", None, "bad_request"),
    ("01", "put", C + "/phone", PLAIN, "", {"phone": "13800138000"}, "phone_taken"),
    ("01", "put", C + "/id_number", PLAIN, "", {"id_number": "110101199003070000"},
     "invalid_id_number"),
    ("01", "post", C + "/pin", GOLD, "", {"old_pin": "000000", "new_pin": "111111"}, "wrong_pin"),
    ("01", "post", C + "/pin/reset", GOLD, "", {"new_pin": "111111"}, "bad_request"),
    ("01", "post", C + "/pin/unlock", GOLD, "", {"supervisor_password": "999999"},
     "wrong_password"),
    ("01", "post", C + "/status", PLAIN, "", {"status": "inactive"}, "invalid_status_change"),
    ("01", "post", C + "/query", INACTIVE, "", {}, "card_inactive"),
    ("00", "get", TX, None, "?type=refund", None, "bad_request"),
    ("01", "get", TX + "/{voucher_no}", "123456", "", None, "transaction_not_found"),
    ("01", "post", TX + "/{voucher_no}/void", "123456", "",
     {"supervisor_password": SUPERVISOR_PASSWORD, "request_id": "v1"}, "transaction_not_found"),
    ("00", "get", "/api/v1/stats/daily", None, "?from=2011-13-01", None, "invalid_date"),
    ("99", "put", "/api/v1/settings", None, "", {}, "bad_request"),
    ("99", "get", "/api/v1/batch", None, "", None, "not_permitted"),
    ("99", "post", "/api/v1/settlements", None, "", {}, "not_permitted"),
    ("01", "get", "/api/v1/settings", None, "", None, "not_permitted"),
    ("01", "post", "/api/v1/session/unlock", None, "", {"password": "1111"}, "wrong_password"),
    ("99", "put", TERMINAL, "99999999", "", {"name": "后台"}, "terminal_not_found"),
    ("99", "put", TERMINAL, "10000001", "", {"copies": 1}, "bad_request"),
    ("99", "post", "/api/v1/terminals", None, "", {"terminal_id": "1002", "name": "2"},
     "invalid_terminal_id"),
    ("99", "post", "/api/v1/terminals", None, "", {"terminal_id": "10000002", "name": " "},
     "invalid_setting"),
    ("99", "post", "/api/v1/terminals", None, "", {"terminal_id": "10000001", "name": "前台"},
     "terminal_exists"),
    ("99", "post", TERMINAL + "/key", "99999999", "", {}, "terminal_not_found"),
    (None, "post", TERMINAL + "/bind", "99999999", "", {}, "terminal_not_found"),
    (None, "post", TERMINAL + "/bind", "10000001", "", {"key": "1"}, "bad_request"),
    ("01", "get", "/api/v1/staff", None, "", None, "not_permitted"),
    ("00", "post", "/api/v1/staff", None, "", {"operator_no": "99", "password": "4711"},
     "invalid_staff_no"),
    ("00", "post", "/api/v1/staff", None, "", {"operator_no": "07", "password": "0000"},
     "invalid_password"),
    ("01", "post", "/api/v1/staff", None, "", {"operator_no": "07", "password": "4711"},
     "bad_request"),
    ("00", "post", "/api/v1/staff", None, "", {"operator_no": "02", "password": "4711"},
     "staff_exists"),
    ("00", "delete", MEMBER, "42", "", None, "staff_not_found"),
    ("00", "delete", MEMBER, "99", "", None, "not_permitted"),
    ("00", "put", MEMBER + "/password", "99", "", {"new_password": "86428642"},
     "not_permitted"),
    ("01", "put", MEMBER + "/password", "02", "",
     {"new_password": "8642", "supervisor_password": "999999"}, "wrong_password"),
]  # fmt: skip


@pytest.mark.parametrize("as_, method, path, arg, query, payload, code", REFUSALS)
def test_refusals_are_documented_for_their_endpoint(
    api, client, supervisor, as_, method, path, arg, query, payload, code
):
    url = re.sub(r"{[^}]+}", arg or "", path) + query
    if as_ is None:
        ensure_password("01")
        r = getattr(client, method)(url, json=payload)
    else:
        kwargs = {"json": payload} if method in ("post", "put") else {}
        r = getattr(api, method)(url, as_=as_, **kwargs)
    assert check(r, path, method)["error"] == code


def test_session_and_settings_match_the_schema(api, client):
    ensure_password("01")
    signed_in = client.post("/api/v1/session", json={"operator_no": "01", "password": "2580"})
    token = check(signed_in, "/api/v1/session", "post")["token"]
    auth = {"Authorization": "Bearer " + token}
    check(client.get("/api/v1/session", headers=auth), "/api/v1/session", "get")
    check(client.delete("/api/v1/session", headers=auth), "/api/v1/session", "delete")
    check(client.get("/api/v1/session", headers=auth), "/api/v1/session", "get")
    check(api.get("/api/v1/settings", as_="99"), "/api/v1/settings", "get")
    check(client.get("/api/v1/health"), "/api/v1/health", "get")


def test_terminals_and_version_match_the_schema(api):
    own = check(api.get("/api/v1/terminal"), "/api/v1/terminal", "get")
    assert own["terminal_id"] == "10000001"
    listed = check(api.get("/api/v1/terminals", as_="99"), "/api/v1/terminals", "get")
    assert [t["terminal_id"] for t in listed["terminals"]] == ["10000001", "99000001"]
    change = {"name": "前台", "receipt_copies": 1, "standby_type": "points_earn"}
    change |= {"manual_entry": False, "service_code_prompt": False, "next_trace_no": 999_999}
    changed = check(api.put("/api/v1/terminals/10000001", change, as_="99"), TERMINAL, "put")
    assert changed["next_trace_no"] == "999999"
    version = check(api.get("/api/v1/version"), "/api/v1/version", "get")
    assert version["terminal_id"] == "10000001"


def test_terminal_keys_match_the_schema(api, client):
    """Register a terminal, replace its key, bind to it and sign in there, right and wrong."""
    bind, session = TERMINAL + "/bind", "/api/v1/session"
    keyless = client.post("/api/v1/terminals/10000001/bind", json={})
    assert check(keyless, bind, "post") == {"terminal_id": "10000001", "name": "收银台 1"}
    fields = {"terminal_id": "10000002", "name": "收银台 2"}
    added = check(api.post("/api/v1/terminals", fields, as_="99"), "/api/v1/terminals", "post")
    old = added["terminal_key"]
    rotated = check(
        api.post("/api/v1/terminals/10000002/key", {}, as_="99"), TERMINAL + "/key", "post"
    )
    key = rotated["terminal_key"]
    assert rotated["terminal_id"] == "10000002" and key != old
    url = "/api/v1/terminals/10000002/bind"
    assert check(client.post(url, json={"terminal_key": key}), bind, "post")["name"] == "收银台 2"
    missing = check(client.post(url, json={}), bind, "post")
    assert missing["error"] == "terminal_key_required"
    ensure_password("01")
    sign_in = {"operator_no": "01", "password": "2580", "terminal_id": "10000002"}
    refused = check(client.post(session, json=sign_in), session, "post")
    assert refused["error"] == "terminal_key_required"
    opened = client.post(session, json={**sign_in, "terminal_key": key})
    assert check(opened, session, "post")["terminal_id"] == "10000002"
    for _ in range(settings.load()["password_attempt_limit"]):
        wrong = check(client.post(url, json={"terminal_key": old}), bind, "post")
        assert wrong["error"] == "wrong_terminal_key"
    locked = check(client.post(session, json={**sign_in, "terminal_key": key}), session, "post")
    assert locked["error"] == "staff_locked"
    assert (
        check(client.post(url, json={"terminal_key": key}), bind, "post")["error"] == "staff_locked"
    )


def test_staff_management_matches_the_schema(api, supervisor):
    listed = check(api.get("/api/v1/staff", as_="00"), "/api/v1/staff", "get")
    assert {"00", "01", "99", "owner"} <= {s["operator_no"] for s in listed["staff"]}
    fields = {"operator_no": "06", "name": "陈七", "password": "6060"}
    added = api.post("/api/v1/staff", {**fields, "supervisor_password": supervisor})
    assert check(added, "/api/v1/staff", "post")["password_set"] is True
    reset = api.put("/api/v1/staff/06/password", {"new_password": "7070"}, as_="00")
    assert check(reset, MEMBER + "/password", "put")["changed"] is True
    check(api.delete("/api/v1/staff/06", as_="00"), MEMBER, "delete")
    again = api.delete("/api/v1/staff/06", json={"supervisor_password": supervisor})
    assert check(again, MEMBER, "delete")["error"] == "staff_not_found"
    listed = check(api.get("/api/v1/staff", as_="owner"), "/api/v1/staff", "get")
    assert {s["operator_no"]: s["active"] for s in listed["staff"]}["06"] is False


def test_a_lock_and_unlock_match_the_schema(api):
    locked = check(api.post("/api/v1/session/lock"), "/api/v1/session/lock", "post")
    assert locked == {"locked": True}
    refused = check(api.get("/api/v1/batch"), "/api/v1/batch", "get")
    assert refused["error"] == "terminal_locked"
    again = check(api.post("/api/v1/session/lock"), "/api/v1/session/lock", "post")
    assert again["error"] == "terminal_locked"
    assert check(api.get("/api/v1/session"), "/api/v1/session", "get")["locked"] is True
    unlocked = api.post("/api/v1/session/unlock", {"password": "2580"})
    assert check(unlocked, "/api/v1/session/unlock", "post") == {"locked": False}
    assert check(api.get("/api/v1/session"), "/api/v1/session", "get")["locked"] is False


# ---------------------------------------------------------------- who may call what


def _call(client, path, method, token=None):
    url = path.format(
        card_no=NO_CARD, voucher_no="999999999", operator_no="nobody", terminal_id="nobody",
        upload_id="999999999", branch_id="999999999",
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": {}} if method in ("post", "put") else {}
    return getattr(client, method)(url, headers=headers, **kwargs)


def _last_the_lock_and_sign_out(op) -> int:
    """Locking leaves the token only GET/DELETE /api/v1/session; signing out ends it."""
    return {("/api/v1/session/lock", "post"): 1, ("/api/v1/session", "delete"): 2}.get(op[:2], 0)


def test_without_a_session_only_the_public_calls_answer(client):
    for path, method, operation in operations():
        data = _call(client, path, method).get_json(silent=True) or {}
        if operation["x-roles"]:
            assert data.get("error") == "not_signed_in", (method, path, data)
        else:
            assert data.get("error") != "not_signed_in", (method, path, data)


def test_the_documented_roles_are_the_enforced_roles(api, client):
    guarded = [op for op in operations() if op[2]["x-roles"]]
    guarded.sort(key=_last_the_lock_and_sign_out)
    for role, staff_no in STAFF_OF_ROLE.items():
        token = api.token(staff_no)
        for path, method, operation in guarded:
            data = _call(client, path, method, token).get_json(silent=True) or {}
            permitted = data.get("error") not in ("not_permitted", "not_signed_in")
            assert permitted == (role in operation["x-roles"]), (role, method, path, data)


def test_the_declared_role_sets_are_what_the_guard_enforces(api, client):
    """A session of a role outside an operation's declared set is `not_permitted`; one of a
    role inside it is not refused for its role."""
    guarded = [op for op in OPERATIONS if op.roles is not None]
    guarded.sort(key=lambda op: _last_the_lock_and_sign_out((op.path, op.method.lower())))
    for role, staff_no in STAFF_OF_ROLE.items():
        token = api.token(staff_no)
        for op in guarded:
            data = _call(client, op.path, op.method.lower(), token).get_json(silent=True) or {}
            if role in op.roles:
                assert data.get("error") not in ("not_permitted", "not_signed_in"), (role, op)
            else:
                assert data.get("error") == "not_permitted", (role, op.method, op.path, data)


def test_a_locked_session_answers_only_where_documented(api, client):
    """`terminal_locked` is documented on exactly the calls a locked session cannot make."""
    token = api.token("owner")  # every role set holds the owner: no refusal for the role
    assert api.post("/api/v1/session/lock", as_="owner").status_code == 200
    guarded = [op for op in operations() if op[2]["x-roles"]]
    guarded.sort(key=_last_the_lock_and_sign_out)
    for path, method, operation in guarded:
        data = _call(client, path, method, token).get_json(silent=True) or {}
        refused = data.get("error") == "terminal_locked"
        assert refused == ("terminal_locked" in operation["x-error-codes"]), (method, path, data)


# ---------------------------------------------------------------- formats against parsers


def _accepts(parse, value) -> bool:
    try:
        parse(value)
    except Exception:
        return False
    return True


AMOUNTS = ["90", "90.5", "90.50", "0.01", "0.1", "0.10", "10.00", "100"]
NOT_AMOUNTS = ["0", "0.0", "0.00", "090", "1.234", "-1", "1e3", " 1", "9.", ".5", "１", "", 90]


@pytest.mark.parametrize("value", [*AMOUNTS, *NOT_AMOUNTS, 90.5, None])
def test_the_amount_format_is_parse_amount(value):
    valid = schema_errors({"$ref": "#/components/schemas/Amount"}, value) == []
    assert valid == _accepts(money.parse_amount, value)


@pytest.mark.parametrize("value", ["123456", "", None, "12345", "1234567", "12345a", 123456])
def test_the_pin_format_is_pin_arg(value):
    valid = schema_errors({"$ref": "#/components/schemas/Pin"}, value) == []
    assert valid == _accepts(cards.pin_arg, value)


@pytest.mark.parametrize("value", [1, 1_000_000, 0, 1_000_001, True, "5", 2.0])
def test_the_points_format_is_points_arg(value):
    valid = schema_errors({"$ref": "#/components/schemas/Points"}, value) == []
    assert valid == _accepts(ledger.points_arg, value)


@pytest.mark.parametrize("value", ["a", "A-1._:z", "x" * 64, "x" * 65, "", "a b", "ä", 7])
def test_the_request_id_format_is_request_id_arg(value):
    valid = schema_errors({"$ref": "#/components/schemas/RequestId"}, value) == []
    assert valid == _accepts(formats.request_id_arg, value)


@pytest.mark.parametrize("value", ["A01", "", None, "x" * 20, "x" * 21, "8-8", 8])
def test_the_service_code_format_is_service_code_arg(value):
    valid = schema_errors({"$ref": "#/components/schemas/ServiceCode"}, value) == []
    assert valid == _accepts(formats.service_code_arg, value)


def test_the_settings_limits_are_the_specs():
    documented = DOC["components"]["schemas"]["Settings"]["properties"]
    specs = {**settings.SPECS, **settings.MERCHANT_FIELDS}
    assert set(documented) == set(specs)
    for key, schema in documented.items():
        if schema["type"] == "integer":
            low, high, valid = schema["minimum"], schema["maximum"], specs[key].valid
            assert valid(low) and valid(high), key
            assert not valid(low - 1) and not valid(high + 1), key


def test_the_terminal_parameters_are_terminals_parameters():
    documented = DOC["components"]["schemas"]["TerminalChange"]["properties"]
    assert set(documented) == set(terminals.PARAMETERS)
    for key, schema in documented.items():
        valid = terminals.PARAMETERS[key][0]
        if schema["type"] == "integer" and "enum" not in schema:
            low, high = schema["minimum"], schema["maximum"]
            assert valid(low) and valid(high), key
            assert not valid(low - 1) and not valid(high + 1), key
        for value in schema.get("enum", []):
            assert valid(value), key
