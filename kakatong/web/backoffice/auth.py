"""Signing in and out of the back office, the owner's first run, the captcha, and changing
one's own password (员工账号密码修改)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Length

from ...domain import audit, staff
from ...domain import settings as shop_settings
from ...domain.actors import Actor
from ...domain.errors import LedgerError
from ...store.db import write
from ..i18n import LANGUAGES
from ..sessions import end_sessions_of
from . import bp
from .captcha import random_text
from .web import WebUser, backoffice_terminal, refused, web_sessions

WEB_DOOR = "web"  # wrong back-office passwords are counted apart from the terminal's


class LoginForm(FlaskForm):
    account = StringField(_l("管理员账户"), [InputRequired(_l("请输入账户")), Length(max=32)])
    password = PasswordField(_l("管理员密码"), [InputRequired(_l("请输入密码")), Length(max=128)])
    captcha = StringField(_l("输入验证码"), [Length(max=8)])
    language = RadioField(
        _l("语言"),
        choices=[SelectChoice("zh", "简体中文"), SelectChoice("en", "English")],
        default="zh",
    )


class SetupForm(FlaskForm):
    password = PasswordField(
        _l("店主密码"), [InputRequired(_l("请输入密码")), Length(8, 128, _l("密码至少 8 个字符"))]
    )
    confirm = PasswordField(
        _l("确认密码"),
        [InputRequired(_l("请再输入一次")), EqualTo("password", _l("两次输入的密码不一致"))],
    )


class PasswordForm(FlaskForm):
    account = StringField(_l("账户"), [Length(max=32)])
    old_password = PasswordField(_l("原密码"), [InputRequired(_l("请输入原密码"))])
    new_password = PasswordField(_l("新密码"), [InputRequired(_l("请输入新密码"))])
    confirm = PasswordField(
        _l("确认新密码"),
        [InputRequired(_l("请再输入一次")), EqualTo("new_password", _l("两次输入的密码不一致"))],
    )
    captcha = StringField(_l("输入验证码"), [Length(max=8)])


@bp.before_request
def _first_run():
    """Until the owner has a password, every back-office page leads to the first-run page."""
    if request.endpoint == "backoffice.setup":
        return None
    if not staff.owner_password_set():
        return redirect(url_for("backoffice.setup"))
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if staff.owner_password_set():
        return redirect(url_for("backoffice.login"))
    form = SetupForm()
    if form.validate_on_submit():
        try:
            owner = staff.set_first_owner_password(form.password.data, request.remote_addr)
        except LedgerError as exc:
            refused(form, exc, {"invalid_password": "password"})
        else:
            _start_session(owner)
            flash(_("店主密码已设置，欢迎使用卡卡通"))
            return redirect(url_for("backoffice.dashboard"))
    return render_template("backoffice/setup.html", form=form)


def _captcha_needed(account: str | None = None) -> bool:
    """With an account: whether its password may be checked only with a captcha. Without one
    (the page, drawn before the account is typed): whether any account might need it, so
    that the page shows the captcha whenever the answer will want one."""
    if shop_settings.load()["captcha_always"] or session.get("login_failed"):
        return True
    if account is None:
        return staff.any_failures(WEB_DOOR)
    return bool(account) and staff.failures(account, WEB_DOOR) > 0


def _safe_next(target: str | None) -> str:
    """Only a path of this site: "//evil.example", "https://…" or "/\t/evil.example" (the
    tab is dropped on the way out) would send the owner away."""
    if target and target.isprintable() and target.isascii() and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and re.match(r"/(?![/\s])", target):
            return target
    return url_for("backoffice.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("backoffice.dashboard"))
    form = LoginForm(language=session.get("lang", "zh"))
    if form.validate_on_submit():
        account = form.account.data.strip()
        if _captcha_passed(form, account):
            try:
                member = staff.authenticate(account, form.password.data, door=WEB_DOOR)
            except LedgerError as exc:
                if exc.code in ("wrong_password", "staff_locked"):
                    session["login_failed"] = True
                _login_refused(form, exc)
            else:
                _start_session(member, form.language.data)
                return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        session["login_failed"] = True
    form.captcha.data = ""
    return render_template(
        "backoffice/login.html", form=form, captcha=_captcha_needed(), title=_("登录")
    )


def _captcha_passed(form: LoginForm | PasswordForm, account: str) -> bool:
    """Where a captcha is due, the one typed must be right (and is used up either way)."""
    if not _captcha_needed(account):
        return True
    if current_app.extensions["kakatong.captcha"].solve(
        session.pop("captcha", None), form.captcha.data
    ):
        return True
    session["login_failed"] = True
    # Empty: the page had no captcha when it was drawn (another browser failed since).
    typed = (form.captcha.data or "").strip()
    form.captcha.errors = [_("验证码不正确，请重新输入") if typed else _("请输入验证码")]
    return False


def _login_refused(form: LoginForm, exc: LedgerError) -> None:
    if exc.code == "wrong_password":
        # The same words for an unknown account: the page tells nothing about who exists.
        form.form_errors.append(_("账户或密码错误"))
    elif exc.code == "password_change_required":
        form.form_errors.append(_("初始密码必须先修改"))
    else:  # staff_locked (with its minutes), staff_disabled, password_not_set
        refused(form, exc)


def _start_session(member, language: str | None = None) -> None:
    """A fresh session: whatever the browser held before is dropped, the token is new."""
    old = session.get("_user_id")
    if old:
        web_sessions().close(old)
    keep_language = language or session.get("lang")
    session.clear()
    terminal = backoffice_terminal()
    actor = Actor(
        member.id, member.staff_no, member.role, terminal.id, terminal.terminal_id, member.name,
        request.remote_addr,
    )  # fmt: skip
    token = web_sessions().open(actor)
    login_user(WebUser(token, actor))
    if keep_language in LANGUAGES:
        session["lang"] = keep_language
    write(lambda: audit.record(actor, "sign_in", member.staff_no))


@bp.get("/login/captcha.png")
def captcha_image():
    text = current_app.config.get("KAKATONG_CAPTCHA_TEXT", random_text)()
    challenge, png = current_app.extensions["kakatong.captcha"].new(text)
    session["captcha"] = challenge
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        web_sessions().close(current_user.token)
    logout_user()
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    flash(_("已退出登录"))
    return redirect(url_for("backoffice.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def own_password():
    """Any staff member changes their own password: signed in, or (a default password that
    must be changed first) by typing the account too."""
    form = PasswordForm(account=request.args.get("account", ""))
    signed_in = current_user.is_authenticated
    if form.validate_on_submit():
        account = current_user.actor.staff_no if signed_in else form.account.data.strip()
        # Signed out, the old password is a guess like any at the sign-in page: the same
        # captcha rule applies.
        if signed_in or _captcha_passed(form, account):
            try:
                staff.change_password(
                    account, form.old_password.data, form.new_password.data,
                    request.remote_addr, door=WEB_DOOR,
                )  # fmt: skip
            except LedgerError as exc:
                if exc.code in ("wrong_password", "staff_locked"):
                    session["login_failed"] = True
                refused(
                    form, exc, {"wrong_password": "old_password", "staff_locked": "old_password"}
                )
            else:
                # Every session of theirs ends, this one too: sign in again with the new one.
                end_sessions_of(account)
                logout_user()
                session.pop("_user_id", None)
                flash(_("密码已修改，请用新密码登录"))
                return redirect(url_for("backoffice.login"))
    form.captcha.data = ""
    return render_template(
        "backoffice/password.html",
        form=form,
        signed_in=signed_in,
        captcha=not signed_in and _captcha_needed(),
    )
