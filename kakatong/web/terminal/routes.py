"""/terminal: the page shell (status bar, display, keys) and the catalogue for its script; the
service worker that keeps the page, its modules and its styles in the browser, so that it opens
without the server (离线交易), and the manifest that lets a kiosk browser install it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, current_app, render_template, url_for
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


# The page's modules (static/terminal/), which the page asks for all at once (modulepreload)
# and the service worker keeps.
MODULES = (
    "api", "display", "home", "keys", "management", "offline", "offline-store", "page",
    "printer", "printing", "reader", "receipt", "settlement", "signin", "state", "status",
    "supervisor", "system", "transactions", "void-query", "main",
)  # fmt: skip


def _assets() -> list[str]:
    """Every static file the page is made of: its modules, its stylesheet, its icon."""
    files = [f"terminal/{name}.js" for name in MODULES] + ["terminal.css", "terminal-icon.svg"]
    return [url_for("static", filename=name) for name in files]


def _assets_digest() -> str:
    """What the service worker keeps, by content: a new release (or any changed file) is a new
    service worker, which fetches them all again and drops the old copies."""
    static = Path(current_app.static_folder)
    digest = hashlib.sha256(__version__.encode())
    for url in _assets():
        digest.update(url.encode())
        digest.update((static / url.removeprefix("/static/")).read_bytes())
    return digest.hexdigest()[:16]


@bp.get("/sw.js")
def service_worker():
    body = render_template(
        "terminal/sw.js",
        cache=f"kkt-terminal-{_assets_digest()}",
        assets=json.dumps(_assets()),
        page=url_for("terminal.page"),
    )
    response = current_app.response_class(body, mimetype="text/javascript")
    # Its scope is the page's path (/terminal), above the script's own folder.
    response.headers["Service-Worker-Allowed"] = url_for("terminal.page")
    # The browser asks for it again at every visit; it must not answer from its HTTP cache.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/manifest.webmanifest")
def manifest():
    body = {
        "name": "卡卡通 POS",
        "short_name": "卡卡通",
        "start_url": url_for("terminal.page"),
        "scope": url_for("terminal.page"),
        "display": "fullscreen",
        "orientation": "landscape",
        "background_color": "#263238",
        "theme_color": "#263238",
        "icons": [
            {
                "src": url_for("static", filename="terminal-icon.svg"),
                "sizes": "any",
                "type": "image/svg+xml",
            }
        ],
    }
    return current_app.response_class(
        json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json"
    )


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
        modules=MODULES,
        config=json.dumps(config),
        # In a <script type="application/json">: no "</script>" may close it early.
        catalogue=json.dumps(i18n.catalogue(language), ensure_ascii=False).replace("<", "\\u003c"),
        language=language,
    )
