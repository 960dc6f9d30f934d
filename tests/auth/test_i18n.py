"""i18n wiring: babel.cfg extracts from Python and templates, an English catalogue is compiled and
loaded, and this issue's templates have no user-visible text outside `_()`."""

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask_babel import get_translations, gettext

ROOT = Path(__file__).resolve().parents[2]
OWN_TEMPLATES = ["base.html", "error.html", "_macros.html", "auth", "core"]


def extracted() -> set[str]:
    method_map = [("app/**.py", "python"), ("templates/**.html", "jinja2")]
    cfg = (ROOT / "babel.cfg").read_text()
    assert "[python: app/**.py]" in cfg and "[jinja2: templates/**.html]" in cfg
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_babel_extracts_from_python_and_templates():
    found = extracted()
    assert "Sign in with a passkey" in found  # a template
    assert "This invite link has expired. Ask for a new one." in found  # an InviteError
    assert "This passkey is not registered with Attune. Ask for a new invite." in found
    assert "Too many attempts. Please wait a minute and try again." in found  # errors.py
    assert "Check in" in found  # navigation labels


def test_english_catalogue_is_compiled_and_loaded(app):
    po = ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    with po.open("rb") as fh:
        catalog = read_po(fh)
    assert "Sign in with a passkey" in catalog
    with mo.open("rb") as fh:
        assert read_mo(fh).locale.language == "en"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert str(mo) in [str(Path(f).resolve()) for f in get_translations().files]
        assert gettext("Sign in") == "Sign in"


def visible_text(html: str) -> list[str]:
    html = re.sub(r"{#.*?#}", "", html, flags=re.S)
    html = re.sub(r"{%.*?%}", " ", html, flags=re.S)
    html = re.sub(r"{{.*?}}", " ", html, flags=re.S)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]*>", " ", html)
    words = [w for w in re.split(r"\s{2,}|\n", html) if re.search(r"[A-Za-z]{2,}", w)]
    return [w.strip() for w in words if w.strip(" ·") != "Attune"]


def test_this_issues_templates_put_every_string_through_gettext():
    offenders = {}
    for name in OWN_TEMPLATES:
        path = ROOT / "templates" / name
        for file in sorted(path.rglob("*.html")) if path.is_dir() else [path]:
            text = visible_text(file.read_text())
            if text:
                offenders[str(file.relative_to(ROOT))] = text
    assert offenders == {}


def test_visible_text_finds_an_untranslated_string():
    assert visible_text("<p>{{ _('Fine') }}</p><p>Not translated</p>") == ["Not translated"]
