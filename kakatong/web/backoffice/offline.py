"""离线对账: the offline sales terminals uploaded (批量离线交易上传), their totals by status, and
the three ways a failed one is resolved: 重新入账 (retry now), 已另行收款 (paid another way)
and 核销 (written off).

Each resolution is asked for on a page of its own that shows the upload first and posts only
when confirmed, as 交易撤销 does; the domain judges it (offline.retry, record_paid_other,
write_off) and writes the audit row. The list and the pages are the supervisor's and the
owner's (CAN_RECONCILE).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from ...domain import offline
from ...domain.actors import CAN_RECONCILE
from ...domain.errors import ERRORS, LedgerError
from ...domain.formats import six
from ...domain.money import format_fen
from ...store import runtime
from ...store.codes import OFFLINE_STATUSES
from ...store.models import Card, OfflineUpload, Staff, Transaction
from .. import observe
from . import bp
from .reports import receipt_url
from .web import (
    OFFLINE_STATUS_NAMES,
    PAYMENT_METHOD_NAMES,
    TYPE_NAMES,
    Pager,
    actor,
    needs,
    page_arg,
    refused,
    stripped,
)

PER_PAGE = 20
OPEN = "failed"  # an upload still to resolve: 待对账
# The list's filter: one status, or every upload ("all").
FILTERS = (*OFFLINE_STATUSES, "all")


# ---------------------------------------------------------------- forms


class RetryForm(FlaskForm):
    """Only the CSRF token: the button is the whole form."""


class PaidOtherForm(FlaskForm):
    payment_method = RadioField(
        _l("支付方式"),
        [InputRequired(_l("请选择支付方式"))],
        # The domain judges the value: one message for a missing and an unknown method.
        choices=[SelectChoice(method, name) for method, name in PAYMENT_METHOD_NAMES.items()],
        validate_choice=False,
    )
    note = StringField(
        _l("说明"),
        [Length(max=offline.MAX_NOTE, message=_l("最多 200 个字"))],
        filters=[stripped],
        render_kw={"autocomplete": "off", "maxlength": offline.MAX_NOTE},
    )


class WriteOffForm(FlaskForm):
    reason = StringField(
        _l("核销原因"),
        [
            InputRequired(_l("请填写核销原因")),
            Length(max=offline.MAX_NOTE, message=_l("最多 200 个字")),
        ],
        render_kw={"autocomplete": "off", "maxlength": offline.MAX_NOTE},
    )


@dataclass(frozen=True)
class Action:
    name: str  # in the URL: /offline/<id>/<name>
    label: object
    form: type[FlaskForm]
    submit: object
    question: object  # what the confirmation asks
    hints: dict


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action("retry", _l("重新入账"), RetryForm, _l("确认重新入账"),
               _l("按会员卡现在的余额、积分和状态重新入账；仍不能入账的，留在待对账并记下新的原因。"),
               {}),
        Action("paid_other", _l("已另行收款"), PaidOtherForm, _l("确认已另行收款"),
               _l("会员已用其他方式付了这笔钱：记为已另行收款，会员卡不扣款。"),
               {"note": _l("选填，例如：会员次日现金补付")}),
        Action("write_off", _l("核销"), WriteOffForm, _l("确认核销"),
               _l("这笔交易不再收款：记为已核销，会员卡不扣款。"),
               {"reason": _l("必填，例如：会员已离店，无法联系")}),
    )
}  # fmt: skip


# ---------------------------------------------------------------- an upload as the pages show it


@dataclass(frozen=True)
class Shown:
    """One upload with what the pages show of it, in the shop's time and words."""

    id: int
    terminal_id: str
    trace_no: str  # the offline trace number, six digits
    card_no: str | None
    card_url: str | None  # the member's page, when the card is ours
    type_name: str | None
    amount: str | None  # yuan: the price of a consume, the purchase of a points_earn
    points: int | None
    service_code: str | None
    operator: str | None
    sold_at: str | None
    received_at: str
    status: str
    status_name: str
    reason: str | None  # the last attempt's refusal, in the page's language
    voucher_no: str | None  # applied: the journal's voucher
    receipt_url: str | None
    payment_method: str | None
    note: str | None
    resolved_by: str | None
    resolved_at: str | None
    retriable: bool = True  # not one that failed on its PIN (offline.NOT_RETRIABLE)

    @property
    def open(self) -> bool:
        return self.status == OPEN


def _time(moment) -> str | None:
    return runtime.local(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else None


def _reason(row: OfflineUpload) -> str | None:
    """The refusal as the domain worded it; in English, its code's sentence where the words
    carry figures the catalogue does not hold ("还可以尝试 2 次")."""
    if not row.message:
        return None
    text = _(row.message)
    if text == row.message and str(get_locale()) != "zh" and row.error in ERRORS:
        text = _(ERRORS[row.error][1])
    return text


def shown(rows: list[OfflineUpload]) -> list[Shown]:
    """The uploads as the pages show them: the operators' names, the cards that are ours and
    the vouchers of those applied, each read once for the whole page."""
    operators = {r.operator_no for r in rows if r.operator_no}
    names = dict(
        Staff.select(Staff.staff_no, Staff.name).where(Staff.staff_no.in_(operators)).tuples()
        if operators
        else []
    )
    numbers = {r.card_no for r in rows if r.card_no}
    ours = {
        no for (no,) in Card.select(Card.card_no).where(Card.card_no.in_(numbers)).tuples()
    } if numbers else set()  # fmt: skip
    posted = [r.transaction_id for r in rows if r.transaction_id]
    vouchers = dict(
        Transaction.select(Transaction.id, Transaction.voucher_no)
        .where(Transaction.id.in_(posted))
        .tuples()
        if posted
        else []
    )

    def one(row: OfflineUpload) -> Shown:
        who = row.operator_no
        if who and names.get(who):
            who = f"{who} {names[who]}"
        voucher = six(vouchers.get(row.transaction_id))
        return Shown(
            id=row.id,
            terminal_id=row.terminal.terminal_id,
            trace_no=six(row.offline_trace_no),
            card_no=row.card_no,
            card_url=url_for("backoffice.member", card_no=row.card_no)
            if row.card_no in ours
            else None,
            type_name=str(TYPE_NAMES[row.type]) if row.type else None,
            amount=format_fen(row.amount_fen) if row.amount_fen is not None else None,
            points=row.points,
            service_code=row.service_code,
            operator=who,
            sold_at=_time(row.sold_at),
            received_at=_time(row.received_at),
            status=row.status,
            status_name=str(OFFLINE_STATUS_NAMES[row.status]),
            reason=_reason(row),
            voucher_no=voucher,
            receipt_url=receipt_url(voucher),
            payment_method=str(PAYMENT_METHOD_NAMES[row.payment_method])
            if row.payment_method
            else None,
            note=row.note,
            resolved_by=row.resolved_by,
            resolved_at=_time(row.resolved_at),
            retriable=row.error not in offline.NOT_RETRIABLE,
        )

    return [one(row) for row in rows]


def _upload(upload_id: int) -> OfflineUpload:
    """The upload, or the page that says it does not exist (离线交易不存在)."""
    try:
        return offline.get(upload_id)
    except LedgerError as exc:
        page = render_template("error.html", error=exc, status=404)
        abort(make_response(page, 404))


# ---------------------------------------------------------------- the list


@bp.get("/offline", endpoint="offline")
@needs(CAN_RECONCILE)
def offline_list():
    """Read with links: nothing changes here, so there is no CSRF token."""
    chosen = request.args.get("status", OPEN)
    if chosen not in FILTERS:
        chosen = OPEN
    page = page_arg()
    rows, total = offline.uploads(None if chosen == "all" else chosen, page, PER_PAGE)
    totals = offline.totals()
    return render_template(
        "backoffice/offline/list.html",
        rows=shown(rows),
        pager=Pager(page, PER_PAGE, total),
        totals=totals,
        all_count=sum(totals.counts.values()),
        chosen=chosen,
        statuses=OFFLINE_STATUS_NAMES,
        actions=ACTIONS,
    )


# ---------------------------------------------------------------- one upload, and its resolution


@bp.get("/offline/<int:upload_id>")
@needs(CAN_RECONCILE)
def offline_upload(upload_id: int):
    (row,) = shown([_upload(upload_id)])
    return render_template("backoffice/offline/upload.html", row=row, actions=ACTIONS)


@bp.route("/offline/<int:upload_id>/<action>", methods=["GET", "POST"])
@needs(CAN_RECONCILE)
def offline_resolve(upload_id: int, action: str):
    """The upload shown, and the resolution posted only when confirmed here. A refusal is
    said on this page and changes nothing."""
    chosen = ACTIONS.get(action)
    if chosen is None:
        abort(404)
    upload = _upload(upload_id)
    form = chosen.form()
    if upload.status == OPEN and form.validate_on_submit():
        try:
            done = _resolve(chosen, upload, form)
        except LedgerError as exc:
            refused(form, exc, {"bad_request": "reason"} if action == "write_off" else None)
            upload = _upload(upload.id)  # resolved meanwhile: shown as it is now
        else:
            _said(chosen, done)
            return redirect(url_for("backoffice.offline_upload", upload_id=done.id), 303)
    elif upload.status != OPEN and request.method == "POST":
        form.form_errors.append(_(ERRORS["offline_resolved"][1]))
    (row,) = shown([upload])
    return render_template(
        "backoffice/offline/resolve.html",
        row=row, action=chosen, actions=ACTIONS, form=form,
        fields=[name for name in form._fields if name != "csrf_token"],
    )  # fmt: skip


def _resolve(chosen: Action, upload: OfflineUpload, form: FlaskForm) -> OfflineUpload:
    if chosen.name == "retry":
        row = offline.retry(actor(), upload.id)
        observe.offline_outcome(row)  # its line in the log
        return row
    if chosen.name == "paid_other":
        return offline.record_paid_other(
            actor(), upload.id, form.payment_method.data, form.note.data or None
        )
    return offline.write_off(actor(), upload.id, form.reason.data)


def _said(chosen: Action, done: OfflineUpload) -> None:
    """The outcome, at the top of the upload's page."""
    trace = f"{done.terminal.terminal_id}/{six(done.offline_trace_no)}"  # as the audit log names it
    if chosen.name == "retry" and done.status == "applied":
        flash(
            _(
                "离线交易 %(trace)s 已重新入账，凭证号 %(voucher)s",
                trace=trace,
                voucher=six(done.transaction.voucher_no),
            )
        )
    elif chosen.name == "retry":
        (row,) = shown([done])
        flash(
            _("离线交易 %(trace)s 仍未能入账：%(reason)s", trace=trace, reason=row.reason),
            "warning",
        )
    elif chosen.name == "paid_other":
        flash(_("离线交易 %(trace)s 已记为已另行收款", trace=trace))
    else:
        flash(_("离线交易 %(trace)s 已核销", trace=trace))
