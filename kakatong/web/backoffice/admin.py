"""The owner's administration: staff (员工), terminals (终端) and their keys, the shop's
settings (设置), and the audit log (审计日志), which is only ever read here."""

from __future__ import annotations

import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields import DateField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    EqualTo,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from ...domain import audit, branches, staff, terminals
from ...domain import settings as shop_settings
from ...domain.actors import CAN_CHANGE_SETTINGS
from ...domain.errors import ERRORS, LedgerError
from ...domain.formats import six
from ...domain.money import AmountError, format_fen, parse_amount
from ...store import runtime
from ...store.codes import TRANSACTION_TYPES
from ...store.models import Staff, Terminal
from ..sessions import end_sessions_of
from . import bp
from .branches import BranchChoiceForm, choice_form, posted_choice
from .branches import names as branch_names
from .web import (
    CARD_STATUS_NAMES,
    GENDER_NAMES,
    OFFLINE_STATUS_NAMES,
    OWNER_ONLY,
    PAYMENT_METHOD_NAMES,
    ROLE_NAMES,
    TYPE_NAMES,
    Pager,
    actor,
    branches_shown,
    needs,
    page_arg,
    refused,
    stripped,
)

KIND_LABELS = {"pos": _l("收银终端"), "backoffice": _l("后台")}
# The offline switches (settings.OFFLINE_SWITCHES), in the manual's words (section 6).
OFFLINE_SWITCH_NAMES = {
    "consume": _l("离线储值消费"),
    "points_earn": _l("离线积分累加"),
    "upload": _l("批量离线交易上传"),
}
ASSIGNABLE = [SelectChoice(role, ROLE_NAMES[role]) for role in staff.ASSIGNABLE_ROLES]

DIGITS = re.compile(r"[0-9]{1,7}\Z", re.ASCII)


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes (the form macros draw this type as a group)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# ---------------------------------------------------------------- forms


class AddStaffForm(FlaskForm):
    staff_no = StringField(
        _l("员工号"),
        [InputRequired(_l("请输入员工号")), Length(max=8, message=_l("员工号是两位数字"))],
        render_kw={"inputmode": "numeric", "maxlength": 2, "autocomplete": "off"},
    )
    name = StringField(_l("姓名"), [Optional()], filters=[stripped])
    role = RadioField(
        _l("角色"),
        [AnyOf(staff.ASSIGNABLE_ROLES, _l("请选择角色"))],
        choices=ASSIGNABLE,
        default="operator",
        validate_choice=False,
    )
    password = PasswordField(
        _l("初始密码"),
        [InputRequired(_l("请输入密码"))],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("确认密码"),
        [InputRequired(_l("请再输入一次")), EqualTo("password", _l("两次输入的密码不一致"))],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password"},
    )


class ActiveForm(FlaskForm):
    active = HiddenField(validators=[AnyOf(["0", "1"])])


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(
        _l("新密码"),
        [InputRequired(_l("请输入新密码"))],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("确认新密码"),
        [InputRequired(_l("请再输入一次")), EqualTo("new_password", _l("两次输入的密码不一致"))],
        render_kw={"autocomplete": "new-password"},
    )


class RoleForm(FlaskForm):
    role = RadioField(
        _l("角色"),
        [AnyOf(staff.ASSIGNABLE_ROLES, _l("请选择角色"))],
        choices=ASSIGNABLE,
        validate_choice=False,
    )


class RegisterTerminalForm(FlaskForm):
    terminal_id = StringField(
        _l("终端号"),
        [InputRequired(_l("请输入终端号")), Length(max=16, message=_l("终端号必须是 8 位数字"))],
        render_kw={"inputmode": "numeric", "maxlength": 8, "autocomplete": "off"},
    )
    name = StringField(_l("终端名称"), [InputRequired(_l("请输入终端名称"))])


class RenameTerminalForm(FlaskForm):
    name = StringField(_l("终端名称"), [InputRequired(_l("请输入终端名称"))])


class RotateKeyForm(FlaskForm):
    """Only the CSRF token: the button is the whole form."""


class PrinterForm(FlaskForm):
    """The terminal's receipt printer (小票打印机): its six terminal parameters. The choices
    are not checked here: the domain refuses a wrong value with its own message."""

    printer_url = StringField(
        _l("打印机地址"),
        filters=[stripped],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
    )
    printer_encoding = SelectField(
        _l("打印编码"),
        choices=[SelectChoice(name, name) for name in terminals.ENCODINGS],
        validate_choice=False,
    )
    paper_mm = SelectField(
        _l("纸宽"),
        choices=[
            SelectChoice("58", _l("58 毫米（每行 32 字符）")),
            SelectChoice("80", _l("80 毫米（每行 48 字符）")),
        ],
        validate_choice=False,
    )
    printer_chinese_mode = BooleanField(_l("中文模式"))
    printer_image = BooleanField(_l("图片打印"))
    printer_cut = BooleanField(_l("自动切纸"))

    @classmethod
    def of(cls, terminal: Terminal) -> PrinterForm:
        return cls(
            formdata=None,
            printer_url=terminal.printer_url,
            printer_encoding=terminal.printer_encoding,
            paper_mm=str(terminal.paper_mm),
            printer_chinese_mode=terminal.printer_chinese_mode,
            printer_image=terminal.printer_image,
            printer_cut=terminal.printer_cut,
        )

    def values(self) -> dict:
        """The settings as the terminal's parameters name them (the domain checks them)."""
        url = self.printer_url.data or "none"
        paper = self.paper_mm.data or ""
        return {
            "printer_url": "none" if url.lower() == "none" else url,
            "printer_encoding": self.printer_encoding.data or "",
            "printer_chinese_mode": bool(self.printer_chinese_mode.data),
            "paper_mm": int(paper) if DIGITS.match(paper) else paper,
            "printer_image": bool(self.printer_image.data),
            "printer_cut": bool(self.printer_cut.data),
        }


class PrintTestForm(FlaskForm):
    """Only the CSRF token: the button is the whole form."""


# printing.status()'s word for the printer, and a job's state
PRINTER_STATES = {
    "none": _l("未配置"),
    "unknown": _l("未知"),
    "printing": _l("正在打印"),
    "ok": _l("工作正常"),
    "failed": _l("故障"),
}
JOB_STATES = {
    "queued": _l("排队中"),
    "printing": _l("正在打印"),
    "printed": _l("已打印"),
    "failed": _l("失败"),
    "skipped": _l("未打印（未配置打印机）"),
}
# How long the test page's button waits for the outcome at most (the printer's own timeout
# may be shorter).
TEST_PAGE_WAIT = 5.0


def _whole(label) -> StringField:
    return StringField(
        label,
        [InputRequired(_l("请输入")), Regexp(DIGITS, message=_l("请输入整数"))],
        render_kw={"inputmode": "numeric"},
    )


def _yuan(label) -> StringField:
    return StringField(label, [InputRequired(_l("请输入金额"))], render_kw={"inputmode": "decimal"})


def _amount(field) -> int:
    try:
        return parse_amount(field.data)
    except AmountError as exc:
        if exc.code == "over_limit":
            raise ValidationError(_("金额过大")) from exc
        raise ValidationError(_("金额格式不正确：大于 0，最多两位小数")) from exc


class SettingsForm(FlaskForm):
    points_unit = _yuan(_l("积分比例：每积 1 分需消费（元）"))
    single_limit = _yuan(_l("单笔交易限额（元）"))
    pin_attempt_limit = _whole(_l("会员卡密码错误次数上限"))
    pin_lock_minutes = _whole(_l("会员卡密码锁定时间（分钟）"))
    password_attempt_limit = _whole(_l("员工密码错误次数上限"))
    password_lock_minutes = _whole(_l("员工密码锁定时间（分钟）"))
    enabled_types = MultiCheckboxField(
        _l("开通的交易类型"), choices=[SelectChoice(t, TYPE_NAMES[t]) for t in TRANSACTION_TYPES]
    )
    web_idle_minutes = _whole(_l("后台无操作自动退出（分钟）"))
    captcha_always = BooleanField(_l("后台登录总是需要验证码"))
    offline_types = MultiCheckboxField(
        _l("开通的离线交易"),
        choices=[SelectChoice(k, OFFLINE_SWITCH_NAMES[k]) for k in shop_settings.OFFLINE_SWITCHES],
    )
    offline_single_limit = _yuan(_l("离线单笔限额（元）"))
    offline_card_total = _yuan(_l("每卡离线累计限额（元）"))
    offline_card_count = _whole(_l("每卡离线笔数上限"))
    offline_signin_hours = _whole(_l("离线沿用签到时限（小时）"))
    offline_max_age_days = _whole(_l("离线交易上传期限（天）"))
    merchant_id = StringField(
        _l("商户号"), filters=[stripped], render_kw={"inputmode": "numeric", "maxlength": 15}
    )
    merchant_name = StringField(_l("商户名"), filters=[stripped])
    receipt_title = StringField(_l("签购单名"), filters=[stripped])
    shop_address = StringField(
        _l("门店地址"), [Length(max=60, message=_l("最多 60 个字符"))], filters=[stripped]
    )
    shop_phone = StringField(
        _l("门店电话"),
        [
            Optional(),
            Regexp(r"^\+?[0-9][0-9 ()\-]{2,19}$", message=_l("电话只能有数字、空格和 + - ( )")),
        ],
        filters=[stripped],
        render_kw={"inputmode": "tel", "maxlength": 20},
    )
    receipt_footer = StringField(
        _l("签购单底部文字"), [Length(max=60, message=_l("最多 60 个字符"))], filters=[stripped]
    )

    def validate_points_unit(self, field) -> None:
        _amount(field)

    def validate_single_limit(self, field) -> None:
        _amount(field)

    def validate_offline_single_limit(self, field) -> None:
        _amount(field)

    def validate_offline_card_total(self, field) -> None:
        _amount(field)

    def values(self) -> dict:
        """The settings as the domain names them, from a validated form."""
        return {
            "points_unit_fen": parse_amount(self.points_unit.data),
            "single_limit_fen": parse_amount(self.single_limit.data),
            "pin_attempt_limit": int(self.pin_attempt_limit.data),
            "pin_lock_minutes": int(self.pin_lock_minutes.data),
            "password_attempt_limit": int(self.password_attempt_limit.data),
            "password_lock_minutes": int(self.password_lock_minutes.data),
            "enabled_types": [t for t in TRANSACTION_TYPES if t in (self.enabled_types.data or [])],
            "web_idle_minutes": int(self.web_idle_minutes.data),
            "captcha_always": bool(self.captcha_always.data),
            "offline_types": [
                t for t in shop_settings.OFFLINE_SWITCHES if t in (self.offline_types.data or [])
            ],
            "offline_single_limit_fen": parse_amount(self.offline_single_limit.data),
            "offline_card_total_fen": parse_amount(self.offline_card_total.data),
            "offline_card_count": int(self.offline_card_count.data),
            "offline_signin_hours": int(self.offline_signin_hours.data),
            "offline_max_age_days": int(self.offline_max_age_days.data),
            "merchant_id": self.merchant_id.data or "",
            "merchant_name": self.merchant_name.data or "",
            "receipt_title": self.receipt_title.data or "",
            "shop_address": self.shop_address.data or "",
            "shop_phone": self.shop_phone.data or "",
            "receipt_footer": self.receipt_footer.data or "",
        }


# setting -> the form field it is entered in, where the names differ
SETTING_FIELDS = {
    "points_unit_fen": "points_unit",
    "single_limit_fen": "single_limit",
    "offline_single_limit_fen": "offline_single_limit",
    "offline_card_total_fen": "offline_card_total",
}
# What settings.SPECS allows of the offline settings, said beside the field when refused.
OFFLINE_RANGES = {
    "offline_single_limit": ("0.01", "1000000.00"),
    "offline_card_total": ("0.01", "10000000.00"),
    "offline_card_count": (1, 100),
    "offline_signin_hours": (1, 72),
    "offline_max_age_days": (1, 90),
}
SETTING_HINTS = {
    "points_unit": _l("例如 10.00：每消费 10 元积 1 分"),
    "single_limit": _l("储值消费、充值每笔的上限"),
    "enabled_types": _l("未开通的交易在终端和后台都不能做"),
    "merchant_id": _l("15 位数字"),
    "receipt_title": _l("印在签购单顶部"),
    "shop_address": _l("印在签购单底部；不填则不印"),
    "shop_phone": _l("印在签购单底部；不填则不印"),
    "receipt_footer": _l("印在签购单最后一行，例如：谢谢惠顾，欢迎再次光临"),
    "offline_types": _l(
        "终端连不上服务器时可做的交易；关闭批量离线交易上传时，终端先保存离线交易，不上传"
    ),
    "offline_single_limit": _l("一笔离线交易的最大金额"),
    "offline_card_total": _l("两次上传之间，一张卡在一台终端上离线交易的金额合计上限"),
    "offline_card_count": _l("两次上传之间，一张卡在一台终端上最多可做的离线交易笔数"),
    "offline_signin_hours": _l("终端最后一次联网签到后，这么多小时内仍可离线交易"),
    "offline_max_age_days": _l("交易后超过这么多天才上传的，不入账，留待离线对账"),
}


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    staff_no = StringField(_l("员工号"), [Optional(), Length(max=32)])
    action = SelectField(_l("操作"), [Optional()])
    target = StringField(_l("对象"), [Optional(), Length(max=64)])
    date_from = DateField(_l("起始日期"), [Optional()])
    date_to = DateField(_l("截止日期"), [Optional()])


# ---------------------------------------------------------------- staff (员工)


@bp.get("/staff")
@needs(OWNER_ONLY)
def staff_list():
    return _staff_page(AddStaffForm(formdata=None))


def _staff_page(form: AddStaffForm):
    return render_template(
        "backoffice/admin/staff_list.html",
        branch_names=branch_names(),
        members=staff.list_staff(),
        form=form,
        roles=ROLE_NAMES,
        default_password=staff.has_default_password,
    )


@bp.post("/staff")
@needs(OWNER_ONLY)
def staff_add():
    form = AddStaffForm()
    if form.validate_on_submit():
        try:
            member = staff.add_operator(
                actor(), form.staff_no.data.strip(), form.password.data, form.name.data or None,
                role=form.role.data,
            )  # fmt: skip
        except LedgerError as exc:
            refused(form, exc, {"invalid_password": "password"})
        else:
            flash(_("已添加员工 %(no)s %(name)s", no=member.staff_no, name=member.name))
            return redirect(url_for("backoffice.staff_list"))
    return _staff_page(form)


# Refusals about the member rather than the values typed (00's role, a disabled member's
# password): said at the top of their page, where no form may be offered for them.
ABOUT_THE_MEMBER = ("staff_not_found", "not_permitted")


def _member(staff_no: str) -> Staff:
    member = staff.find(staff_no)
    if member is None:
        abort(404)
    return member


def _member_page(member: Staff, **forms):
    forms.setdefault("password_form", ResetPasswordForm(formdata=None))
    forms.setdefault("role_form", RoleForm(formdata=None, role=member.role))
    if branches_shown() and member.role != "owner":
        forms.setdefault("branch_form", choice_form(member.branch_id, whole_chain=True))
    return render_template(
        "backoffice/admin/staff_member.html",
        member=member,
        roles=ROLE_NAMES,
        default_password=staff.has_default_password(member),
        active_form=ActiveForm(formdata=None, active="1" if not member.active else "0"),
        role_fixed=not staff.role_changeable(member),
        **forms,
    )


@bp.get("/staff/<staff_no>")
@needs(OWNER_ONLY)
def staff_member(staff_no: str):
    return _member_page(_member(staff_no))


@bp.post("/staff/<staff_no>/active")
@needs(OWNER_ONLY)
def staff_active(staff_no: str):
    member = _member(staff_no)
    form = ActiveForm()
    if not form.validate_on_submit():
        abort(400)
    active = form.active.data == "1"
    try:
        member = staff.set_active(actor(), member.staff_no, active)
    except LedgerError as exc:
        flash(_(exc.message))
    else:
        if not active:
            end_sessions_of(member.staff_no)
        flash(
            _("已启用员工 %(no)s", no=member.staff_no)
            if active
            else _("已停用员工 %(no)s", no=member.staff_no)
        )
    return redirect(url_for("backoffice.staff_member", staff_no=member.staff_no))


@bp.post("/staff/<staff_no>/password")
@needs(OWNER_ONLY)
def staff_password(staff_no: str):
    member = _member(staff_no)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            staff.reset_password(actor(), member.staff_no, form.new_password.data)
        except LedgerError as exc:
            if exc.code not in ABOUT_THE_MEMBER:
                refused(form, exc)
                return _member_page(member, password_form=form)
            # The domain finds no *active* member by that number: say why.
            flash(_("该员工已停用，请先启用") if not member.active else _(exc.message))
        else:
            end_sessions_of(member.staff_no)
            flash(_("员工 %(no)s 的密码已重置", no=member.staff_no))
        return redirect(url_for("backoffice.staff_member", staff_no=member.staff_no))
    return _member_page(member, password_form=form)


@bp.post("/staff/<staff_no>/role")
@needs(OWNER_ONLY)
def staff_role(staff_no: str):
    member = _member(staff_no)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            changed = staff.set_role(actor(), member.staff_no, form.role.data)
        except LedgerError as exc:
            if exc.code not in ABOUT_THE_MEMBER:
                refused(form, exc)
                return _member_page(member, role_form=form)
            flash(_(exc.message))
        else:
            if changed.role != member.role:
                # A session carries the role it was opened with: the new one needs a new sign-in.
                end_sessions_of(member.staff_no)
                flash(
                    _(
                        "员工 %(no)s 的角色已改为%(role)s",
                        no=member.staff_no,
                        role=ROLE_NAMES[changed.role],
                    )
                )
            else:
                flash(_("无变更"))
        return redirect(url_for("backoffice.staff_member", staff_no=member.staff_no))
    return _member_page(member, role_form=form)


@bp.post("/staff/<staff_no>/branch")
@needs(OWNER_ONLY)
def staff_branch(staff_no: str):
    """门店: limit a member to one branch (sign-in, void and reset rights, reports), or not."""
    member = _member(staff_no)
    if not branches_shown() or member.role == "owner":
        abort(404)
    form, chosen = posted_choice(whole_chain=True)
    if chosen is False:
        return _member_page(member, branch_form=form)
    if chosen == member.branch_id:
        flash(_("无变更"))
    else:
        branches.set_staff_branch(actor(), member, chosen)
        # A session was opened where the member may no longer sign in: a new sign-in decides.
        end_sessions_of(member.staff_no)
        flash(_("员工 %(no)s 的所属门店已修改", no=member.staff_no))
    return redirect(url_for("backoffice.staff_member", staff_no=member.staff_no) + "#branch")


# ---------------------------------------------------------------- terminals (终端)


def _terminals_page(form: RegisterTerminalForm):
    return render_template(
        "backoffice/admin/terminals.html",
        branch_names=branch_names(),
        terminals=terminals.list_terminals(),
        form=form,
        kinds=KIND_LABELS,
        next_trace_no=terminals.next_trace_no,
    )


@bp.get("/terminals", endpoint="terminals")
@needs(CAN_CHANGE_SETTINGS)
def terminal_list():
    return _terminals_page(RegisterTerminalForm(formdata=None))


def _key_page(terminal: Terminal, key: str, registered: bool):
    """The key, once: in this response only, never in a redirect, the session or a flash."""
    response = current_app.make_response(
        render_template(
            "backoffice/admin/terminal_key.html",
            terminal=terminal,
            key=key,
            registered=registered,
            kinds=KIND_LABELS,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/terminals")
@needs(CAN_CHANGE_SETTINGS)
def terminal_register():
    form = RegisterTerminalForm()
    if form.validate_on_submit():
        try:
            terminal, key = terminals.register(
                form.terminal_id.data.strip(), form.name.data, actor()
            )
        except LedgerError as exc:
            refused(form, exc, {"invalid_setting": "name"})
        else:
            return _key_page(terminal, key, registered=True)
    return _terminals_page(form)


def _terminal(terminal_id: str) -> Terminal:
    try:
        return terminals.find(terminal_id)
    except LedgerError:
        abort(404)


def _printing():
    return current_app.extensions["kakatong.printing"]


def _terminal_page(
    terminal: Terminal,
    form: RenameTerminalForm | None = None,
    printer_form: PrinterForm | None = None,
    branch_form: BranchChoiceForm | None = None,
):
    if branch_form is None and branches_shown():
        branch_form = choice_form(terminal.branch_id, whole_chain=False)
    return render_template(
        "backoffice/admin/terminal.html",
        terminal=terminal,
        branch_form=branch_form,
        branch_names=branch_names() or {},
        kinds=KIND_LABELS,
        next_trace_no=terminals.next_trace_no(terminal),
        form=form or RenameTerminalForm(formdata=None, name=terminal.name),
        rotate_form=RotateKeyForm(formdata=None),
        printer_form=printer_form or PrinterForm.of(terminal),
        test_form=PrintTestForm(formdata=None),
        printer=_printing().status(terminal),
        printer_states=PRINTER_STATES,
        job_states=JOB_STATES,
    )


@bp.get("/terminals/<terminal_id>", endpoint="terminal")
@needs(CAN_CHANGE_SETTINGS)
def terminal_detail(terminal_id: str):
    return _terminal_page(_terminal(terminal_id))


@bp.post("/terminals/<terminal_id>/name")
@needs(CAN_CHANGE_SETTINGS)
def terminal_rename(terminal_id: str):
    terminal = _terminal(terminal_id)
    form = RenameTerminalForm()
    if form.validate_on_submit():
        if form.name.data.strip() == terminal.name:
            flash(_("无变更"))
            return redirect(url_for("backoffice.terminal", terminal_id=terminal.terminal_id))
        try:
            terminals.update(terminal.terminal_id, {"name": form.name.data}, actor())
        except LedgerError as exc:
            refused(form, exc, {"invalid_setting": "name"})
        else:
            flash(_("终端 %(id)s 已改名", id=terminal.terminal_id))
            return redirect(url_for("backoffice.terminal", terminal_id=terminal.terminal_id))
    return _terminal_page(terminal, form)


@bp.post("/terminals/<terminal_id>/branch")
@needs(CAN_CHANGE_SETTINGS)
def terminal_branch(terminal_id: str):
    """门店: the branch a terminal is at; its transactions from then on are that branch's."""
    terminal = _terminal(terminal_id)
    if not branches_shown():
        abort(404)
    form, chosen = posted_choice(whole_chain=False)
    if chosen is False:
        return _terminal_page(terminal, branch_form=form)
    if chosen == terminal.branch_id:
        flash(_("无变更"))
    else:
        terminals.update(terminal.terminal_id, {"branch_id": chosen}, actor())
        name = branches.find(chosen).name
        flash(_("终端 %(id)s 已移到门店 %(name)s", id=terminal.terminal_id, name=name))
    return redirect(url_for("backoffice.terminal", terminal_id=terminal.terminal_id) + "#branch")


@bp.post("/terminals/<terminal_id>/key")
@needs(CAN_CHANGE_SETTINGS)
def terminal_key(terminal_id: str):
    terminal = _terminal(terminal_id)
    if terminal.kind == "backoffice":
        abort(404)  # the back office signs in with passwords: its terminal has no key to rotate
    if not RotateKeyForm().validate_on_submit():
        abort(400)
    key = terminals.rotate_key(terminal.terminal_id, actor())
    return _key_page(terminal, key, registered=False)


@bp.post("/terminals/<terminal_id>/printer")
@needs(CAN_CHANGE_SETTINGS)
def terminal_printer(terminal_id: str):
    """The receipt printer's settings: all or none saved, then the connection tested again."""
    terminal = _terminal(terminal_id)
    form = PrinterForm()
    if form.validate_on_submit():
        changes = {
            key: value for key, value in form.values().items() if getattr(terminal, key) != value
        }
        here = url_for("backoffice.terminal", terminal_id=terminal.terminal_id) + "#printer"
        if not changes:
            flash(_("无变更"))
            return redirect(here)
        try:
            changed = terminals.update(terminal.terminal_id, changes, actor())
        except LedgerError as exc:
            refused(form, exc, {"invalid_setting": exc.details.get("setting", "")})
        else:
            _printing().settings_changed(changed)
            flash(_("终端 %(id)s 的打印机设置已保存", id=terminal.terminal_id))
            return redirect(here)
    return _terminal_page(terminal, printer_form=form)


@bp.post("/terminals/<terminal_id>/printer/test")
@needs(CAN_CHANGE_SETTINGS)
def terminal_printer_test(terminal_id: str):
    """A test page (打印测试页): queued, then its outcome waited for a few seconds at most."""
    terminal = _terminal(terminal_id)
    if not PrintTestForm().validate_on_submit():
        abort(400)
    printing = _printing()
    try:
        job = printing.request(terminal, "test", actor().staff_no)
    except LedgerError as exc:
        flash(_(exc.message))
    else:
        wait = min(TEST_PAGE_WAIT, printing.timeout)
        done = printing.wait(terminal.terminal_id, job["id"], timeout=wait) or job
        if done["state"] == "printed":
            flash(_("测试页已打印"))
        elif done["state"] == "failed":
            why = _(done["message"]) if done.get("message") else ""
            flash(_("打印失败：%(error)s", error=f"{why}（{done['error'] or ''}）"))
        elif done["state"] == "skipped":
            flash(_("未配置打印机"))
        else:
            flash(_("测试页已送往打印机，还没有打完：稍后刷新本页看结果"))
    return redirect(url_for("backoffice.terminal", terminal_id=terminal.terminal_id) + "#printer")


# ---------------------------------------------------------------- settings (设置)


def _same(key: str, was: object, now: object) -> bool:
    if key in ("enabled_types", "offline_types"):
        return set(was) == set(now)
    return was == now


def _setting_refused(form: SettingsForm, exc: LedgerError) -> None:
    key = exc.details.get("setting")
    name = SETTING_FIELDS.get(key, key)
    if exc.code != "invalid_setting" or name not in form:
        refused(form, exc)
        return
    messages = {
        "merchant_id": _("商户号必须是 15 位数字"),
        "merchant_name": _("请输入 1 到 40 个字符"),
        "receipt_title": _("请输入 1 到 40 个字符"),
        "shop_address": _("最多 60 个字符，不能有控制字符"),
        "shop_phone": _("电话只能有数字、空格和 + - ( )"),
        "receipt_footer": _("最多 60 个字符，不能有控制字符"),
    }
    if name in OFFLINE_RANGES:
        low, high = OFFLINE_RANGES[name]
        messages[name] = (
            _("超出允许范围：%(low)s 到 %(high)s 元", low=low, high=high)
            if name in SETTING_FIELDS.values()
            else _("超出允许范围：%(low)s 到 %(high)s", low=low, high=high)
        )
    form[name].errors = [*form[name].errors, messages.get(name, _("此项的值超出允许范围"))]


@bp.route("/settings", methods=["GET", "POST"])
@needs(CAN_CHANGE_SETTINGS)
def settings():
    current = shop_settings.load()
    if request.method == "GET":
        form = SettingsForm(
            formdata=None,
            points_unit=format_fen(current["points_unit_fen"]),
            single_limit=format_fen(current["single_limit_fen"]),
            offline_single_limit=format_fen(current["offline_single_limit_fen"]),
            offline_card_total=format_fen(current["offline_card_total_fen"]),
            **{
                key: str(current[key])
                for key in (
                    "pin_attempt_limit",
                    "pin_lock_minutes",
                    "password_attempt_limit",
                    "password_lock_minutes",
                    "web_idle_minutes",
                    "offline_card_count",
                    "offline_signin_hours",
                    "offline_max_age_days",
                )
            },  # fmt: skip
            enabled_types=current["enabled_types"],
            offline_types=current["offline_types"],
            captcha_always=current["captcha_always"],
            merchant_id=current["merchant_id"],
            merchant_name=current["merchant_name"],
            receipt_title=current["receipt_title"],
            shop_address=current["shop_address"],
            shop_phone=current["shop_phone"],
            receipt_footer=current["receipt_footer"],
        )
    else:
        form = SettingsForm()
        if form.validate_on_submit():
            wanted = form.values()
            changes = {k: v for k, v in wanted.items() if not _same(k, current[k], v)}
            if not changes:
                flash(_("无变更"))
                return redirect(url_for("backoffice.settings"))
            try:
                shop_settings.update(changes, actor())
            except LedgerError as exc:
                _setting_refused(form, exc)
            else:
                flash(_("设置已保存"))
                return redirect(url_for("backoffice.settings"))
    return render_template("backoffice/admin/settings.html", form=form, hints=SETTING_HINTS)


# ---------------------------------------------------------------- the audit log (审计日志)

# detail key -> what the owner reads (other settings bring their own labels)
DETAIL_LABELS = {
    "points_unit_fen": _l("每积 1 分所需消费金额（元）"),
    "single_limit_fen": _l("单笔交易限额（元）"),
    "offline_single_limit_fen": _l("离线单笔限额（元）"),
    "offline_card_total_fen": _l("每卡离线累计限额（元）"),
    "role": _l("角色"),
    "was": _l("原值"),
    "name": _l("名称"),
    "status": _l("状态"),
    "level": _l("会员等级"),
    "pin_set": _l("设置了新密码"),
    "had_pin": _l("原来有密码"),
    "phone": _l("手机号码"),
    "id_number": _l("身份证"),
    "gender": _l("性别"),
    "birthday": _l("生日"),
    "expires_on": _l("会员有效期"),
    "card_no": _l("卡号"),
    "type": _l("交易类型"),
    "amount_fen": _l("金额"),
    "balance_fen": _l("储值"),
    "points": _l("积分"),
    "cards": _l("张数"),
    "first_run": _l("首次设置"),
    "receipt_copies": _l("签购单联数"),
    "standby_type": _l("待机交易"),
    "manual_entry": _l("手输卡号"),
    "service_code_prompt": _l("服务代码"),
    "next_trace_no": _l("流水号"),
    "language": _l("语言"),
    "clear_journal_view": _l("清流水"),
    "printer_url": _l("打印机地址"),
    "printer_encoding": _l("打印编码"),
    "printer_chinese_mode": _l("中文模式"),
    "paper_mm": _l("纸宽（毫米）"),
    "printer_image": _l("图片打印"),
    "printer_cut": _l("自动切纸"),
    "discount_pct": _l("折扣（%）"),
    "points_multiplier_pct": _l("积分倍数（%）"),
    "activation_type": _l("激活类型"),
    "offline": _l("离线"),
    "journal_rows": _l("流水条数"),
    "size": _l("大小（字节）"),
    "kept": _l("原数据库另存为"),
    "upgraded_from": _l("升级自数据结构版本"),
    "branch": _l("门店"),
    "address": _l("地址"),
}
# detail key -> the names of its values
VALUE_LABELS = {
    "role": ROLE_NAMES,
    "status": CARD_STATUS_NAMES,
    "gender": GENDER_NAMES,
    "type": TYPE_NAMES,
    "standby_type": TYPE_NAMES,
    "enabled_types": TYPE_NAMES,
    "offline_types": OFFLINE_SWITCH_NAMES,
    "language": {"zh": "简体中文", "en": "English"},
    "activation_type": {
        "card_no": _l("卡号"),
        "external_no": _l("外卡号"),
        "phone": _l("手机号码"),
    },
}


# 离线对账's resolutions (offline.retry, offline.paid_other, offline.written_off): their details
# in the order a person reads them, named, and the refusals by their sentence.
OFFLINE_DETAILS = (
    "outcome", "voucher_no", "error", "was", "card_no", "type", "amount", "payment_method", "note",
)  # fmt: skip
OFFLINE_LABELS = {
    "outcome": _l("结果"),
    "voucher_no": _l("凭证号"),
    "error": _l("未入账原因"),
    "was": _l("上次未入账原因"),
    "amount": _l("金额"),
    "payment_method": _l("支付方式"),
    "note": _l("说明"),
}
OFFLINE_VALUES = {
    "outcome": OFFLINE_STATUS_NAMES,
    "error": {code: _l(message) for code, (_status, message) in ERRORS.items()},
    "was": {code: _l(message) for code, (_status, message) in ERRORS.items()},
    "payment_method": PAYMENT_METHOD_NAMES,
}


def _offline_details(action: str, details: dict) -> list[str]:
    """An offline resolution's details: what is set, in OFFLINE_DETAILS' order."""
    rank = {key: place for place, key in enumerate(OFFLINE_DETAILS)}
    lines = []
    for key in sorted(details, key=lambda k: rank.get(k, len(rank))):
        value = details[key]
        if value is None:
            continue
        if key == "voucher_no" and type(value) is int:
            text = six(value)
        elif isinstance(value, str) and value in OFFLINE_VALUES.get(key, {}):
            text = str(OFFLINE_VALUES[key][value])
        else:
            text = _value(key, value)
        label = _("核销原因") if (action, key) == ("offline.written_off", "note") else None
        lines.append(f"{label or OFFLINE_LABELS.get(key) or _label(key)}: {text}")
    return lines


def _label(key: str) -> str:
    if key in DETAIL_LABELS:
        return str(DETAIL_LABELS[key])
    spec = shop_settings.SPECS.get(key) or shop_settings.MERCHANT_FIELDS.get(key)
    return _(spec.label) if spec else key


def _value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, list):
        return "、".join(_value(key, v) for v in value) or _("无")
    if key.endswith("_fen") and type(value) is int:
        return format_fen(value)
    names = VALUE_LABELS.get(key, {})
    if isinstance(value, str) and value in names:
        return str(names[value])
    return "" if value is None else str(value)


def describe(details: dict, action: str | None = None) -> list[str]:
    """An audit row's details as lines a person reads: "key: from → to", "key: value"."""
    if action is not None and action.startswith("offline."):
        return _offline_details(action, details)
    details = dict(details)
    paired = next((k for k in ("role", "status") if k in details), None)
    was = details.pop("was") if paired and "was" in details else None
    lines = []
    for key, value in details.items():
        if isinstance(value, dict) and set(value) == {"from", "to"}:
            # An empty side (a phone unbound, a name first given) reads as a dash.
            text = f"{_value(key, value['from']) or '—'} → {_value(key, value['to']) or '—'}"
        elif key == paired and was is not None:
            text = f"{_value(key, was)} → {_value(key, value)}"
        else:
            text = _value(key, value)
        lines.append(f"{_label(key)}: {text}")
    return lines


@bp.get("/audit")
@needs(OWNER_ONLY)
def audit_log():
    form = AuditFilterForm(formdata=request.args)
    form.action.choices = [
        SelectChoice("", _("全部")),
        *(SelectChoice(k, _(v)) for k, v in audit.ACTIONS.items()),
    ]
    rows, pager = [], None
    if form.validate():
        filters = audit.AuditFilter(
            staff_no=(form.staff_no.data or "").strip() or None,
            action=form.action.data or None,
            target=(form.target.data or "").strip() or None,
            date_from=form.date_from.data,
            date_to=form.date_to.data,
        )
        page = page_arg()
        try:
            found, total = audit.entries(filters, page, 50)
        except LedgerError as exc:
            refused(form, exc)
            found, total = [], 0
        pager = Pager(page, 50, total)
        rows = [
            {
                "time": runtime.local(row.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                "staff_no": row.staff_no,
                "action": _(audit.ACTIONS.get(row.action, row.action)),
                "target": row.target or "",
                "details": describe(audit.details_of(row), row.action),
                "terminal_id": row.terminal_id or "",
                "address": row.address or "",
            }
            for row in found
        ]
    return render_template("backoffice/admin/audit.html", form=form, rows=rows, pager=pager)
