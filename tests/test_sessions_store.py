"""Signed-in sessions kept in the database (web/sessions.py, table staff_session): a token
outlives a restart of the app, the database holds only the token's keyed hash, and the
session rules (idle limits, the session a system session belongs to, the lock, a staff
member's sessions ended, a restore's clearing) hold as they did in memory."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from datetime import timedelta

import pytest
from conftest import PASSWORDS, PLAIN, Api, Office, body, ensure_password, html, operator_actor

from kakatong.domain import settings as shop_settings
from kakatong.factory import create_app
from kakatong.store.db import db
from kakatong.store.models import StaffSession
from kakatong.store.runtime import utcnow
from kakatong.web import sessions
from kakatong.web.sessions import SessionStore

SESSION = "/api/v1/session"
SYSTEM = "/api/v1/session/system"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def api_store(app) -> SessionStore:
    return app.extensions["kakatong.sessions"]


def web_store(app) -> SessionStore:
    return app.extensions["kakatong.web_sessions"]


def row_of(store: SessionStore, token: str) -> StaffSession | None:
    return StaffSession.get_or_none(StaffSession.key == store._key(token))


def idle_for(store: SessionStore, token: str, seconds: float) -> None:
    """The session's last activity moved `seconds` into the past."""
    moved = (
        StaffSession.update(last_seen_at=utcnow() - timedelta(seconds=seconds))
        .where(StaffSession.key == store._key(token))
        .execute()
    )
    assert moved == 1


@pytest.fixture
def restart(tmp_path):
    """restart(): the app made again on the same data dir and database, as after a restart of
    the server process (the old app is simply not used any more)."""
    made = []

    def again():
        app = create_app({"data_dir": tmp_path, "demo": True})
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield again
    for app in made:
        app.extensions["kakatong.printing"].stop()
    if not db.is_closed():
        db.close()


# ---------------------------------------------------------------- a restart


def test_an_api_token_works_after_a_restart(app, api, restart):
    token = api.token("01")
    assert api.get(SESSION).status_code == 200
    restarted = restart().test_client()
    r = restarted.get(SESSION, headers=bearer(token))
    assert r.status_code == 200, body(r)
    assert body(r)["operator_no"] == "01" and body(r)["locked"] is False
    again = Api(restarted, tokens={"01": token})
    r = again.transact("recharge", PLAIN, amount="1.00", payment_method="cash")
    assert r.status_code == 201, body(r)
    # Signed out on the restarted app: the token is spent there and everywhere.
    assert restarted.delete(SESSION, headers=bearer(token)).status_code == 204
    assert restarted.get(SESSION, headers=bearer(token)).status_code == 401


def test_a_lock_survives_a_restart(app, api, restart):
    token = api.token("01")
    assert api.post("/api/v1/session/lock").status_code == 200
    restarted = restart().test_client()
    r = restarted.get(SESSION, headers=bearer(token))
    assert r.status_code == 200 and body(r)["locked"] is True
    r = restarted.get("/api/v1/batch", headers=bearer(token))
    assert body(r)["error"] == "terminal_locked"
    r = restarted.post(
        "/api/v1/session/unlock", json={"password": PASSWORDS["01"]}, headers=bearer(token)
    )
    assert r.status_code == 200, body(r)
    assert restarted.get("/api/v1/batch", headers=bearer(token)).status_code == 200


def test_a_back_office_sign_in_survives_a_restart(app, office, restart):
    assert office.get("/").status_code == 200
    cookie = office.client.get_cookie("kakatong_session").value
    browser = restart().test_client()
    browser.set_cookie("kakatong_session", cookie)
    assert browser.get("/").status_code == 200


# ---------------------------------------------------------------- what the database holds


def test_the_database_holds_only_a_keyed_hash_of_the_token(app, api, office):
    token = api.token("01")
    system = body(api.post(SYSTEM, {"password": _sysadmin_password()}))["token"]
    rows = list(StaffSession.select().dicts())
    assert {row["kind"] for row in rows} == {"api", "web"}
    secret = app.config["SECRET_KEY"]
    for made in (token, system):
        key = hmac.new(secret, made.encode(), hashlib.sha256).hexdigest()
        assert [row["key"] for row in rows if row["key"] == key] == [key]
        plain = hashlib.sha256(made.encode()).hexdigest()
        for row in rows:
            for column, value in row.items():
                text = str(value)
                assert made not in text and plain not in text, (column, row)
    # The actor is read back as it was written.
    [operator] = [row for row in rows if row["kind"] == "api" and row["parent"] is None]
    assert operator["staff_no"] == "01" and '"staff_no":"01"' in operator["actor"]
    assert api_store(app).get(token).actor.terminal_id == "10000001"


def test_an_api_token_is_no_back_office_session_and_the_other_way(app, api, office):
    token = api.token("01")
    web_token = web_store(app).open(operator_actor("owner"))
    assert web_store(app).get(token) is None
    assert api_store(app).get(web_token) is None
    r = app.test_client().get(SESSION, headers=bearer(web_token))
    assert r.status_code == 401


# ---------------------------------------------------------------- idle limits


def test_an_api_session_ends_after_twelve_idle_hours(app, api, client):
    token = api.token("01")
    idle_for(api_store(app), token, 12 * 3600 - 120)
    assert client.get(SESSION, headers=bearer(token)).status_code == 200  # and that is activity
    idle_for(api_store(app), token, 12 * 3600 + 1)
    assert client.get(SESSION, headers=bearer(token)).status_code == 401
    assert row_of(api_store(app), token) is None  # deleted when met


def test_a_back_office_session_ends_after_its_idle_minutes(app, office):
    shop_settings.update({"web_idle_minutes": 5})
    assert office.get("/").status_code == 200
    [row] = StaffSession.select().where(StaffSession.kind == "web")
    StaffSession.update(last_seen_at=utcnow() - timedelta(minutes=6)).where(
        StaffSession.key == row.key
    ).execute()
    r = office.get("/")
    assert r.status_code == 302 and "/login" in r.location


def test_activity_is_written_at_most_once_a_minute(app, api, client):
    token = api.token("01")
    store = api_store(app)
    idle_for(store, token, 30)
    before = row_of(store, token).last_seen_at
    assert client.get(SESSION, headers=bearer(token)).status_code == 200
    assert row_of(store, token).last_seen_at == before  # within the minute: no write
    idle_for(store, token, sessions.TOUCH_SECONDS + 1)
    before = row_of(store, token).last_seen_at
    assert client.get(SESSION, headers=bearer(token)).status_code == 200
    after = row_of(store, token).last_seen_at
    assert after > before and utcnow() - after < timedelta(seconds=5)


def test_sessions_idle_past_any_limit_are_pruned(app):
    store = api_store(app)
    old, fresh = store.open(operator_actor("01")), store.open(operator_actor("02"))
    idle_for(store, old, sessions.PRUNE_AFTER.total_seconds() + 60)
    store._pruned_at = None  # the last prune long ago
    store.open(operator_actor("00"))
    assert row_of(store, old) is None and row_of(store, fresh) is not None


# ---------------------------------------------------------------- a session opened from another


def _sysadmin_password() -> str:
    ensure_password("99")
    return PASSWORDS["99"]


def test_a_system_session_ends_after_its_own_idle_time(app, api, client):
    system = body(api.post(SYSTEM, {"password": _sysadmin_password()}))["token"]
    assert client.get(SESSION, headers=bearer(system)).status_code == 200
    idle_for(api_store(app), system, 601)
    assert client.get(SESSION, headers=bearer(system)).status_code == 401
    assert api.get(SESSION).status_code == 200  # the operator's goes on


def test_a_system_session_ends_with_the_session_it_was_opened_from(app, api, client):
    system = body(api.post(SYSTEM, {"password": _sysadmin_password()}))["token"]
    # Its parent idle past the store's limit (the system session itself in use): both end.
    idle_for(api_store(app), api.token("01"), 12 * 3600 + 1)
    assert client.get(SESSION, headers=bearer(system)).status_code == 401
    assert api.get(SESSION).status_code == 401
    # Signed out: the one opened from it ends with it, at once.
    api.tokens.clear()
    system = body(api.post(SYSTEM, {"password": PASSWORDS["99"]}))["token"]
    assert api.delete(SESSION).status_code == 204
    assert row_of(api_store(app), system) is None
    assert client.get(SESSION, headers=bearer(system)).status_code == 401


# ---------------------------------------------------------------- ending sessions


def test_a_password_change_ends_every_session_of_that_staff_member(app, api, client, office_as):
    operator = api.token("01")
    other = api_store(app).open(operator_actor("01"))
    kept = api.token("02")
    browser = office_as("01")
    assert browser.get("/").status_code == 200
    r = client.post(
        "/api/v1/staff/01/password",
        json={"old_password": PASSWORDS["01"], "new_password": "1470"},
    )
    assert r.status_code == 200, body(r)
    for token in (operator, other):
        assert client.get(SESSION, headers=bearer(token)).status_code == 401
    assert client.get(SESSION, headers=bearer(kept)).status_code == 200
    assert browser.get("/").status_code == 302
    assert not StaffSession.select().where(StaffSession.staff_no == "01").exists()


def test_clear_ends_every_session_but_the_one_kept(app):
    with app.test_request_context():
        store = api_store(app)
        owner = operator_actor("owner")
        mine, other = store.open(owner), store.open(operator_actor("00"))
        child = store.open_within(mine, owner, 60)
        assert store.clear(keep=mine) == 1
        assert store.get(mine) and store.get(child) and store.get(other) is None
        assert store.clear() == 2
        assert store.get(mine) is None and store.get(child) is None
        # Each store clears only its own kind.
        web = web_store(app).open(owner)
        assert store.clear() == 0 and web_store(app).get(web) is not None


@pytest.mark.sqlite_only("a restore replaces the SQLite file")
def test_the_owner_who_restores_stays_signed_in_though_the_backup_has_not_their_session(app):
    ensure_password("owner")
    made = app.extensions["kakatong.backups"].run()  # before the owner signs in
    office = Office(app.test_client()).sign_in("owner")
    terminal = Api(app.test_client())
    terminal.token("01")
    r = office.post(
        "/backups/restore",
        {"file": (io.BytesIO(made.path.read_bytes()), "backup.sqlite3")},
        page="/backups",
        content_type="multipart/form-data",
    )
    assert r.status_code == 303 and re.fullmatch(r"/backups/restore/[0-9a-f]{32}", r.location)
    r = office.post(r.location, page=r.location)
    assert r.status_code == 303 and r.location == "/backups"
    page = office.get("/backups")
    assert page.status_code == 200, "the owner was signed out"
    assert "已恢复备份" in html(page)
    assert terminal.get(SESSION).status_code == 401
