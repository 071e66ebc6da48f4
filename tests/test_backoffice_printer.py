"""A terminal's receipt printer in the back office (终端 → 打印机): its six settings, its state,
and the test page, printed on a real TCP "printer" (conftest.Listener).

Each form: what it writes (and the audit row it leaves), each refusal (nothing written), the
CSRF token, and who may use it at all.
"""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from conftest import PASSWORDS, Listener, Office, ensure_password, html

from kakatong.devices import printer
from kakatong.domain import terminals
from kakatong.store.models import AuditLog, Terminal

TERMINAL = "10000001"
PAGE = f"/terminals/{TERMINAL}"
SETTINGS = f"{PAGE}/printer"
TEST_PAGE = f"{PAGE}/printer/test"
BOOLEANS = ("printer_chinese_mode", "printer_image", "printer_cut")
RULER = {32: "12345678901234567890123456789012", 48: "123456789012345678901234567890123456789012345678"}  # fmt: skip


@pytest.fixture(autouse=True)
def printing(app):
    """The app's print queues, with a short printer timeout; stopped after the test."""
    printing = app.extensions["kakatong.printing"]
    printing.timeout = 2.0
    yield printing
    printing.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main_of(page: str) -> str:
    return page[page.index("<main") : page.index("</main>")]


def flashes(page: str) -> list[str]:
    return re.findall(r'<p class="flash" role="status">([^<]*)</p>', page)


def error_beside(page: str, field: str) -> str:
    found = re.search(rf'<small class="error" id="err-{field}">([^<]+)</small>', page)
    assert found, f"no error beside {field}"
    return found.group(1)


def state_shown(page: str) -> str:
    found = re.search(r'<dd id="printer-state"[^>]*>([^<]*)</dd>', page)
    assert found, "no printer state on the page"
    return found.group(1)


def settings_of(terminal_id: str = TERMINAL) -> dict:
    t = terminals.find(terminal_id)
    return {key: getattr(t, key) for key in terminals.PRINTER_PARAMETERS}


def form_data(**changes) -> dict:
    """The printer form as the page fills it (the terminal's current settings), changed."""
    values = {**settings_of(), **changes}
    data = {
        "printer_url": values["printer_url"],
        "printer_encoding": values["printer_encoding"],
        "paper_mm": str(values["paper_mm"]),
    }
    data.update({key: "y" for key in BOOLEANS if values[key]})  # an unticked box is not sent
    return data


def snapshot() -> tuple:
    """Everything the printer forms could change."""
    return (
        [settings_of(t.terminal_id) for t in terminals.list_terminals()],
        [(r.action, r.target) for r in AuditLog.select().where(AuditLog.action != "sign_in")],
    )


def update_audits() -> list[AuditLog]:
    return list(
        AuditLog.select()
        .where(AuditLog.action == "terminal.update", AuditLog.target == TERMINAL)
        .order_by(AuditLog.id)
    )


def save(office, **changes):
    return office.post(SETTINGS, form_data(**changes), page=PAGE)


def printed(listener: Listener, count: int = 1) -> list[bytes]:
    """What reached the printer, without the connection tests' zero-byte probes."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        jobs = [data for data in listener.received if data]
        if len(jobs) >= count:
            return jobs
        time.sleep(0.01)
    return [data for data in listener.received if data]


# ---------------------------------------------------------------- the page


def test_the_printer_section_shows_the_settings_the_state_and_the_test_button(office):
    page = main_of(html(office.get(PAGE)))
    section = page[page.index('id="printer"') :]
    assert "打印机" in section
    assert f'action="{SETTINGS}#printer"' in section and f'action="{TEST_PAGE}"' in section
    assert "打印测试页" in section and section.count('name="csrf_token"') == 2
    # The settings as they are: no printer, GB18030, 58 mm, Chinese mode and cutter on.
    assert re.search(r'id="printer_url"[^>]*value="none"', section)
    assert re.search(r'<option selected value="gb18030">', section)
    assert re.search(r'<option selected value="58">', section)
    for key in ("printer_chinese_mode", "printer_cut"):
        assert re.search(rf'<input checked id="{key}"', section), key
    assert re.search(r'<input id="printer_image"', section)
    # The URL's help lists every kind of address, with examples.
    for form in ("tcp://", "usb://", "serial://", "file:///dev/usb/lp0", "cups://", "none"):
        assert form in section, form
    assert state_shown(page) == "未配置"
    assert "<script" not in page and "style=" not in page  # CSP: nothing inline


def test_the_terminal_list_shows_each_printer(office):
    terminals.update(TERMINAL, {"printer_url": "tcp://192.0.2.10:9100"})
    page = main_of(html(office.get("/terminals")))
    rows = dict(re.findall(r'<tr id="terminal-([0-9]+)">(.*?)</tr>', page, re.S))
    assert "<th>打印机</th>" in page
    assert "tcp://192.0.2.10:9100" in rows[TERMINAL] and "未配置" not in rows[TERMINAL]
    assert "未配置" in rows["99000001"] and "tcp://" not in rows["99000001"]


# ---------------------------------------------------------------- saving the settings


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"printer_url": "tcp://127.0.0.1:9"}, {"printer_url": "tcp://127.0.0.1:9"}),
        ({"printer_url": " usb://04b8:0202 "}, {"printer_url": "usb://04b8:0202"}),
        ({"printer_url": "serial:///dev/ttyKAKA0?baudrate=9600"}, {"printer_url": "serial:///dev/ttyKAKA0?baudrate=9600"}),
        ({"printer_url": "file:///dev/usb/lp9"}, {"printer_url": "file:///dev/usb/lp9"}),
        ({"printer_url": "cups://POS58"}, {"printer_url": "cups://POS58"}),
        ({"printer_encoding": "gbk"}, {"printer_encoding": "gbk"}),
        ({"printer_encoding": "utf-8"}, {"printer_encoding": "utf-8"}),
        ({"paper_mm": 80}, {"paper_mm": 80}),
        ({"printer_chinese_mode": False}, {"printer_chinese_mode": False}),
        ({"printer_image": True}, {"printer_image": True}),
        ({"printer_cut": False}, {"printer_cut": False}),
        (
            {"printer_url": "cups://POS80", "paper_mm": 80, "printer_image": True, "printer_cut": False},
            {"printer_url": "cups://POS80", "paper_mm": 80, "printer_image": True, "printer_cut": False},
        ),
    ],
)  # fmt: skip
def test_save_a_printer_setting(office, changes, expected):
    before = settings_of()
    r = save(office, **changes)
    assert r.status_code == 302, html(r)
    assert r.headers["Location"].endswith(f"{PAGE}#printer")
    assert settings_of() == {**before, **expected}
    assert isinstance(Terminal.get(Terminal.terminal_id == TERMINAL).paper_mm, int)
    # Audited by the domain: who, from where, and only what changed.
    [row] = update_audits()
    assert (row.staff_no, row.address, row.terminal_id) == ("owner", "127.0.0.1", "99000001")
    assert set(audit_details(row)) == set(expected)
    page = html(office.get(PAGE))
    assert f"终端 {TERMINAL} 的打印机设置已保存" in flashes(page)
    # The audit log reads it in words.
    if "printer_url" in expected:
        assert f"打印机地址: {expected['printer_url']}" in html(office.get("/audit"))


def audit_details(row: AuditLog) -> dict:
    from kakatong.domain import audit

    return audit.details_of(row)


def test_none_takes_the_printer_away(office):
    terminals.update(TERMINAL, {"printer_url": "tcp://192.0.2.10:9100"})
    assert save(office, printer_url=" NONE ").status_code == 302
    assert settings_of()["printer_url"] == "none"
    assert save(office, printer_url="tcp://127.0.0.1:9").status_code == 302
    assert save(office, printer_url="").status_code == 302  # nothing typed: no printer
    assert settings_of()["printer_url"] == "none"


def test_a_changed_setting_tests_the_connection_again(office, listener):
    url = f"tcp://127.0.0.1:{listener.port}"
    assert save(office, printer_url=url).status_code == 302
    assert listener.wait_for(1) == [b""]  # the probe: a connection, nothing printed
    assert state_shown(html(office.get(PAGE))) == "工作正常"
    assert save(office, paper_mm=80).status_code == 302
    assert listener.wait_for(2) == [b"", b""]
    assert save(office).status_code == 302  # nothing changed: nothing to test
    time.sleep(0.3)
    assert listener.received == [b"", b""]


def test_the_system_operator_sets_the_printer_up(office_as):
    browser = office_as("99")
    r = browser.post(SETTINGS, form_data(paper_mm=80), page=PAGE)
    assert r.status_code == 302
    assert settings_of()["paper_mm"] == 80
    assert update_audits()[-1].staff_no == "99"


def test_the_back_office_terminal_has_a_printer_too(office):
    r = office.post(
        "/terminals/99000001/printer",
        {"printer_url": "cups://OFFICE", "printer_encoding": "gb18030", "paper_mm": "80"},
        page="/terminals/99000001",
    )
    assert r.status_code == 302
    assert settings_of("99000001") == {
        "printer_url": "cups://OFFICE",
        "printer_encoding": "gb18030",
        "printer_chinese_mode": False,
        "paper_mm": 80,
        "printer_image": False,
        "printer_cut": False,
    }
    assert settings_of()["printer_url"] == "none"  # the other terminal's stay as they were


def test_saving_nothing_new_changes_nothing(office):
    before = snapshot()
    r = save(office)
    assert r.status_code == 302
    assert "无变更" in flashes(html(office.get(PAGE)))
    assert snapshot() == before


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"printer_url": "http://192.168.1.50:9100"}, "printer_url", "打印机地址不正确"),
        ({"printer_url": "tcp://"}, "printer_url", "打印机地址不正确"),
        ({"printer_url": "tcp://printer:port"}, "printer_url", "打印机地址不正确"),
        ({"printer_url": "usb://zz:1"}, "printer_url", "打印机地址不正确"),
        ({"printer_url": "serial:///dev/ttyS0?baud=9600"}, "printer_url", "打印机地址不正确"),
        ({"printer_url": "file://lp0"}, "printer_url", "打印机地址不正确"),
        ({"printer_url": "cups://"}, "printer_url", "打印机地址不正确"),
        ({"printer_url": "192.168.1.50"}, "printer_url", "打印机地址不正确"),
        ({"printer_url": "cups://" + "P" * 200}, "printer_url", "打印机地址不正确"),
        ({"printer_encoding": "latin-1"}, "printer_encoding", "打印编码只能是 gb18030、gbk 或 utf-8"),
        ({"printer_encoding": ""}, "printer_encoding", "打印编码只能是 gb18030、gbk 或 utf-8"),
        ({"paper_mm": "76"}, "paper_mm", "纸宽只能是 58 或 80"),
        ({"paper_mm": "eighty"}, "paper_mm", "纸宽只能是 58 或 80"),
        ({"paper_mm": ""}, "paper_mm", "纸宽只能是 58 或 80"),
        # All or nothing: the good URL is not saved with the bad paper width.
        ({"printer_url": "tcp://192.168.1.50:9100", "paper_mm": "57"}, "paper_mm", "纸宽只能是 58 或 80"),
    ],
)  # fmt: skip
def test_a_wrong_printer_setting_is_refused_and_changes_nothing(office, changes, field, message):
    before = snapshot()
    data = {**form_data(), **changes}
    r = office.post(SETTINGS, data, page=PAGE)
    assert r.status_code == 200
    page = html(r)
    assert message in error_beside(page, field)
    if field == "printer_url":
        assert "usb://VID:PID" in error_beside(page, field)  # says what would do
    # What was typed stays in the form, to be corrected.
    if field == "printer_url":
        assert 'value="' + changes["printer_url"].replace("&", "&amp;") in page
    assert snapshot() == before
    assert not any("已保存" in f for f in flashes(page))


# ---------------------------------------------------------------- who may, and the CSRF token


POSTS = [(SETTINGS, {"printer_url": "cups://POS58", "printer_encoding": "gbk", "paper_mm": "80"}),
         (TEST_PAGE, {})]  # fmt: skip


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_a_post_without_the_csrf_token_is_refused(office, listener, path, data):
    terminals.update(TERMINAL, {"printer_url": f"tcp://127.0.0.1:{listener.port}"})
    before = snapshot()
    r = office.post(path, data, csrf=False)
    assert r.status_code == 400
    assert "页面已过期" in html(r)
    assert snapshot() == before
    time.sleep(0.3)
    assert [data for data in listener.received if data] == []  # nothing printed


@pytest.mark.parametrize("staff_no", ["00", "01"])
@pytest.mark.parametrize(("path", "data"), POSTS)
def test_a_supervisor_or_cashier_is_refused(office_as, listener, staff_no, path, data):
    terminals.update(TERMINAL, {"printer_url": f"tcp://127.0.0.1:{listener.port}"})
    browser = office_as(staff_no)
    assert browser.get(PAGE).status_code == 403
    before = snapshot()
    # A valid token from a page they may open: only the role stands in the way.
    r = browser.post(path, data, page="/account/password")
    assert r.status_code == 403
    assert snapshot() == before
    time.sleep(0.3)
    assert [data for data in listener.received if data] == []


def test_an_unknown_terminal_is_not_found(office):
    assert office.post("/terminals/12345678/printer", form_data(), page=PAGE).status_code == 404
    assert office.post("/terminals/12345678/printer/test", page=PAGE).status_code == 404


# ---------------------------------------------------------------- the test page


@pytest.mark.parametrize(("paper", "columns"), [(58, 32), (80, 48)])
def test_the_test_page_prints_on_a_real_printer(office, listener, paper, columns):
    r = save(office, printer_url=f"tcp://127.0.0.1:{listener.port}", paper_mm=paper)
    assert r.status_code == 302
    r = office.post(TEST_PAGE, page=PAGE)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"{PAGE}#printer")
    page = html(office.get(PAGE))
    assert "测试页已打印" in flashes(page)
    [data] = printed(listener)
    text = data.decode("gb18030")  # strict: every byte decodes
    assert "打印测试 TEST PAGE" in text
    assert RULER[columns] in text
    if columns == 32:
        assert RULER[48] not in text
    assert f"{paper}mm / {columns}" in text and TERMINAL in text
    assert data.startswith(printer.ESC_INIT) and b"\x1d\x56" in data  # cut: GS V
    # The page says how it went: the printer answers, the last job is the test page.
    assert state_shown(page) == "工作正常"
    assert re.search(r'<dd id="printer-job">测试页 · 已打印</dd>', page)


def test_the_settings_saved_are_those_the_test_page_prints_with(office, listener):
    url = f"tcp://127.0.0.1:{listener.port}"
    assert (
        save(office, printer_url=url, printer_encoding="utf-8", printer_cut=False).status_code
        == 302
    )
    office.post(TEST_PAGE, page=PAGE)
    [data] = printed(listener)
    text = data.decode("utf-8")
    assert "打印测试 TEST PAGE" in text and "utf-8" in text
    assert b"\x1d\x56" not in data  # no cutter: no cut


def test_the_test_page_as_an_image(office, listener):
    try:
        printer.find_font()
    except RuntimeError:
        pytest.skip("no Chinese font for image mode")
    save(office, printer_url=f"tcp://127.0.0.1:{listener.port}", printer_image=True)
    office.post(TEST_PAGE, page=PAGE)
    assert "测试页已打印" in flashes(html(office.get(PAGE)))
    [data] = printed(listener)
    assert b"\x1dv0" in data  # GS v 0: a raster image
    assert "打印测试".encode("gb18030") not in data


def test_a_printer_that_refuses_the_connection_fails_visibly(office):
    url = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    assert save(office, printer_url=url).status_code == 302
    started = time.monotonic()
    r = office.post(TEST_PAGE, page=PAGE)
    assert r.status_code == 302 and time.monotonic() - started < 3
    page = html(office.get(PAGE))
    [message] = [f for f in flashes(page) if f.startswith("打印失败：")]
    # What the owner can act on, then the device's words.
    assert (
        message.startswith("打印失败：打印机未连接：请检查电源和连线（")
        and "refused" in message.lower()
    )
    assert state_shown(page) == "故障"
    error = re.search(r'<dd id="printer-error">(.+?)</dd>', page)
    assert error and error.group(1).startswith("打印机未连接：请检查电源和连线")
    assert "refused" in error.group(1).lower()
    assert re.search(r'<dd id="printer-job">测试页 · 失败：打印机未连接：请检查电源和连线<', page)


def test_no_printer_no_test_page(office, listener):
    assert settings_of()["printer_url"] == "none"
    r = office.post(TEST_PAGE, page=PAGE)
    assert r.status_code == 302
    page = html(office.get(PAGE))
    assert "未配置打印机" in flashes(page)
    assert state_shown(page) == "未配置"
    assert "测试页已打印" not in page


def test_a_slow_printer_does_not_hold_the_page(office, printing, monkeypatch):
    """A printer that takes its time: the page answers within the printer's timeout and says
    the page is on its way."""
    release = threading.Event()
    monkeypatch.setattr(printer, "send", lambda url, data, **_: release.wait(10) or True)
    terminals.update(TERMINAL, {"printer_url": "tcp://192.0.2.10:9100"})
    try:
        started = time.monotonic()
        r = office.post(TEST_PAGE, page=PAGE)
        took = time.monotonic() - started
        assert r.status_code == 302
        assert took <= printing.timeout + 1
        page = html(office.get(PAGE))
        assert any("还没有打完" in f for f in flashes(page))
        assert state_shown(page) == "正在打印"
    finally:
        release.set()


def test_the_printer_section_in_english(client):
    ensure_password("owner")
    browser = Office(client)
    r = browser.post(
        "/login", {"account": "owner", "password": PASSWORDS["owner"], "language": "en"}
    )
    assert r.status_code == 302
    page = main_of(html(browser.get(PAGE)))
    for text in (
        "Printer address",
        "Paper width",
        "Print a test page",
        "Save the printer settings",
    ):
        assert text in page, text
    assert state_shown(page) == "Not set up"
    r = browser.post(SETTINGS, form_data(printer_url="tcp://"), page=PAGE)
    assert error_beside(html(r), "printer_url").startswith("Wrong printer address")
    browser.post(TEST_PAGE, page=PAGE)
    assert "No printer configured" in flashes(html(browser.get(PAGE)))
