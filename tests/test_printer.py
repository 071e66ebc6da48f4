"""The receipt printer's device layer over real parts: real transactions on a real database,
real bytes on a real TCP listener, a real file and a real pty."""

from __future__ import annotations

import os
import socket
import threading
import time
import tty

import pytest
import test_backoffice_i18n
from conftest import GOLD, Listener, body, free_port

from kakatong.devices import printer
from kakatong.domain import receipts, terminals
from kakatong.store.models import Transaction


@pytest.fixture
def slip(api):
    r = api.transact("consume", GOLD, amount="100")
    assert r.status_code == 201, body(r)
    record = Transaction.select().order_by(Transaction.id.desc()).first()
    return receipts.build(record)


# --- encode() -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, text, expected",
    [
        ("gb18030", "卡号", "bf a8 ba c5"),
        ("gbk", "卡号", "bf a8 ba c5"),
        ("utf-8", "卡号", "e5 8d a1 e5 8f b7"),
        ("gb18030", "余额 BALANCE", "d3 e0 b6 ee 20 42 41 4c 41 4e 43 45"),
        # full-width punctuation in a line without hanzi: python-escpos would send "????"
        ("gb18030", "（）：，", "a3 a8 a3 a9 a3 ba a3 ac"),
        ("gbk", "（）：，", "a3 a8 a3 a9 a3 ba a3 ac"),
        ("utf-8", "（）：，", "ef bc 88 ef bc 89 ef bc 9a ef bc 8c"),
        # "¥" is 81 30 84 36 in GB18030 and absent from GBK: sent as the full-width ￥
        ("gb18030", "¥12.00", "a3 a4 31 32 2e 30 30"),
        ("gbk", "¥12.00", "a3 a4 31 32 2e 30 30"),
        ("utf-8", "¥12.00", "c2 a5 31 32 2e 30 30"),
        ("gb18030", "持卡人签名", "b3 d6 bf a8 c8 cb c7 a9 c3 fb"),
        ("gbk", "168086******7114", "31 36 38 30 38 36 2a 2a 2a 2a 2a 2a 37 31 31 34"),
    ],
)
def test_encode_byte_by_byte(encoding, text, expected):
    assert printer.encode(text, encoding) == bytes.fromhex(expected)


@pytest.mark.parametrize(
    "encoding, text, expected",
    [
        ("gbk", "•", "a1 a4"),  # bullet -> middle dot (GBK has no bullet)
        ("gbk", "€5", "45 55 52 35"),  # GBK has no euro sign
        ("gb18030", "€5", "a2 e3 35"),  # GB18030 has it, two bytes
        ("gb18030", "½", "31 2f 32"),  # four bytes in GB18030, not printable: 1/2
        ("gbk", "ő", "6f"),  # accent GB lacks: dropped
        ("gb18030", "é", "a8 a6"),  # accent GB has: kept
        ("gbk", "𠀀", "3f"),  # a hanzi outside GBK: the visible "?"
        ("gb18030", "𠀀", "95 32 82 36"),  # GB18030 has it (extension B, 4 bytes)
        ("gb18030", "A\x1bB\x1dC", "41 3f 42 3f 43"),  # no printer command smuggled in a name
        ("utf-8", "A\x1bB", "41 3f 42"),
    ],
)
def test_encode_substitutes_before_it_replaces(encoding, text, expected):
    assert printer.encode(text, encoding) == bytes.fromhex(expected)


def test_encode_refuses_an_unknown_encoding():
    with pytest.raises(ValueError, match="gb18030"):
        printer.encode("x", "big5")


@pytest.mark.parametrize(
    "text, cols", [("abc", 3), ("卡号", 4), ("¥1", 3), ("（）", 4), ("·", 2), ("é", 2)]
)
def test_columns(text, cols):
    assert printer.columns(text) == cols


# --- receipt lines --------------------------------------------------------------------------


@pytest.mark.parametrize("width", [32, 48])
def test_receipt_lines_of_a_real_consume(slip, width):
    copies = [
        printer.receipt_lines(slip, width_chars=width, copy_label=label, reprint=False)
        for label in slip.copies
    ]
    assert slip.copies == ("商户存根", "持卡人存根")
    for lines, label in zip(copies, slip.copies, strict=True):
        text = "\n".join(lines)
        assert all(printer.columns(line) <= width for line in lines), text
        assert lines[0].strip() == (slip.receipt_title or "签购单")
        assert label in text
        assert "168086******7114" in text and "1680860097157114" not in text
        assert "¥88.00" in text and "¥100.00" in text and "¥912.00" in text
        assert "储值消费 SALE" in text and "+13" in text and "313" in text
        assert "持卡人签名 CARDHOLDER SIGNATURE" in text
        assert slip.voucher_no in text and slip.trace_no in text and slip.batch_no in text
        assert f"{slip.date} {slip.time}" in text
        assert "REPRINT" not in text
    assert "商户存根 MERCHANT COPY" in "\n".join(copies[0])
    assert "持卡人存根 CARDHOLDER COPY" in "\n".join(copies[1])


def test_amount_is_right_aligned_and_reprint_marked(slip):
    lines = printer.receipt_lines(slip, width_chars=32, copy_label="商户存根", reprint=True)
    assert "重印 REPRINT" in [line.strip() for line in lines]
    amount = next(line for line in lines if line.startswith("金额 AMOUNT"))
    assert amount.endswith("¥88.00") and printer.columns(amount) == 32


def test_a_recharge_has_no_signature_line(api):
    api.transact("recharge", GOLD, amount="50", payment_method="wechat")
    slip = receipts.build(Transaction.select().order_by(Transaction.id.desc()).first())
    text = "\n".join(printer.receipt_lines(slip, width_chars=48, copy_label=None, reprint=False))
    assert "签名" not in text and "微信支付" in text and "储值充值 RECHARGE" in text


def test_escpos_bytes_frame_one_slip():
    data = printer.escpos_bytes(
        ["签购单", "金额 ¥1.00"], encoding="gbk", chinese_mode=True, cut=True
    )
    assert data.startswith(b"\x1b\x40\x1c\x26")
    assert b"\x1d\x21\x01" + "签购单".encode("gbk") + b"\n" in data
    assert "金额 ".encode("gbk") + b"\xa3\xa41.00\n" in data
    assert data.endswith(b"\x1d\x56\x42\x00")
    utf8 = printer.escpos_bytes(["x"], encoding="utf-8", chinese_mode=True, cut=False)
    assert utf8.startswith(b"\x1b\x40\x1c\x2e") and b"\x1d\x56" not in utf8
    plain = printer.escpos_bytes(["x"], encoding="gb18030", chinese_mode=False, cut=True)
    assert b"\x1c" not in plain


# --- the printer path over TCP --------------------------------------------------------------


def receipt_bytes(slip) -> bytes:
    """Every copy of a receipt as a 58 mm GB18030 printer gets them (what printing queues)."""
    settings = printer.Settings()
    return b"".join(settings.slip(lines) for lines in printer.receipt_slips(slip, settings))


def test_two_copies_reach_a_tcp_printer(slip, listener):
    data = receipt_bytes(slip)
    jobs = printer.PrintQueue(f"tcp://127.0.0.1:{listener.port}", timeout=5)
    try:
        job_id = jobs.submit(data, "消费 " + slip.voucher_no)
        job = jobs.wait(job_id)
        assert job.state == "printed", job
        assert jobs.status() == "ok"
    finally:
        jobs.stop()
    [captured] = listener.wait_for(1)
    assert captured == data
    assert captured.startswith(b"\x1b\x40")
    assert captured.count(b"\x1d\x56") == 2
    text = captured.decode("gb18030")  # strict: every byte decodes
    assert slip.merchant_name and slip.merchant_name in text
    assert "168086******7114" in text
    assert "￥88.00" in text
    assert "商户存根" in text and "持卡人存根" in text
    assert "?" not in text


def test_a_refused_connection_fails_the_job_visibly_and_retry_prints(slip):
    port = free_port()  # nothing listens there
    data = receipt_bytes(slip)
    jobs = printer.PrintQueue(f"tcp://127.0.0.1:{port}", timeout=2)
    try:
        started = time.monotonic()
        job_id = jobs.submit(data, "consume")
        assert time.monotonic() - started < 0.1
        job = jobs.wait(job_id)
        assert job.state == "failed" and "refused" in job.error.lower()
        assert jobs.status().startswith("failed: ") and "refused" in jobs.status().lower()
        assert jobs.last_error == job.error
        server = Listener(port)
        try:
            assert jobs.retry(job_id)
            job = jobs.wait(job_id)
            assert (job.state, job.attempts, job.error) == ("printed", 2, None)
            assert server.wait_for(1) == [data]
            assert jobs.status() == "ok"
        finally:
            server.close()
        assert not jobs.retry(job_id)  # printed: nothing to retry
        assert not jobs.retry(9999)
    finally:
        jobs.stop()


def test_a_silent_printer_does_not_hang_the_worker(listener):
    # A host that accepts but never reads: the send times out instead of waiting forever.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    jobs = printer.PrintQueue(f"tcp://127.0.0.1:{port}", timeout=0.5)
    try:
        big = jobs.submit(b"x" * 50_000_000, "too much for the socket buffers")
        job = jobs.wait(big, timeout=10)
        assert job.state == "failed", job
        jobs_url = f"tcp://127.0.0.1:{listener.port}"
        jobs._url = lambda: jobs_url  # the setting changed: the next job goes there
        after = jobs.wait(jobs.submit(b"\x1b\x40ok", "next"))
        assert after.state == "printed"
    finally:
        jobs.stop()
        silent.close()


def test_no_printer_and_a_stopped_queue():
    jobs = printer.PrintQueue("none")
    job = jobs.wait(jobs.submit(b"x", "nothing to print on"))
    assert job.state == "skipped" and jobs.status() == "none"
    jobs.stop()
    assert not jobs._thread.is_alive()
    late = jobs.job(jobs.submit(b"x", "after stop"))
    assert late.state == "failed" and late.error == "print queue stopped"


def test_a_broken_url_setting_fails_the_job_not_the_caller():
    jobs = printer.PrintQueue(lambda: "tcp://")
    try:
        job = jobs.wait(jobs.submit(b"x"))
        assert job.state == "failed" and "tcp://" in job.error
        assert jobs.status().startswith("failed: ")
    finally:
        jobs.stop()


# --- open_printer() -------------------------------------------------------------------------


def test_open_printer_tcp(listener):
    device = printer.open_printer(f"tcp://127.0.0.1:{listener.port}", timeout=3)
    assert (device.host, device.port, device.timeout) == ("127.0.0.1", listener.port, 3)
    assert printer.open_printer("tcp://10.0.0.9").port == 9100
    assert printer.send(f"tcp://127.0.0.1:{listener.port}", b"\x1b\x40hello")
    assert listener.wait_for(1) == [b"\x1b\x40hello"]


def test_a_file_printer_is_a_device_never_a_file_on_the_disk(tmp_path):
    controller, device_fd = os.openpty()  # a character device, as /dev/usb/lp0 is
    tty.setraw(device_fd)  # bytes as they are: no newline translation
    try:
        url = f"file://{os.ttyname(device_fd)}"
        data = printer.escpos_bytes(["卡号 ¥1.00"], encoding="gb18030", chinese_mode=True, cut=True)
        assert printer.send(url, data)
        received = b""
        deadline = time.monotonic() + 5
        while len(received) < len(data) and time.monotonic() < deadline:
            received += os.read(controller, 4096)
        assert received == data
    finally:
        os.close(controller)
        os.close(device_fd)
    # A file (the database, say) is refused as an address, and never written or emptied.
    precious = tmp_path / "kakatong.sqlite3"
    precious.write_bytes(b"SQLite format 3\x00")
    with pytest.raises(ValueError, match="not a file"):
        terminals.parse_printer_url(f"file://{precious}")
    with pytest.raises(ValueError):
        printer.send(f"file://{precious}", b"x")
    with pytest.raises(OSError, match="not a printer device"):
        printer.write_device(str(precious), b"x", timeout=1)
    assert precious.read_bytes() == b"SQLite format 3\x00"
    # Nor is anything created where nothing was.
    with pytest.raises(FileNotFoundError):
        printer.send(f"file://{tmp_path / 'lp0'}", b"x")
    assert not (tmp_path / "lp0").exists()


def test_a_pipe_nobody_reads_fails_after_the_timeout_not_never(tmp_path):
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(OSError):
        printer.send(f"file://{fifo}", b"x", timeout=0.3)
    assert time.monotonic() - started < 3


def test_open_printer_serial_on_a_pty():
    controller, device_fd = os.openpty()
    try:
        url = f"serial://{os.ttyname(device_fd)}?baudrate=19200"
        device = printer.open_printer(url)
        assert device.baudrate == 19200
        assert printer.send(url, b"\x1b\x40serial")
        received = b""
        deadline = time.monotonic() + 5
        while len(received) < 8 and time.monotonic() < deadline:
            received += os.read(controller, 64)
        assert received == b"\x1b\x40serial"
    finally:
        os.close(controller)
        os.close(device_fd)


def test_open_printer_none():
    assert printer.open_printer("none") is None
    assert printer.open_printer("") is None
    assert printer.send("none", b"x") is False


def test_a_usb_printer_goes_through_pyusb_and_an_absent_one_fails_plainly():
    device = printer.open_printer("usb://0416:5011")
    assert type(device).__name__ == "Usb"  # pyusb is a runtime requirement
    with pytest.raises(Exception) as failed:
        printer.send("usb://0416:5011", b"x", timeout=1)
    # Either the library is missing (said so, with what to install) or the device is.
    assert "libusb-1.0-0" in str(failed.value) or "not found" in str(failed.value).lower()


def test_a_cups_queue_without_pycups_says_what_it_needs():
    pytest.importorskip("escpos")
    try:
        import cups  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="pip install 'python-escpos\\[cups\\]'"):
            printer.open_printer("cups://POS58")
    else:
        assert printer.open_printer("cups://POS58") is not None


@pytest.mark.parametrize(
    "url",
    [
        "lpt://1",
        "tcp://",
        "tcp://127.0.0.1:notaport",
        "tcp://127.0.0.1:99999",
        "tcp://127.0.0.1:0",
        "tcp://[::1]:9100",
        "usb://04b8",
        "usb://zz:0202",
        "serial://",
        "serial:///dev/ttyS0?baudrate=fast",
        "serial:///dev/ttyS0?parity=E",
        "file://",
        "file://relative/path",
        "cups://",
        "/dev/usb/lp0",
    ],
)
def test_open_printer_refuses_bad_urls(url):
    with pytest.raises(ValueError, match="printer URL"):
        printer.open_printer(url)


def test_image_mode_slips_of_both_widths_drawn_at_once_keep_their_widths():
    pytest.importorskip("PIL")
    try:
        printer.find_font()
    except RuntimeError:
        pytest.skip("no Chinese font here")
    from escpos.printer import Dummy

    shared = dict(Dummy().profile.profile_data["media"])
    failures = []

    def draw(paper_mm):
        try:
            for _ in range(5):
                data = printer.image_bytes(["卡号 ¥1.00"], paper_mm=paper_mm)
                # GS v 0 m xL xH: the raster's width in bytes, 8 dots each
                at = data.index(b"\x1dv0") + 4
                assert (
                    int.from_bytes(data[at : at + 2], "little") * 8 == printer.PAPER_DOTS[paper_mm]
                )
        except Exception as e:  # collected: an assert in a thread would not fail the test
            failures.append(repr(e))

    threads = [threading.Thread(target=draw, args=(mm,)) for mm in (58, 80, 58, 80)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    assert Dummy().profile.profile_data["media"] == shared  # the shared profile untouched


def test_job_ids_keep_rising_across_queues_as_across_restarts():
    first = printer.PrintQueue("none")
    a = first.submit(b"x")
    time.sleep(0.002)  # a restart takes longer than this
    second = printer.PrintQueue("none")
    try:
        b = second.submit(b"x")
        assert b > a > 1_000_000_000_000  # milliseconds: a restarted server starts above
    finally:
        first.stop()
        second.stop()


# --- why a print failed ---------------------------------------------------------------------


def test_each_failure_has_a_reason_the_cashier_can_act_on(tmp_path):
    """Real failures, each named by a stable code and a Chinese sentence with English."""

    def reason(url: str, **kw) -> str:
        with pytest.raises(Exception) as failed:
            printer.send(url, b"x", **kw)
        return printer.failure_reason(failed.value)

    assert reason(f"tcp://127.0.0.1:{free_port()}") == "not_connected"
    assert reason(f"file://{tmp_path / 'lp0'}") == "not_connected"  # unplugged
    assert reason("tcp://no-such-printer.invalid:9100") == "bad_address"
    assert reason("tcp://") == "bad_address"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # takes the connection, reads nothing
    try:
        with pytest.raises(printer.Stalled) as stalled:
            printer.write_device(str(fifo), b"x" * 1_000_000, timeout=0.3)
        assert printer.failure_reason(stalled.value) == "paper_or_fault"
    finally:
        os.close(reader)
    assert printer.failure_reason(printer.ConnectTimeout("x")) == "timeout"
    assert printer.failure_reason(ConnectionResetError()) == "paper_or_fault"
    assert printer.failure_reason(PermissionError(13, "denied")) == "no_permission"
    assert printer.failure_reason(RuntimeError("needs pycups")) == "no_driver"
    assert printer.failure_reason(KeyError("x")) == "fault"
    english = test_backoffice_i18n.english()
    for code, message in printer.FAILURES.items():
        assert english.get(message), (code, message)
