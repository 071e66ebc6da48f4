"""/terminal: the page shell (status bar, display, keys) and the catalogue for its script."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, render_template
from flask_babel import get_locale

from ... import __version__
from ...domain import terminals
from ...store import codes
from .. import i18n

bp = Blueprint("terminal", __name__, url_prefix="/terminal")

# The manual's keys: (key name in static/terminal/keys.js, label, keyboard key shown on screen)
KEYS = [
    ("1", "1", ""), ("2", "2", ""), ("3", "3", ""), ("func", "功能", "F1"),
    ("4", "4", ""), ("5", "5", ""), ("6", "6", ""), ("reprint", "重印", "F2"),
    ("7", "7", ""), ("8", "8", ""), ("9", "9", ""), ("feed", "送纸", "F3"),
    ("correct", "更正", "Backspace"), ("0", "0", ""), ("cancel", "取消", "Esc"),
    ("trade", "交易", "F4"), ("enter", "输入", "Enter"), ("settle", "结算", "F5"),
]  # fmt: skip


@bp.get("")
def page():
    language = str(get_locale() or "zh")
    config = {
        "terminal_id": terminals.self_binding(),
        # The code tables the screens name (types, payment methods…), never a copy of them.
        "codes": codes.as_json(),
        "version": __version__,
        "tz": current_app.config["KAKATONG"].tz,
        "language": language,
    }
    return render_template(
        "terminal/index.html",
        keys=KEYS,
        config=json.dumps(config),
        # In a <script type="application/json">: no "</script>" may close it early.
        catalogue=json.dumps(i18n.catalogue(language), ensure_ascii=False).replace("<", "\\u003c"),
        language=language,
    )
