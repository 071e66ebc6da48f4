"""门店: the branches of a chain on one PostgreSQL, for the owner. A new one is added here (a
shop joining the chain), then its terminals are moved to it and its staff limited to it on
their own pages. A single shop on SQLite has one branch and no such page or choice."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from ...domain import branches
from ...domain.errors import LedgerError
from ...store.models import Branch, Staff, Terminal
from . import bp
from .web import OWNER_ONLY, ROLE_NAMES, actor, branches_shown, needs, refused, stripped

FIELDS = {"branch_exists": "name", "invalid_setting": "name"}


class BranchForm(FlaskForm):
    name = StringField(
        _l("门店名称"), [InputRequired(), Length(max=branches.NAME_MAX)], filters=[stripped]
    )
    address = StringField(
        _l("地址"), [Length(max=branches.ADDRESS_MAX)], filters=[stripped], default=""
    )


class BranchChoiceForm(FlaskForm):
    """The branch a terminal is at, or a staff member is limited to."""

    branch = SelectField(_l("门店"), validate_choice=False)


def names() -> dict[int, str] | None:
    """Each branch's name by id, for tables in a chain; None in a single shop (no column)."""
    return {b.id: b.name for b in branches.every()} if branches.is_chain() else None


def _choices(whole_chain: bool) -> list[SelectChoice]:
    """Every branch, after "all branches" (a staff member's whole chain) when it applies."""
    choices = [SelectChoice("", _("全部门店"))] if whole_chain else []
    return choices + [SelectChoice(str(b.id), b.name) for b in branches.every()]


def choice_form(current: int | None, whole_chain: bool) -> BranchChoiceForm:
    """A branch select, showing the current one."""
    form = BranchChoiceForm(formdata=None, branch="" if current is None else str(current))
    form.branch.choices = _choices(whole_chain)
    return form


def posted_choice(whole_chain: bool) -> tuple[BranchChoiceForm, int | None | bool]:
    """The branch posted: its id, None for the whole chain, False when the form is not valid
    (a stale page, a forged value: `branch_not_found` on the form)."""
    form = BranchChoiceForm()
    form.branch.choices = _choices(whole_chain)
    if not form.validate_on_submit():
        return form, False
    value = form.branch.data or ""
    if value == "" and whole_chain:
        return form, None
    try:
        return form, branches.find(value).id
    except LedgerError as exc:
        refused(form, exc, {"branch_not_found": "branch"})
        return form, False


def _page(form: BranchForm):
    if not branches_shown():
        abort(404)
    counts = branches.terminal_counts()
    limited: dict[int, int] = {}
    for (branch_id,) in Staff.select(Staff.branch).where(Staff.branch.is_null(False)).tuples():
        limited[branch_id] = limited.get(branch_id, 0) + 1
    return render_template(
        "backoffice/branches.html",
        branches=branches.every(),
        terminal_counts=counts,
        staff_counts=limited,
        form=form,
    )


@bp.get("/branches")
@needs(OWNER_ONLY)
def branch_list():
    return _page(BranchForm(formdata=None))


@bp.post("/branches")
@needs(OWNER_ONLY)
def branch_add():
    if not branches_shown():
        abort(404)
    form = BranchForm()
    if form.validate_on_submit():
        try:
            made = branches.create(actor(), form.name.data, form.address.data)
        except LedgerError as exc:
            refused(form, exc, FIELDS)
        else:
            flash(_("已新建门店 %(name)s", name=made.name))
            return redirect(url_for("backoffice.branch", branch_id=made.id))
    return _page(form)


def _branch(branch_id: int) -> Branch:
    if not branches_shown():
        abort(404)
    try:
        return branches.find(branch_id)
    except LedgerError:
        abort(404)


def _branch_page(branch: Branch, form: BranchForm | None = None):
    return render_template(
        "backoffice/branch.html",
        branch=branch,
        form=form or BranchForm(formdata=None, name=branch.name, address=branch.address),
        terminals=list(
            Terminal.select().where(Terminal.branch == branch.id).order_by(Terminal.terminal_id)
        ),
        staff=list(Staff.select().where(Staff.branch == branch.id).order_by(Staff.staff_no)),
        roles=ROLE_NAMES,
    )


@bp.get("/branches/<int:branch_id>", endpoint="branch")
@needs(OWNER_ONLY)
def branch_detail(branch_id: int):
    return _branch_page(_branch(branch_id))


@bp.post("/branches/<int:branch_id>")
@needs(OWNER_ONLY)
def branch_update(branch_id: int):
    branch = _branch(branch_id)
    form = BranchForm()
    if form.validate_on_submit():
        if (form.name.data, form.address.data) == (branch.name, branch.address):
            flash(_("无变更"))
            return redirect(url_for("backoffice.branch", branch_id=branch.id))
        try:
            branches.update(actor(), branch.id, form.name.data, form.address.data)
        except LedgerError as exc:
            refused(form, exc, FIELDS)
        else:
            flash(_("门店资料已保存"))
            return redirect(url_for("backoffice.branch", branch_id=branch.id))
    return _branch_page(branch, form)
