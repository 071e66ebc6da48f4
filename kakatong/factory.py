"""Kakatong: a self-hosted membership-card appliance (stored value and loyalty points).

The application factory: configuration, the database, the blueprints, the CLI, the card
reader's thread.
"""

from __future__ import annotations

import atexit
import logging
import threading
from pathlib import Path

from flask import Flask, jsonify, render_template, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from . import welcome
from .cli import initialise, register
from .config import ROOT, Config
from .devices.printing import Printing
from .devices.reader import ReaderThread
from .devices.swipes import Hub
from .domain import settings
from .domain.errors import LedgerError
from .domain.money import format_fen
from .store import backup, runtime
from .store.db import Busy, StorageFull, connect, open_database
from .store.models import Terminal
from .store.runtime import utcnow
from .store.schema import SCHEMA_VERSION
from .web import health, https, i18n, observe
from .web.api import bp as api_bp
from .web.backoffice import bp as backoffice_bp
from .web.backoffice.captcha import CaptchaStore
from .web.backoffice.web import login_manager, navigation
from .web.sessions import SessionStore
from .web.terminal import bp as terminal_bp

__version__ = "0.1.0"

csrf = CSRFProtect()


class _App(Flask):
    def log_exception(self, exc_info) -> None:
        # Flask's own line names the request's path, which may hold a card number: the route
        # and the request's id instead (web/observe.py).
        self.logger.error(
            "Exception on %s %s (request %s)", request.method, observe.route() or "-",
            observe.request_id(), exc_info=exc_info,
        )  # fmt: skip


class _SessionInterface(SecureCookieSessionInterface):
    """The back office's cookie is `Secure` when it is set over HTTPS (never then sent in clear
    by the browser), and not over the box's own loopback HTTP, which a kiosk browser on the box
    and the admin tools still use."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def _refused(error: LedgerError):
    """A refusal met outside the blueprints' own handlers: the API's callers get its JSON,
    people a page."""
    if request.path.startswith("/api/"):
        return jsonify(error.as_dict()), error.status
    return render_template("error.html", error=error, status=error.status), error.status


def create_app(overrides: dict | None = None) -> Flask:
    config = Config.from_env(**(overrides or {}))
    app = _App(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config["KAKATONG"] = config
    app.extensions["kakatong.started_at"] = utcnow()  # 系统状态's uptime
    app.config["SECRET_KEY"] = config.secret("secret_key")
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024  # a members CSV of some 40 000 lines
    # The back office's cookie: signed, out of scripts' reach, not sent by other sites' forms.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_NAME"] = "kakatong_session"
    app.config["WTF_CSRF_TIME_LIMIT"] = 12 * 3600
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    runtime.configure(config.zone, config.secret("pin_pepper"), config.sealing_key())
    open_database(config.database)

    app.config["KAKATONG_INIT_LOG"] = initialise(config)
    register(app)

    # Signed-in sessions live in the database, keyed by the token's HMAC under the secret key.
    app.extensions["kakatong.sessions"] = SessionStore("api", app.config["SECRET_KEY"])
    app.extensions["kakatong.web_sessions"] = SessionStore("web", app.config["SECRET_KEY"])
    hub = app.extensions["kakatong.swipes"] = Hub()
    app.extensions["kakatong.printing"] = Printing(on_status=hub.set_printer)
    # A swipe stream holds a waitress thread while it is open: a quarter of them at most, so
    # the terminals' streams can never starve the requests that move money.
    app.extensions["kakatong.stream_slots"] = threading.BoundedSemaphore(
        max(1, config.threads // 4)
    )

    # A chain's PostgreSQL is backed up by its own server (pg_dump, docs/deploy.md); the
    # copies of data/backups are a shop's SQLite file's.
    app.extensions["kakatong.backups"] = (
        None
        if config.on_postgres
        else backup.Backups(
            config.database_path,
            config.backups_path,
            config.second_backups_path,
            policy=_backup_policy,
            activity=_backup_activity,
            newest_schema=SCHEMA_VERSION,
        )
    )
    app.extensions["kakatong.captcha"] = CaptchaStore()
    # HTTPS as the server started it (app.py / serve.py fill in whether it serves).
    app.extensions["kakatong.tls"] = https.TlsState(
        enabled=config.tls,
        http_port=config.port,
        https_port=config.https_port,
        directory=Path(config.data_dir) / "tls",
        hosts=lambda: welcome.hosts(config),
    )
    app.session_interface = _SessionInterface()

    def language() -> str:
        # Chinese unless the page asks for English (?lang=en, kept in the kiosk's URL), or
        # the back office's user chose English at sign-in.
        chosen = request.args.get("lang")
        terminal_page = request.path == "/terminal" or request.path.startswith("/terminal/")
        if chosen is None and not terminal_page and not request.path.startswith("/api/"):
            chosen = session.get("lang")
        return chosen if chosen in i18n.LANGUAGES else "zh"

    i18n.init_app(app, language)

    # Each request's id, timing and log line (observe.py), around all the other hooks.
    observe.init_app(app)
    # First of the other hooks, before the CSRF check: plain HTTP from the network goes to
    # HTTPS.
    app.register_blueprint(https.bp)
    app.register_blueprint(health.bp)  # /healthz, /readyz
    csrf.init_app(app)
    csrf.exempt(api_bp)  # the API authenticates with bearer tokens, never with cookies
    app.register_blueprint(api_bp)
    app.register_blueprint(terminal_bp)
    app.register_blueprint(backoffice_bp)
    login_manager.init_app(app)
    app.jinja_env.filters["yuan"] = format_fen
    app.jinja_env.globals["navigation"] = navigation
    app.jinja_env.globals["get_locale"] = get_locale

    @app.after_request
    def _security_headers(response):
        # No inline script or style anywhere: the pages load only their own static files.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin: another site never learns a page's address (a member's card number in
        # it), while the back office's own forms carry the Referer that Flask-WTF requires of
        # a form posted over HTTPS (its strict check against cross-site posts).
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.after_request
    def _not_kept(response):
        # What the API answers and what a signed-in page shows (members, the journal, staff,
        # tokens) is not kept by the browser: a shared tablet keeps nothing of it after
        # sign-out, and Back shows nothing. Static files and the pages of no one in particular
        # (sign-in, the terminal page's shell) stay cacheable.
        if request.path.startswith("/api/") or (
            request.endpoint != "static" and current_user.is_authenticated
        ):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.before_request
    def _connect():
        # One kept-open connection per server thread (db.py); none for the health checks,
        # which answer without it or open it themselves.
        if request.endpoint not in health.NO_DATABASE:
            connect()

    @app.errorhandler(CSRFError)
    def _csrf_refused(exc: CSRFError):
        error = LedgerError("bad_request", _("页面已过期，请刷新后重试"))
        return render_template("error.html", error=error, status=400), 400

    @app.errorhandler(StorageFull)
    def _storage_full(exc: StorageFull):
        # SQLite undid the write: nothing was kept or acknowledged. One line for the
        # administrator, not a traceback per refused request.
        # The route, not the path: a path may hold a card number.
        logging.getLogger("kakatong").error("storage full: %s %s refused (%s)",
                                            request.method, observe.route(), exc)  # fmt: skip
        return _refused(LedgerError("storage_full"))

    @app.errorhandler(Busy)
    def _busy(exc: Busy):
        # PostgreSQL undid the write each time it was tried (db.write): nothing was kept.
        logging.getLogger("kakatong").warning("database busy: %s %s refused (%s)",
                                              request.method, observe.route(), exc)  # fmt: skip
        return _refused(LedgerError("database_busy"))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        # Routing errors (404, 405) happen before any blueprint is chosen: answer the API's
        # callers in JSON here, people with a page.
        return _refused(LedgerError.for_http(exc.code))

    return app


def _backup_policy() -> backup.Policy:
    connect()  # the backups' own thread
    values = settings.load()
    return backup.Policy(
        hourly=values["backup_hourly"],
        keep_hourly=values["backup_keep_hourly"],
        keep_daily=values["backup_keep_daily"],
        keep_monthly=values["backup_keep_monthly"],
    )


def _backup_activity() -> list:
    connect()
    return backup.activity()


def start_reader(app: Flask):
    """The card reader's thread for this app, started once (a second call returns it).

    The server starts it (app.py); the factory does not, because the admin commands build the
    same app and must not take the serial port from the running server."""
    running = app.extensions.get("kakatong.reader")
    if running is not None and running.is_alive():
        return running
    config: Config = app.config["KAKATONG"]
    terminal_id = config.msr_terminal
    if not terminal_id:
        first = (
            Terminal.select(Terminal.terminal_id)
            .where(Terminal.kind == "pos")
            .order_by(Terminal.terminal_id)
            .first()
        )
        terminal_id = first.terminal_id if first else ""
    hub: Hub = app.extensions["kakatong.swipes"]
    hub.set_status(terminal_id, "disconnected")  # until the port opens
    reader = ReaderThread(
        config.msr,
        config.msr_baud,
        # Only the card number and expiry travel on; the reader logs neither.
        on_swipe=lambda swipe: hub.swipe(terminal_id, swipe.card_no, swipe.expires),
        on_error=lambda _reason: hub.retry(terminal_id),
        on_status=lambda status: hub.set_status(terminal_id, status),
    )
    reader.terminal_id = terminal_id
    app.extensions["kakatong.reader"] = reader
    reader.start()
    atexit.register(reader.stop)
    logging.getLogger("kakatong.reader").info(
        "reader: %s for terminal %s", config.msr, terminal_id or "(none)"
    )
    return reader


def stop_reader(app: Flask) -> None:
    reader = app.extensions.pop("kakatong.reader", None)
    if reader is not None:
        reader.stop()
        atexit.unregister(reader.stop)
