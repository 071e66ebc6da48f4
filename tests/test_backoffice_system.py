"""系统状态 (kakatong/web/backoffice/system.py): the supervisor and the owner see the version,
the uptime, the database and the disk, the last backup, each terminal's reader and printer and
the last warnings and errors; others are refused. The page's layout at the three sizes is
checked with the others' in test_backoffice_layout.py."""

from __future__ import annotations

import io
import logging
import os
import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from conftest import ON_POSTGRES, Office, aged, ensure_password, free_port, html

from kakatong import __version__, logs
from kakatong.domain import terminals
from kakatong.store.schema import SCHEMA_VERSION


@pytest.fixture
def ring(app):
    """The log configured as the server does (into a buffer), its ring on the app; the root
    logger as it was afterwards."""
    root = logging.getLogger()
    kept = (list(root.handlers), root.level, logging.getLogger("peewee").level)
    app.extensions["kakatong.log_ring"] = kept_ring = logs.configure(
        "logfmt", "INFO", io.StringIO()
    )
    yield kept_ring
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in kept[0]:
        root.addHandler(handler)
    root.setLevel(kept[1])
    logging.getLogger("peewee").setLevel(kept[2])


@pytest.fixture
def printing(app):
    printing = app.extensions["kakatong.printing"]
    printing.timeout = 1.0
    yield printing
    printing.stop()


def main_of(page: str) -> str:
    return page[page.index("<main") : page.index("</main>")]


def fact(page: str, element_id: str) -> str:
    found = re.search(rf'<dd id="{element_id}"[^>]*>(.*?)</dd>', page, re.S)
    assert found, f"no {element_id} on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_owner_sees_the_box_its_data_and_its_devices(office, ring):
    page = html(office.get("/system"))
    main = main_of(page)
    assert "<h1>系统状态</h1>" in main
    assert fact(page, "version") == __version__
    assert re.fullmatch(r"0 天 0 小时 \d+ 分", fact(page, "uptime"))
    if ON_POSTGRES:  # the chain's server and database, never its password
        url = urlsplit(os.environ["KAKATONG_DATABASE_URL"])
        assert (
            fact(page, "database-server") == f"postgresql://postgres@127.0.0.1:{url.port}{url.path}"
        )
        assert "由 PostgreSQL 服务器备份" in main
    else:
        assert re.fullmatch(r"[\d.]+ (KB|MB)", fact(page, "database-size"))
        assert "kakatong.sqlite3" in main and "kakatong.sqlite3-wal" in main
    assert re.fullmatch(r"[\d.]+ [KMG]B / [\d.]+ [KMG]B（[\d.]+ %）", fact(page, "disk-free"))
    assert fact(page, "schema-version") == str(SCHEMA_VERSION)
    assert 'id="backup"' in main
    # Each terminal's reader and printer: none set up.
    row = re.search(r'<tr id="device-10000001">(.*?)</tr>', main, re.S).group(1)
    assert "未配置" in row and row.count("未配置") == 2
    assert 'id="device-99000001"' in main  # the back office's own terminal
    assert 'id="no-errors"' in main  # nothing logged since the start
    # In the menu, where it says where one is.
    assert re.search(r'<a href="/system" aria-current="page">系统状态</a>', page)


def test_the_json_twin_says_the_same(office, ring):
    data = office.get("/system?format=json").get_json()
    assert data["version"] == __version__ and data["uptime_seconds"] >= 0
    assert data["database"]["schema_version"] == SCHEMA_VERSION
    if ON_POSTGRES:
        assert data["database"]["engine"] == "postgresql" and data["database"]["files"] == {}
    else:
        assert data["database"]["engine"] == "sqlite"
        assert data["database"]["size"] == sum(data["database"]["files"].values()) > 0
    assert data["disk"]["free"] > 0 and data["disk"]["ok"] is True
    assert [t["terminal_id"] for t in data["terminals"]] == ["10000001", "99000001"]
    assert data["terminals"][0] | {"name": None} == {
        "terminal_id": "10000001", "name": None, "kind": "pos", "reader": "none",
        "printer": "none", "printer_error": None,
    }  # fmt: skip
    assert data["errors"] == []


@pytest.mark.parametrize(("staff_no", "allowed"), [("owner", True), ("00", True), ("01", False), ("99", False)])  # fmt: skip
def test_the_supervisor_and_the_owner_see_it_and_no_one_else(app, staff_no, allowed):
    office = Office(app.test_client()).sign_in(staff_no)
    answer = office.get("/system")
    assert answer.status_code == (200 if allowed else 403)
    home = html(office.get("/"))
    assert ('href="/system"' in home) is allowed
    assert office.get("/system?format=json").status_code == (200 if allowed else 403)


def test_signed_out_it_leads_to_the_sign_in(client):
    ensure_password("owner")  # past the first run
    answer = client.get("/system")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_an_error_logged_shows_on_the_page_newest_first(office, ring, printing):
    # A printer that is not there: the connection test fails, and the printer says so.
    terminals.update("10000001", {"printer_url": f"tcp://127.0.0.1:{free_port()}"})
    office.get("/system")  # asking its state starts the printer's queue and its test
    deadline = time.monotonic() + 10
    while not ring.entries() and time.monotonic() < deadline:
        time.sleep(0.05)
    logging.getLogger("kakatong").error("storage full: POST /api/v1/transactions refused (x)")
    page = main_of(html(office.get("/system")))
    errors = page[page.index('id="errors"') :]
    items = re.findall(r"<li class=\"level-(\w+)\">(.*?)</li>", errors, re.S)
    assert len(items) >= 2, errors
    level, newest = items[0]
    assert level == "error" and "错误" in newest and "storage full" in newest
    assert any("kakatong.devices.printer" in item and "警告" in item for _lvl, item in items)
    row = re.search(r'<tr id="device-10000001">(.*?)</tr>', page, re.S).group(1)
    assert "故障" in row  # its state, beside its terminal


@pytest.mark.sqlite_only("the SQLite file's own")
def test_the_last_backup_when_where_and_its_warning(app, office, ring):
    service = app.extensions["kakatong.backups"]
    page = main_of(html(office.get("/system")))
    assert "还没有任何备份" in page
    made = service.run()
    # As if it were 30 hours old: the page says when, where, how big, and warns.
    older = aged(made, timedelta(hours=30))
    page = main_of(html(office.get("/system")))
    assert re.search(r'id="backup-warning">[^<]*超过一天没有成功的备份', page), page
    assert str(older) in page and f"{made.size / 1024:.1f} KB" in page
    assert re.search(r'<dd id="backup-time">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</dd>', page)


def test_in_english(app, ring):
    office = Office(app.test_client())
    office.sign_in("owner")
    page = html(office.get("/system?lang=en"))
    for words in ("System status", "Uptime", "Schema version", "Free space", "Terminal devices",
                  "Recent warnings and errors", "No warnings or errors since the start"):  # fmt: skip
        assert words in page, words
