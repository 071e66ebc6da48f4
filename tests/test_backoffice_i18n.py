"""The back office speaks Chinese first and English on request: every string its pages,
forms and messages can show has an English translation in the one catalogue."""

import ast
import dataclasses
import importlib
import re
from collections import defaultdict
from pathlib import Path

import pytest
from flask_babel.speaklater import LazyString

from kakatong.domain.audit import ACTIONS
from kakatong.domain.cards import ImportRefused, parse_import
from kakatong.domain.errors import ERRORS
from kakatong.web.i18n import TRANSLATIONS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    *sorted((ROOT / "kakatong" / "web" / "backoffice").glob("*.py")),
    *sorted((ROOT / "templates" / "backoffice").rglob("*.html")),
    ROOT / "templates" / "base.html",
    ROOT / "templates" / "error.html",
    ROOT / "templates" / "tls.html",  # 设备证书, in the back office's menu
    ROOT / "kakatong" / "web" / "https.py",
    ROOT / "kakatong" / "factory.py",  # the error page of an expired form (CSRF)
]
TEMPLATES = [path for path in SOURCES if path.suffix == ".html"]
# _("…"), _l("…") and _('…', name=…): the first argument, a literal
CALL = re.compile(r"""\b_l?\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def english() -> dict[str, str]:
    from babel.messages.pofile import read_po

    with (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return {m.id: m.string for m in read_po(source) if m.id}


def used_strings(sources: list[Path] = SOURCES) -> set[str]:
    found = set()
    for path in sources:
        for double, single in CALL.findall(path.read_text(encoding="utf-8")):
            found.add(double or single)
    return found


def test_the_sources_are_found():
    assert len(used_strings()) > 100


def test_every_string_of_the_back_office_has_an_english_translation():
    catalogue = english()
    missing = sorted(s for s in used_strings() if not catalogue.get(s))
    assert missing == [], f"{len(missing)} strings without English: {missing[:20]}"


def test_every_refusal_and_audit_action_has_an_english_translation():
    catalogue = english()
    texts = [message for _, message in ERRORS.values()] + list(ACTIONS.values())
    missing = sorted(t for t in texts if not catalogue.get(t))
    assert missing == [], missing


def test_translations_keep_their_placeholders():
    for msgid, msgstr in english().items():
        if msgstr:
            assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(
                re.findall(r"%\(\w+\)s", msgstr)
            ), msgid


def test_the_translations_of_the_templates_survive_jinjas_formatting():
    """Jinja's gettext (newstyle) always applies `%` to the translation, with or without
    arguments: a bare "%" in the English would break the page."""
    catalogue = english()
    for msgid in used_strings(TEMPLATES):
        msgstr = catalogue.get(msgid)
        if msgstr:
            try:
                msgstr % defaultdict(str)
            except (TypeError, ValueError):
                pytest.fail(f"a bare % in the English of {msgid!r}: {msgstr!r}")


# ---------------------------------------------------------------- strings held in variables

# Names and messages that reach a page through a variable (`_(receipt.type_name)`,
# `_(exc.message)`, a label table): the literal search above cannot see them.
HAN = re.compile(r"[\u4e00-\u9fff]")
# The domain modules whose Chinese sentences a page may show: refusals (LedgerError messages
# and the tables they are taken from), names (receipts) and labels (settings).
DOMAIN = [
    "audit", "cards", "formats", "ledger", "receipts", "reports", "settings", "staff", "terminals",
]  # fmt: skip
# The back-office modules and the domain modules whose name tables the pages translate.
TABLES = [
    "kakatong.store.codes",
    "kakatong.domain.receipts",
    "kakatong.domain.settings",
    "kakatong.domain.terminals",
    "kakatong.domain.cards",
    *(
        f"kakatong.web.backoffice.{path.stem}"
        for path in (ROOT / "kakatong" / "web" / "backoffice").glob("*.py")
    ),
]
# Shown as they are on purpose: a language's own name.
UNTRANSLATED = {"简体中文"}


def _source(text: object) -> str | None:
    """The msgid of a lazy string, a Chinese literal itself; None for anything else."""
    if isinstance(text, LazyString):
        return text._args[0]
    if isinstance(text, str) and HAN.search(text):
        return text
    return None


def _texts(value: object, seen: set[int]) -> set[str]:
    """The translatable strings a table holds, looking into dicts, sequences and dataclasses."""
    if id(value) in seen:
        return set()
    seen.add(id(value))
    source = _source(value)
    if source is not None:
        return {source}
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)]
    else:
        return set()
    found: set[str] = set()
    for item in items:
        found |= _texts(item, seen)
    return found


def table_strings() -> set[str]:
    found: set[str] = set()
    seen: set[int] = set()
    for name in TABLES:
        for value in vars(importlib.import_module(name)).values():
            if not isinstance(value, str):  # a module-level string is no table
                found |= _texts(value, seen)
    return found - UNTRANSLATED


def domain_strings() -> set[str]:
    """Every Chinese literal of the domain modules but docstrings and the pieces of strings
    built at run time (f-strings, concatenations): those cannot be msgids."""
    found = set()
    for name in DOMAIN:
        tree = ast.parse((ROOT / "kakatong" / "domain" / f"{name}.py").read_text(encoding="utf-8"))
        skip = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                skip.add(id(body[0].value))  # a docstring
            if isinstance(node, (ast.JoinedStr, ast.BinOp)):
                skip.update(id(part) for part in ast.walk(node) if part is not node)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and HAN.search(node.value)
            ):
                found.add(node.value)
    return found


def test_the_variable_held_strings_are_found():
    tables, domain = table_strings(), domain_strings()
    # The receipt's copies and payment methods, a level refusal, a setting's label.
    assert {"商户存根", "持卡人存根", "微信支付", "储值消费"} <= tables
    assert {"主管密码错误", "余额格式不正确", "密码错误次数上限"} <= domain


def test_every_name_and_message_held_in_a_variable_has_an_english_translation():
    catalogue = english()
    missing = sorted(s for s in table_strings() | domain_strings() if not catalogue.get(s))
    assert missing == [], f"{len(missing)} strings without English: {missing[:20]}"


def test_the_import_header_refusal_has_an_english_translation():
    """Built from the columns at run time, but always the same sentence."""
    with pytest.raises(ImportRefused) as refused:
        parse_import("no,such,header\n")
    [problem] = refused.value.problems
    assert problem.line == 1 and english().get(problem.message), problem
