"""What every back-office view shares: the signed-in user, role checks, the navigation, and
turning a domain refusal into a message beside the field it concerns.

Sessions are flask-login's over our own server-side store: the cookie carries a random token
(signed, HttpOnly, SameSite), the server keeps who it belongs to and when it was last used, so
signing out or an idle timeout ends the session for good, not only in the browser.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterable

from flask import abort, current_app, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user
from wtforms import Form, RadioField
from wtforms.fields.choices import SelectChoice

from ...domain import branches, cards, formats
from ...domain import settings as shop_settings
from ...domain.actors import (
    ALL_ROLES,
    CAN_CHANGE_SETTINGS,
    CAN_READ_JOURNAL,
    CAN_RECONCILE,
    CAN_TRANSACT,
    OWNER_ONLY,
    Actor,
)
from ...domain.errors import ERRORS, LedgerError
from ...domain.formats import MAX_PAGE
from ...store import codes
from ...store.models import Staff, Terminal
from ..sessions import SessionStore

login_manager = LoginManager()
login_manager.login_view = "backoffice.login"
login_manager.login_message = _l("请先登录")
login_manager.session_protection = None  # the token is the session, held on the server

EVERYONE = ALL_ROLES
# 系统状态 (system.py): the shop's managers, the supervisor and the owner.
CAN_SEE_SYSTEM = frozenset({"supervisor", "owner"})


def web_sessions() -> SessionStore:
    return current_app.extensions["kakatong.web_sessions"]


class WebUser(UserMixin):
    """A signed-in staff member of the back office: flask-login's user is our session token."""

    def __init__(self, token: str, actor: Actor):
        self.token = token
        self.actor = actor

    def get_id(self) -> str:
        return self.token

    @property
    def role(self) -> str:
        return self.actor.role

    def can(self, roles: Iterable[str]) -> bool:
        return self.actor.role in roles


@login_manager.user_loader
def _load(token: str) -> WebUser | None:
    idle = shop_settings.load()["web_idle_minutes"] * 60
    session = web_sessions().get(token, idle_seconds=idle)
    if session is None:
        return None
    # Removed or disabled at a terminal, with a new role: the session ends even if whoever did
    # it did not end it (a session keeps the role it was opened with).
    member = Staff.get_or_none(Staff.id == session.actor.staff_id)
    if member is None or not member.active or member.role != session.actor.role:
        web_sessions().close(token)
        return None
    return WebUser(token, session.actor)


def backoffice_terminal() -> Terminal:
    return Terminal.get(Terminal.kind == "backoffice")


def actor() -> Actor:
    """Who is acting in this request, from which address (for the audit log)."""
    return dataclasses.replace(current_user.actor, address=request.remote_addr)


def needs(roles: frozenset[str] = EVERYONE) -> Callable:
    """The view needs a signed-in user of one of these roles: others are sent to sign in, or
    refused (403) if signed in with another role."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return inner

    return wrap


# The navigation: (endpoint, label, roles). An entry shows when its view exists and the user
# may open it.
NAV: list[tuple[str, object, frozenset[str]]] = [
    ("backoffice.dashboard", _l("首页"), EVERYONE),
    ("backoffice.trade", _l("会员交易"), CAN_TRANSACT),
    ("backoffice.activate", _l("会员激活"), CAN_TRANSACT),
    ("backoffice.card_action", _l("会员卡操作"), CAN_TRANSACT),
    ("backoffice.members", _l("会员"), CAN_READ_JOURNAL),
    ("backoffice.stats", _l("交易统计"), CAN_READ_JOURNAL),
    ("backoffice.journal", _l("交易流水"), CAN_READ_JOURNAL),
    ("backoffice.offline", _l("离线对账"), CAN_RECONCILE),
    ("backoffice.settlement", _l("结算"), CAN_TRANSACT),
    ("backoffice.levels", _l("会员等级"), OWNER_ONLY),
    ("backoffice.branch_list", _l("门店"), OWNER_ONLY),
    ("backoffice.staff_list", _l("员工"), OWNER_ONLY),
    ("backoffice.terminals", _l("终端"), CAN_CHANGE_SETTINGS),
    ("backoffice.settings", _l("设置"), CAN_CHANGE_SETTINGS),
    ("backoffice.audit_log", _l("审计日志"), OWNER_ONLY),
    ("backoffice.backups", _l("备份与恢复"), OWNER_ONLY),
    ("backoffice.system", _l("系统状态"), CAN_SEE_SYSTEM),
    ("https.trust", _l("设备证书"), EVERYONE),
]


def navigation() -> list[tuple[str, str, str | None]]:
    """(url, label, current) of the entries this user may open. `current` is "page" for the
    entry of this very page and "true" for the entry whose pages this one belongs to (a
    member's page under 会员, a terminal's under 终端): the menu always shows where one is."""
    if not current_user.is_authenticated:
        return []
    entries = [
        (url_for(endpoint), str(label), endpoint)
        for endpoint, label, roles in NAV
        if endpoint in current_app.view_functions
        and current_user.role in roles
        and (endpoint != "backoffice.backups" or current_app.extensions["kakatong.backups"])
        and (endpoint != "backoffice.branch_list" or branches_shown())
    ]
    path = request.path
    section = None
    if all(endpoint != request.endpoint for _url, _label, endpoint in entries):
        section = max(
            (url for url, _label, _e in entries if url != "/" and path.startswith(url + "/")),
            key=len,
            default=None,
        )

    def current(url: str, endpoint: str) -> str | None:
        if endpoint == request.endpoint:
            return "page"
        return "true" if url == section else None

    return [(url, label, current(url, endpoint)) for url, label, endpoint in entries]


# ---------------------------------------------------------------- names shown for stored codes


def _translated(names: dict[str, codes.Name]) -> dict:
    return {key: _l(value.name) for key, value in names.items()}


TYPE_NAMES = _translated(codes.JOURNAL_TYPE_NAMES)
JOURNAL_STATUS_NAMES = _translated(codes.JOURNAL_STATUS_NAMES)
CARD_STATUS_NAMES = _translated(codes.CARD_STATUS_NAMES)
ROLE_NAMES = _translated(codes.ROLE_NAMES)
GENDER_NAMES = _translated(codes.GENDER_NAMES)
PAYMENT_METHOD_NAMES = _translated(codes.PAYMENT_METHOD_NAMES)
OFFLINE_STATUS_NAMES = _translated(codes.OFFLINE_STATUS_NAMES)


# ---------------------------------------------------------------- refusals beside their field

# The field a refusal is about, where the domain does not say (`field` in its details).
ERROR_FIELDS = {
    "invalid_card_no": "card_no",
    "card_not_found": "card_no",
    "card_exists": "card_no",
    "card_inactive": "card_no",
    "card_frozen": "card_no",
    "card_lost": "card_no",
    "card_expired": "card_no",
    "invalid_amount": "amount",
    "over_limit": "amount",
    "insufficient_balance": "amount",
    "no_points": "amount",
    "invalid_points": "points",
    "insufficient_points": "points",
    "invalid_pin": "pin",
    "wrong_pin": "pin",
    "pin_locked": "pin",
    "invalid_phone": "phone",
    "phone_taken": "phone",
    "external_no_taken": "external_no",
    "invalid_id_number": "id_number",
    "level_not_found": "level",
    "invalid_password": "new_password",
    "invalid_staff_no": "staff_no",
    "staff_exists": "staff_no",
    "staff_not_found": "staff_no",
    "invalid_terminal_id": "terminal_id",
    "terminal_exists": "terminal_id",
    "transaction_not_found": "original",
    "card_mismatch": "card_no",
}


def refused(form: Form, exc: LedgerError, fields: dict[str, str] | None = None) -> None:
    """Show a domain refusal next to the field it concerns, else above the form."""
    name = (fields or {}).get(exc.code) or exc.details.get("field") or ERROR_FIELDS.get(exc.code)
    message = _(exc.message)
    if message == exc.message and str(get_locale()) != "zh":
        # A message with figures in it ("还可以尝试 2 次") is not in the catalogue as such:
        # the code's own sentence is.
        message = _(ERRORS[exc.code][1])
    if name and name in form:
        form[name].errors = [*form[name].errors, message]
    else:
        form.form_errors.append(message)


def stripped(value: object) -> object:
    """A form filter: text without the spaces around it."""
    return value.strip() if isinstance(value, str) else value


def card_number(value: str | None) -> str | None:
    """A form filter for card number fields: a swipe or a grouped number, as the card's."""
    return formats.typed_card_no(value) if isinstance(value, str) and value else value


# ---------------------------------------------------------------- the card a form names

MATCHED_BY = {"card_no": _l("卡号"), "external_no": _l("外卡号"), "phone": _l("手机号码")}


def card_choice_field() -> RadioField:
    """The card picked when a form's card entry names several (shown only then)."""
    return RadioField(_l("选择会员卡"), validate_choice=False)


def chosen_card(form: Form) -> str | None:
    """The card number of the card the form's `card_no` entry names: a card number, an
    external number or a bound phone (cards.lookup). The field then holds that card number.

    An entry naming several cards is refused beside the field, and the form's `card_choice`
    lists them; sent again with one of them picked, that one is meant. None: refused."""
    try:
        candidates = cards.lookup(form.card_no.data)
    except LedgerError as exc:
        refused(form, exc)
        return None
    picked = next((c for c in candidates if c.card.card_no == form.card_choice.data), None)
    if len(candidates) > 1 and picked is None:
        form.card_choice.choices = [
            SelectChoice(
                c.card.card_no,
                " ".join(
                    filter(None, (c.card.card_no, c.card.name, f"（{MATCHED_BY[c.matched_by]}）"))
                ),
            )
            for c in candidates
        ]
        form.card_choice.data = None
        form.card_no.errors = [*form.card_no.errors, _("该号码对应多张会员卡，请选择一张")]
        return None
    form.card_no.data = (picked or candidates[0]).card.card_no
    return form.card_no.data


def card_fields(form: Form, names) -> list[str]:
    """The form's fields to draw: `card_choice` right after `card_no`, only when there is a
    choice to make."""
    shown = [name for name in names if name != "card_choice"]
    if getattr(form, "card_choice", None) is not None and form.card_choice.choices:
        shown.insert(shown.index("card_no") + 1, "card_choice")
    return shown


# ---------------------------------------------------------------- paging


@dataclasses.dataclass(frozen=True)
class Pager:
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def url(self, page: int) -> str:
        return this_page(page=str(page))


def this_page(**changes: str | None) -> str:
    """This page's address with its query string, some arguments changed. Names url_for takes
    for itself (endpoint, _external, _scheme…) or for the path never come from the query."""
    path_args = request.view_args or {}
    args = {
        k: v
        for k, v in request.args.items()
        if k != "endpoint" and not k.startswith("_") and k not in path_args
    }
    chosen = {k: v for k, v in {**args, **changes}.items() if v is not None}
    return url_for(request.endpoint, **path_args, **chosen)


def size_text(size: int) -> str:
    """Bytes as a person reads them: 1.2 MB, 530.0 KB."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def page_arg() -> int:
    text = request.args.get("page", "1")
    if text.isascii() and text.isdigit() and 1 <= len(text) <= 7:
        return min(max(int(text), 1), MAX_PAGE)
    return 1


# ---------------------------------------------------------------- branches (门店)


def branches_shown() -> bool:
    """Whether the back office speaks of branches: a chain's database, or more than one."""
    return current_app.config["KAKATONG"].on_postgres or branches.is_chain()


def report_branch(form: Form) -> int | None:
    """The branch a report shows (交易统计, 交易流水): a staff member limited to a branch sees
    only theirs; the owner of a chain chooses one, or the whole chain (None). A single shop
    has no choice to make, and its form no `branch` field."""
    own = branches.limit_of(current_user.actor)
    if own is not None or not branches.is_chain():
        del form.branch
        return own
    every = branches.every()
    form.branch.choices = [SelectChoice("", _("全部门店"))] + [
        SelectChoice(str(b.id), b.name) for b in every
    ]
    chosen = form.branch.data or ""
    if chosen == "":
        return None
    if chosen not in {str(b.id) for b in every}:
        raise LedgerError("branch_not_found")
    return int(chosen)
