"""备份与恢复 in the back office: the last good backup and the second place, every warning,
立即备份, each backup downloaded as it is, the backup settings, a restore by upload (checked,
confirmed, the replaced database kept and listed, the terminals signed out), the refusals that
change nothing, the owner alone; and the home page's warning. Real app, real files, the real
checking child. Screenshots of the page in Chromium at the end."""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from conftest import GOLD, PASSWORDS, Api, Office, body, ensure_password, html

from kakatong.domain import settings as shop_settings
from kakatong.factory import create_app
from kakatong.store import backup, runtime
from kakatong.store.db import db
from kakatong.store.models import AuditLog, Card, Transaction
from kakatong.web.backoffice import backups as page_module


def service(app) -> backup.Backups:
    return app.extensions["kakatong.backups"]


def flashes(page: str) -> list[str]:
    return re.findall(r'<p class="flash[^"]*" role="\w+">([^<]*)</p>', page)


def file_error(page: str) -> str | None:
    found = re.search(r'<small class="error" id="err-file">([^<]+)</small>', page)
    return found.group(1) if found else None


def audit_of(action: str) -> list[dict]:
    rows = AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id)
    return [{"target": r.target, "by": r.staff_no, **json.loads(r.details)} for r in rows]


def balance(card_no: str = GOLD) -> int:
    return Card.get(Card.card_no == card_no).balance_fen


def state(app) -> tuple:
    """What a refused restore must leave alone: the cards, the journal, the audit log, the files
    of the backups directory."""
    cards = {c.card_no: (c.balance_fen, c.points) for c in Card.select()}
    directory = service(app).directory
    files = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    return cards, Transaction.select().count(), AuditLog.select().count(), files


def upload(office: Office, data: bytes, name: str = "backup.sqlite3", **kw):
    return office.post(
        "/backups/restore",
        {"file": (io.BytesIO(data), name)},
        page="/backups",
        content_type="multipart/form-data",
        **kw,
    )


def consume(api: Api, amount: str = "100.00") -> None:
    r = api.transact("consume", GOLD, amount=amount)
    assert r.status_code == 201, body(r)


# ---------------------------------------------------------------- the page


def test_the_owner_sees_the_last_backup_and_every_warning(app, office):
    page = html(office.get("/backups"))
    assert "<h1>备份与恢复</h1>" in page
    assert "还没有任何备份" in page
    made = service(app).run()
    r = office.get("/backups")
    page = html(r)
    assert r.status_code == 200
    facts = re.search(r'<dl class="facts backup-facts" id="last-facts">(.*?)</dl>', page, re.S)
    assert facts, page
    shop_time = runtime.local(made.made_at).strftime("%Y-%m-%d %H:%M:%S")
    assert shop_time in facts.group(1)
    assert f"{service(app).directory}/{made.path.name}" in facts.group(1)
    assert f"{made.cards} 张卡、{made.journal_rows} 条流水" in facts.group(1)
    assert made.cards == Card.select().count() and made.cards > 0
    # Every warning of the status, in the shop's words: no second place here.
    warnings = service(app).status().warnings
    assert warnings and any("未设置第二备份位置" in w for w in warnings)
    block = re.search(r'<div id="backup-warnings">(.*?)</div>', page, re.S).group(1)
    assert re.findall(r'<p class="home-warning" role="alert">([^<]+)</p>', block) == warnings
    assert '<dd id="second-state" class="neg">未设置</dd>' in page
    # The download link of the backup, in the list of this box's backups.
    listed = re.search(r'<table id="backups-local".*?</table>', page, re.S).group(0)
    assert f'href="/backups/download/{made.path.name}"' in listed
    assert 'href="/backups"' in html(office.get("/"))  # in the menu


def test_the_kept_copies_are_labelled_and_are_not_the_last_good_backup(app, office):
    made = service(app).run()
    # As an upgrade keeps one: not checked, so not counted either.
    kept = backup.make_backup(
        service(app).database, service(app).directory, [], reason="before-v7", check=False
    )
    assert kept.made_at >= made.made_at
    page = html(office.get("/backups"))
    last = re.search(r'id="last-facts">(.*?)</dl>', page, re.S).group(1)
    assert made.path.name in last and kept.path.name not in last
    listed = re.search(r'<table id="backups-local".*?</table>', page, re.S).group(0)
    row = re.search(rf"<tr class=\"backup-kept\">(?:(?!</tr>).)*{kept.path.name}", listed, re.S)
    assert row and "升级前的备份" in row.group(0)
    assert re.findall(r'data-label="卡数">([^<]*)</td>', row.group(0)) == ["—"]


@pytest.mark.parametrize("staff_no", ["00", "01", "99"])
def test_others_are_refused_and_not_offered_it(app, office_as, staff_no):
    made = service(app).run()
    browser = office_as(staff_no)
    assert 'href="/backups"' not in html(browser.get("/"))
    for path in ("/backups", f"/backups/download/{made.path.name}", "/backups/restore/" + "0" * 32):
        r = browser.get(path)
        assert r.status_code == 403, path
    before = state(app)
    # A form's token from a page they may open: only the role stands in the way.
    for path in ("/backups/run", "/backups/settings"):
        r = browser.post(path, {"backup_keep_daily": "1"}, page="/account/password")
        assert r.status_code == 403, path
    r = browser.post(
        "/backups/restore",
        {"file": (io.BytesIO(made.path.read_bytes()), "b.sqlite3")},
        page="/account/password",
        content_type="multipart/form-data",
    )
    assert r.status_code == 403
    assert state(app) == before
    assert shop_settings.load()["backup_keep_daily"] == 30
    assert audit_of("backup.download") == []


def test_signed_out_is_sent_to_sign_in(client):
    ensure_password("owner")
    for path in ("/backups", "/backups/download/kakatong-20260101T000000Z.sqlite3"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path


def test_backup_now_makes_a_checked_file(app, office):
    r = office.post("/backups/run", page="/backups")
    assert r.status_code == 303 and r.location == "/backups"
    [made] = service(app).status().local
    assert made.path.is_file() and made.path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert made.cards == Card.select().count()
    page = html(office.get("/backups"))
    assert f"已备份：{made.path.name}" in flashes(page)[0]
    # No second place: said at once, beside the outcome.
    assert any("未设置第二备份位置" in f for f in flashes(page))
    [row] = audit_of("backup.run")
    assert (row["target"], row["by"], row["cards"]) == (made.path.name, "owner", made.cards)


def test_backup_now_needs_the_forms_token(app, office):
    r = office.post("/backups/run", csrf=False)
    assert r.status_code == 400
    assert service(app).status().local == []


def test_a_failed_backup_is_said_and_shown(app, office, monkeypatch):
    # The copy fails its check (the child process found the books wrong).
    failed = backup.Check(False, ["账目不符：卡 1680860097157114 余额与流水不符"], 5)
    monkeypatch.setattr(backup, "check_copy", lambda *_args, **_kw: failed)
    r = office.post("/backups/run", page="/backups")
    assert r.status_code == 303
    page = html(office.get("/backups"))
    assert flashes(page) == [
        "备份失败：备份副本检查未通过：账目不符：卡 1680860097157114 余额与流水不符"
    ]
    error = re.search(r'<p class="warn-box" id="last-error">([^<]+)</p>', page).group(1)
    assert error.startswith("最近一次备份失败（") and "备份副本检查未通过" in error
    assert "还没有任何备份" in page
    assert not list(service(app).directory.glob("*.sqlite3"))  # nothing left behind
    assert audit_of("backup.run") == []


def test_a_backups_directory_that_cannot_be_made_is_said(app, office, tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    monkeypatch.setattr(service(app), "directory", blocked)
    r = office.post("/backups/run", page="/backups")
    assert r.status_code == 303
    assert any(f.startswith("备份失败：") for f in flashes(html(office.get("/backups"))))
    assert audit_of("backup.run") == []


# ---------------------------------------------------------------- download


def test_download_is_the_exact_file(app, office):
    made = service(app).run()
    r = office.get(f"/backups/download/{made.path.name}")
    assert r.status_code == 200
    assert r.get_data() == made.path.read_bytes()
    assert r.headers["Content-Disposition"] == f"attachment; filename={made.path.name}"
    assert r.headers["Cache-Control"] == "no-store"
    [row] = audit_of("backup.download")
    assert (row["target"], row["by"], row["size"]) == (made.path.name, "owner", made.size)


@pytest.mark.parametrize(
    "name",
    [
        "kakatong-20990101T000000Z.sqlite3",  # a backup's name, no such backup
        "kakatong.sqlite3",  # the live database
        "..%2Fkakatong.sqlite3",
        "..%2F..%2Fkakatong.sqlite3",
        "%2E%2E%2Fkakatong.sqlite3",
        "kakatong-20260101T000000Z.sqlite3%2F..%2F..%2Fkakatong.sqlite3",
        "pin_pepper",
        "secret_key",
    ],
)
def test_download_refuses_what_is_not_a_backup(app, office, name):
    made = service(app).run()
    for path in (f"/backups/download/{name}", f"/backups/download/..%2F{made.path.name}"):
        r = office.get(path)
        assert r.status_code == 404, path
        assert b"SQLite format 3" not in r.get_data()
    # The manifest beside a backup, and the live database by a path that looks like a name.
    assert office.get(f"/backups/download/{made.path.with_suffix('.json').name}").status_code == 404
    assert audit_of("backup.download") == []


# ---------------------------------------------------------------- restore


def test_restoring_a_backup_brings_the_balance_back(app, office, api):
    ensure_password("01")
    api.token("01")  # a terminal's session, open before the restore
    made = service(app).run()
    before = balance()
    consume(api)
    assert balance() == before - 8800  # 金卡 88 %
    r = upload(office, made.path.read_bytes(), name=made.path.name)
    assert r.status_code == 303
    token = re.fullmatch(r"/backups/restore/([0-9a-f]{32})", r.location).group(1)
    confirm_page = html(office.get(r.location))
    journal = Transaction.select().count() - 1  # the backup's: before the consume
    question = re.search(r'id="restore-question"><strong>([^<]+)</strong>', confirm_page).group(1)
    assert question.startswith(
        f"当前数据库将被替换为该备份：备份中有 {made.cards} 张卡、{journal} 条流水，最后一笔交易在 "
    )
    assert "此后的所有交易将丢失。当前数据库会先另存" in question
    assert balance() == before - 8800  # nothing changed until confirmed
    r = office.post(r.location, page=r.location)
    assert r.status_code == 303 and r.location == "/backups"
    assert balance() == before
    assert not list(service(app).directory.glob(".restore-*"))
    # The replaced database, kept aside and listed, with the consume in it.
    [kept] = [b for b in service(app).status().local if b.reason == "replaced"]
    with sqlite3.connect(kept.path) as copy:
        kept_balance = copy.execute(
            "SELECT balance_fen FROM card WHERE card_no = ?", (GOLD,)
        ).fetchone()[0]
    assert kept_balance == before - 8800
    page = html(office.get("/backups"))  # the owner is still signed in
    [said] = flashes(page)
    assert f"原数据库已另存为 {kept.path}" in said
    row = re.search(rf"<tr class=\"backup-kept\">(?:(?!</tr>).)*{kept.path.name}", page, re.S)
    assert row and "恢复前的数据库" in row.group(0)
    # The terminals sign in again: the restored staff may differ.
    r = api.get("/api/v1/session", as_="01")
    assert r.status_code == 401, body(r)
    # Written into the restored database's audit log.
    [row] = audit_of("backup.restore")
    assert (row["target"], row["by"], row["kept"]) == (made.path.name, "owner", kept.path.name)
    # The token is spent: a second confirmation restores nothing.
    r = office.post(f"/backups/restore/{token}", page="/backups")
    assert r.status_code == 303 and r.location == "/backups#restore"
    assert len([b for b in service(app).status().local if b.reason == "replaced"]) == 1


def test_other_back_office_sessions_end_with_a_restore(app, office, office_as):
    made = service(app).run()
    supervisor = office_as("00")
    assert supervisor.get("/").status_code == 200
    r = upload(office, made.path.read_bytes())
    office.post(r.location, page=r.location)
    r = supervisor.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert office.get("/").status_code == 200


def test_cancel_drops_the_uploaded_copy(app, office):
    made = service(app).run()
    before = state(app)
    r = upload(office, made.path.read_bytes())
    assert len(list(service(app).directory.glob(".restore-*.sqlite3"))) == 1
    r = office.post(r.location + "/cancel", page=r.location)
    assert r.status_code == 303 and r.location == "/backups"
    assert "已取消恢复，数据库没有改变" in flashes(html(office.get("/backups")))
    assert state(app) == before


def test_a_token_this_browser_did_not_get_restores_nothing(app, office, office_as):
    made = service(app).run()
    r = upload(office, made.path.read_bytes())
    other = Office(app.test_client()).sign_in("owner")  # the owner in another browser
    before = state(app)
    for token_page in (r.location, "/backups/restore/" + "a" * 32, "/backups/restore/..%2F.."):
        answer = other.post(token_page, page="/backups")
        assert answer.status_code in (303, 404), token_page
    assert state(app) == before


def copy_with(made: backup.Backup, tmp_path: Path, sql: str) -> bytes:
    copy = tmp_path / "edited.sqlite3"
    shutil.copyfile(made.path, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute(sql)
    return copy.read_bytes()


@pytest.mark.parametrize(
    "edit, message",
    [
        (None, "该文件不是卡卡通的备份（不是 SQLite 数据库）"),
        (
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            "该备份来自更新的软件版本（数据结构版本 99",
        ),
        (
            "UPDATE meta SET value = '0123456789abcdef' WHERE key = 'pepper_mark'",
            "该备份来自另一家店或另一套密钥（PIN 密钥 pin_pepper 不同）",
        ),
        (
            "UPDATE card SET balance_fen = balance_fen + 1 WHERE card_no = '1680860097157114'",
            "备份文件检查未通过：账目不符",
        ),
    ],
    ids=["text", "newer-schema", "another-pepper", "books-disagree"],
)
def test_a_backup_this_shop_cannot_take_is_refused_and_changes_nothing(
    app, office, api, tmp_path, edit, message
):
    made = service(app).run()
    consume(api)
    data = b"card_no,balance\n1,2\n" if edit is None else copy_with(made, tmp_path, edit)
    before = state(app)
    r = upload(office, data)
    assert r.status_code == 200
    assert message in file_error(html(r)), file_error(html(r))
    assert state(app) == before
    with office.client.session_transaction() as session:
        assert page_module.PENDING_KEY not in session
    assert audit_of("backup.restore") == []


def test_the_upload_needs_a_file_and_the_forms_token(app, office):
    before = state(app)
    r = office.post("/backups/restore", {}, page="/backups", content_type="multipart/form-data")
    assert r.status_code == 200 and file_error(html(r)) == "请选择要恢复的备份文件"
    r = office.client.post(
        "/backups/restore",
        data={"file": (io.BytesIO(b"SQLite format 3\x00" + b"\x00" * 100), "b.sqlite3")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 400 and "页面已过期" in html(r)
    assert state(app) == before


def test_only_the_restore_takes_a_file_larger_than_the_forms_limit(app, office, monkeypatch):
    made = service(app).run()
    # Every other form keeps the global limit, here smaller than a backup.
    app.config["MAX_CONTENT_LENGTH"] = made.size // 2
    r = office.post(
        "/members/import",
        {"file": (io.BytesIO(made.path.read_bytes()), "members.csv")},
        page="/members/import",
        content_type="multipart/form-data",
    )
    assert r.status_code == 413
    r = upload(office, made.path.read_bytes())
    assert r.status_code == 303 and "/backups/restore/" in r.location
    # And the restore's own limit: said beside the field, nothing read.
    monkeypatch.setattr(page_module, "RESTORE_MAX_BYTES", made.size // 2)
    before = state(app)
    r = upload(office, made.path.read_bytes())
    assert r.status_code == 200 and "文件太大" in file_error(html(r))
    assert state(app) == before


def test_an_uploaded_copy_nobody_confirmed_is_dropped_later(app, office, monkeypatch):
    made = service(app).run()
    r = upload(office, made.path.read_bytes())
    [work] = service(app).directory.glob(".restore-*.sqlite3")
    monkeypatch.setattr(page_module, "PENDING_SECONDS", -1)
    office.get("/backups")
    assert not work.exists()
    r = office.get(r.location)
    assert r.status_code == 303 and r.location == "/backups#restore"


def test_the_page_in_english(app, client):
    ensure_password("owner")
    office = Office(client)
    r = office.post(
        "/login", {"account": "owner", "password": PASSWORDS["owner"], "language": "en"}
    )
    assert r.status_code == 302
    made = service(app).run()
    page = html(office.get("/backups"))
    assert "<h1>Backups</h1>" in page and "Back up now" in page and "Regular backup" in page
    assert '<dd id="second-state" class="neg">Not set</dd>' in page
    r = upload(office, made.path.read_bytes())
    assert "The current database will be replaced by this backup" in html(office.get(r.location))


# ---------------------------------------------------------------- settings


def test_the_backup_settings_are_saved_and_audited(app, office):
    r = office.post(
        "/backups/settings",
        {"backup_keep_hourly": "24", "backup_keep_daily": "60", "backup_keep_monthly": "24"},
        page="/backups",
    )
    assert r.status_code == 303
    values = shop_settings.load()
    assert (values["backup_hourly"], values["backup_keep_hourly"], values["backup_keep_daily"],
            values["backup_keep_monthly"]) == (False, 24, 60, 24)  # fmt: skip
    assert service(app).policy().keep_daily == 60
    [row] = [r for r in audit_of("settings.update") if "backup_keep_daily" in r]
    assert row["backup_keep_daily"] == {"from": 30, "to": 60}
    page = html(office.get("/backups"))
    assert "备份设置已保存" in flashes(page)
    assert re.search(r'<input id="backup_keep_daily"[^>]* value="60">', page)


@pytest.mark.parametrize(
    "value, message",
    [("0", "超出允许范围：1 到 1000"), ("1001", "超出允许范围：1 到 1000"), ("x", "请输入整数"),
     ("", "请输入")],
)  # fmt: skip
def test_bad_backup_settings_are_refused(app, office, value, message):
    before = shop_settings.load(), AuditLog.select().count()
    r = office.post(
        "/backups/settings",
        {"backup_hourly": "y", "backup_keep_hourly": "48", "backup_keep_daily": value,
         "backup_keep_monthly": "12"},
        page="/backups",
    )  # fmt: skip
    assert r.status_code == 200
    error = re.search(r'<small class="error" id="err-backup_keep_daily">([^<]+)</small>', html(r))
    assert error and error.group(1) == message
    assert (shop_settings.load(), AuditLog.select().count()) == before


# ---------------------------------------------------------------- the home page


def test_the_home_page_warns_without_a_second_place(app, office, office_as):
    service(app).run()
    found = re.search(r'<p class="home-warning" role="alert" id="backup-warning">(.*?)</p>',
                      html(office.get("/")), re.S)  # fmt: skip
    assert found and "未设置第二备份位置" in found.group(1)
    assert 'href="/backups"' in found.group(1)
    supervisor = html(office_as("00").get("/"))
    found = re.search(r'id="backup-warning">(.*?)</p>', supervisor, re.S)
    assert found and "未设置第二备份位置" in found.group(1) and "请告知店主" in found.group(1)
    assert 'href="/backups"' not in found.group(1)
    assert 'id="backup-warning"' not in html(office_as("01").get("/"))


@pytest.fixture
def with_second_place(tmp_path):
    """An app whose second place is on another file system (/dev/shm), as a USB stick is."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm for a second file system")
    second = Path(tempfile.mkdtemp(dir=shm, prefix="kakatong-test-"))
    app = create_app({"data_dir": tmp_path, "demo": True, "backup_dir": str(second)})
    app.config["TESTING"] = True
    yield app
    app.extensions["kakatong.printing"].stop()
    if not db.is_closed():
        db.close()
    shutil.rmtree(second, ignore_errors=True)


def test_with_a_good_second_place_nothing_warns(with_second_place):
    app = with_second_place
    office = Office(app.test_client()).sign_in("owner")
    made = service(app).run()
    page = html(office.get("/backups"))
    assert 'id="backup-warnings"' not in page
    assert '<dd id="second-state">正常</dd>' in page
    listed = re.search(r'<table id="backups-second".*?</table>', page, re.S).group(0)
    assert made.path.name in listed
    assert 'id="backup-warning"' not in html(office.get("/"))
    # The copy in the second place downloads as the same bytes.
    r = office.get(f"/backups/download/{made.path.name}")
    assert r.get_data() == (service(app).second / made.path.name).read_bytes()


# ---------------------------------------------------------------- the session store


# ---------------------------------------------------------------- in Chromium

SHOTS = Path(__file__).resolve().parent / "screenshots"
SIZES = [
    {"width": 1024, "height": 768},
    {"width": 768, "height": 1024},
    {"width": 390, "height": 844},
]


@pytest.fixture(scope="module")
def chromium_browser():
    browser = pytest.importorskip("browser")
    with browser.chromium() as launched:
        yield launched


def shoot(page, name):
    SHOTS.mkdir(exist_ok=True)
    size = page.viewport_size
    path = SHOTS / f"backoffice-{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path), full_page=True)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s['width']}x{s['height']}")
def test_the_page_and_a_restore_in_the_browser(chromium_browser, live_server, app, tmp_path, size):
    from browser import expect, page_errors

    ensure_password("owner")  # before the backup: the restored database has it too
    made = service(app).run()
    # The owner's own copy (立即备份 below may prune this hour's older backup).
    downloaded = tmp_path / made.path.name
    shutil.copyfile(made.path, downloaded)
    service(app).run(reason="before-v99")  # a kept copy, as an upgrade leaves one
    context = chromium_browser.new_context(viewport=size, locale="zh-CN")
    try:
        page = context.new_page()
        errors = page_errors(page)
        ensure_password("owner")
        page.goto(live_server.url + "/login")
        page.get_by_label("管理员账户").fill("owner")
        page.get_by_label("管理员密码").fill(PASSWORDS["owner"])
        page.get_by_role("button", name="登录").click()
        expect(page.locator("#backup-warning")).to_contain_text("未设置第二备份位置")
        shoot(page, "backups-dashboard")
        page.locator("#backup-warning a").click()
        expect(page.get_by_role("heading", name="备份与恢复", exact=True)).to_be_visible()
        expect(page.locator("#backups-local")).to_contain_text("升级前的备份")
        shoot(page, "backups")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.get_by_role("button", name="立即备份").click()
        expect(page.locator(".flash").first).to_contain_text("已备份")
        page.locator("#restore input[type=file]").set_input_files(str(downloaded))
        page.get_by_role("button", name="上传并检查").click()
        expect(page.locator("#restore-question")).to_contain_text("当前数据库将被替换为该备份")
        shoot(page, "backups-restore")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="确认恢复").click()
        expect(page.locator(".flash")).to_contain_text("原数据库已另存为")
        expect(page.locator("#backups-local")).to_contain_text("恢复前的数据库")
        shoot(page, "backups-restored")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert errors == []
    finally:
        context.close()
