"""The log (kakatong/logs.py, web/observe.py): `python app.py` writes one line per request and
per transaction to stdout, in logfmt, JSON or text, that a log tool can read back; no PIN,
password, token or whole card number is in any of it. And the formats themselves, the last
errors kept in memory, and the request id answered in X-Request-ID."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import GOLD, PINS, Api, Office, free_port
from test_backoffice_trade import void_form
from test_offline import sale

from kakatong import logs

ROOT = Path(__file__).resolve().parent.parent
# Passwords no number in a log could match by chance (a port, a time, an id).
OPERATOR_PASSWORD = "73914682"
OWNER_PASSWORD = "owner-Zq9-secret"
MASKED_GOLD = "168086******7114"
LOGFMT_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict:
    """A logfmt line as a log tool reads it: key=value pairs, values quoted when they must be."""
    pairs = {}
    rest = line
    while rest:
        found = LOGFMT_PAIR.match(rest)
        assert found, f"not logfmt: {line!r} at {rest!r}"
        key, value = found.groups()
        if value.startswith('"'):
            value = json.loads(value)  # the same escapes: \" \\ \n
        pairs[key] = value
        rest = rest[found.end() :].lstrip(" ")
    return pairs


class Server:
    """`python app.py` in a process of its own, its stdout read as it comes."""

    def __init__(self, data_dir: Path, log_format: str, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {
            **os.environ,
            "KAKATONG_DATA_DIR": str(data_dir),
            "KAKATONG_PORT": str(self.port),
            "KAKATONG_HTTPS_PORT": str(free_port()),
            "KAKATONG_HOST": "127.0.0.1",
            "KAKATONG_MSR": "",
            "KAKATONG_TLS": "off",  # no CA to make; its warning is a line too
            "KAKATONG_LOG_FORMAT": log_format,
            **env,
        }
        flask = [sys.executable, "-m", "flask", "--app", "app"]
        for account, password in (("01", OPERATOR_PASSWORD), ("owner", OWNER_PASSWORD)):
            subprocess.run(
                [*flask, "set-password", account, password],
                cwd=ROOT, env=environment, check=True, capture_output=True,
            )  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.lines)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.errors)),
        ]
        for reader in self._readers:
            reader.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(self.url + "/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert self.process.poll() is None, "\n".join(self.errors)
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def stop(self) -> str:
        """Stop it (SIGTERM, as docker stop does); everything it wrote to stdout."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self._readers:
            reader.join(5)
        return "\n".join(self.lines)


def sign_in_to_the_back_office(session: requests.Session, base: str) -> None:
    page = session.get(base + "/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    answer = session.post(
        base + "/login",
        data={"csrf_token": token, "account": "owner", "password": OWNER_PASSWORD},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text


def a_day_at_the_shop(base: str) -> dict:
    """A sign-in with a password and a consume with a PIN over the API, a card read by its
    number in the path and the PIN in a query string, the owner in the back office. Returns
    what the log must say, and what it must not."""
    api = requests.Session()
    signed = api.post(
        base + "/api/v1/session", json={"operator_no": "01", "password": OPERATOR_PASSWORD}
    )
    assert signed.status_code == 201, signed.text
    token = signed.json()["token"]
    api.headers["Authorization"] = f"Bearer {token}"
    consume = api.post(
        base + "/api/v1/transactions",
        json={
            "type": "consume",
            "card_no": GOLD,
            "amount": "12.34",
            "pin": PINS[GOLD],
            "request_id": "client-side-key-1",
        },
        headers={"X-Request-ID": "till-7.sale:0001"},
    )
    assert consume.status_code == 201, consume.text
    assert consume.headers["X-Request-ID"] == "till-7.sale:0001"
    card = api.get(base + f"/api/v1/cards/{GOLD}?pin={PINS[GOLD]}")
    assert card.status_code == 200, card.text
    refused = api.post(
        base + "/api/v1/transactions",
        json={"type": "consume", "card_no": GOLD, "amount": "1", "pin": "947261",
              "request_id": "client-side-key-2"},
        headers={"X-Request-ID": "not a sane id"},
    )  # fmt: skip
    assert refused.status_code == 403 and refused.json()["error"] == "wrong_pin", refused.text
    made_up = refused.headers["X-Request-ID"]
    assert made_up != "not a sane id" and re.fullmatch(r"[0-9a-f]{32}", made_up)
    office = requests.Session()
    sign_in_to_the_back_office(office, base)
    status = office.get(base + "/system?format=json")
    assert status.status_code == 200, status.text
    api.delete(base + "/api/v1/session")
    return {
        "voucher_no": consume.json()["voucher_no"],
        "made_up": made_up,
        "status": status.json(),
        "secrets": [PINS[GOLD], OPERATOR_PASSWORD, OWNER_PASSWORD, token, "947261"],
    }


def parse(log_format: str, line: str) -> dict:
    return json.loads(line) if log_format == "json" else parse_logfmt(line)


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_the_server_logs_each_request_and_transaction_as_a_log_tool_reads_them(
    tmp_path, log_format
):
    server = Server(tmp_path, log_format)
    try:
        day = a_day_at_the_shop(server.url)
    finally:
        output = server.stop()
    lines = [parse(log_format, line) for line in output.splitlines()]  # every line parses
    assert all({"time", "level", "logger"} <= set(line) for line in lines)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", x["time"]) for x in lines)

    # The start's own lines, HTTPS's warning among them, in the same format.
    said = [x.get("msg", "") for x in lines if x["logger"] == "kakatong"]
    assert any(m.startswith("Kakatong ") and "listening" in m for m in said), said
    assert any(x["logger"] == "kakatong.https" and x["level"] == "warning" for x in lines)

    requests_ = [x for x in lines if x.get("event") == "request"]
    consume = [x for x in requests_ if x["request_id"] == "till-7.sale:0001"]
    assert len(consume) == 1
    (consume,) = consume
    assert consume["logger"] == "kakatong.requests" and consume["level"] == "info"
    assert consume["method"] == "POST" and consume["route"] == "/api/v1/transactions"
    assert str(consume["status"]) == "201" and float(consume["duration_ms"]) >= 0
    assert consume["staff"] == "01" and consume["terminal"] == "10000001"
    assert consume["client"] == "127.0.0.1"
    # The card read by its number: the route, not the path (nor its query string).
    (card,) = [x for x in requests_ if x["route"] == "/api/v1/cards/<card_no>"]
    assert str(card["status"]) == "200" and card["staff"] == "01"
    # A refusal says its code; a client's insane id was replaced by the one answered.
    (refused,) = [x for x in requests_ if x["request_id"] == day["made_up"]]
    assert refused["error"] == "wrong_pin" and str(refused["status"]) == "403"
    # The sign-in itself: no staff yet. The owner in the back office: the owner.
    (sign_in,) = [x for x in requests_ if x["route"] == "/api/v1/session" and x["method"] == "POST"]
    assert "staff" not in sign_in
    (page,) = [x for x in requests_ if x["route"] == "/system"]
    assert page["staff"] == "owner" and page["terminal"] == "99000001"

    (sale,) = [x for x in lines if x.get("event") == "transaction"]
    assert sale["logger"] == "kakatong.transactions"
    assert sale["type"] == "consume" and sale["status"] == "success"
    assert sale["voucher_no"] == day["voucher_no"] and re.fullmatch(r"\d{6}", sale["trace_no"])
    assert sale["terminal"] == "10000001" and sale["operator"] == "01"
    assert str(sale["amount_fen"]) == "-1086" and str(sale["points"]) == "1"  # 12.34 at 88 %
    assert sale["card"] == MASKED_GOLD
    assert sale["request_id"] == "till-7.sale:0001"

    # Nothing secret anywhere; the card's whole number only where the start lists the demo
    # cards, which this README publishes.
    for secret in day["secrets"]:
        assert secret not in output, secret
    holding = [line for line in output.splitlines() if GOLD in line]
    assert len(holding) == 1 and "Demo cards" in holding[0], holding

    # 系统状态 of the same process keeps its warnings: HTTPS turned off is one.
    errors = day["status"]["errors"]
    assert any(
        e["logger"] == "kakatong.https" and "KAKATONG_TLS=off" in e["message"] for e in errors
    )


def test_the_text_format_is_the_one_of_old_with_an_events_fields(tmp_path):
    server = Server(tmp_path, "text", KAKATONG_DEMO="0")
    try:
        answer = requests.get(server.url + "/healthz", headers={"X-Request-ID": "probe-1"})
        assert answer.json() == {"status": "ok"}
    finally:
        output = server.stop()
    line = next(x for x in output.splitlines() if "request_id=probe-1" in x)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} kakatong\.requests GET /healthz 200 "
        r"event=request request_id=probe-1 method=GET route=/healthz status=200 "
        r"duration_ms=[0-9.]+ client=127\.0\.0\.1",
        line,
    ), line
    assert re.search(r"^\S+ \S+ kakatong Kakatong \S+ listening on 127\.0\.0\.1", output, re.M)


def test_a_level_of_warning_leaves_out_the_requests(tmp_path):
    server = Server(tmp_path, "json", KAKATONG_LOG_LEVEL="warning", KAKATONG_DEMO="0")
    try:
        assert requests.get(server.url + "/healthz").status_code == 200
    finally:
        output = server.stop()
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines and all(x["level"] in ("warning", "error", "critical") for x in lines), lines
    assert not any(x.get("event") == "request" for x in lines)


def test_an_unknown_format_or_level_stops_the_start_and_says_which(tmp_path):
    env = {**os.environ, "KAKATONG_DATA_DIR": str(tmp_path), "KAKATONG_LOG_FORMAT": "xml"}
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "KAKATONG_LOG_FORMAT" in done.stderr, done.stderr
    env.update(KAKATONG_LOG_FORMAT="json", KAKATONG_LOG_LEVEL="loud")
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "KAKATONG_LOG_LEVEL" in done.stderr, done.stderr


# ---------------------------------------------------------------- the formats, in the process


@pytest.fixture
def configured():
    """logs.configure into a buffer; the root logger as it was afterwards."""
    root = logging.getLogger()
    kept = (list(root.handlers), root.level, logging.getLogger("peewee").level)
    buffer = io.StringIO()

    def configure(log_format="logfmt", level="INFO"):
        ring = logs.configure(log_format, level, buffer)
        return ring, buffer

    yield configure
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in kept[0]:
        root.addHandler(handler)
    root.setLevel(kept[1])
    logging.getLogger("peewee").setLevel(kept[2])


def test_logfmt_quotes_what_it_must_and_keeps_one_line(configured):
    _ring, out = configured("logfmt")
    log = logging.getLogger("kakatong.test")
    log.info('a "quoted" word\nand a second line, 中文 and a \\ backslash')
    log.info("event", extra={"fields": {"event": "x", "empty": "", "none": None, "flag": True}})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (parse_logfmt(line) for line in lines)
    assert first["msg"] == 'a "quoted" word\nand a second line, 中文 and a \\ backslash'
    assert second["event"] == "x" and second["empty"] == "" and second["flag"] == "true"
    assert "none" not in second and "msg" not in second
    assert third["level"] == "error" and third["msg"] == "it failed"
    assert "Traceback" in third["exc"] and "ValueError: boom" in third["exc"]


def test_json_lines_are_one_object_each(configured):
    _ring, out = configured("json")
    logging.getLogger("kakatong.test").warning("中文\n%s", "two lines")
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["msg"] == "中文\ntwo lines" and record["level"] == "warning"
    assert "中文" in line  # as it is, not \u escapes


def test_the_ring_keeps_the_last_fifty_warnings_and_errors(configured):
    ring, _out = configured("logfmt")
    log = logging.getLogger("kakatong.test")
    log.info("not kept")
    for n in range(60):
        log.warning("warning %d", n)
    try:
        {}["key"]
    except KeyError:
        log.exception("lookup failed")
    entries = ring.entries()
    assert len(entries) == logs.RING_SIZE == 50
    assert entries[0].level == "ERROR" and entries[0].message == "lookup failed (KeyError: 'key')"
    assert entries[1].message == "warning 59" and entries[-1].message == "warning 11"
    assert all(e.logger == "kakatong.test" for e in entries)


def test_debug_does_not_open_peeweees_statements(configured):
    _ring, out = configured("logfmt", "DEBUG")
    logging.getLogger("peewee").debug(("SELECT … WHERE card_no = ?", [GOLD]))
    logging.getLogger("kakatong.reader").debug("reader: something")
    assert GOLD not in out.getvalue() and "reader: something" in out.getvalue()


# ---------------------------------------------------------------- request ids, in the process


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("A.b_c:d-e", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("has space", False),
        ('quote"', False),
        ("-leading-dash", False),
        ("", False),
    ],
)
def test_a_sane_request_id_is_kept_and_any_other_replaced(client, sent, kept):
    answer = client.get("/healthz", headers={"X-Request-ID": sent} if sent else {})
    answered = answer.headers["X-Request-ID"]
    if kept:
        assert answered == sent
    else:
        assert answered != sent and re.fullmatch(r"[0-9a-f]{32}", answered)


def test_the_request_line_names_the_route_and_the_transaction_line_masks_the_card(client, caplog):
    api = Api(client)
    api.token("01")
    with caplog.at_level(logging.INFO, logger="kakatong"):
        posted = api.post(
            "/api/v1/transactions",
            {"type": "consume", "card_no": GOLD, "amount": "20", "pin": PINS[GOLD],
             "request_id": "k-1"},
            headers={"X-Request-ID": "r-1"},
        )  # fmt: skip
        assert posted.status_code == 201
        assert api.get(f"/api/v1/cards/{GOLD}").status_code == 200
        assert api.get("/api/v1/cards/9999999999999999").status_code == 404
        assert client.get(f"/no/such/{GOLD}").status_code == 404
    fields = [r.fields for r in caplog.records if hasattr(r, "fields")]
    (sale,) = [f for f in fields if f["event"] == "transaction"]
    assert sale["card"] == MASKED_GOLD and sale["request_id"] == "r-1"
    assert sale["amount_fen"] == -1760 and sale["points"] == 2  # 88 % of 20.00, ×1.5
    routes = [f["route"] for f in fields if f["event"] == "request"]
    assert routes == [
        "/api/v1/transactions",
        "/api/v1/cards/<card_no>",
        "/api/v1/cards/<card_no>",
        None,  # matched no route: no route, and never the path
    ]
    assert not any(GOLD in record.getMessage() for record in caplog.records)
    assert not any(GOLD in json.dumps(f, default=str) for f in fields)


def test_a_request_id_sent_again_adds_no_second_transaction_line(client, caplog):
    api = Api(client)
    api.token("01")
    with caplog.at_level(logging.INFO, logger="kakatong.transactions"):
        for _ in range(2):
            answer = api.transact("recharge", GOLD, amount="5", payment_method="cash",
                                  request_id="same-key-1")  # fmt: skip
            assert answer.status_code == 201
    assert len([r for r in caplog.records if r.name == "kakatong.transactions"]) == 1


def test_an_unexpected_error_is_logged_by_its_route_not_its_path(app, caplog):
    def broken(card_no):
        raise RuntimeError("a bug")

    app.add_url_rule("/broken/<card_no>", "broken", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as served: a 500 page, and a log line
    client = app.test_client()
    with caplog.at_level(logging.INFO):
        answer = client.get(f"/broken/{GOLD}", headers={"X-Request-ID": "bug-1"})
    assert answer.status_code == 500 and answer.headers["X-Request-ID"] == "bug-1"
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage() == "Exception on GET /broken/<card_no> (request bug-1)"
    assert error.exc_info[0] is RuntimeError
    (line,) = [r.fields for r in caplog.records if getattr(r, "fields", None)]
    assert line["route"] == "/broken/<card_no>" and line["status"] == 500
    assert not any(GOLD in r.getMessage() for r in caplog.records)


def test_offline_uploads_and_back_office_voids_have_their_lines(app, client, caplog):
    api = Api(client)
    api.token("01")
    with caplog.at_level(logging.INFO, logger="kakatong.transactions"):
        applied = api.post("/api/v1/offline/uploads", sale(1, amount="10.00"))
        too_much = sale(2, amount="5000.00")
        failed = api.post("/api/v1/offline/uploads", too_much)
        assert applied.status_code == failed.status_code == 201
        assert api.post("/api/v1/offline/uploads", too_much).status_code == 201  # its copy
        office = Office(app.test_client()).sign_in("owner")
        voucher = applied.json["transaction"]["voucher_no"]
        fields = {"card_no": GOLD, "by": "voucher", "original": voucher, "pin": PINS[GOLD]}
        assert void_form(office, fields).status_code == 303
    lines = [r.fields for r in caplog.records if getattr(r, "fields", None)]
    assert [(x["type"], x["status"], x.get("offline")) for x in lines] == [
        ("consume", "success", True),
        ("consume", "failed", True),  # once: its copy adds nothing
        ("void", "success", None),
    ]
    sold, refused, voided = lines
    assert sold["card"] == refused["card"] == voided["card"] == MASKED_GOLD
    assert refused["error"] == "over_limit" and refused["offline_trace_no"] == "000002"
    assert refused["amount_fen"] == 500000 and refused["terminal"] == "10000001"
    assert voided["original_voucher_no"] == voucher and voided["operator"] == "owner"
    assert voided["terminal"] == "99000001" and voided["amount_fen"] == -sold["amount_fen"]
