"""A note never travels in a URL (issue 9.5): the check-in form, submitted by the browser itself (JavaScript
off) or tapped before its script is ready, puts no check-in content in any requested URL, Referer or line of
the server's access log."""

import logging
import re
from urllib.parse import quote_plus

import pytest

from tests.e2e.conftest import phone_context
from tests.e2e.test_checkin import browser_sign_in, make_client_with_appointment, move_sliders, rows

NOTE = "leak-canary-note-93817"
SENT = "Thank you. Your check-in was sent."


class Recorder:
    """Every request the browser makes, with its Referer."""

    def __init__(self, context):
        self.seen: list[tuple[str, str]] = []
        context.on("request", lambda r: self.seen.append((r.url, r.headers.get("referer", ""))))

    def leaks(self) -> list[tuple[str, str]]:
        marks = (NOTE, quote_plus(NOTE), "comment=")
        return [(u, ref) for u, ref in self.seen if any(m in u or m in ref for m in marks)]


@pytest.fixture
def access_log(caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    return caplog


def write_note(page) -> None:
    page.get_by_text("Add a note (optional)").click()
    page.locator("#comment").fill(NOTE)


def test_without_javascript_the_form_posts_to_a_refusal(live_server, browser, access_log):
    client, appt = make_client_with_appointment(live_server)
    with phone_context(browser, java_script_enabled=False) as context:
        browser_sign_in(context, live_server, client)
        requests = Recorder(context)
        page = context.new_page()
        url = f"{live_server.url}/check-in?appointment={appt}&phase=after"
        page.goto(url)
        assert page.locator("#send").is_disabled()
        write_note(page)
        page.get_by_label("With my name").press("Enter")  # implicit submission: blocked
        page.locator("#send").click(force=True)  # a disabled button submits nothing
        assert page.url == url
        with page.expect_navigation() as nav:  # and should the browser submit it anyway:
            page.locator("#checkin").evaluate("(form) => form.requestSubmit()")
        response = nav.value
        assert response.request.method == "POST" and response.status == 400
        assert "JavaScript" in page.content() and NOTE not in page.content()
        page.get_by_role("link", name="Go to the start").click()  # a Referer from the refusal
        page.wait_for_load_state()
    assert not requests.leaks(), requests.leaks()
    assert any("/check-in" in u for u, _ in requests.seen)
    assert NOTE not in access_log.text and "POST /check-in " in access_log.text
    assert rows(live_server) == []


# The check-in script under its content-hashed name (app/core/assets.py) or its own.
CHECKIN_JS = re.compile(r".*/static/js/checkin(\.[0-9a-f]+)?\.js$")


def test_a_tap_before_the_script_is_ready_sends_nothing_anywhere(live_server, browser, access_log):
    client, _ = make_client_with_appointment(live_server)
    with phone_context(browser) as context:
        held = []
        context.route(CHECKIN_JS, lambda route: held.append(route))  # the slow phone's script
        requests = Recorder(context)
        browser_sign_in(context, live_server, client)
        page = context.new_page()
        url = f"{live_server.url}/check-in"
        page.goto(url, wait_until="commit")
        page.locator("#send").wait_for(state="attached")
        write_note(page)
        page.locator("#send").click(force=True)  # the early tap
        page.get_by_label("With my name").press("Enter")
        page.wait_for_timeout(500)
        assert page.url == url and not requests.leaks()
        assert held, "the script was not held back"
        for route in held:
            route.continue_()
        context.unroute(CHECKIN_JS)
        page.wait_for_function("() => !document.getElementById('send').disabled")
        move_sliders(page)
        page.get_by_role("button", name="Send").click()
        page.get_by_text(SENT).wait_for(timeout=10000)
    assert not requests.leaks(), requests.leaks()
    assert NOTE not in access_log.text
    assert [r.comment for r in rows(live_server)] == [NOTE]  # sent once, as JSON in a POST body
