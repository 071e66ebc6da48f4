"""会员交易: the six forms of seed 003, the receipt (签购单) and settlement (结算).

The back office is a terminal of its own for the ledger (99000001): what is posted here gets
that terminal's trace numbers and batch, and this page settles it. Each form posts through the
ledger functions the terminal and the API use. A hidden request_id, made when the form is first
shown and kept while it is shown again after a refusal, makes a double tap or a reload post once.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, ValidationError

from ...domain import formats, ledger, receipts, reports
from ...domain import settings as shop_settings
from ...domain.actors import CAN_READ_JOURNAL, CAN_TRANSACT
from ...domain.errors import LedgerError
from ...store import runtime
from ...store.models import Settlement, Terminal
from . import bp
from .reports import journal_columns, page_rows
from .web import (
    CARD_STATUS_NAMES,
    PAYMENT_METHOD_NAMES,
    TYPE_NAMES,
    Pager,
    actor,
    backoffice_terminal,
    card_number,
    needs,
    page_arg,
    refused,
    stripped,
)

# ---------------------------------------------------------------- forms

_REQUEST_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)


def _card_field():
    return StringField(
        _l("卡号码"),
        [InputRequired(_l("请刷卡或输入卡号"))],
        filters=[card_number],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "autofocus": True},
    )


def _pin_field():
    return PasswordField(
        _l("密码"), render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 6}
    )


def _amount_field(label, required: bool = True):
    checks = [InputRequired(_l("请输入金额"))] if required else []
    return StringField(
        label, checks, filters=[stripped], render_kw={"inputmode": "decimal", "autocomplete": "off"}
    )


def _points_field(label, required: bool = True):
    checks = [InputRequired(_l("请输入积分"))] if required else []
    return StringField(
        label, checks, filters=[stripped], render_kw={"inputmode": "numeric", "autocomplete": "off"}
    )


def _code_field(label):
    return StringField(label, filters=[stripped], render_kw={"autocomplete": "off"})


class PostingForm(FlaskForm):
    """A form that posts to the ledger: it carries its request_id."""

    request_id = HiddenField()

    def validate_request_id(self, field):
        if not _REQUEST_ID.fullmatch(field.data or ""):
            raise ValidationError(_l("页面已过期，请核对后重新提交"))


class ConsumeForm(PostingForm):
    card_no = _card_field()
    amount = _amount_field(_l("消费金额"))
    service_code = _code_field(_l("商品代码"))
    pin = _pin_field()


class RechargeForm(PostingForm):
    card_no = _card_field()
    amount = _amount_field(_l("充值金额"))
    payment_method = RadioField(
        _l("支付方式"),
        [InputRequired(_l("请选择支付方式"))],
        # The ledger judges the value: one message for a missing and an unknown method.
        choices=[SelectChoice(method, name) for method, name in PAYMENT_METHOD_NAMES.items()],
        validate_choice=False,
    )
    pin = _pin_field()


class PointsRedeemForm(PostingForm):
    card_no = _card_field()
    points = _points_field(_l("消费积分"))
    service_code = _code_field(_l("商户代码"))
    pin = _pin_field()


class PointsEarnForm(PostingForm):
    card_no = _card_field()
    points = _points_field(_l("累加积分"), required=False)
    amount = _amount_field(_l("消费金额"), required=False)
    pin = _pin_field()


class VoidForm(PostingForm):
    card_no = _card_field()
    by = RadioField(
        _l("撤销依据"),
        choices=[SelectChoice("voucher", _l("凭证号")), SelectChoice("trace", _l("流水号"))],
        default="voucher",
    )
    original = StringField(
        _l("原凭证号 / 原流水号"),
        [InputRequired(_l("请输入原凭证号或原流水号"))],
        filters=[stripped],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    terminal_id = SelectField(_l("原交易终端"), validate_choice=False)
    pin = _pin_field()
    supervisor_password = PasswordField(
        _l("主管密码"), render_kw={"inputmode": "numeric", "autocomplete": "off"}
    )
    needs_supervisor = False  # set for everyone but the owner

    def validate_supervisor_password(self, field):
        if self.needs_supervisor and not field.data:
            raise ValidationError(_l("请输入主管密码"))


class QueryForm(FlaskForm):
    card_no = _card_field()
    pin = _pin_field()


class SettleForm(FlaskForm):
    """The batch the page showed: a second tap or an old page does not close the next one."""

    batch_no = HiddenField()


@dataclass(frozen=True)
class Kind:
    name: str
    label: object
    form: type[FlaskForm]
    fields: tuple[str, ...]
    submit: object
    steps: object  # the seed's flow, shown beside the form
    # Refusal code -> the field it concerns, where web.ERROR_FIELDS does not say.
    errors: dict[str, str]


_VOID_ERRORS = {
    "wrong_password": "supervisor_password",
    "password_change_required": "supervisor_password",
    "staff_locked": "supervisor_password",
    "not_voidable": "original",
    "already_voided": "original",
    "batch_closed": "original",
}

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("consume", _l("储值消费"), ConsumeForm, ("card_no", "amount", "service_code", "pin"),
             _l("消费"), _l("刷卡——输入消费金额——输入商品代码（如无可不输）——输入密码"),
             {"bad_request": "service_code"}),
        Kind("recharge", _l("储值充值"), RechargeForm,
             ("card_no", "amount", "payment_method", "pin"),
             _l("充值"), _l("刷卡——输入充值金额——选择支付方式——输入密码"), {}),
        Kind("points_redeem", _l("积分消费"), PointsRedeemForm,
             ("card_no", "points", "service_code", "pin"),
             _l("消费积分"), _l("刷卡——输入消费积分——输入商户代码——输入密码"),
             {"bad_request": "service_code"}),
        Kind("points_earn", _l("积分累加"), PointsEarnForm, ("card_no", "points", "amount", "pin"),
             _l("累加"), _l("刷卡——输入累加积分（或消费金额）——输入密码"), {}),
        Kind("void", _l("交易撤销"), VoidForm,
             ("card_no", "by", "original", "terminal_id", "pin", "supervisor_password"),
             _l("撤销"), _l("刷卡——输入原凭证号或原流水号（小票单上查询）——输入密码"),
             _VOID_ERRORS),
        Kind("query", _l("查询余额"), QueryForm, ("card_no", "pin"), _l("查询"),
             _l("刷卡——输入密码"), {}),
    )
}  # fmt: skip

HINTS = {
    "pin": _l("无密码可不输"),
    "service_code": _l("如无可不输"),
    "terminal_id": _l("按流水号撤销时选择原交易的终端"),
}
KIND_HINTS = {
    "void": {"pin": _l("持卡人的密码；无密码可不输")},
    "points_earn": {
        "points": _l("累加积分与消费金额二选一"),
        "amount": _l("按消费金额和会员等级计积分"),
    },
}

PER_PAGE = 50  # the settlement page's list of the open batch

# ---------------------------------------------------------------- 会员交易


# /trade shows the first form (no `defaults=`: Werkzeug would redirect /trade/consume to it).
@bp.route("/trade", methods=["GET", "POST"])
@bp.route("/trade/<kind>", methods=["GET", "POST"])
@needs(CAN_TRANSACT)
def trade(kind: str = "consume"):
    spec = KINDS.get(kind)
    if spec is None:
        abort(404)
    form = spec.form()
    fields = list(spec.fields)
    if kind == "void":
        _void_choices(form)
        if request.method == "GET" and request.args.get("original"):
            form.original.data = request.args["original"]
        if current_user.role == "owner":
            # The owner's own session authorises a void (staff.authorise_supervisor).
            fields.remove("supervisor_password")
        else:
            form.needs_supervisor = True
            form.supervisor_password.flags.required = True
    card = None
    if form.validate_on_submit():
        try:
            if kind == "query":
                card = ledger.query(actor(), form.card_no.data, form.pin.data or None)
            else:
                posted = _post(spec, form)
                if posted is not None:
                    return _done(posted)
        except LedgerError as exc:
            _refused(spec, form, exc)
    elif request.method == "POST":
        _request_id_refused(form)
    if isinstance(form, PostingForm) and not form.request_id.data:
        form.request_id.data = _new_request_id()
    return render_template(
        "backoffice/trade.html",
        kind=spec,
        kinds=KINDS.values(),
        form=form,
        fields=fields,
        hints={**HINTS, **KIND_HINTS.get(kind, {})},
        card=card,
        card_status=CARD_STATUS_NAMES,
        enabled=kind == "query" or kind in _enabled_types(),
    )


def _new_request_id() -> str:
    return uuid.uuid4().hex


def _enabled_types() -> list[str]:
    # A void is not among the types the settings switch off.
    return [*shop_settings.load()["enabled_types"], "void"]


def _void_choices(form: VoidForm) -> None:
    """The terminals a trace number may belong to: the back office's own first (the default)."""
    own = backoffice_terminal()
    others = Terminal.select().where(Terminal.id != own.id).order_by(Terminal.terminal_id)
    form.terminal_id.choices = [
        SelectChoice(own.terminal_id, f"{own.terminal_id} {_('后台')}"),
        *(SelectChoice(t.terminal_id, f"{t.terminal_id} {t.name}".strip()) for t in others),
    ]
    if not form.terminal_id.data:
        form.terminal_id.data = own.terminal_id


def _optional(value: str | None) -> str | None:
    return value or None


def _points(text: str | None) -> int | str | None:
    """Digits become a number of points; anything else goes to the ledger as typed, which
    refuses it (invalid_points) with the message every screen shows."""
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else text


def _post(spec: Kind, form: PostingForm) -> ledger.Posted | None:
    request_id = form.request_id.data
    if spec.name == "void":
        return _void(form, request_id)
    values = {
        name: _optional(form[name].data)
        for name in ("amount", "service_code", "payment_method")
        if name in form
    }
    if "points" in form:
        values["points"] = _points(form.points.data)
    return ledger.transact(
        actor(), spec.name, form.card_no.data, request_id=request_id,
        pin=_optional(form.pin.data), **values,
    )  # fmt: skip


def _void(form: VoidForm, request_id: str) -> ledger.Posted | None:
    """交易撤销 by voucher or trace number. The card presented must be the original's (the
    ledger refuses a mismatch before the PIN is even tried)."""
    try:
        if form.by.data == "trace":
            original = ledger.find_by_trace(form.terminal_id.data, form.original.data)
        else:
            original = ledger.find_voucher(form.original.data)
    except LedgerError as exc:
        where = None if exc.details.get("field") else {"bad_request": "original"}
        refused(form, exc, where)
        return None
    owner = current_user.role == "owner"
    return ledger.void(
        actor(), str(original.voucher_no), request_id=request_id,
        supervisor_password=None if owner else form.supervisor_password.data,
        pin=_optional(form.pin.data), card_no=form.card_no.data,
    )  # fmt: skip


def _refused(spec: Kind, form: FlaskForm, exc: LedgerError) -> None:
    if exc.code == "request_id_reused":
        # This very form already posted another transaction (the page was reopened from the
        # history and changed): it gets a new request_id, to be sent again on purpose.
        form.request_id.data = _new_request_id()
        form.form_errors.append(_("这张表单已提交过一笔交易；请核对后再提交一次，将作为新交易"))
        return
    refused(form, exc, spec.errors)


def _request_id_refused(form: FlaskForm) -> None:
    """A missing or altered request_id: shown above the form, which gets a fresh one."""
    if isinstance(form, PostingForm) and form.request_id.errors:
        form.form_errors.extend(str(e) for e in form.request_id.errors)
        form.request_id.data = _new_request_id()


def _done(posted: ledger.Posted):
    record = posted.record
    # The back office's own terminal prints too, if the owner gave it a printer.
    current_app.extensions["kakatong.printing"].after_transaction(record, posted.replayed)
    if posted.replayed:
        flash(_("这笔交易已经提交过，只记一次账"))
    else:
        flash(_("交易成功"))
    return redirect(url_for("backoffice.receipt", voucher_no=formats.six(record.voucher_no)), 303)


# ---------------------------------------------------------------- 签购单


@bp.get("/receipts/<voucher_no>")
@needs(CAN_TRANSACT | CAN_READ_JOURNAL)
def receipt(voucher_no: str):
    try:
        slip = receipts.for_voucher(voucher_no)
    except LedgerError:
        abort(404)
    return render_template(
        "backoffice/receipt.html",
        receipt=slip,
        receipt_lines=receipts.lines(slip),
        receipt_footer=receipts.footer(slip),
        can_transact=CAN_TRANSACT,
    )


# ---------------------------------------------------------------- 结算


@bp.route("/settlement", methods=["GET", "POST"])
@needs(CAN_TRANSACT)
def settlement():
    form = SettleForm()
    terminal = backoffice_terminal()
    if form.validate_on_submit():
        shown = form.batch_no.data
        try:
            totals = ledger.settle(actor(), batch_no=int(shown) if shown.isdigit() else -1)
        except LedgerError:  # batch_settled: a second tap, or another tab settled it
            flash(_("该批次已经结算过；请核对当前批次后再结算"))
            return redirect(url_for("backoffice.settlement"), 303)
        printing = current_app.extensions["kakatong.printing"]
        printing.settlement(terminal, totals, actor().staff_no)
        flash(
            _(
                "批次 %(batch)s 已结算，共 %(count)s 笔",
                batch=formats.six(totals["batch_no"]),
                count=totals["count"],
            )
        )
        return redirect(url_for("backoffice.settlement"), 303)
    form.batch_no.data = formats.six(terminal.batch_no)
    totals = reports.batch_totals(terminal, terminal.batch_no)
    last = (
        Settlement.select()
        .where(Settlement.terminal == terminal.id)
        .order_by(Settlement.id.desc())
        .first()
    )
    page = page_arg()
    rows, total = reports.journal(
        reports.JournalFilter(terminal_id=terminal.terminal_id, batch_no=terminal.batch_no),
        page,
        PER_PAGE,
    )
    return render_template(
        "backoffice/settlement.html",
        form=form,
        terminal=terminal,
        totals=totals,
        last=last,
        last_totals=json.loads(last.totals) if last else None,
        columns=journal_columns(),
        rows=page_rows(rows),
        pager=Pager(page, PER_PAGE, total),
        type_names=TYPE_NAMES,
        six=formats.six,
        local_time=_local_time,
    )


def _local_time(moment) -> str:
    return runtime.local(moment).strftime("%Y-%m-%d %H:%M:%S")
