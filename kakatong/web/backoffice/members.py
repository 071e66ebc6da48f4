"""会员卡操作 and 会员: activation, the card operations (phone, PINs, status), the member list
and a member's page, importing and exporting members, and the member levels (会员等级)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import (
    Response,
    abort,
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
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import Form, HiddenField, PasswordField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, EqualTo, InputRequired, ValidationError

from ...domain import cards, exports, ledger, reports
from ...domain.actors import CAN_EDIT_MEMBERS, CAN_READ_JOURNAL, CAN_TRANSACT
from ...domain.errors import LedgerError
from ...domain.formats import six
from ...store import runtime
from ...store.codes import CARD_STATUSES
from . import bp
from .web import (
    CARD_STATUS_NAMES,
    GENDER_NAMES,
    JOURNAL_STATUS_NAMES,
    OWNER_ONLY,
    TYPE_NAMES,
    Pager,
    actor,
    card_choice_field,
    card_fields,
    card_number,
    chosen_card,
    needs,
    page_arg,
    refused,
    stripped,
)

PER_PAGE = 20

# The supervisor's authorisation refused (bad_request: no password typed), beside its field.
SUPERVISOR_FIELDS = {
    code: "supervisor_password"
    for code in ("wrong_password", "password_change_required", "staff_locked", "bad_request")
}


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


def _pin(form: FlaskForm, field) -> None:
    """A PIN's format, by the domain's own rule and words, beside the field typed in."""
    try:
        cards.pin_arg(field.data)
    except LedgerError as exc:
        raise ValidationError(_(exc.message)) from None


def _pin_field(label) -> PasswordField:
    return PasswordField(
        label, [_pin], render_kw={"inputmode": "numeric", "maxlength": 6, "autocomplete": "off"}
    )


def _confirm_field(label, of: str) -> PasswordField:
    return PasswordField(
        label,
        [EqualTo(of, _l("两次输入的密码不一致"))],
        render_kw={"inputmode": "numeric", "maxlength": 6, "autocomplete": "off"},
    )


def _card_no_field() -> StringField:
    """A card asked for: its card number, external number or bound phone (web.chosen_card)."""
    return StringField(
        _l("卡号"),
        [InputRequired(_l("请输入卡号"))],
        filters=[card_number],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )


def _supervisor_field() -> PasswordField:
    return PasswordField(_l("主管密码"), render_kw={"autocomplete": "off"})


def _after(card_no: str, fallback: str) -> str:
    """Where a successful card form leads: the member's page for those who may read it."""
    if current_user.can(CAN_READ_JOURNAL):
        return url_for("backoffice.member", card_no=card_no)
    return fallback


# ---------------------------------------------------------------- 会员激活


class ActivateForm(FlaskForm):
    activation_type = RadioField(
        _l("激活类型"),
        choices=_choices(
            {"card_no": _l("卡号"), "external_no": _l("外卡号"), "phone": _l("手机号码")}
        ),
        default="card_no",
        validate_choice=False,
    )
    card_no = StringField(
        _l("卡号"), filters=[card_number], render_kw={"inputmode": "numeric", "autocomplete": "off"}
    )
    pin = _pin_field(_l("初始密码"))
    confirm = _confirm_field(_l("确认密码"), "pin")
    level = SelectField(_l("会员等级"), validate_choice=False)
    expires_on = StringField(_l("会员有效期"), filters=[stripped], render_kw={"type": "date"})
    name = StringField(_l("姓名"), filters=[stripped], render_kw={"maxlength": 40})
    gender = RadioField(_l("性别"), choices=_choices(GENDER_NAMES), validate_choice=False)
    birthday = StringField(_l("生日"), filters=[stripped], render_kw={"type": "date"})
    phone = StringField(
        _l("手机号码"), filters=[stripped], render_kw={"inputmode": "tel", "maxlength": 11}
    )
    external_no = StringField(_l("外卡号"), filters=[stripped], render_kw={"maxlength": 32})
    id_number = StringField(_l("身份证"), filters=[stripped], render_kw={"maxlength": 18})


@bp.route("/members/activate", methods=["GET", "POST"])
@needs(CAN_TRANSACT)
def activate():
    form = ActivateForm()
    form.level.choices = [SelectChoice(level.name) for level in cards.levels()]
    if form.validate_on_submit():
        fields = {name: form[name].data or "" for name in cards.ACTIVATION_FIELDS}
        try:
            card = cards.activate(fields, actor(), activation_type=form.activation_type.data)
        except LedgerError as exc:
            refused(form, exc)
        else:
            flash(_("会员卡 %(card_no)s 已激活", card_no=card.card_no))
            return redirect(_after(card.card_no, url_for("backoffice.activate")))
    return render_template("backoffice/members/activate.html", form=form)


# ---------------------------------------------------------------- 会员卡操作


class BindForm(FlaskForm):
    card_no = _card_no_field()
    card_choice = card_choice_field()
    pin = _pin_field(_l("密码"))
    phone = StringField(
        _l("绑定手机号"), filters=[stripped], render_kw={"inputmode": "tel", "maxlength": 11}
    )


class ChangePinForm(FlaskForm):
    card_no = _card_no_field()
    card_choice = card_choice_field()
    old_pin = _pin_field(_l("原密码"))
    new_pin = _pin_field(_l("新密码"))
    confirm = _confirm_field(_l("确认新密码"), "new_pin")


class ResetPinForm(FlaskForm):
    card_no = _card_no_field()
    card_choice = card_choice_field()
    new_pin = _pin_field(_l("新密码"))
    confirm = _confirm_field(_l("确认新密码"), "new_pin")
    supervisor_password = _supervisor_field()


STATUS_TARGETS = ("frozen", "lost", "active")


class StatusForm(FlaskForm):
    card_no = _card_no_field()
    card_choice = card_choice_field()
    status = SelectField(
        _l("变更为"),
        [AnyOf(STATUS_TARGETS, _l("请选择要变更的状态"))],
        choices=_choices(
            {"frozen": _l("冻结"), "lost": _l("挂失"), "active": _l("解冻 / 解挂（恢复正常）")}
        ),
        validate_choice=False,
    )
    supervisor_password = _supervisor_field()


class UnlockForm(FlaskForm):
    card_no = _card_no_field()
    card_choice = card_choice_field()
    supervisor_password = _supervisor_field()


@dataclass(frozen=True)
class CardAction:
    label: object
    form: type[FlaskForm]
    submit: object
    run: Callable[[FlaskForm], None]
    done: object  # the flash after success, with %(card_no)s
    fields: dict[str, str]  # refusal code -> the field it belongs beside
    hints: dict[str, object]
    # (a field that may be left empty, the flash then): an empty phone unbinds, not binds
    cleared: tuple[str, object] | None = None


CARD_ACTIONS: dict[str, CardAction] = {
    "phone": CardAction(
        _l("绑定手机"),
        BindForm,
        _l("绑定"),
        lambda f: cards.bind(actor(), f.card_no.data, f.pin.data, phone=f.phone.data),
        _l("卡 %(card_no)s 的手机号码已绑定"),
        {},
        {"phone": _l("此栏为空代表解绑手机号"), "pin": _l("无密码的卡不填")},
        ("phone", _l("卡 %(card_no)s 的手机号码已解绑")),
    ),
    "pin": CardAction(
        _l("修改密码"),
        ChangePinForm,
        _l("修改"),
        lambda f: cards.change_pin(actor(), f.card_no.data, f.old_pin.data, f.new_pin.data),
        _l("卡 %(card_no)s 的密码已修改"),
        {"wrong_pin": "old_pin", "pin_locked": "old_pin"},
        {"new_pin": _l("新密码为空代表取消密码")},
        ("new_pin", _l("卡 %(card_no)s 的密码已取消")),
    ),
    "pin_reset": CardAction(
        _l("重置密码"),
        ResetPinForm,
        _l("重置"),
        lambda f: cards.reset_pin(
            actor(), f.card_no.data, f.new_pin.data, f.supervisor_password.data
        ),
        _l("卡 %(card_no)s 的密码已重置"),
        SUPERVISOR_FIELDS,
        {"card_no": _l("需确认此卡已是该会员拥有"), "new_pin": _l("新密码为空代表取消密码")},
        ("new_pin", _l("卡 %(card_no)s 的密码已取消")),
    ),
    "status": CardAction(
        _l("冻结 / 解冻 / 挂失"),
        StatusForm,
        _l("变更"),
        lambda f: cards.set_status(
            actor(), f.card_no.data, f.status.data, f.supervisor_password.data
        ),
        _l("卡 %(card_no)s 的状态已变更"),
        {**SUPERVISOR_FIELDS, "invalid_status_change": "status"},
        {"supervisor_password": _l("恢复正常时需主管密码")},
    ),
    "unlock": CardAction(
        _l("解除密码锁定"),
        UnlockForm,
        _l("解除锁定"),
        lambda f: cards.unlock_pin(actor(), f.card_no.data, f.supervisor_password.data),
        _l("卡 %(card_no)s 的密码锁定已解除"),
        SUPERVISOR_FIELDS,
        {},
    ),
}


CARD_HINTS = {"card_no": _l("刷卡，或输入卡号、外卡号或手机号码")}


@bp.route("/cards", defaults={"action": "phone"}, methods=["GET", "POST"])
@bp.route("/cards/<action>", methods=["GET", "POST"])
@needs(CAN_TRANSACT)
def card_action(action: str):
    chosen = CARD_ACTIONS.get(action)
    if chosen is None:
        abort(404)
    form = chosen.form(
        card_no=request.args.get("card_no", ""), status=request.args.get("status") or None
    )
    if form.validate_on_submit() and chosen_card(form) is not None:
        try:
            chosen.run(form)
        except LedgerError as exc:
            refused(form, exc, chosen.fields)
        else:
            done = chosen.done
            if chosen.cleared and not form[chosen.cleared[0]].data:
                done = chosen.cleared[1]
            flash(str(done) % {"card_no": form.card_no.data})
            here = url_for("backoffice.card_action", action=action)
            return redirect(_after(form.card_no.data, here))
    # The owner's own session authorises: no supervisor password to ask for.
    shown = [
        name
        for name in form._fields
        if name != "csrf_token"
        and not (name == "supervisor_password" and current_user.role == "owner")
    ]
    return render_template(
        "backoffice/members/card_action.html",
        form=form, action=action, chosen=chosen, actions=CARD_ACTIONS,
        fields=card_fields(form, shown), hints={**CARD_HINTS, **chosen.hints},
    )  # fmt: skip


# ---------------------------------------------------------------- 会员 (list and page)


class MemberFilter(Form):
    q = StringField(_l("卡号 / 手机号码 / 姓名"), filters=[stripped, card_number])
    level = SelectField(_l("会员等级"), validate_choice=False)
    status = SelectField(_l("状态"), validate_choice=False)


@bp.get("/members")
@needs(CAN_READ_JOURNAL)
def members():
    form = MemberFilter(request.args)
    every = SelectChoice("", _("全部"))
    form.level.choices = [every, *(SelectChoice(name) for name in cards.level_names())]
    form.status.choices = [every, *_choices({s: CARD_STATUS_NAMES[s] for s in CARD_STATUSES})]
    page = page_arg()
    rows, total = [], 0
    try:
        rows, total = cards.search(
            form.q.data, form.level.data or None, form.status.data or None, page, PER_PAGE
        )
    except LedgerError as exc:
        refused(form, exc)
    return render_template(
        "backoffice/members/list.html",
        form=form, rows=rows, paging=Pager(page, PER_PAGE, total), statuses=CARD_STATUS_NAMES,
    )  # fmt: skip


@bp.get("/members/<card_no>")
@needs(CAN_READ_JOURNAL)
def member(card_no: str):
    try:
        card = cards.get_card(card_no)
    except LedgerError:
        error = LedgerError("card_not_found")
        return render_template("error.html", error=error, status=404), 404
    page = page_arg()
    rows, total = reports.journal(reports.JournalFilter(card_no=card.card_no), page, PER_PAGE)
    return render_template(
        "backoffice/members/member.html",
        card=card, pin_locked=cards.pin_locked(card, runtime.utcnow()), rows=rows,
        paging=Pager(page, PER_PAGE, total), statuses=CARD_STATUS_NAMES, genders=GENDER_NAMES,
        types=TYPE_NAMES, journal_statuses=JOURNAL_STATUS_NAMES, local=runtime.local, six=six,
        receipt_url=_receipt_url,
        can_edit=card.status != "inactive" and current_user.can(CAN_EDIT_MEMBERS),
    )  # fmt: skip


# ---------------------------------------------------------------- 修改会员资料


class EditMemberForm(FlaskForm):
    name = StringField(_l("姓名"), filters=[stripped], render_kw={"maxlength": 40})
    gender = RadioField(_l("性别"), choices=_choices(GENDER_NAMES), validate_choice=False)
    birthday = StringField(_l("生日"), filters=[stripped], render_kw={"type": "date"})
    id_number = StringField(_l("身份证"), filters=[stripped], render_kw={"maxlength": 18})
    level = SelectField(_l("会员等级"), validate_choice=False)
    expires_on = StringField(_l("会员有效期"), filters=[stripped], render_kw={"type": "date"})


EDIT_HINTS = {
    "expires_on": _l("为空代表长期有效"),
    "id_number": _l("18 位（末位可为 X）或 15 位"),
}


@bp.route("/members/<card_no>/edit", methods=["GET", "POST"])
@needs(CAN_EDIT_MEMBERS)
def edit_member(card_no: str):
    """A member's details after activation; each change is audited with before and after."""
    try:
        card = cards.get_card(card_no)
    except LedgerError:
        card = None
    if card is None or card.status == "inactive":
        error = LedgerError("card_not_found" if card is None else "card_inactive")
        return render_template("error.html", error=error, status=404), 404
    shown = {
        "name": card.name or "",
        "gender": card.gender or "",
        "birthday": card.birthday.isoformat() if card.birthday else "",
        "id_number": card.id_number or "",
        "level": card.level.name if card.level_id else "",
        "expires_on": card.expires_on.isoformat() if card.expires_on else "",
    }
    form = EditMemberForm(data=shown)
    form.level.choices = [SelectChoice(level.name) for level in cards.levels()]
    if form.validate_on_submit():
        fields = {name: form[name].data or "" for name in cards.MEMBER_FIELDS}
        try:
            card, changed = cards.update_member(actor(), card.card_no, fields)
        except LedgerError as exc:
            refused(form, exc)
        else:
            if changed:
                flash(_("会员 %(card_no)s 的资料已修改", card_no=card.card_no))
            else:
                flash(_("资料没有改动"))
            return redirect(url_for("backoffice.member", card_no=card.card_no), 303)
    return render_template("backoffice/members/edit.html", form=form, card=card, hints=EDIT_HINTS)


def _receipt_url(voucher_no: int) -> str:
    return url_for("backoffice.receipt", voucher_no=six(voucher_no))


# ---------------------------------------------------------------- import and export


class PendingImports:
    """Uploaded member files between their preview and the owner's confirmation.

    Kept in this process under a random token (the owner's session holds the token, never
    the file: a cookie is no place for 4 MiB of members), for a while, a few at a time.
    """

    LIFETIME_SECONDS = 30 * 60
    MAX_OPEN = 8

    def __init__(self) -> None:
        self._open: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def put(self, text: str) -> str:
        token = secrets.token_urlsafe(16)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, (_, until) in self._open.items() if until < now]:
                del self._open[key]
            while len(self._open) >= self.MAX_OPEN:
                self._open.pop(next(iter(self._open)))
            self._open[token] = (text, now + self.LIFETIME_SECONDS)
        return token

    def take(self, token: object) -> str | None:
        """The file kept under `token`, once; None if there is none or it has expired."""
        if not isinstance(token, str):
            return None
        with self._lock:
            entry = self._open.pop(token, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]


def _pending() -> PendingImports:
    return current_app.extensions.setdefault("kakatong.member_imports", PendingImports())


class ImportForm(FlaskForm):
    file = FileField(_l("会员 CSV 文件"), [FileRequired(_l("请选择要导入的文件"))])


class ConfirmImportForm(FlaskForm):
    token = HiddenField()


@bp.route("/members/import", methods=["GET", "POST"])
@needs(OWNER_ONLY)
def import_members():
    upload, confirm = ImportForm(), ConfirmImportForm()
    preview = None
    if request.method == "POST" and "token" in request.form:
        if confirm.validate_on_submit():
            text, token = None, confirm.token.data
            # Only the file this session previewed last: an older tab's button imports nothing.
            if token and token == session.get("member_import"):
                session.pop("member_import")
                text = _pending().take(token)
            if text is None:
                upload.form_errors.append(_("预览已过期，请重新上传文件"))
            else:
                preview = cards.preview_import(text)
                if not preview.problems:
                    try:
                        count = ledger.import_cards(preview.rows, actor=actor())
                    except LedgerError as exc:
                        refused(upload, exc)
                    else:
                        flash(_("已导入 %(count)s 张会员卡", count=count))
                        return redirect(url_for("backoffice.members"))
    elif upload.validate_on_submit():
        try:
            text = cards.decode_import(upload.file.data.read())
        except LedgerError as exc:
            refused(upload, exc)
        else:
            preview = cards.preview_import(text)
            if not preview.problems:
                confirm.token.data = _pending().put(text)
                session["member_import"] = confirm.token.data
    return render_template(
        "backoffice/members/import.html",
        upload=upload, confirm=confirm, preview=preview, columns=cards.IMPORT_COLUMNS,
        names=cards.IMPORT_COLUMN_NAMES, genders=GENDER_NAMES, shown=PREVIEW_LINES,
        problem_lines={p.line for p in preview.problems} if preview else set(),
        bad_cells={(p.line, p.column) for p in preview.problems} if preview else set(),
    )  # fmt: skip


PREVIEW_LINES = 100  # a preview shows this many lines; the problems are listed in full


@bp.get("/members/export.csv")
@needs(OWNER_ONLY)
def export_members():
    # With a BOM, so that Excel reads the Chinese as UTF-8; the import takes it either way.
    data = exports.csv_bytes(cards.IMPORT_COLUMNS, cards.export_rows(actor()))
    day = runtime.shop_date(runtime.utcnow())
    return Response(
        data,
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=members-{day:%Y%m%d}.csv"},
    )


# ---------------------------------------------------------------- 会员等级


class LevelForm(FlaskForm):
    level_id = HiddenField()
    name = StringField(
        _l("等级名称"),
        [InputRequired(_l("请输入等级名称"))],
        filters=[stripped],
        render_kw={"maxlength": cards.LEVEL_NAME_MAX},
    )
    discount_pct = StringField(
        _l("折扣（%）"), filters=[stripped], default="100", render_kw={"inputmode": "numeric"}
    )
    points_multiplier_pct = StringField(
        _l("积分倍率（%）"), filters=[stripped], default="100", render_kw={"inputmode": "numeric"}
    )


def multiplier(pct: int) -> str:
    """150 -> "×1.5", 100 -> "×1", 125 -> "×1.25"."""
    return "×" + f"{pct // 100}.{pct % 100:02d}".rstrip("0").rstrip(".")


@bp.route("/levels", methods=["GET", "POST"])
@needs(OWNER_ONLY)
def levels():
    every = cards.levels()
    editing = None
    if request.method == "GET" and request.args.get("edit"):
        editing = next((lv for lv in every if str(lv.id) == request.args["edit"]), None)
        if editing is None:
            abort(404)
    form = LevelForm(obj=editing, level_id=editing.id if editing else "")
    if form.validate_on_submit():
        values = {
            "name": form.name.data,
            "discount_pct": form.discount_pct.data,
            "points_multiplier_pct": form.points_multiplier_pct.data,
        }
        target = form.level_id.data
        try:
            if target:
                level = cards.update_level(
                    actor(),
                    int(target) if target.isascii() and target.isdigit() else target,
                    **values,
                )
                flash(_("会员等级 %(name)s 已修改", name=level.name))
            else:
                level = cards.create_level(actor(), **values)
                flash(_("会员等级 %(name)s 已添加", name=level.name))
        except LedgerError as exc:
            refused(form, exc)
        else:
            return redirect(url_for("backoffice.levels"))
    return render_template(
        "backoffice/members/levels.html",
        form=form, levels=every, editing=bool(form.level_id.data), multiplier=multiplier,
    )  # fmt: skip
