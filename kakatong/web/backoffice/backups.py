"""备份与恢复: the backups (store/backup.py) as the owner sees them — the last good one, the
second place, every warning, 立即备份, each backup to download — the backup settings, and a
restore by uploading a backup, checked first and confirmed on a page of its own.

Owner only: a backup holds every member's data. The home page's warning (supervisor and
owner) comes from here too (`backup_warning` in the templates).

A backup is larger than any other upload (MAX_CONTENT_LENGTH, 4 MB, bounds every other form):
only the restore's own view raises the limit, for its own request, after it knows the owner
sent it. So the global CSRF check, which would read the body under the small limit, skips
that view, and the view checks the token (and the referrer over HTTPS) itself once the limit
is raised. The file is written straight into the backups directory, never to /tmp.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField
from wtforms.validators import InputRequired, Regexp

from ...domain import audit
from ...domain import settings as shop_settings
from ...domain.actors import OWNER_ONLY
from ...domain.errors import LedgerError
from ...store import backup, runtime
from ...store.db import write
from ...store.models import Staff, Terminal
from ...store.schema import SCHEMA_VERSION
from . import bp
from .web import actor, needs, refused, size_text, web_sessions

# Who the home page warns: those who run the shop (the owner fixes it, the supervisor tells
# the owner).
WARNED = frozenset({"supervisor", "owner"})
# The largest backup the back office takes for a restore (a busy shop's two years are some
# 500 MB); a larger one is restored on the box with `flask --app app restore PATH`.
RESTORE_MAX_BYTES = 2 * 1024**3
# An uploaded backup waits this long for its confirmation, then it is dropped.
PENDING_SECONDS = 60 * 60
PENDING_KEY = "backup_restore"  # in the owner's session: the token and what the check found
TOKEN = re.compile(r"[0-9a-f]{32}\Z")
WORK_PREFIX = ".restore-"
UPLOAD_PREFIX = ".upload-"

# Status.second_state, in the owner's words
SECOND_STATES = {
    "ok": _l("正常"),
    "unset": _l("未设置"),
    "missing": _l("不存在或无法写入"),
    "same_disk": _l("与数据在同一磁盘上"),
    "full": _l("空间不足"),
    "stale": _l("超过一天没有新的备份"),
    "failed": _l("复制失败"),
}


# ---------------------------------------------------------------- forms


class RunForm(FlaskForm):
    """Only the CSRF token: the button is the whole form."""


class CancelForm(FlaskForm):
    """Only the CSRF token: the button is the whole form."""


class ConfirmForm(FlaskForm):
    """Only the CSRF token: the button is the whole form."""


class RestoreForm(FlaskForm):
    file = FileField(_l("备份文件"), [FileRequired(_l("请选择要恢复的备份文件"))])


def _count(label) -> StringField:
    return StringField(
        label,
        [InputRequired(_l("请输入")), Regexp(r"^[0-9]{1,7}$", message=_l("请输入整数"))],
        render_kw={"inputmode": "numeric", "maxlength": 7},
    )


class BackupSettingsForm(FlaskForm):
    backup_hourly = BooleanField(_l("有交易时每小时备份（否则每天一次）"))
    backup_keep_hourly = _count(_l("保留每小时备份（份）"))
    backup_keep_daily = _count(_l("保留每日备份（份）"))
    backup_keep_monthly = _count(_l("保留每月备份（份）"))

    KEYS = ("backup_hourly", "backup_keep_hourly", "backup_keep_daily", "backup_keep_monthly")

    @classmethod
    def of(cls, values: dict) -> BackupSettingsForm:
        return cls(
            formdata=None,
            backup_hourly=values["backup_hourly"],
            **{key: str(values[key]) for key in cls.KEYS[1:]},
        )

    def values(self) -> dict:
        return {
            "backup_hourly": bool(self.backup_hourly.data),
            **{key: int(self[key].data) for key in self.KEYS[1:]},
        }


SETTING_HINTS = {
    "backup_hourly": _l("每天至少备份一次；勾选后，一小时内有交易或其他变动的，每小时再备份一次"),
    "backup_keep_hourly": _l("最近这么多个小时，每小时保留一份"),
    "backup_keep_daily": _l("最近这么多天，每天保留一份"),
    "backup_keep_monthly": _l("最近这么多个月，每月保留一份"),
}
KEEP_RANGE = (1, 1000)  # settings.SPECS of the three backup_keep_*


# ---------------------------------------------------------------- what the page shows


@dataclass(frozen=True)
class Shown:
    """One backup as the page shows it, in the shop's time and words."""

    name: str
    made_at: str
    size: str
    cards: int | None  # None: a copy kept without a check (it was not counted)
    journal_rows: int | None
    kind: str  # what it was kept for: "" for a scheduled or asked-for backup
    place: str  # the directory it is in
    url: str


def when(moment: datetime | None) -> str:
    return runtime.local(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def kind_of(reason: str) -> str:
    """Why a copy is kept apart from the retention, in the owner's words."""
    if not reason:
        return ""
    if reason.startswith("before-v"):
        return _("升级前的备份")
    if reason in ("replaced", "before-restore"):
        return _("恢复前的数据库")
    return reason


def shown(found: backup.Backup | None) -> Shown | None:
    if found is None:
        return None
    checked = found.schema_version is not None
    return Shown(
        name=found.path.name,
        made_at=when(found.made_at),
        size=size_text(found.size),
        cards=found.cards if checked else None,
        journal_rows=found.journal_rows if checked else None,
        kind=kind_of(found.reason),
        place=str(found.path.parent),
        url=url_for("backoffice.backup_download", name=found.path.name),
    )


def _service() -> backup.Backups:
    """The backup service; on a chain's PostgreSQL there is none, and no page of it."""
    service = current_app.extensions["kakatong.backups"]
    if service is None:
        abort(404)
    return service


@bp.app_context_processor
def _templates():
    return {"backup_warning": backup_warning}


def backup_warning() -> str | None:
    """The home page's warning about the backups, for the owner and the supervisor; None when
    all is well (or for anyone else, or on a chain's PostgreSQL, which its server backs up)."""
    if not current_user.is_authenticated or current_user.role not in WARNED:
        return None
    if current_app.extensions["kakatong.backups"] is None:
        return None
    return _service().status().warning


# ---------------------------------------------------------------- the page


def _page(settings_form=None, restore_form=None):
    service = _service()
    _drop_stale_uploads(service)
    found = service.status()
    return render_template(
        "backoffice/backups/page.html",
        status=found,
        last=shown(found.last_good),
        second_last=shown(found.second_last),
        second_state=SECOND_STATES.get(found.second_state, found.second_state),
        local=[shown(b) for b in found.local],
        second=[shown(b) for b in found.second],
        directory=str(service.directory),
        last_error_at=when(found.last_error_at) if found.last_error_at else None,
        run_form=RunForm(formdata=None),
        settings_form=settings_form or BackupSettingsForm.of(shop_settings.load()),
        hints=SETTING_HINTS,
        restore_form=restore_form or RestoreForm(formdata=None),
        restore_max=size_text(RESTORE_MAX_BYTES),
    )


@bp.get("/backups")
@needs(OWNER_ONLY)
def backups():
    return _page()


@bp.post("/backups/run")
@needs(OWNER_ONLY)
def backup_run():
    """立即备份: a checked copy now, in both places (seconds on a large shop; a sale is not
    held up meanwhile)."""
    if not RunForm().validate_on_submit():
        abort(400)
    try:
        made = _service().run()
    except backup.BackupError as exc:
        flash(_("备份失败：%(error)s", error=str(exc)), "warning")
    except OSError as exc:  # the backups directory itself cannot be made
        flash(_("备份失败：%(error)s", error=exc.strerror or str(exc)), "warning")
    else:
        write(
            lambda: audit.record(
                actor(),
                "backup.run",
                made.path.name,
                size=made.size,
                cards=made.cards,
                journal_rows=made.journal_rows,
            )  # fmt: skip
        )
        flash(
            _("已备份：%(name)s（%(size)s，%(cards)s 张卡，%(rows)s 条流水）",
              name=made.path.name, size=size_text(made.size), cards=made.cards,
              rows=made.journal_rows)
        )  # fmt: skip
        status = _service().status()
        if status.second_state not in ("ok", "stale"):
            flash(status.warnings[-1], "warning")
    return redirect(url_for("backoffice.backups"), 303)


@bp.get("/backups/download/<name>")
@needs(OWNER_ONLY)
def backup_download(name: str):
    """A backup, as a file to keep: only the names the backups know (no path is taken from
    the request)."""
    found = _service().find(name)
    if found is None:
        abort(404)
    write(lambda: audit.record(actor(), "backup.download", found.path.name, size=found.size))
    response = send_file(
        found.path,
        mimetype="application/vnd.sqlite3",
        as_attachment=True,
        download_name=found.path.name,
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/backups/settings")
@needs(OWNER_ONLY)
def backup_settings():
    form = BackupSettingsForm()
    if form.validate_on_submit():
        current = shop_settings.load()
        changes = {k: v for k, v in form.values().items() if current[k] != v}
        if not changes:
            flash(_("无变更"))
            return redirect(url_for("backoffice.backups") + "#settings", 303)
        try:
            shop_settings.update(changes, actor())
        except LedgerError as exc:
            name = exc.details.get("setting")
            if exc.code == "invalid_setting" and name in form:
                low, high = KEEP_RANGE
                message = _("超出允许范围：%(low)s 到 %(high)s", low=low, high=high)
                form[name].errors = [*form[name].errors, message]
            else:
                refused(form, exc)
        else:
            flash(_("备份设置已保存"))
            return redirect(url_for("backoffice.backups") + "#settings", 303)
    return _page(settings_form=form)


# ---------------------------------------------------------------- restore


@dataclass(frozen=True)
class Pending:
    """An uploaded backup, checked, waiting for the owner's confirmation."""

    token: str
    filename: str
    cards: int
    journal_rows: int
    last_transaction_at: str | None  # in the shop's time
    upgraded_from: int | None
    uploaded_at: float  # time.time()

    def work(self, service: backup.Backups) -> Path:
        return _work_path(service, self.token)


def _work_path(service: backup.Backups, token: str) -> Path:
    return service.directory / f"{WORK_PREFIX}{token}{backup.SUFFIX}"


def _drop_stale_uploads(service: backup.Backups) -> None:
    """Drop the prepared copies nobody confirmed within PENDING_SECONDS, and what an upload
    cut short left behind: each is as large as the shop's database."""
    if not service.directory.is_dir():
        return
    limit = time.time() - PENDING_SECONDS
    for prefix in (WORK_PREFIX, UPLOAD_PREFIX):
        for path in service.directory.glob(f"{prefix}*"):
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)


def _last_transaction(text: str | None) -> str | None:
    """The check's time of the last transaction (UTC, as stored) in the shop's time."""
    if not text:
        return None
    try:
        return when(datetime.fromisoformat(text).replace(microsecond=0))
    except ValueError:
        return text


def _pending(token: str) -> Pending | None:
    """The upload this browser prepared under `token`, if it is still there."""
    data = session.get(PENDING_KEY)
    if not TOKEN.match(token) or not isinstance(data, dict) or data.get("token") != token:
        return None
    try:
        pending = Pending(**data)
    except TypeError:
        return None
    if pending.uploaded_at < time.time() - PENDING_SECONDS:
        return None
    return pending if pending.work(_service()).is_file() else None


def _refuse_upload(form: RestoreForm, message: str):
    form.file.errors = [*form.file.errors, message]
    return _page(restore_form=form)


@bp.post("/backups/restore")
@needs(OWNER_ONLY)
def backup_restore_upload():
    """The uploaded backup, written into the backups directory and checked there (integrity,
    schema version, this shop's pepper, the books): refused with the reason, or shown for
    confirmation. Nothing of the shop's changes here."""
    service = _service()
    form_errors = RestoreForm(formdata=None)
    size = request.content_length
    if size is not None and size > RESTORE_MAX_BYTES:
        return _refuse_upload(
            form_errors,
            _("文件太大（后台最多恢复 %(max)s），请在本机用命令 flask --app app restore 恢复",
              max=size_text(RESTORE_MAX_BYTES)),
        )  # fmt: skip
    service.directory.mkdir(parents=True, exist_ok=True)
    live = service.database.stat().st_size if service.database.exists() else 0
    need = 2 * (size or 0) + int(live * backup.HEADROOM)
    free = shutil.disk_usage(service.directory).free
    if free < need:
        return _refuse_upload(
            form_errors,
            _("%(dir)s 空间不足：剩余 %(free)s，恢复需要约 %(need)s",
              dir=service.directory, free=size_text(free), need=size_text(need)),
        )  # fmt: skip
    token = secrets.token_hex(16)
    parts: list = []

    def to_the_backups_directory(*_args, **_kwargs):
        # werkzeug's hook for where an uploaded file goes (else a temporary file in /tmp)
        part = open(service.directory / f"{UPLOAD_PREFIX}{token}-{len(parts)}.tmp", "wb+")  # noqa: SIM115
        parts.append(part)
        return part

    request.max_content_length = RESTORE_MAX_BYTES
    request._get_file_stream = to_the_backups_directory
    try:
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            current_app.extensions["csrf"].protect()  # the token, and the referrer over HTTPS
        form = RestoreForm()
        if not form.validate_on_submit():
            return _page(restore_form=form)
        for part in parts:
            part.flush()
        uploaded = Path(form.file.data.stream.name)
        # One prepared restore at a time: an older one (another tab) is dropped.
        for path in service.directory.glob(f"{WORK_PREFIX}*"):
            path.unlink(missing_ok=True)
        work = _work_path(service, token)
        try:
            check = backup.prepare_restore(uploaded, work, SCHEMA_VERSION)
        except backup.BackupError as exc:
            return _refuse_upload(form, str(exc))
        except OSError as exc:  # the copy could not be written (prepare_restore left none)
            return _refuse_upload(form, _("恢复失败：%(error)s", error=exc.strerror or str(exc)))
    finally:
        for part in parts:
            part.close()
            Path(part.name).unlink(missing_ok=True)
    pending = Pending(
        token=token,
        filename=(form.file.data.filename or "")[:120],
        cards=check.cards,
        journal_rows=check.journal_rows,
        last_transaction_at=_last_transaction(check.last_transaction_at),
        upgraded_from=check.upgraded_from,
        uploaded_at=time.time(),
    )
    session[PENDING_KEY] = dataclasses.asdict(pending)
    return redirect(url_for("backoffice.backup_restore", token=token), 303)


@bp.get("/backups/restore/<token>")
@needs(OWNER_ONLY)
def backup_restore(token: str):
    """What the restore will do, said plainly, with 确认恢复 and 取消."""
    pending = _pending(token)
    if pending is None:
        flash(_("该恢复已过期或已处理，请重新上传备份文件"), "warning")
        return redirect(url_for("backoffice.backups") + "#restore", 303)
    return render_template(
        "backoffice/backups/restore.html",
        pending=pending,
        confirm_form=ConfirmForm(formdata=None),
        cancel_form=CancelForm(formdata=None),
        database=str(_service().database),
        directory=str(_service().directory),
    )


@bp.post("/backups/restore/<token>")
@needs(OWNER_ONLY)
def backup_restore_confirm(token: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    service = _service()
    pending = _pending(token)
    if pending is None:
        flash(_("该恢复已过期或已处理，请重新上传备份文件"), "warning")
        return redirect(url_for("backoffice.backups") + "#restore", 303)
    session.pop(PENDING_KEY, None)
    try:
        kept = backup.apply_restore(service.database, pending.work(service), service.directory)
    except backup.BackupError as exc:
        flash(_("恢复失败：%(error)s", error=str(exc)), "warning")
        return redirect(url_for("backoffice.backups"), 303)
    _after_restore(pending, kept)
    flash(
        _("已恢复备份 %(name)s（%(cards)s 张卡、%(rows)s 条流水）。原数据库已另存为 %(kept)s；所有终端需要重新签到。",  # noqa: E501
          name=pending.filename or "—", cards=pending.cards, rows=pending.journal_rows,
          kept=kept.path)
    )  # fmt: skip
    return redirect(url_for("backoffice.backups"), 303)


def _after_restore(pending: Pending, kept: backup.Backup) -> None:
    """The restored database is the shop's now. Its staff, their passwords and roles may not
    be those who signed in: every terminal's session ends (the cashiers sign in again), and
    every back-office session but this one. The owner who restored stays signed in while the
    restored database has them as they were (web._load checks that at every request), so the
    outcome is read on this page. The printers take their settings from it again; the restore
    is written into its audit log."""
    me = actor()
    current_app.extensions["kakatong.sessions"].clear()
    web_sessions().clear(keep=current_user.token)
    printing = current_app.extensions.get("kakatong.printing")
    if printing is not None:
        for terminal in Terminal.select().where(Terminal.kind == "pos"):
            printing.settings_changed(terminal)
    member = Staff.get_or_none(Staff.staff_no == me.staff_no)
    who = dataclasses.replace(me, staff_id=member.id if member else None)
    details = {"cards": pending.cards, "journal_rows": pending.journal_rows,
               "kept": kept.path.name}  # fmt: skip
    if pending.upgraded_from:
        details["upgraded_from"] = pending.upgraded_from
    write(lambda: audit.record(who, "backup.restore", pending.filename or None, **details))


@bp.post("/backups/restore/<token>/cancel")
@needs(OWNER_ONLY)
def backup_restore_cancel(token: str):
    if not CancelForm().validate_on_submit():
        abort(400)
    pending = _pending(token)
    if pending is not None:
        backup.discard(pending.work(_service()))
        session.pop(PENDING_KEY, None)
        flash(_("已取消恢复，数据库没有改变"))
    return redirect(url_for("backoffice.backups"), 303)


@bp.record_once
def _exempt_from_the_global_csrf_check(state) -> None:
    # The upload checks its token itself, once it has raised its own size limit (see above).
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(backup_restore_upload)
