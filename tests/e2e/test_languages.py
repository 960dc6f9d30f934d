"""Browser acceptance for issue 13: in each language a client checks in on a 360x640 phone without
scrolling or clipped text; the page's lang/dir are right, no English string is left on the check-in page,
home or Settings, the Arabic sliders run from the right, and axe finds nothing. Arabic screenshots of the
check-in page and the history are saved to screenshots/ for review."""

from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext

from app.extensions import db
from app.i18n import LANGUAGES
from app.models import Appointment, utcnow
from tests import factories
from tests.e2e.conftest import phone_context, run_axe
from tests.e2e.test_checkin import browser_sign_in, move_sliders

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "screenshots"
SMALL = {"viewport": {"width": 360, "height": 640}}
TALL = {"viewport": {"width": 390, "height": 844}}
DIRECTION = {"ar": "rtl"}

TEXT = "main h1, main h2, main p, main label, main span, main a, main button, main legend, main li"
CLIPPED = f"""() => [...document.querySelectorAll('{TEXT}')]
  .filter(el => el.offsetParent !== null && !el.closest('.visually-hidden')
    && el.scrollWidth > el.clientWidth + 1
    && getComputedStyle(el).overflowX !== 'visible')
  .map(el => el.textContent.trim().slice(0, 60))"""

# Anything visible that sticks out past the screen's edge (either edge: right-to-left overflows leftwards).
OVERFLOW = """(width) => [...document.querySelectorAll('body *')]
  .filter(el => el.offsetParent !== null && !el.closest('.visually-hidden, .skip'))
  .filter(el => { const r = el.getBoundingClientRect(); return r.width && (r.right > width + 1 || r.left < -1); })
  .map(el => el.tagName + ' ' + el.textContent.trim().slice(0, 40))"""


def english_leftovers(lang: str) -> set[str]:
    """English msgids of two words or more whose translation differs: none of them may show."""
    if lang == "en":
        return set()
    with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    return {
        m.id
        for m in catalog
        if isinstance(m.id, str)
        and "%(" not in m.id
        and len(m.id.split()) >= 2
        and m.string
        and m.string != m.id
    }


def visible_english(page, lang: str) -> list[str]:
    text = page.evaluate("document.body.innerText")
    return sorted(s for s in english_leftovers(lang) if s in text)


def translated(server, lang: str, msgid: str) -> str:
    with server.app.test_request_context(), force_locale(lang):
        return gettext(msgid)


def client_in(server, lang: str) -> tuple[int, int]:
    """A client who chose `lang` in Settings, with an appointment that ended an hour ago."""
    with server.app.app_context():
        practice = factories.practice()
        therapist = factories.user(practice, "therapist")
        client = factories.user(practice, "client", therapist=therapist, locale=lang)
        appt = Appointment(
            therapist_id=therapist.id,
            client_id=client.id,
            starts_at=utcnow() - timedelta(hours=1, minutes=50),
            duration_minutes=50,
        )
        db.session.add(appt)
        db.session.commit()
        return client.id, appt.id


def check_page(page, lang: str, where: str) -> None:
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [
        lang,
        DIRECTION.get(lang, "ltr"),
    ], where
    assert visible_english(page, lang) == [], where
    assert page.evaluate(OVERFLOW, page.viewport_size["width"]) == [], where
    assert page.evaluate(CLIPPED) == [], where
    assert run_axe(page) == [], where


def low_end_is_on_the(page, name: str) -> str:
    """Tap the slider's right end: the value shows which end is "not at all"."""
    box = page.locator(f"#{name}").bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    value = page.locator(f"#{name}").input_value()
    return "right" if value == "0" else "left"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_client_checks_in_in_their_language(live_server, browser, lang):
    client_id, appt_id = client_in(live_server, lang)
    with phone_context(browser, **SMALL) as context:
        browser_sign_in(context, live_server, client_id)
        page = context.new_page()
        page.goto(f"{live_server.url}/check-in?appointment={appt_id}&phase=after")
        page.locator("#safe").wait_for()
        assert page.evaluate("document.documentElement.scrollHeight") <= 640
        check_page(page, lang, "check-in")
        ends = page.locator("#safe-ends span")
        not_at_all, completely = ends.nth(0).bounding_box(), ends.nth(1).bounding_box()
        rtl = DIRECTION.get(lang) == "rtl"
        assert (not_at_all["x"] > completely["x"]) == rtl  # "not at all" sits at the low end
        assert low_end_is_on_the(page, "safe") == ("right" if rtl else "left")
        move_sliders(page)
        page.locator("#checkin button[type=submit]").click()
        sent = translated(live_server, lang, "Thank you. Your check-in was sent.")
        page.get_by_text(sent).wait_for(timeout=10000)
        for path in ("/home", "/account"):
            page.goto(f"{live_server.url}{path}")
            check_page(page, lang, path)


def test_arabic_screenshots_for_review(live_server, browser):
    client_id, appt_id = client_in(live_server, "ar")
    SHOTS.mkdir(exist_ok=True)
    with phone_context(browser, **TALL) as context:
        browser_sign_in(context, live_server, client_id)
        page = context.new_page()
        page.goto(f"{live_server.url}/check-in?appointment={appt_id}&phase=after")
        page.locator("#safe").wait_for()
        page.screenshot(path=str(SHOTS / "ar-check-in.png"), full_page=True)
        move_sliders(page, (7, 8, 6))
        page.locator("#checkin button[type=submit]").click()
        page.get_by_text(
            translated(live_server, "ar", "Thank you. Your check-in was sent.")
        ).wait_for(timeout=10000)
        page.goto(f"{live_server.url}/my-check-ins")
        page.locator("svg").first.wait_for()
        assert page.evaluate("document.documentElement.dir") == "rtl"
        page.screenshot(path=str(SHOTS / "ar-history.png"), full_page=True)
        assert run_axe(page) == []
    assert (SHOTS / "ar-check-in.png").stat().st_size > 1000
    assert (SHOTS / "ar-history.png").stat().st_size > 1000


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_sign_in_and_offline_shell_follow_the_browser_language(live_server, browser, lang):
    with phone_context(browser, locale=lang, **SMALL) as context:
        page = context.new_page()
        for path in ("/signin", "/offline"):
            page.goto(f"{live_server.url}{path}")
            check_page(page, lang, path)
