"""报表查询: the home page's figures, daily statistics (交易统计) and the journal (交易流水)."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from .. import reports
from ..staff import CAN_READ_JOURNAL
from . import bp
from .web import needs


@bp.get("/")
@needs()
def dashboard():
    figures = reports.overview() if current_user.can(CAN_READ_JOURNAL) else None
    return render_template("backoffice/dashboard.html", figures=figures)
