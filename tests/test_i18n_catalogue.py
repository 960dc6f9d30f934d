"""Every user-visible string reaches every language's catalogue (issue 13.1 and 13.2).

Extraction reads babel.cfg with the keywords tools/i18n.sh gives pybabel, so a string added anywhere
(Python, templates, static/js t()/tn()) fails here until `tools/i18n.sh` has merged it and it is
translated in each language. Code may only translate literals: a message built at run time
(`_(err.message)`, `_(f"...")`) never reaches the catalogue.
"""

import ast
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext

from app.i18n import LANGUAGES, js_catalogue

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "t": None,
    "tn": (1, 2),
}
TRANSLATING = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "pgettext"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]


def extracted() -> dict:
    """msgid (or (singular, plural)) -> first location, as `pybabel extract -F babel.cfg` finds them."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {}
    for filename, lineno, message, _c, _ctx in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.setdefault(message, f"{filename}:{lineno}")
    return found


def catalogue(lang: str):
    with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh)


def compiled(lang: str):
    with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        return read_mo(fh)


def test_babel_cfg_covers_python_templates_and_scripts():
    cfg = (ROOT / "babel.cfg").read_text()
    for section in (
        "[python: app/**.py]",
        "[jinja2: templates/**.html]",
        "[javascript: static/js/**.js]",
    ):
        assert section in cfg
    found = extracted()
    assert "Could not start sign-in." in found  # static/js/signin.js
    assert "That appointment is not yours." in found  # a CheckInError, once built at run time


def test_code_translates_only_literals():
    offenders = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in TRANSLATING:
                continue
            count = 2 if "ngettext" in node.func.id else 1
            args = node.args[:count]
            if len(args) < count or not all(
                isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)[:80]}")
    assert offenders == []


def test_scripts_show_no_english_outside_t():
    """A sentence in static/js that is not inside t()/tn() would stay English in every language."""
    sentence = re.compile(r"""(?<![\w(])(["'`])([A-Z][a-z]+ [^"'`]*[a-z][.!?…])\1""")
    offenders = []
    for path in sorted((ROOT / "static" / "js").glob("*.js")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//")[0]
            for m in sentence.finditer(code):
                if not re.search(r"\btn?\(\s*$", code[: m.start()]):
                    offenders.append(f"{path.name}:{n} {m.group(0)}")
    assert offenders == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_extracted_string_is_in_the_catalogue(lang):
    po = catalogue(lang)
    mo = compiled(lang)
    missing = [
        f"{where} {msgid!r}"
        for msgid, where in extracted().items()
        if (msgid if isinstance(msgid, str) else msgid[0]) not in po
    ]
    assert missing == [], "run tools/i18n.sh"
    stale = [m.id for m in po if m.id and m.string and not m.fuzzy and m.id not in mo]
    assert stale == [], "run tools/i18n.sh to compile"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_string_is_translated(lang):
    po = catalogue(lang)
    wanted = {m if isinstance(m, str) else m[0] for m in extracted()}
    untranslated = [
        m.id
        for m in po
        if m.id
        and (m.id if isinstance(m.id, str) else m.id[0]) in wanted
        and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))
    ]
    assert untranslated == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_placeholders_survive_translation(lang):
    wrong = []
    for m in catalogue(lang):
        if not m.id or not m.string:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        want = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            # A plural form for exactly one may say "one" in words instead of %(num)s.
            got = set(PLACEHOLDER.findall(text))
            if got != want and not (len(ids) > 1 and got == want - {"num", "n", "count"}):
                wrong.append((m.id, text))
    assert wrong == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_scripts_receive_the_catalogue_in_the_page_language(in_request, lang):
    with force_locale(lang):
        strings = js_catalogue()
        assert strings["Could not start sign-in."] == gettext("Could not start sign-in.")
        assert strings["Could not start sign-in."] != "Could not start sign-in."
        forms = strings["%(n)s check-in saved on this phone, waiting to send."]
        assert "other" in forms and all(
            "%(n)s" in text or form in ("zero", "one", "two") for form, text in forms.items()
        )
