"""Printing at the terminals, end to end: transactions through the real server, their receipts
on a real TCP listener (a network printer's port 9100 as far as the app can tell), a printer
that refuses the connection, and one that does not answer (a FIFO nobody reads yet)."""

from __future__ import annotations

import json
import os
import queue
import re
import select
import socket
import threading
import time

import pytest
import requests
from conftest import GOLD, PLAIN, SILVER, Listener, body, free_port, rid

from kakatong.devices import printer
from kakatong.store.models import Card, Terminal

POS = "10000001"


def jobs(listener: Listener, count: int) -> list[bytes]:
    """The first `count` print jobs that carried bytes (the first connection of a print queue
    is its connection test, which sends nothing)."""
    for _ in range(50):
        got = [data for data in listener.received if data]
        if len(got) >= count:
            return got[:count]
        listener.wait_for(len(listener.received) + 1, timeout=0.1)
    raise AssertionError(f"{len(got)} of {count} print jobs arrived")


def slips(listener: Listener, count: int, encoding: str = "gb18030") -> list[str]:
    return [data.decode(encoding) for data in jobs(listener, count)]


def set_printer(api, **settings) -> dict:
    r = api.put(f"/api/v1/terminals/{POS}", settings, as_="99")
    assert r.status_code == 200, body(r)
    return body(r)


def printer_state(api, until: str, timeout: float = 5.0) -> dict:
    """The terminal's printer once it reads `until` (the last job done)."""
    deadline = 50
    for _ in range(deadline):
        state = body(api.get("/api/v1/terminal/printer"))
        if state["printer"] == until:
            return state
        threading.Event().wait(timeout / deadline)
    raise AssertionError(f"printer still {state}")


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def printed(live_api, listener):
    set_printer(live_api, printer_url=f"tcp://127.0.0.1:{listener.port}")
    return listener


# ---------------------------------------------------------------- the receipt


def test_a_consume_prints_both_copies_of_its_receipt_through_the_real_server(live_api, printed):
    r = live_api.transact("consume", GOLD, amount="12.50", service_code="A1")
    assert r.status_code == 201, body(r)
    record = body(r)
    (data,) = jobs(printed, 1)
    text = data.decode("gb18030")
    # One job, two slips: each starts with ESC @ and ends with a cut.
    assert data.count(printer.ESC_INIT) == 2 and data.count(printer.CUT_PARTIAL) == 2
    assert data.endswith(printer.FEED_BEFORE_CUT + printer.CUT_PARTIAL)
    assert data.startswith(printer.ESC_INIT + printer.FS_CHINESE_ON)
    merchant, cardholder = text.split("\x1b@")[1:]
    for copy in (merchant, cardholder):
        assert "卡卡通会员签购单" in copy and "卡卡通示范商户" in copy
        assert "898100000000001" in copy and POS in copy
        assert "168086******7114" in copy and GOLD not in copy
        assert "储值消费 SALE" in copy
        assert re.search(rf"\n凭证号 VOUCHER NO\. +{record['voucher_no']}\n", copy)
        assert "￥11.00" in copy and "￥12.50" in copy  # paid after the discount; the price
        assert "持卡人签名 CARDHOLDER SIGNATURE" in copy
        assert "?" not in copy.replace("REF. NO.", "")  # nothing replaced on the way
    assert "商户存根 MERCHANT COPY" in merchant and "持卡人存根" not in merchant
    assert "持卡人存根 CARDHOLDER COPY" in cardholder
    state = printer_state(live_api, "ok")
    assert state["job"]["kind"] == "receipt" and state["job"]["voucher_no"] == record["voucher_no"]


def test_one_copy_prints_one_slip_and_80mm_paper_uses_48_columns(live_api, printed):
    set_printer(live_api, paper_mm=80)
    live_api.put(f"/api/v1/terminals/{POS}", {"receipt_copies": 1}, as_="99")
    assert live_api.transact("recharge", PLAIN, amount="50", payment_method="cash").ok
    (text,) = slips(printed, 1)
    assert text.count("\x1b@") == 1 and "商户存根" in text and "持卡人存根" not in text
    assert "储值充值 RECHARGE" in text and "现金" in text
    widths = [printer.columns(line) for line in re.sub(r"[\x00-\x1f]+.?.?", "\n", text).split()]
    body_lines = [line for line in text.splitlines() if line.startswith("余额 BALANCE")]
    assert body_lines and printer.columns(body_lines[0]) == 48
    assert max(widths) <= 48


def test_a_gbk_printer_gets_only_gbk_and_the_yuan_sign_it_can_print(live_api, printed):
    set_printer(live_api, printer_encoding="gbk", printer_chinese_mode=False)
    assert live_api.transact("consume", PLAIN, amount="3.20").ok
    (data,) = jobs(printed, 1)
    assert not data.startswith(printer.ESC_INIT + printer.FS_CHINESE_ON)  # the setting says no
    text = data.decode("gbk")  # strict: every byte sequence is GBK
    assert "￥3.20" in text and b"\xa3\xa4" in data and "\u00a5" not in text


def test_image_mode_sends_a_picture_of_the_slip(live_api, printed):
    set_printer(live_api, printer_image=True, printer_cut=False)
    assert live_api.transact("consume", PLAIN, amount="1").ok
    (data,) = jobs(printed, 1)
    assert data.count(b"\x1dv0") >= 2  # GS v 0: a raster image for each copy
    assert "卡卡通".encode("gb18030") not in data  # no text: the printer has no font for it
    assert data.endswith(printer.FEED_TO_TEAR) and printer.CUT_PARTIAL not in data


def test_a_void_prints_its_own_receipt_naming_the_original(live_api, printed, supervisor):
    original = body(live_api.transact("consume", PLAIN, amount="8"))
    r = live_api.post(
        f"/api/v1/transactions/{original['voucher_no']}/void",
        {"supervisor_password": supervisor, "request_id": rid()},
    )
    assert r.status_code == 201, body(r)
    _, void = slips(printed, 2)
    assert "交易撤销 VOID" in void and "原交易 ORIG. TRANS" in void
    assert re.search(rf"原凭证号 ORIG\. VOUCHER +{original['voucher_no']}\n", void)


def test_a_replayed_request_prints_nothing_more(live_api, printed):
    request_id = rid()
    first = live_api.transact("consume", PLAIN, amount="2", request_id=request_id)
    again = live_api.transact("consume", PLAIN, amount="2", request_id=request_id)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert body(first) == body(again)
    slips(printed, 1)
    reprint = live_api.post("/api/v1/terminal/printer/jobs", {"kind": "feed"})
    assert reprint.status_code == 202
    texts = slips(printed, 2)
    assert "储值消费" not in texts[1]  # the next job is the feed, not a second receipt


def test_without_a_printer_nothing_is_queued_and_asking_is_refused(live_api):
    assert live_api.transact("consume", PLAIN, amount="1").ok
    assert body(live_api.get("/api/v1/terminal/printer")) == {
        "printer": "none",
        "error": None,
        "reason": None,
        "message": None,
        "job": None,
    }
    for kind in ("reprint", "feed", "journal", "totals", "test"):
        r = live_api.post("/api/v1/terminal/printer/jobs", {"kind": kind})
        assert (r.status_code, body(r)["error"]) == (409, "printer_not_configured")
        assert body(r)["message"] == "未配置打印机"


# ---------------------------------------------------------------- a printer that fails


def test_a_refusing_printer_leaves_the_transaction_committed_and_shows_the_error(live_api):
    port = free_port()  # nothing listens there
    set_printer(live_api, printer_url=f"tcp://127.0.0.1:{port}")
    before = Card.get(Card.card_no == PLAIN).balance_fen
    r = live_api.transact("consume", PLAIN, amount="5")
    assert r.status_code == 201, body(r)
    assert Card.get(Card.card_no == PLAIN).balance_fen == before - 500
    state = printer_state(live_api, "failed")
    assert state["job"]["kind"] == "receipt" and state["job"]["state"] == "failed"
    assert "refused" in state["error"].lower() or "111" in state["error"]
    # What the cashier reads, and what to do; the device's words stay in `error`.
    assert (state["reason"], state["message"]) == (
        "not_connected",
        "打印机未连接：请检查电源和连线",
    )
    assert (state["job"]["reason"], state["job"]["message"]) == (state["reason"], state["message"])
    second = body(live_api.transact("recharge", PLAIN, amount="7", payment_method="cash"))
    printer_state(live_api, "failed")
    # The printer comes back: 重印 prints the two slips that never came out, as they were.
    server = Listener(port)
    try:
        r = live_api.post("/api/v1/terminal/printer/jobs", {"kind": "reprint"})
        assert r.status_code == 202 and body(r)["kind"] == "receipt"
        assert body(r)["voucher_no"] == second["voucher_no"]
        first, then = slips(server, 2)
        assert "储值消费 SALE" in first and "￥5.00" in first and "168010******0018" in first
        assert "储值充值 RECHARGE" in then and "￥7.00" in then
        assert "重印" not in first + then  # the originals: nobody got them before
        printer_state(live_api, "ok")
        # Pressed again, with nothing left that failed: the last receipt, as a reprint.
        r = live_api.post("/api/v1/terminal/printer/jobs", {"kind": "reprint"})
        assert body(r)["kind"] == "reprint" and body(r)["voucher_no"] == second["voucher_no"]
        assert "重印 REPRINT" in slips(server, 3)[2]
    finally:
        server.close()


def test_a_printer_that_does_not_answer_never_holds_up_a_transaction(live_api, tmp_path):
    """A FIFO with no reader blocks whoever opens it for writing, as a printer that does not
    answer does: the transactions are answered all the same, their slips wait, and come out
    in order once the printer reads."""
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    set_printer(live_api, printer_url=f"file://{fifo}", printer_cut=True)
    answers = [live_api.transact("consume", PLAIN, amount=str(n)) for n in (1, 2, 3)]
    assert [r.status_code for r in answers] == [201, 201, 201]
    state = body(live_api.get("/api/v1/terminal/printer"))
    assert state["printer"] == "printing"  # still stuck on the connection test
    # The printer reads. Held open for reading and writing, the FIFO never reports an end
    # between two jobs (each job opens the device, writes and closes it), so nothing written
    # is lost between two reads: everything comes through one descriptor, in order.
    device = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    received = b""
    try:
        deadline = time.monotonic() + 10
        while received.count(printer.CUT_PARTIAL) < 6 and time.monotonic() < deadline:
            if select.select([device], [], [], 0.1)[0]:
                received += os.read(device, 65536)
    finally:
        os.close(device)
    text = received.decode("gb18030")
    vouchers = [body(r)["voucher_no"] for r in answers]
    found = re.findall(r"VOUCHER NO\. +(\d{6})", text)
    assert found == [v for v in vouchers for _copy in (1, 2)]  # both copies, in order
    assert printer_state(live_api, "ok")["job"]["voucher_no"] == vouchers[-1]


def unanswering() -> tuple[socket.socket, list[socket.socket]]:
    """A host that never takes a connection (off, or a wrong address where something drops
    the SYN): a listener whose backlog is full, and that never accepts."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(sock.getsockname())
        fillers.append(filler)
    time.sleep(0.1)
    return sock, fillers


def test_a_printer_that_never_answers_holds_later_slips_one_short_timeout(live_api):
    """The connection test and three receipts queued behind it: the first attempt waits the
    connect timeout, the receipts that waited behind it fail with it at once instead of
    waiting one timeout each, and the cashier reads why in Chinese."""
    sock, fillers = unanswering()
    try:
        started = time.monotonic()
        set_printer(live_api, printer_url=f"tcp://127.0.0.1:{sock.getsockname()[1]}")
        vouchers = [
            body(live_api.transact("consume", PLAIN, amount=str(n)))["voucher_no"]
            for n in (1, 2, 3)
        ]
        assert body(live_api.get("/api/v1/terminal/printer"))["printer"] == "printing"
        state = printer_state(live_api, "failed", timeout=printer.CONNECT_TIMEOUT + 3)
        took = time.monotonic() - started
        assert took < printer.CONNECT_TIMEOUT + 1.5, took  # one timeout, not four
        assert state["job"]["voucher_no"] == vouchers[-1] and state["job"]["state"] == "failed"
        assert state["reason"] == "timeout" and state["job"]["reason"] == "timeout"
        assert state["message"] == printer.FAILURES["timeout"] == state["job"]["message"]
        assert state["message"].startswith("连接打印机超时")
        assert "did not take the connection" in state["error"]  # the detail, kept
        # The address corrected: 重印 prints the three that did not come out, and the next
        # receipt prints at once.
        server = Listener()
        try:
            set_printer(live_api, printer_url=f"tcp://127.0.0.1:{server.port}")
            corrected = time.monotonic()
            assert printer_state(live_api, "ok")["job"]["kind"] == "probe"
            live_api.post("/api/v1/terminal/printer/jobs", {"kind": "reprint"})
            again = slips(server, 3)
            assert [re.search(r"VOUCHER NO\. +(\d{6})", t).group(1) for t in again] == vouchers
            fourth = body(live_api.transact("consume", PLAIN, amount="4"))["voucher_no"]
            assert fourth in slips(server, 4)[3]
            assert time.monotonic() - corrected < 2
            state = printer_state(live_api, "ok")
            assert (state["error"], state["reason"], state["message"]) == (None, None, None)
        finally:
            server.close()
    finally:
        for filler in fillers:
            filler.close()
        sock.close()


def test_a_corrected_address_applies_to_the_attempt_in_hand(live_api):
    """A receipt waiting behind a connection that hangs prints as soon as the address is
    corrected, not after the hung attempt's timeout."""
    sock, fillers = unanswering()
    server = Listener()
    try:
        set_printer(live_api, printer_url=f"tcp://127.0.0.1:{sock.getsockname()[1]}")
        record = body(live_api.transact("consume", PLAIN, amount="2"))
        time.sleep(0.3)  # the connection test hangs
        corrected = time.monotonic()
        set_printer(live_api, printer_url=f"tcp://127.0.0.1:{server.port}")
        (text,) = slips(server, 1)
        assert time.monotonic() - corrected < 1.5  # well within the connect timeout
        assert record["voucher_no"] in text
        printer_state(live_api, "ok")
    finally:
        server.close()
        for filler in fillers:
            filler.close()
        sock.close()


def test_a_printer_that_takes_the_connection_but_not_the_slip(app, live_api):
    """Out of paper, a network printer accepts and stops reading once its buffer is full: the
    receipt fails after the printer's timeout without data taken, and the receipt queued
    behind it fails with it, instead of waiting as long again."""
    app.extensions["kakatong.printing"].timeout = 1.0
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # a printer's small buffer
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    held = []

    def hold():
        sock.settimeout(0.2)
        while len(held) < 10:
            try:
                held.append(sock.accept()[0])  # and never read
            except OSError:
                if sock.fileno() < 0:
                    return

    threading.Thread(target=hold, daemon=True).start()
    try:
        set_printer(live_api, printer_url=f"tcp://127.0.0.1:{sock.getsockname()[1]}")
        printer_state(live_api, "ok")  # the connection test sends nothing: it gets through
        started = time.monotonic()
        first = body(live_api.transact("consume", PLAIN, amount="1"))
        second = body(live_api.transact("consume", PLAIN, amount="2"))
        state = printer_state(live_api, "failed", timeout=5)
        while state["job"]["voucher_no"] != second["voucher_no"]:
            state = printer_state(live_api, "failed", timeout=5)
        assert time.monotonic() - started < 2.5, time.monotonic() - started
        assert state["reason"] == "paper_or_fault"
        assert state["message"] == "打印机不接收数据：请检查是否缺纸或故障"
        assert "took no more data" in state["error"]
        assert first["voucher_no"] != second["voucher_no"]
    finally:
        sock.close()
        for conn in held:
            conn.close()


# ---------------------------------------------------------------- the other slips


def test_settlement_prints_the_batchs_totals(live_api, printed):
    assert live_api.transact("consume", PLAIN, amount="10").ok
    assert live_api.transact("recharge", SILVER, amount="100", payment_method="cash").ok
    assert live_api.transact("points_earn", PLAIN, amount="30").ok
    r = live_api.post("/api/v1/settlements", {})
    assert r.status_code == 201
    texts = slips(printed, 4)
    settlement = texts[3]
    assert "结算单 SETTLEMENT" in settlement
    assert re.search(r"储值消费 SALE +1笔 ￥10\.00", settlement)
    assert re.search(r"储值充值 RECHARGE +1笔 ￥100\.00", settlement)
    assert re.search(r"积分累加 POINTS EARN +1笔 \d+分", settlement)
    assert re.search(r"合计 TOTAL +3笔", settlement)
    assert re.search(r"批次号 BATCH NO\. +000001", settlement)
    assert "结算时间 SETTLED" in settlement


def test_the_journal_and_the_totals_of_the_open_batch(live_api, printed):
    first = body(live_api.transact("consume", PLAIN, amount="4"))
    assert live_api.transact("points_redeem", GOLD, points=10).ok
    r = live_api.post("/api/v1/terminal/printer/jobs", {"kind": "journal"})
    assert r.status_code == 202 and body(r)["name"] == "交易流水"
    journal = slips(printed, 3)[2]
    assert "交易流水 JOURNAL" in journal
    assert re.search(rf"{first['trace_no']} 储值消费 +-￥4\.00", journal)
    assert re.search(r"\d{6} 积分消费 +-10分", journal)
    assert journal.index("储值消费") < journal.index("积分消费")  # oldest first, as it happened
    assert "168010******0018" in journal and "168086******7114" in journal
    r = live_api.post("/api/v1/terminal/printer/jobs", {"kind": "totals"})
    totals = slips(printed, 4)[3]
    assert "交易汇总 TOTALS" in totals and re.search(r"合计 TOTAL +2笔", totals)


def test_feed_and_the_test_page(live_api, printed):
    assert live_api.post("/api/v1/terminal/printer/jobs", {"kind": "feed"}).status_code == 202
    assert live_api.post("/api/v1/terminal/printer/jobs", {"kind": "test"}, as_="99").ok
    feed, test_page = jobs(printed, 2)
    assert feed == printer.ESC_INIT + b"\x1bd\x05"
    test_page = test_page.decode("gb18030")
    assert "打印测试 TEST PAGE" in test_page and "12345678901234567890123456789012" in test_page
    assert "\n中文：会员卡，储值（测试）。\n" in test_page
    assert "\n金额 ￥1,234.56 ABCxyz 0189\n" in test_page and "?" not in test_page


def test_any_receipt_of_the_terminal_and_its_last_settlement_print_again(live_api, printed):
    first = body(live_api.transact("consume", PLAIN, amount="6"))
    assert live_api.transact("recharge", SILVER, amount="9", payment_method="cash").ok
    r = live_api.post(
        "/api/v1/terminal/printer/jobs", {"kind": "reprint", "voucher_no": first["voucher_no"]}
    )
    assert r.status_code == 202 and body(r)["voucher_no"] == first["voucher_no"]
    again = slips(printed, 3)[2]
    assert "重印 REPRINT" in again and "储值消费 SALE" in again and "￥6.00" in again
    assert live_api.post("/api/v1/settlements", {}).status_code == 201
    r = live_api.post("/api/v1/terminal/printer/jobs", {"kind": "settlement"})
    assert r.status_code == 202 and body(r)["kind"] == "settlement"
    settled, reprinted = slips(printed, 5)[3:]
    assert "重印 REPRINT" in reprinted and "重印" not in settled
    totals = re.compile(r"储值消费 SALE +1笔 ￥6\.00\n(.|\n)*合计 TOTAL +2笔")
    assert totals.search(settled) and totals.search(reprinted)


def test_another_terminals_receipt_is_not_reprinted_here(live_api, printed, office):
    page = office.get("/trade/recharge").get_data(as_text=True)
    request_id = re.search(r'name="request_id" type="hidden" value="([^"]+)"', page).group(1)
    office.post(
        "/trade/recharge",
        {"card_no": PLAIN, "amount": "1", "payment_method": "cash", "request_id": request_id},
        page="/trade/recharge",
    )
    voucher = body(live_api.get("/api/v1/transactions?terminal_id=99000001", as_="00"))
    voucher = voucher["transactions"][0]["voucher_no"]
    r = live_api.post("/api/v1/terminal/printer/jobs", {"kind": "reprint", "voucher_no": voucher})
    assert (r.status_code, body(r)["error"]) == (404, "transaction_not_found")


@pytest.mark.parametrize(
    "request_body, as_, status, error",
    [
        ({"kind": "print"}, "01", 400, "bad_request"),
        ({"kind": None}, "01", 400, "bad_request"),
        ({"kind": "feed", "voucher_no": "000001"}, "01", 400, "bad_request"),
        ({"kind": "reprint", "voucher_no": "12a"}, "01", 400, "bad_request"),
        ({"kind": "reprint", "copies": 3}, "01", 400, "bad_request"),
        ({"kind": "reprint"}, "99", 403, "not_permitted"),
        ({"kind": "journal"}, "99", 403, "not_permitted"),
        ({"kind": "settlement"}, "99", 403, "not_permitted"),
        ({"kind": "reprint"}, "01", 404, "no_receipt"),
        ({"kind": "reprint", "voucher_no": "999"}, "01", 404, "transaction_not_found"),
        ({"kind": "settlement"}, "01", 404, "no_settlement"),
    ],
)
def test_what_cannot_be_printed(live_api, printed, request_body, as_, status, error):
    r = live_api.post("/api/v1/terminal/printer/jobs", request_body, as_=as_)
    assert (r.status_code, body(r)["error"]) == (status, error)
    assert not [d for d in printed.received if d]


# ---------------------------------------------------------------- what the page is told


def test_the_stream_tells_the_page_how_each_print_went(live_server, live_api, printed):
    token = live_api.token("01")
    events: queue.Queue = queue.Queue()
    response = requests.get(
        live_server.url + "/api/v1/terminal/swipes/stream",
        headers={"Authorization": "Bearer " + token},
        stream=True,
        timeout=10,
    )

    def read():
        kind = None
        try:
            for line in response.iter_lines(chunk_size=1, decode_unicode=True):
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "printer":
                    events.put(json.loads(line[6:]))
        except Exception:
            pass

    threading.Thread(target=read, daemon=True).start()
    try:
        assert events.get(timeout=5)["printer"] in ("unknown", "ok", "printing")
        record = body(live_api.transact("consume", PLAIN, amount="1"))
        seen = []
        while not seen or seen[-1]["job"]["state"] != "printed":
            event = events.get(timeout=5)
            if event["job"] and event["job"]["kind"] == "receipt":
                seen.append(event)
        assert seen[-1]["printer"] == "ok" and seen[-1]["job"]["voucher_no"] == record["voucher_no"]
        assert "printing" in [e["job"]["state"] for e in seen]
        polled = body(live_api.get("/api/v1/terminal/swipes"))
        assert polled["printer"]["job"]["voucher_no"] == record["voucher_no"]
    finally:
        response.close()


def test_a_settings_change_tests_the_new_printer_at_once(live_api):
    closed = free_port()
    set_printer(live_api, printer_url=f"tcp://127.0.0.1:{closed}")
    assert printer_state(live_api, "failed")["job"]["kind"] == "probe"
    server = Listener()
    try:
        set_printer(live_api, printer_url=f"tcp://127.0.0.1:{server.port}")
        state = printer_state(live_api, "ok")
        assert state["job"]["kind"] == "probe" and server.wait_for(1) == [b""]
    finally:
        server.close()


def test_the_back_offices_own_terminal_prints_its_transactions(office, listener):
    Terminal.update(printer_url=f"tcp://127.0.0.1:{listener.port}").where(
        Terminal.kind == "backoffice"
    ).execute()
    page = office.get("/trade/recharge").get_data(as_text=True)
    request_id = re.search(r'name="request_id" type="hidden" value="([^"]+)"', page)
    assert request_id, "the form carries its request_id"
    r = office.post(
        "/trade/recharge",
        {"card_no": PLAIN, "amount": "20", "payment_method": "cash",
         "request_id": request_id.group(1)},
        page="/trade/recharge",
    )  # fmt: skip
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    (text,) = slips(listener, 1)
    assert "储值充值 RECHARGE" in text and "99000001" in text and "￥20.00" in text


def test_a_connection_closed_by_the_printer_mid_job_is_a_failure_not_a_crash(live_api):
    """A printer that accepts and drops the connection at once (out of paper on some
    models): the job fails or prints, the server carries on either way."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]

    def drop():
        for _ in range(3):
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            conn.close()

    threading.Thread(target=drop, daemon=True).start()
    try:
        set_printer(live_api, printer_url=f"tcp://127.0.0.1:{port}")
        assert live_api.transact("consume", PLAIN, amount="1").status_code == 201
        state = body(live_api.get("/api/v1/terminal/printer"))
        assert state["printer"] in ("printing", "ok", "failed")
        assert live_api.transact("consume", PLAIN, amount="1").status_code == 201
    finally:
        sock.close()
