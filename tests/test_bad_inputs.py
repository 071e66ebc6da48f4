"""A table of bad requests: each answered by its error code, each leaving the database as it
was (the wrong-PIN count is the one thing a refused request may change, and is checked in
test_transactions.py)."""

from urllib.parse import parse_qsl

import pytest
from conftest import GOLD, INACTIVE, PLAIN, SILVER, body

from kakatong.domain import reports
from kakatong.domain.errors import LedgerError
from kakatong.store.db import db
from kakatong.store.models import Card, Merchant, Setting, Staff, Terminal, Transaction

TX = "/api/v1/transactions"


def snapshot():
    """Everything a request could change, wrong-PIN counts excluded."""
    tables = {
        "card": Card.select().order_by(Card.id).dicts(),
        "journal": Transaction.select().order_by(Transaction.id).dicts(),
        "terminal": Terminal.select().order_by(Terminal.id).dicts(),
        "merchant": Merchant.select().dicts(),
        "setting": Setting.select().dicts(),
        "staff": Staff.select().order_by(Staff.id).dicts(),
    }
    out = {}
    for name, rows in tables.items():
        rows = [dict(r) for r in rows]
        for r in rows:
            r.pop("pin_failures", None)
            r.pop("pin_locked_until", None)
        out[name] = rows
    return out


def tx(kind="consume", card=GOLD, **fields):
    fields.setdefault("request_id", "bad-input-1")
    if card in (GOLD, SILVER) and "pin" not in fields:
        fields["pin"] = {GOLD: "123456", SILVER: "888888"}[card]
    return {"type": kind, "card_no": card, **fields}


CASES = [
    # request format
    ("no body", TX, None, 400, "bad_request"),
    ("a list", TX, [1, 2], 400, "bad_request"),
    ("unknown type", TX, tx("refund", amount="1"), 400, "bad_request"),
    ("unknown field", TX, tx(amount="1", tip="1"), 400, "bad_request"),
    ("no request_id", TX, {**tx(amount="1"), "request_id": None}, 400, "bad_request"),
    ("long request_id", TX, tx(amount="1", request_id="x" * 65), 400, "bad_request"),
    ("request_id with space", TX, tx(amount="1", request_id="a b"), 400, "bad_request"),
    ("card_no letters", TX, tx(card="16801067000000AB", amount="1"), 400, "invalid_card_no"),
    ("card_no short", TX, tx(card="1234567", amount="1"), 400, "invalid_card_no"),
    ("card_no as number", TX, tx(card=1680106700000018, amount="1"), 400, "invalid_card_no"),
    ("pin 5 digits", TX, tx(amount="1", pin="12345"), 400, "invalid_pin"),
    ("pin as number", TX, tx(amount="1", pin=123456), 400, "invalid_pin"),
    ("service code symbols", TX, tx(amount="1", service_code="8-8"), 400, "bad_request"),
    ("consume with points", TX, tx(amount="1", points=5), 400, "bad_request"),
    ("recharge bad method", TX, tx("recharge", amount="1", payment_method="iou"), 400, "bad_request"),
    ("redeem with amount", TX, tx("points_redeem", points=1, amount="1"), 400, "bad_request"),
    # amount
    ("amount zero", TX, tx(amount="0"), 400, "invalid_amount"),
    ("amount 0.00", TX, tx(amount="0.00"), 400, "invalid_amount"),
    ("amount negative", TX, tx(amount="-5"), 400, "invalid_amount"),
    ("amount float", TX, tx(amount=5.5), 400, "invalid_amount"),
    ("amount int", TX, tx(amount=5), 400, "invalid_amount"),
    ("amount exponent", TX, tx(amount="1e2"), 400, "invalid_amount"),
    ("amount three decimals", TX, tx(amount="1.001"), 400, "invalid_amount"),
    ("amount comma", TX, tx(amount="1,000"), 400, "invalid_amount"),
    ("amount spaces", TX, tx(amount=" 1"), 400, "invalid_amount"),
    ("amount fullwidth", TX, tx(amount="１"), 400, "invalid_amount"),
    ("amount missing", TX, tx(), 400, "invalid_amount"),
    ("over limit", TX, tx("recharge", amount="50000.01", payment_method="cash"), 400, "over_limit"),
    ("absurd amount", TX, tx(amount="9" * 40), 400, "over_limit"),
    ("points zero", TX, tx("points_redeem", points=0), 400, "invalid_points"),
    ("points too many", TX, tx("points_earn", points=1_000_001), 400, "invalid_points"),
    ("points string", TX, tx("points_redeem", points="5"), 400, "invalid_points"),
    ("points float", TX, tx("points_redeem", points=5.0), 400, "invalid_points"),
    ("points bool", TX, tx("points_earn", points=True), 400, "invalid_points"),
    ("points negative", TX, tx("points_earn", points=-5), 400, "invalid_points"),
    # card
    ("unknown card", TX, tx(card="1680999999999999", amount="1"), 404, "card_not_found"),
    ("inactive card", TX, tx(card=INACTIVE, amount="1"), 409, "card_inactive"),
    # balance and points
    ("too much", TX, tx(card=PLAIN, amount="500.01"), 409, "insufficient_balance"),
    ("too many points", TX, tx("points_redeem", points=301), 409, "insufficient_points"),
    ("earn nothing", TX, tx("points_earn", card=PLAIN, amount="9.99"), 409, "no_points"),
    # void
    ("void unknown", f"{TX}/999999/void", {"supervisor_password": "135790", "request_id": "v"},
     404, "transaction_not_found"),
    ("void no supervisor", f"{TX}/000001/void", {"request_id": "v"}, 400, "bad_request"),
    ("void bad voucher", f"{TX}/abc/void", {"supervisor_password": "135790", "request_id": "v"},
     400, "bad_request"),
    ("void misspelt field", f"{TX}/000001/void",
     {"supervisor_password": "135790", "request_id": "v", "pinn": "123456"}, 400, "bad_request"),
    ("void wrong supervisor", f"{TX}/000001/void",
     {"supervisor_password": "999999", "request_id": "v"}, 403, "wrong_password"),
    # cards
    ("activate existing", "/api/v1/cards", {"card_no": GOLD}, 409, "card_exists"),
    ("activate bad phone", "/api/v1/cards", {"card_no": "1680000000000001", "phone": "12345"},
     400, "invalid_phone"),
    ("activate taken phone", "/api/v1/cards",
     {"card_no": "1680000000000001", "phone": "13800138000"}, 409, "phone_taken"),
    ("activate bad id", "/api/v1/cards",
     {"card_no": "1680000000000001", "id_number": "110101199003070000"}, 400, "invalid_id_number"),
    ("activate bad date", "/api/v1/cards", {"card_no": "1680000000000001", "birthday": "1990-02-30"},
     400, "invalid_date"),
    ("activate past expiry", "/api/v1/cards",
     {"card_no": "1680000000000001", "expires_on": "2001-01-01"}, 400, "invalid_date"),
    ("activate bad level", "/api/v1/cards", {"card_no": "1680000000000001", "level": "钻石"},
     404, "level_not_found"),
    ("activate bad pin", "/api/v1/cards", {"card_no": "1680000000000001", "pin": "12ab56"},
     400, "invalid_pin"),
    ("activate unknown field", "/api/v1/cards", {"card_no": "1680000000000001", "balance": "9"},
     400, "bad_request"),
    ("bind bad phone", f"/api/v1/cards/{PLAIN}/phone", {"phone": "2"}, 400, "invalid_phone"),
    ("bind taken phone", f"/api/v1/cards/{PLAIN}/phone", {"phone": "13800138000"}, 409,
     "phone_taken"),
    ("status unknown", f"/api/v1/cards/{PLAIN}/status", {"status": "gone"}, 400, "bad_request"),
    ("status to inactive", f"/api/v1/cards/{PLAIN}/status", {"status": "inactive"}, 409,
     "invalid_status_change"),
    ("unfreeze active", f"/api/v1/cards/{PLAIN}/status", {"status": "active"}, 409,
     "invalid_status_change"),
    ("freeze inactive", f"/api/v1/cards/{INACTIVE}/status", {"status": "frozen"}, 409,
     "invalid_status_change"),
    ("reset no supervisor", f"/api/v1/cards/{GOLD}/pin/reset", {"new_pin": "111111"}, 400,
     "bad_request"),
    ("reset wrong supervisor", f"/api/v1/cards/{GOLD}/pin/reset",
     {"new_pin": "111111", "supervisor_password": "000000"}, 403, "wrong_password"),
    ("change pin bad new", f"/api/v1/cards/{GOLD}/pin", {"old_pin": "123456", "new_pin": "1"},
     400, "invalid_pin"),
    ("query unknown", "/api/v1/cards/1680999999999999/query", {}, 404, "card_not_found"),
    ("query extra field", f"/api/v1/cards/{PLAIN}/query", {"pin": None, "x": 1}, 400, "bad_request"),
    ("unlock inactive", f"/api/v1/cards/{INACTIVE}/pin/unlock", {"supervisor_password": "135790"},
     409, "card_inactive"),
    ("status extra field", f"/api/v1/cards/{PLAIN}/status", {"status": "frozen", "why": "x"}, 400,
     "bad_request"),
]  # fmt: skip


@pytest.mark.parametrize(
    "path, payload, status, code", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_refused_and_changes_nothing(api, supervisor, path, payload, status, code):
    api.token("01")
    before = snapshot()
    if payload is None:
        r = api.post(path, data="not json", headers={"Content-Type": "application/json"})
    else:
        r = api.post(path, payload) if not path.endswith("/phone") else api.put(path, payload)
    assert (r.status_code, body(r)["error"]) == (status, code), body(r)
    assert isinstance(body(r)["message"], str) and body(r)["message"]
    assert snapshot() == before


@pytest.mark.parametrize(
    "method, path, status, code",
    [
        ("get", "/api/v1/transactions/abc", 400, "bad_request"),
        ("get", "/api/v1/transactions/123456", 404, "transaction_not_found"),
        ("get", "/api/v1/cards/123", 400, "invalid_card_no"),
        ("get", "/api/v1/cards/1680999999999999", 404, "card_not_found"),
        ("get", "/api/v1/cards?find=13700000000", 404, "card_not_found"),
        ("get", "/api/v1/nothing-here", 404, "not_found"),
        ("delete", "/api/v1/transactions", 405, "method_not_allowed"),
    ],
)
def test_bad_reads(api, method, path, status, code):
    r = getattr(api, method)(path)
    assert (r.status_code, body(r)["error"]) == (status, code)


@pytest.mark.parametrize(
    "query, code",
    [
        ("from=2011-13-01&to=2011-12-31", "invalid_date"),
        ("from=2011-12-31&to=2011-12-01", "bad_request"),
        ("from=2001-01-01&to=2011-12-31", "bad_request"),
        ("from=20111201&to=2011-12-31", "invalid_date"),
    ],
)
def test_bad_statistics_ranges(api, query, code):
    r = api.get(f"/api/v1/stats/daily?{query}", as_="00")
    assert (r.status_code, body(r)["error"]) == (400, code)


@pytest.mark.parametrize(
    "query",
    [
        "status=maybe",
        "type=refund",
        "page=0",
        "per_page=1000",
        "trace_no=x",
        "time_from=yesterday",
        "date_from=20111212",
        "date_to=2011-W50-1",
        "time_to=2011-12-12",
        "batch_no=1234567",
        "card_no=12ab",
        "terminal_id=1",
    ],
)
def test_bad_journal_filters(api, query):
    r = api.get(f"/api/v1/transactions?{query}", as_="00")
    assert r.status_code == 400 and body(r)["error"] in (
        "bad_request",
        "invalid_date",
        "invalid_card_no",
        "invalid_terminal_id",
    )


@pytest.mark.parametrize(
    "query, field",
    [
        ("date_from=2011-12-31&date_to=2011-12-01", "date_to"),
        ("time_from=2011-12-12T10:00&time_to=2011-12-12T09:59", "time_to"),
        # The same moment written in two zones is no reversed range.
        ("time_from=2011-12-12T10:00%2B08:00&time_to=2011-12-12T02:30Z", None),
    ],
)
def test_the_api_and_the_back_office_read_the_journal_filters_alike(api, query, field):
    """One parser for both (the back office's journal page calls it on its form's query): a
    reversed range is refused by the API as by the back office."""
    r = api.get(f"/api/v1/transactions?{query}", as_="00")
    if field is None:
        assert r.status_code == 200
        reports.journal_filter(dict(parse_qsl(query)))
        return
    assert r.status_code == 400 and body(r)["error"] == "bad_request"
    assert body(r)["field"] == field
    with pytest.raises(LedgerError) as refused:
        reports.journal_filter(dict(parse_qsl(query)))
    assert refused.value.details == {"field": field}


def test_nothing_is_written_by_a_refusal_even_at_the_database_level(app):
    """The journal refuses UPDATE of money fields and DELETE; cards refuse negative money."""
    import peewee

    for sql in (
        "UPDATE journal SET amount_fen = amount_fen + 1",
        "UPDATE journal SET points = 0",
        "DELETE FROM journal",
        "UPDATE card SET balance_fen = -1",
        "UPDATE card SET points = -1",
    ):
        with pytest.raises(peewee.IntegrityError):
            db.execute_sql(sql)


# ---------------------------------------------------------------- crafted requests (no 500)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 2000 + b"]" * 2000,  # RecursionError in the JSON parser, once a 500
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
        b'{"a":' * 21 + b"1" + b"}" * 21,  # parses, but deeper than any request
        b'{"operator_no": "01", "password": NaN}',
        b"\xff\xfe\x00",
    ],
    ids=["deep list", "deep object", "21 deep", "NaN", "not UTF-8"],
)
def test_a_crafted_body_is_bad_request_before_sign_in_and_after(api, client, raw):
    headers = {"Content-Type": "application/json"}
    r = client.post("/api/v1/session", data=raw, headers=headers)
    assert (r.status_code, body(r)["error"]) == (400, "bad_request"), body(r)
    r = api.put("/api/v1/settings", data=raw, headers=headers, as_="99")
    assert (r.status_code, body(r)["error"]) == (400, "bad_request"), body(r)


def test_the_json_reader_keeps_what_a_request_may_nest():
    from kakatong.domain import formats

    assert formats.json_arg(b'{"enabled_types": ["consume"]}') == {"enabled_types": ["consume"]}
    assert formats.json_arg("[" * 20 + "]" * 20) is not None
    for raw in ("[" * 21 + "]" * 21, "[" * 100_000, "Infinity", "", "{"):
        with pytest.raises(LedgerError) as refused:
            formats.json_arg(raw)
        assert refused.value.code == "bad_request"


BEYOND = [str(2**63), str(2**63 - 1), str(2**64), "9" * 40]


@pytest.mark.parametrize("number", BEYOND)
@pytest.mark.parametrize("name", ["page", "per_page", "trace_no", "batch_no"])
def test_journal_numbers_beyond_64_bits_are_bad_request(api, name, number):
    """An OverflowError from SQLite, once a 500, for page at or over 2**63."""
    r = api.get(f"/api/v1/transactions?{name}={number}", as_="00")
    assert (r.status_code, body(r)["error"], body(r)["field"]) == (400, "bad_request", name)


def test_the_last_page_is_an_empty_page(api):
    r = api.get("/api/v1/transactions?page=1000000", as_="00")
    assert r.status_code == 200 and body(r)["transactions"] == []
    r = api.get("/api/v1/transactions?page=1000001", as_="00")
    assert (r.status_code, body(r)["field"]) == (400, "page")


def test_a_swipe_cursor_beyond_64_bits_is_bad_request(api):
    r = api.get(f"/api/v1/terminal/swipes?after={2**63}")
    assert (r.status_code, body(r)["error"], body(r)["field"]) == (400, "bad_request", "after")


@pytest.mark.parametrize(
    "value",
    [[{}], [["consume"]], [None], [1], ["consume", "consume"], "consume", {"consume": 1}],
)
def test_enabled_types_of_anything_but_names_is_invalid_setting(api, value):
    """set() of a list holding a dict or a list raised TypeError: a 500."""
    api.token("99")
    before = snapshot()
    r = api.put("/api/v1/settings", {"enabled_types": value}, as_="99")
    assert (r.status_code, body(r)["error"], body(r)["setting"]) == (
        400,
        "invalid_setting",
        "enabled_types",
    )
    assert snapshot() == before


@pytest.mark.parametrize("name", ["next_trace_no", "receipt_copies", "paper_mm"])
def test_terminal_numbers_beyond_64_bits_are_invalid_setting(api, name):
    r = api.put("/api/v1/terminals/10000001", {name: 2**63}, as_="99")
    assert (r.status_code, body(r)["error"], body(r)["setting"]) == (400, "invalid_setting", name)


def test_int_arg_bounds_a_number_before_reading_it():
    from kakatong.domain.formats import SQL_INT_MAX, int_arg

    assert int_arg("0", "n") == 0 and int_arg(str(SQL_INT_MAX), "n") == SQL_INT_MAX
    assert int_arg(7, "n", 1, 9) == 7 and int_arg("007", "n", 1, 9) == 7
    for value in [str(SQL_INT_MAX + 1), "9" * 5000, "²", "１", "-1", " 1", "", True, 1.0, None]:
        with pytest.raises(LedgerError) as refused:
            int_arg(value, "n")
        assert refused.value.details == {"field": "n"}, value
    with pytest.raises(LedgerError):
        int_arg("10", "n", 1, 9)
