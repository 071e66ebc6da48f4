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
from ...domain.money import format_fen
from ...store import runtime
from ...store.models import Settlement, Terminal, Transaction
from .. import observe
from . import bp
from .reports import journal_columns, page_rows
from .web import (
    CARD_STATUS_NAMES,
    PAYMENT_METHOD_NAMES,
    TYPE_NAMES,
    Pager,
    actor,
    backoffice_terminal,
    card_choice_field,
    card_fields,
    card_number,
    chosen_card,
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
    card_choice = card_choice_field()
    amount = _amount_field(_l("消费金额"))
    service_code = _code_field(_l("服务代码"))
    pin = _pin_field()


class RechargeForm(PostingForm):
    card_no = _card_field()
    card_choice = card_choice_field()
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
    card_choice = card_choice_field()
    points = _points_field(_l("消费积分"))
    service_code = _code_field(_l("服务代码"))
    pin = _pin_field()


class PointsEarnForm(PostingForm):
    card_no = _card_field()
    card_choice = card_choice_field()
    points = _points_field(_l("累加积分"), required=False)
    amount = _amount_field(_l("消费金额"), required=False)
    pin = _pin_field()


class VoidForm(PostingForm):
    """交易撤销, first step: the card and the original. The original is then shown to confirm
    (ConfirmVoidForm), as the terminal shows it (图3-5-3) before the PIN."""

    card_no = _card_field()
    card_choice = card_choice_field()
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


class ConfirmVoidForm(PostingForm):
    """交易撤销, second step: the original shown, the holder's PIN and the supervisor's
    password, and the void posted. It carries the original's voucher number and the card it
    was shown for, and the first step's request_id."""

    voucher_no = HiddenField()
    card_no = HiddenField()
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
    card_choice = card_choice_field()
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
             _l("消费"), _l("刷卡——输入消费金额——输入服务代码（如无可不输）——输入密码"),
             {"bad_request": "service_code"}),
        Kind("recharge", _l("储值充值"), RechargeForm,
             ("card_no", "amount", "payment_method", "pin"),
             _l("充值"), _l("刷卡——输入充值金额——选择支付方式——输入密码"), {}),
        Kind("points_redeem", _l("积分消费"), PointsRedeemForm,
             ("card_no", "points", "service_code", "pin"),
             _l("消费积分"), _l("刷卡——输入消费积分——输入服务代码（如无可不输）——输入密码"),
             {"bad_request": "service_code"}),
        Kind("points_earn", _l("积分累加"), PointsEarnForm, ("card_no", "points", "amount", "pin"),
             _l("累加"), _l("刷卡——输入累加积分（或消费金额）——输入密码"), {}),
        Kind("void", _l("交易撤销"), VoidForm, ("card_no", "by", "original", "terminal_id"),
             _l("撤销"), _l("刷卡——输入原凭证号或原流水号（小票单上查询）——输入密码"),
             _VOID_ERRORS),
        Kind("query", _l("查询余额"), QueryForm, ("card_no", "pin"), _l("查询"),
             _l("刷卡——输入密码"), {}),
    )
}  # fmt: skip

HINTS = {
    "card_no": _l("刷卡，或输入卡号、外卡号或手机号码"),
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
    if kind == "void" and request.method == "POST" and "voucher_no" in request.form:
        return _confirm_void(spec)
    form = spec.form()
    card = None
    if kind == "void":
        _void_choices(form)
        if request.method == "GET":
            form.original.data = request.args.get("original") or form.original.data
            form.card_no.data = request.args.get("card_no") or form.card_no.data
    if form.validate_on_submit():
        try:
            if chosen_card(form) is None:
                pass
            elif kind == "query":
                card = ledger.query(actor(), form.card_no.data, form.pin.data or None)
            elif kind == "void":
                original = _void_original(form)
                if original is not None:
                    return _show_void(spec, original, _confirm_form(form, original))
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
        fields=card_fields(form, spec.fields),
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
    """The terminals a trace number may belong to: the back office's own first (the default).
    An operator sees only the back office's own transactions (ledger.visible_to)."""
    own = backoffice_terminal()
    others = Terminal.select().where(Terminal.id != own.id).order_by(Terminal.terminal_id)
    if not current_user.can(CAN_READ_JOURNAL):
        others = []
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


def _post(spec: Kind, form: PostingForm) -> ledger.Posted:
    values = {
        name: _optional(form[name].data)
        for name in ("amount", "service_code", "payment_method")
        if name in form
    }
    if "points" in form:
        values["points"] = _points(form.points.data)
    return ledger.transact(
        actor(), spec.name, form.card_no.data, request_id=form.request_id.data,
        pin=_optional(form.pin.data), **values,
    )  # fmt: skip


# ---------------------------------------------------------------- 交易撤销, in two steps


def _void_original(form: VoidForm) -> Transaction | None:
    """The original a void's first step names, by voucher or trace number, checked as the void
    will check it before the PIN (the card presented must be the original's); None: refused
    beside its field."""
    try:
        if form.by.data == "trace":
            original = ledger.find_by_trace(actor(), form.terminal_id.data, form.original.data)
        else:
            original = ledger.find_voucher(actor(), form.original.data)
    except LedgerError as exc:
        where = None if exc.details.get("field") else {"bad_request": "original"}
        refused(form, exc, where)
        return None
    ledger.voidable(original, form.card_no.data)  # refused by the caller, beside its field
    return original


def _confirm_form(first: VoidForm, original: Transaction) -> ConfirmVoidForm:
    form = ConfirmVoidForm(formdata=None)
    form.voucher_no.data = formats.six(original.voucher_no)
    form.card_no.data = first.card_no.data
    form.request_id.data = first.request_id.data
    return form


def _confirm_void(spec: Kind):
    """The second step: the original confirmed, the PINs typed, the void posted. A refusal
    shows the original again with the refusal; one that is the original's own (voided since,
    its batch settled) sends back to the first step."""
    form = ConfirmVoidForm()
    owner = current_user.role == "owner"
    form.needs_supervisor = not owner
    try:
        original = ledger.find_voucher(actor(), form.voucher_no.data)
    except LedgerError:
        abort(400)  # the page's own hidden field, altered
    if form.validate_on_submit():
        try:
            posted = ledger.void(
                actor(), str(original.voucher_no), request_id=form.request_id.data,
                supervisor_password=None if owner else form.supervisor_password.data,
                pin=_optional(form.pin.data), card_no=form.card_no.data,
            )  # fmt: skip
        except LedgerError as exc:
            _refused(spec, form, exc)
            # The card and the voucher are the confirmation's own, not typed here: a refusal
            # of either (the card is not the original's) is said above the form.
            for carried in (form.card_no, form.voucher_no):
                form.form_errors.extend(carried.errors)
                carried.errors = []
        else:
            return _done(posted)
    else:
        _request_id_refused(form)
    return _show_void(spec, original, form)


def _show_void(spec: Kind, original: Transaction, form: ConfirmVoidForm):
    """The original, as the terminal shows it (图3-5-3), with what confirms its void."""
    if not form.request_id.data:
        form.request_id.data = _new_request_id()
    fields = ["pin"] if current_user.role == "owner" else ["pin", "supervisor_password"]
    if current_user.role != "owner":
        form.supervisor_password.flags.required = True
    back = url_for(
        "backoffice.trade", kind="void", original=formats.six(original.voucher_no),
        card_no=form.card_no.data,
    )  # fmt: skip
    return render_template(
        "backoffice/trade.html",
        kind=spec,
        kinds=KINDS.values(),
        form=form,
        fields=fields,
        hints={**HINTS, **KIND_HINTS.get("void", {})},
        original=original,
        original_rows=_original_rows(original),
        back=back,
        enabled=True,
    )


def _original_rows(original: Transaction) -> list[tuple[object, str]]:
    """(label, value) of the original a void shows: type, amount, card, time, operator, and
    the numbers it is known by."""
    operator = original.operator_no or ""
    if original.operator_id and original.operator.name:
        operator = f"{operator} {original.operator.name}"
    terminal = original.terminal.terminal_id if original.terminal_id else ""
    rows = [
        (_l("交易类型"), str(TYPE_NAMES[original.type])),
        (_l("金额"), format_fen(abs(original.amount_fen))),
        (_l("积分"), str(original.points)),
        (_l("卡号"), original.card.card_no),
        (_l("交易时间"), _local_time(original.created_at)),
        (_l("操作员"), operator),
        (_l("凭证号"), formats.six(original.voucher_no)),
        (_l("流水号"), formats.six(original.trace_no)),
        (_l("终端号"), terminal),
    ]
    return rows


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
    observe.transaction(record, posted.replayed)  # its line in the log
    # The back office's own terminal prints too, if the owner gave it a printer.
    printing = current_app.extensions["kakatong.printing"]
    printing.after_transaction(record, posted.replayed, posted.printer_url)
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
        slip = receipts.for_voucher(actor(), voucher_no)
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
        shown = form.batch_no.data or ""
        # Not six ASCII digits (an altered page: "²" is a digit to str.isdigit): no batch.
        batch_no = int(shown) if formats.SIX_DIGITS.fullmatch(shown) else -1
        try:
            totals = ledger.settle(actor(), batch_no=batch_no)
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
