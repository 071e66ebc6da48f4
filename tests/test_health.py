"""/healthz and /readyz (kakatong/web/health.py): the process answers; the box can sell — the
database opens and is writable, the disk has room, the last backup is recent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import ON_POSTGRES, aged

from kakatong.store import backup
from kakatong.store import db as store_db
from kakatong.web import health


@pytest.fixture
def no_backups(app):
    """A shop with a good backup just taken: the backup check passes (a chain's PostgreSQL
    has no backups of the app's: its check passes as it is)."""
    if app.extensions["kakatong.backups"] is not None:
        app.extensions["kakatong.backups"].run()
    return app


def test_healthz_answers_ok(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.get_json() == {"status": "ok"}
    assert answer.headers["X-Request-ID"]


def test_healthz_answers_without_the_database_and_readyz_says_it_is_gone(
    no_backups, client, monkeypatch
):
    def refused(*args, **kwargs):
        raise store_db.sqlite3.OperationalError("unable to open database file")

    store_db.db.close()
    monkeypatch.setattr(store_db.db.obj, "connect", refused)
    assert client.get("/healthz").get_json() == {"status": "ok"}
    answer = client.get("/readyz")
    assert answer.status_code == 503
    data = answer.get_json()
    assert data["status"] == "unavailable"
    assert data["checks"]["database"] == {
        "ok": False,
        "detail": "OperationalError: unable to open database file",
    }
    assert data["checks"]["disk"]["ok"] is True


def test_readyz_is_ok_when_every_check_is(no_backups, client):
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    assert data["status"] == "ok" and list(data["checks"]) == ["database", "disk", "backup"]
    assert (
        data["checks"]["database"]["ok"]
        and "schema version" in data["checks"]["database"]["detail"]
    )
    assert data["checks"]["disk"]["ok"] and "MiB free" in data["checks"]["disk"]["detail"]
    backup_said = "backed up by its server" if ON_POSTGRES else "last good backup"
    assert data["checks"]["backup"]["ok"] and backup_said in data["checks"]["backup"]["detail"]


@pytest.mark.sqlite_only("SQLite's change counters")
def test_readyz_takes_the_write_lock_and_writes_nothing(no_backups, client):
    # The check takes the write lock and writes nothing: the database's change counter stays.
    before = store_db.db.execute_sql("PRAGMA data_version").fetchone()
    assert client.get("/readyz").status_code == 200
    changes = store_db.db.execute_sql("SELECT total_changes()").fetchone()
    assert client.get("/readyz").status_code == 200
    assert store_db.db.execute_sql("SELECT total_changes()").fetchone() == changes
    assert store_db.db.execute_sql("PRAGMA data_version").fetchone() == before


def test_a_full_disk_is_not_ready(no_backups, client, monkeypatch):
    monkeypatch.setattr(health, "MIN_FREE_BYTES", 1 << 60)  # more than any disk has
    answer = client.get("/readyz")
    assert answer.status_code == 503
    disk = answer.get_json()["checks"]["disk"]
    assert disk["ok"] is False and "needed" in disk["detail"]


@pytest.mark.sqlite_only("the SQLite file's own")
def test_the_backup_check_is_the_backup_services_verdict(app, client):
    service = app.extensions["kakatong.backups"]

    def check():
        answer = client.get("/readyz")
        return answer.status_code, answer.get_json()["checks"]["backup"]

    status, said = check()  # no backup yet
    assert status == 503 and said["ok"] is False
    assert "还没有任何备份" in said["detail"] and "no backup yet" in said["detail"]
    made = service.run()
    status, said = check()
    assert status == 200 and said["ok"] is True and "last good backup" in said["detail"], said
    aged(made, timedelta(hours=25))  # within the 26 hours
    assert check()[0] == 200
    aged(backup.read_backup(next(service.directory.glob("kakatong-*.sqlite3"))),
         timedelta(hours=2))  # fmt: skip
    status, said = check()
    assert status == 503 and "超过一天没有成功的备份" in said["detail"], said


def test_a_failing_backup_service_is_not_ready_and_not_a_500(app, client):
    class Broken:
        def status(self):
            raise OSError("backups directory unreadable")

    app.extensions["kakatong.backups"] = Broken()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["backup"] == {
        "ok": False,
        "detail": "OSError: backups directory unreadable",
    }


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_plain_http_from_the_network_is_answered_not_redirected(no_backups, client, path):
    tls = client.application.extensions["kakatong.tls"]
    tls.serving = True  # HTTPS serves: a page from another address would be sent there
    page = client.get("/login", environ_base={"REMOTE_ADDR": "192.168.1.20"})
    assert page.status_code == 308
    answer = client.get(path, environ_base={"REMOTE_ADDR": "192.168.1.20"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "ok"


def test_the_checks_are_outside_the_api_and_its_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "/healthz" not in paths and "/readyz" not in paths
    assert client.get("/api/v1/healthz").status_code == 404
