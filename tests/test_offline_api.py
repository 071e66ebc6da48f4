"""离线交易 over HTTP: the terminal's offline configuration and trace numbers, the upload
(idempotent by terminal and offline trace number: a copy, four copies at once through the real
server, a copy after a restart) and 离线对账 (list, retry, paid another way, write off). Every
answer is one the OpenAPI document allows for its operation."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import requests
from conftest import GOLD, INACTIVE, PASSWORDS, PLAIN, SILVER, Api, ensure_password
from test_offline import generous_offline_limit, sale  # noqa: F401  (an autouse fixture)
from test_openapi import DOC, schema_errors

from kakatong.domain import ledger, offline
from kakatong.domain.errors import ERRORS
from kakatong.factory import create_app
from kakatong.store.models import (
    AuditLog,
    Card,
    OfflineUpload,
    Setting,
    Staff,
    Terminal,
    Transaction,
)

TERMINAL = "10000001"
CONFIG = "/api/v1/offline/config"
TRACES = "/api/v1/offline/traces"
UPLOADS = "/api/v1/offline/uploads"
ONE = UPLOADS + "/{upload_id}"
RETRY = ONE + "/retry"
PAID = ONE + "/paid-other"
WRITE_OFF = ONE + "/write-off"
PINS = {GOLD: "123456", SILVER: "888888", PLAIN: None}


def check(response, path: str, method: str) -> dict:
    """The answer (of Flask's test client or of requests) is one the document allows for this
    operation, its body valid against the documented schema; returns the body."""
    operation = DOC["paths"][path][method]
    status = str(response.status_code)
    data = response.get_json() if hasattr(response, "get_json") else response.json()
    assert status in operation["responses"], f"{method} {path} answered {status}: {data}"
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    errors = schema_errors(schema, data)
    assert errors == [], f"{method} {path} {status}: {errors}\n{data}"
    if response.status_code >= 400:  # an upload's outcome has an `error` of its own
        assert data["error"] in operation["x-error-codes"], f"{method} {path}: {data['error']}"
        assert response.status_code == ERRORS[data["error"]][0]
    return data


def at(path: str, upload_id) -> str:
    return path.replace("{upload_id}", str(upload_id))


def state(card_no):
    c = Card.get(Card.card_no == card_no)
    return c.balance_fen, c.points


def offline_rows() -> int:
    return Transaction.select().where(Transaction.offline).count()


def upload(api, item, as_="01"):
    return check(api.post(UPLOADS, item, as_=as_), UPLOADS, "post")


# ---------------------------------------------------------------- while online


def test_the_config_is_the_terminals_and_not_the_system_operators(api):
    Setting.delete().where(Setting.key == "offline_single_limit_fen").execute()  # the default
    config = check(api.get(CONFIG), CONFIG, "get")
    assert config["types"] == ["consume", "points_earn", "upload"]
    assert (config["single_limit_fen"], config["card_total_fen"], config["card_count"]) == (
        20000, 50000, 5,
    )  # fmt: skip
    assert (config["signin_hours"], config["max_age_days"]) == (12, 7)
    assert config["blocked"] == [{"card_no": INACTIVE, "reason": "inactive", "from": None}]
    assert config["public_key"] == offline.public_key()
    for staff_no in ("00", "owner"):
        assert check(api.get(CONFIG, as_=staff_no), CONFIG, "get")["public_key"]
    refused = check(api.get(CONFIG, as_="99"), CONFIG, "get")
    assert refused["error"] == "not_permitted"


def test_trace_blocks_are_handed_once_and_checked(api):
    assert check(api.post(TRACES), TRACES, "post") == {"first": 1, "last": 100}
    assert check(api.post(TRACES, {"count": 5}), TRACES, "post") == {"first": 101, "last": 105}
    # The supervisor at the same terminal: its next block, never one handed out before.
    assert check(api.post(TRACES, {}, as_="00"), TRACES, "post") == {"first": 106, "last": 205}
    for count in (0, 1001, "5", True, None, 2.0, -1):
        refused = check(api.post(TRACES, {"count": count}), TRACES, "post")
        assert (refused["error"], refused.get("field")) == ("bad_request", "count"), count
    assert check(api.post(TRACES, {"size": 5}), TRACES, "post")["error"] == "bad_request"
    assert check(api.post(TRACES, {}, as_="99"), TRACES, "post")["error"] == "not_permitted"
    assert Terminal.get(Terminal.terminal_id == TERMINAL).offline_trace_next == 206


# ---------------------------------------------------------------- the upload


def test_an_upload_is_applied_and_its_copy_answers_replayed(api):
    key = check(api.get(CONFIG), CONFIG, "get")["public_key"]
    item = sale(1, amount="100.00", ago=90, key=key)
    first = api.post(UPLOADS, item)
    applied = check(first, UPLOADS, "post")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    assert (applied["status"], applied["status_name"], applied["error"]) == (
        "applied", "已入账", None,
    )  # fmt: skip
    posted = applied["transaction"]
    assert posted["offline"] is True and posted["amount"] == "-88.00"  # 金卡 88 %
    assert posted["sold_at"] == item["sold_at"] == applied["sold_at"]
    assert posted["created_at"] > posted["sold_at"]  # the upload's time, batch and date
    assert state(GOLD) == (100000 - 8800, 300 + 13)

    again = api.post(UPLOADS, json.loads(json.dumps(item)))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert check(again, UPLOADS, "post") == applied
    changed = check(api.post(UPLOADS, {**item, "amount": "99.00"}), UPLOADS, "post")
    assert changed["error"] == "offline_trace_reused"
    assert offline_rows() == 1 and state(GOLD) == (100000 - 8800, 313)

    # The journal shows the sale's time on the offline row, none on an online one.
    url = f"/api/v1/transactions/{posted['voucher_no']}"
    assert (
        check(api.get(url), "/api/v1/transactions/{voucher_no}", "get")["sold_at"]
        == (item["sold_at"])
    )
    online = check(api.transact("consume", PLAIN, amount="1"), "/api/v1/transactions", "post")
    assert (online["offline"], online["sold_at"]) == (False, None)
    assert ledger.verify() == []


def _signed_in(url: str, staff_no: str) -> requests.Session:
    session = requests.Session()
    r = session.post(
        url + "/api/v1/session", json={"operator_no": staff_no, "password": PASSWORDS[staff_no]}
    )
    assert r.status_code == 201, r.text
    session.headers["Authorization"] = "Bearer " + r.json()["token"]
    return session


def test_the_same_sales_uploaded_by_four_threads_at_once_apply_once(app, live_server):
    """Four browser tabs of one terminal come back online together and each uploads the
    terminal's offline sales, the same ten, at the same moment."""
    ensure_password("01")
    sessions = [_signed_in(live_server.url, "01") for _ in range(4)]
    items = [sale(n, amount="1.00") for n in range(1, 11)]
    barrier = Barrier(len(sessions))

    def send(session):
        barrier.wait()
        return [session.post(live_server.url + UPLOADS, json=item) for item in items]

    with ThreadPoolExecutor(len(sessions)) as pool:
        answers = [r for rs in pool.map(send, sessions) for r in rs]
    for session in sessions:
        session.close()
    assert [r.status_code for r in answers] == [201] * 40
    outcomes = [check(r, UPLOADS, "post") for r in answers]
    assert {o["status"] for o in outcomes} == {"applied"}
    assert sum(r.headers.get("Idempotent-Replayed") != "true" for r in answers) == 10
    assert len({o["id"] for o in outcomes}) == 10
    assert len({o["transaction"]["voucher_no"] for o in outcomes}) == 10
    assert OfflineUpload.select().count() == 10 and offline_rows() == 10
    assert state(GOLD)[0] == 100000 - 10 * 88
    assert ledger.verify() == []


def test_a_copy_after_a_restart_applies_nothing_and_the_key_is_kept(app, api, tmp_path):
    key = check(api.get(CONFIG), CONFIG, "get")["public_key"]
    item = sale(1, key=key)
    first = upload(api, item)
    later = sale(2, key=key)  # sealed before the restart, uploaded after it
    restarted = Api(create_app({"data_dir": tmp_path, "demo": True}).test_client())
    again = restarted.post(UPLOADS, item)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert check(again, UPLOADS, "post") == first
    assert check(restarted.get(CONFIG), CONFIG, "get")["public_key"] == key
    assert upload(restarted, later)["status"] == "applied"
    assert offline_rows() == 2 and state(GOLD) == (100000 - 2 * 880, 300 + 2)


FAILURES = [
    # (what differs from a good sale, error)
    (dict(pin="000000"), "wrong_pin"),
    (dict(pin=None), "wrong_pin"),  # the gold card has a PIN
    (dict(card_no=INACTIVE), "card_inactive"),
    (dict(card_no="1234567890123"), "card_not_found"),
    (dict(card_no="12ab"), "invalid_card_no"),
    (dict(amount="5000.00"), "insufficient_balance"),
    (dict(amount="0"), "invalid_amount"),
    (dict(ago=-30), "sale_time_in_future"),
    (dict(ago=8 * 24 * 60), "sale_time_too_old"),
    (dict(operator_no="55"), "staff_not_found"),
    (dict(operator_no="99"), "not_permitted"),  # the system operator sells nothing
    (dict(sold_at="2026-12-05 10:00"), "bad_request"),  # no offset
    (dict(sold_at=20261205), "bad_request"),
    (dict(type="recharge"), "bad_request"),
    (dict(points=5), "bad_request"),  # a consume takes an amount only
    (dict(sealed_pin="v1.AAAA.BBBB.CCCC"), "pin_unreadable"),
    (dict(sealed_pin=7), "bad_request"),
]


@pytest.mark.parametrize("change, code", FAILURES)
def test_a_refused_sale_is_kept_as_failed_and_answered_201(api, change, code):
    before, rows = state(GOLD), Transaction.select().count()
    item = sale(5, **change)  # the PIN sealed for the sale as it is sent
    r = api.post(UPLOADS, item)
    failed = check(r, UPLOADS, "post")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert (failed["status"], failed["status_name"], failed["error"]) == ("failed", "待对账", code)
    assert failed["message"] and failed["transaction"] is None
    assert Transaction.select().count() == rows
    if code != "wrong_pin":
        assert state(GOLD) == before
    # The copy answers the same failure; it is not judged again.
    again = api.post(UPLOADS, item)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert check(again, UPLOADS, "post") == failed


def test_a_refused_sale_time_is_kept_for_reconciliation(api):
    item = sale(3, ago=10 * 24 * 60)
    failed = upload(api, item)
    assert failed["error"] == "sale_time_too_old" and failed["sold_at"] == item["sold_at"]
    retried = check(api.post(at(RETRY, failed["id"]), as_="00"), RETRY, "post")
    assert (retried["status"], retried["error"]) == ("failed", "sale_time_too_old")


def test_a_pin_sealed_for_another_sale_or_server_does_not_open(api):
    item = sale(11)
    item["sealed_pin"] = sale(12)["sealed_pin"]  # the right PIN, sealed for trace 12
    assert upload(api, item)["error"] == "pin_unreadable"
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = other.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    stranger = sale(13, key=base64.b64encode(der).decode())
    assert upload(api, stranger)["error"] == "pin_unreadable"
    assert state(GOLD) == (100000, 300)


# ---------------------------------------------------------------- 离线对账


def test_reconciliation_lists_retries_and_resolves_each_once_audited(api, supervisor):
    applied = upload(api, sale(1, card_no=PLAIN, amount="20.00"))
    poor = upload(api, sale(2, card_no=SILVER, amount="300.00"))
    cash = upload(api, sale(3, card_no=SILVER, amount="250.00"))
    gone = upload(api, sale(4, card_no=SILVER, amount="400.00"))
    assert applied["status"] == "applied"
    assert {poor["error"], cash["error"], gone["error"]} == {"insufficient_balance"}

    # Operators neither read nor resolve it.
    assert check(api.get(UPLOADS), UPLOADS, "get")["error"] == "not_permitted"
    assert check(api.get(at(ONE, poor["id"])), ONE, "get")["error"] == "not_permitted"
    for path, payload in (
        (RETRY, None),
        (PAID, {"payment_method": "cash"}),
        (WRITE_OFF, {"reason": "x"}),
    ):
        refused = check(api.post(at(path, poor["id"]), payload), path, "post")
        assert refused["error"] == "not_permitted"

    page = check(api.get(UPLOADS + "?status=failed", as_="00"), UPLOADS, "get")
    assert [u["offline_trace_no"] for u in page["uploads"]] == [4, 3, 2]  # newest first
    assert page["total"] == 3 and (page["page"], page["per_page"]) == (1, 50)
    assert page["totals"]["failed"] == {"count": 3, "amount": "950.00"}
    assert page["totals"]["applied"] == {"count": 1, "amount": "20.00"}
    everything = check(api.get(UPLOADS + "?per_page=2&page=2", as_="owner"), UPLOADS, "get")
    assert everything["total"] == 4 and [u["offline_trace_no"] for u in everything["uploads"]] == [
        2, 1,
    ]  # fmt: skip
    assert check(api.get(at(ONE, poor["id"]), as_="00"), ONE, "get") == poor

    # A retry still refused stays open with its reason; after a recharge it applies.
    still = check(api.post(at(RETRY, poor["id"]), as_="00"), RETRY, "post")
    assert (still["status"], still["error"], still["resolved_at"]) == (
        "failed", "insufficient_balance", None,
    )  # fmt: skip
    recharged = api.transact("recharge", SILVER, amount="200", payment_method="cash")
    assert recharged.status_code == 201
    done = check(api.post(at(RETRY, poor["id"]), as_="00"), RETRY, "post")
    assert (done["status"], done["error"], done["resolved_by"]) == ("applied", None, "00")
    assert done["transaction"]["offline"] and done["transaction"]["amount"] == "-300.00"
    assert state(SILVER)[0] == 20000 + 20000 - 30000

    paid = api.post(
        at(PAID, cash["id"]), {"payment_method": "cash", "note": "会员现金补付"}, as_="00"
    )
    paid = check(paid, PAID, "post")
    assert (paid["status"], paid["payment_method"], paid["note"]) == (
        "paid_other", "cash", "会员现金补付",
    )  # fmt: skip
    written = check(
        api.post(at(WRITE_OFF, gone["id"]), {"reason": "会员已离店，无法联系"}, as_="owner"),
        WRITE_OFF,
        "post",
    )
    assert (written["status"], written["note"], written["resolved_by"]) == (
        "written_off", "会员已离店，无法联系", "owner",
    )  # fmt: skip
    assert state(SILVER)[0] == 10000  # neither touched the card

    # Each is resolved once: any second resolution, of any kind, is refused.
    for upload_id in (applied["id"], poor["id"], cash["id"], gone["id"]):
        for path, payload in (
            (RETRY, None),
            (PAID, {"payment_method": "wechat"}),
            (WRITE_OFF, {"reason": "again"}),
        ):
            refused = check(api.post(at(path, upload_id), payload, as_="00"), path, "post")
            assert refused["error"] == "offline_resolved", (upload_id, path)

    audit = [
        (a.action, a.staff_no, a.target, json.loads(a.details))
        for a in AuditLog.select().where(AuditLog.action.startswith("offline."))
    ]
    assert [(action, who, target) for action, who, target, _ in audit] == [
        ("offline.retry", "00", "10000001/000002"),
        ("offline.retry", "00", "10000001/000002"),
        ("offline.paid_other", "00", "10000001/000003"),
        ("offline.written_off", "owner", "10000001/000004"),
    ]
    assert [details["outcome"] for _, _, _, details in audit[:2]] == ["failed", "applied"]
    assert audit[2][3]["payment_method"] == "cash" and audit[3][3]["note"] == "会员已离店，无法联系"
    closed = check(api.get(UPLOADS, as_="00"), UPLOADS, "get")["totals"]
    assert closed["failed"] == {"count": 0, "amount": "0.00"}
    assert (closed["applied"]["count"], closed["paid_other"], closed["written_off"]) == (
        2, {"count": 1, "amount": "250.00"}, {"count": 1, "amount": "400.00"},
    )  # fmt: skip
    assert ledger.verify() == []


# ---------------------------------------------------------------- bad input


def snapshot() -> dict:
    """Everything a refused request could change (a wrong PIN's count excepted)."""
    cards = [dict(c) for c in Card.select().order_by(Card.id).dicts()]
    for c in cards:
        c.pop("pin_failures", None)
        c.pop("pin_locked_until", None)
    return {
        "card": cards,
        "journal": list(Transaction.select().order_by(Transaction.id).dicts()),
        "offline_upload": list(OfflineUpload.select().order_by(OfflineUpload.id).dicts()),
        "audit": AuditLog.select().count(),
        "terminal": list(Terminal.select().order_by(Terminal.id).dicts()),
        "setting": list(Setting.select().dicts()),
        "staff": list(Staff.select().order_by(Staff.id).dicts()),
    }


def _deep(levels: int) -> dict:
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value


BAD = [
    # (signed in as, method, documented path, upload, query, JSON body or raw text, error)
    ("01", "post", UPLOADS, None, "", None, "bad_request"),
    ("01", "post", UPLOADS, None, "", "{", "bad_request"),
    ("01", "post", UPLOADS, None, "", "[]", "bad_request"),
    ("01", "post", UPLOADS, None, "", '{"offline_trace_no": NaN}', "bad_request"),
    ("01", "post", UPLOADS, None, "", _deep(30), "bad_request"),
    ("01", "post", UPLOADS, None, "", {}, "invalid_terminal_id"),
    ("01", "post", UPLOADS, None, "", {"terminal_id": "1000", "offline_trace_no": 1},
     "invalid_terminal_id"),
    ("01", "post", UPLOADS, None, "", {"terminal_id": 10000001, "offline_trace_no": 1},
     "invalid_terminal_id"),
    ("01", "post", UPLOADS, None, "", {"terminal_id": "10000002", "offline_trace_no": 1},
     "bad_request"),  # another terminal's sale
    *(
        ("01", "post", UPLOADS, None, "", {"terminal_id": TERMINAL, "offline_trace_no": trace},
         "bad_request")
        for trace in (None, 0, -1, "1", 1.0, True, 2**63, [1])
    ),
    ("01", "post", UPLOADS, None, "", {"terminal_id": TERMINAL}, "bad_request"),
    ("01", "post", UPLOADS, None, "", lambda: {**sale(1), "tip": "1"}, "bad_request"),
    ("99", "post", UPLOADS, None, "", lambda: sale(1), "not_permitted"),
    ("01", "post", UPLOADS, None, "", "SEALED", "offline_trace_reused"),
    ("00", "get", UPLOADS, None, "?status=bogus", None, "bad_request"),
    ("00", "get", UPLOADS, None, "?page=0", None, "bad_request"),
    ("00", "get", UPLOADS, None, "?page=x", None, "bad_request"),
    ("00", "get", UPLOADS, None, "?per_page=201", None, "bad_request"),
    ("00", "get", UPLOADS, None, "?per_page=" + "9" * 80, None, "bad_request"),
    ("00", "get", ONE, "abc", "", None, "bad_request"),
    ("00", "get", ONE, "0", "", None, "bad_request"),
    ("00", "get", ONE, "9" * 30, "", None, "bad_request"),
    ("00", "get", ONE, "%E4%B8%AD", "", None, "bad_request"),
    ("00", "get", ONE, "999999", "", None, "offline_not_found"),
    ("00", "post", RETRY, "999999", "", None, "offline_not_found"),
    ("00", "post", RETRY, "-1", "", None, "bad_request"),
    ("00", "post", PAID, "999999", "", {"payment_method": "cash"}, "offline_not_found"),
    ("00", "post", PAID, "FAILED", "", {}, "bad_request"),
    ("00", "post", PAID, "FAILED", "", {"payment_method": "gold bars"}, "bad_request"),
    ("00", "post", PAID, "FAILED", "", {"payment_method": None}, "bad_request"),
    ("00", "post", PAID, "FAILED", "", {"payment_method": "cash", "note": 5}, "bad_request"),
    ("00", "post", PAID, "FAILED", "", {"payment_method": "cash", "note": "x" * 201},
     "bad_request"),
    ("00", "post", PAID, "FAILED", "", {"payment_method": "cash", "reason": "x"},
     "bad_request"),
    ("00", "post", PAID, "FAILED", "", "[1]", "bad_request"),
    ("00", "post", WRITE_OFF, "999999", "", {"reason": "x"}, "offline_not_found"),
    ("00", "post", WRITE_OFF, "FAILED", "", {}, "bad_request"),
    ("00", "post", WRITE_OFF, "FAILED", "", {"reason": ""}, "bad_request"),
    ("00", "post", WRITE_OFF, "FAILED", "", {"reason": "   "}, "bad_request"),
    ("00", "post", WRITE_OFF, "FAILED", "", {"reason": ["x"]}, "bad_request"),
    ("00", "post", WRITE_OFF, "FAILED", "", {"reason": "x" * 201}, "bad_request"),
    ("00", "post", WRITE_OFF, "FAILED", "", {"reason": "x", "note": "y"}, "bad_request"),
    ("01", "post", WRITE_OFF, "FAILED", "", {"reason": "x"}, "not_permitted"),
    ("01", "post", TRACES, None, "", "{", "bad_request"),
]  # fmt: skip


def test_bad_input_is_refused_by_its_documented_code_and_changes_nothing(api, supervisor):
    """Never a 500, never a change: each refusal is one the document lists for its path."""
    kept = sale(1)
    upload(api, kept)
    failed = upload(api, sale(2, card_no=SILVER, amount="300.00"))
    assert failed["status"] == "failed"
    for staff_no in ("01", "00", "99"):
        api.token(staff_no)  # signed in before: a sign-in is audited
    before = snapshot()
    for as_, method, path, upload_id, query, payload, code in BAD:
        url = at(path, failed["id"] if upload_id == "FAILED" else upload_id) + query
        if payload == "SEALED":  # trace 1 again, its PIN sealed anew: other bytes
            payload = {**kept, "sealed_pin": sale(1)["sealed_pin"]}
        elif callable(payload):  # a sale, sealed once the app has its key
            payload = payload()
        if isinstance(payload, str):
            r = getattr(api, method)(url, as_=as_, data=payload)
        elif method == "post":
            r = api.post(url, payload, as_=as_)
        else:
            r = api.get(url, as_=as_)
        assert r.status_code < 500, (url, payload, r.get_json())
        assert check(r, path, method)["error"] == code, (url, payload)
    # A refusal names the field at fault, as the request names it.
    for path, payload, field in (
        (WRITE_OFF, {"reason": " "}, "reason"),
        (WRITE_OFF, {"reason": "x" * 201}, "reason"),
        (PAID, {"payment_method": "cash", "note": "x" * 201}, "note"),
        (PAID, {"payment_method": "gold bars"}, "payment_method"),
    ):
        refused = check(api.post(at(path, failed["id"]), payload, as_="00"), path, "post")
        assert refused.get("field") == field, (path, payload)
    for upload_id in ("abc", "0"):
        refused = check(api.get(at(ONE, upload_id), as_="00"), ONE, "get")
        assert refused.get("field") == "upload_id"
    assert snapshot() == before


def test_upload_switched_off_is_refused_and_keeps_nothing(api):
    r = api.put("/api/v1/settings", {"offline_types": ["consume", "points_earn"]}, as_="99")
    assert r.status_code == 200
    assert check(api.get(CONFIG), CONFIG, "get")["types"] == ["consume", "points_earn"]
    refused = check(api.post(UPLOADS, sale(1)), UPLOADS, "post")
    assert refused["error"] == "transaction_disabled"
    assert OfflineUpload.select().count() == 0 and offline_rows() == 0
