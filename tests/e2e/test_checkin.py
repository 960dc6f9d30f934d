"""Browser acceptance for the check-in (issue 3): phone viewport, real passkey sign-in, sliders, axe, fit."""

from datetime import timedelta

from sqlalchemy import select

from app.auth import invites, sessions
from app.extensions import db
from app.models import Appointment, CheckIn, User, utcnow
from tests import factories
from tests.e2e.conftest import add_authenticator, phone_context, run_axe

SMALL = {"viewport": {"width": 360, "height": 640}}


def browser_sign_in(context, server, user) -> None:
    """Give the browser a real session cookie for `user` (the passkey ceremony is tested elsewhere)."""
    app = server.app
    with app.app_context():
        token = sessions.start(db.session.get(User, user), now=utcnow())
        db.session.commit()
        cookie = app.session_interface.get_signing_serializer(app).dumps({"sid": token})
    context.add_cookies(
        [{"name": app.config["SESSION_COOKIE_NAME"], "value": cookie, "url": server.url}]
    )


def make_client_with_appointment(server, *, ended_hours_ago: float = 1.0) -> tuple[int, int]:
    """A therapist, a client and an appointment that ended `ended_hours_ago`; returns (client, appt)."""
    with server.app.app_context():
        practice = factories.practice()
        therapist = factories.user(practice, "therapist")
        client = factories.user(practice, "client", therapist=therapist)
        appt = Appointment(
            therapist_id=therapist.id,
            client_id=client.id,
            starts_at=utcnow() - timedelta(hours=ended_hours_ago, minutes=50),
            duration_minutes=50,
        )
        db.session.add(appt)
        db.session.commit()
        return client.id, appt.id


def move_sliders(page, values=(8, 9, 7)) -> None:
    for name, value in zip(("safe", "heard", "understood"), values, strict=True):
        page.locator(f"#{name}").fill(str(value))


def rows(server) -> list[CheckIn]:
    with server.app.app_context():
        return list(db.session.scalars(select(CheckIn)))


def test_client_signs_in_opens_due_after_check_in_and_sends_it(live_server, phone):
    with live_server.app.app_context():
        practice = factories.practice()
        therapist = factories.user(practice, "therapist")
        _, token = invites.create(
            practice=practice, role="client", therapist=therapist, now=utcnow()
        )
        db.session.commit()
        therapist_id = therapist.id
    page = phone.new_page()
    add_authenticator(page)
    page.goto(f"{live_server.url}/invite/{token}")
    page.get_by_label("Your name or a nickname").fill("Casey")
    page.get_by_role("button", name="Create my passkey").click()
    page.wait_for_url(f"{live_server.url}/?welcome=1", timeout=15000)  # "two more things"
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"{live_server.url}/home**", timeout=15000)
    with live_server.app.app_context():
        client = db.session.scalar(select(User).where(User.role == "client"))
        client_id = client.id
        appt = Appointment(
            therapist_id=therapist_id,
            client_id=client_id,
            starts_at=utcnow() - timedelta(hours=2),
            duration_minutes=50,
        )
        db.session.add(appt)
        db.session.commit()
        appt_id = appt.id
    page.reload()
    page.locator("#due-button").click()
    page.wait_for_url(f"**/check-in?appointment={appt_id}&phase=after", timeout=10000)
    page.get_by_text("How heard did you feel today?").wait_for(timeout=5000)
    assert not page.get_by_text("Lately, how heard do you feel by your therapist?").is_visible()
    # An untouched slider blocks submit with a clear message.
    page.locator("#safe").fill("8")
    page.get_by_role("button", name="Send").click()
    assert "not answered: heard, understood" in page.locator("#checkin-status").inner_text()
    assert rows(live_server) == []
    page.locator("#heard").fill("9")
    page.locator("#understood").fill("6")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Your check-in was sent.").wait_for(timeout=10000)
    (row,) = rows(live_server)
    assert (row.appointment_id, row.phase, row.safe, row.heard, row.understood) == (
        appt_id,
        "after",
        8,
        9,
        6,
    )
    assert (row.client_id, row.therapist_id, row.visibility) == (client_id, therapist_id, "named")


def test_keyboard_moves_a_slider_and_shows_the_number(live_server, phone):
    client_id, appt_id = make_client_with_appointment(live_server)
    browser_sign_in(phone, live_server, client_id)
    page = phone.new_page()
    page.goto(f"{live_server.url}/check-in?appointment={appt_id}&phase=after")
    safe = page.locator("#safe")
    assert safe.get_attribute("aria-valuetext") == "not answered yet"
    assert page.locator("#safe-value").inner_text() == "–"
    safe.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('#safe-value').textContent === '6'", timeout=5000
    )
    assert safe.get_attribute("aria-valuetext") == "6 of 10"
    # A tap right on the middle changes no value (no input event) but is still an answer.
    page.locator("#heard").tap()
    page.wait_for_function(
        "() => document.querySelector('#heard-value').textContent === '5'", timeout=5000
    )


def test_check_in_page_fits_360x640_with_44px_targets_and_passes_axe(live_server, browser):
    client_id, appt_id = make_client_with_appointment(live_server)
    with phone_context(browser, **SMALL) as context:
        browser_sign_in(context, live_server, client_id)
        page = context.new_page()
        for phase in ("before", "after"):
            page.goto(f"{live_server.url}/check-in?appointment={appt_id}&phase={phase}")
            height = page.evaluate("document.documentElement.scrollHeight")
            assert height <= 640, f"{phase}: {height}px"
            small = page.evaluate(
                """() => [...document.querySelectorAll(
                     '#checkin input[type=range], #checkin button, #checkin summary, #checkin label.choice')]
                   .map(el => [el.id || el.textContent.trim(), el.getBoundingClientRect().height])
                   .filter(([, h]) => h < 44)"""
            )
            assert small == []
            assert run_axe(page) == []
        # The thank-you state is accessible too.
        move_sliders(page)
        page.get_by_role("button", name="Send").click()
        page.get_by_text("Your check-in was sent.").wait_for(timeout=10000)
        assert run_axe(page) == []


def test_home_and_history_pass_axe(live_server, phone):
    client_id, appt_id = make_client_with_appointment(live_server)
    browser_sign_in(phone, live_server, client_id)
    page = phone.new_page()
    page.goto(f"{live_server.url}/")
    page.wait_for_url("**/home", timeout=10000)
    assert page.locator("#due-button").is_visible()
    assert run_axe(page) == []
    page.locator("#due-button").click()
    move_sliders(page, (9, 4, 10))
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Your check-in was sent.").wait_for(timeout=10000)
    page.goto(f"{live_server.url}/my-check-ins")
    page.locator("svg").first.wait_for(timeout=5000)
    page.get_by_text("The numbers as a table").click()
    assert run_axe(page) == []
    page.goto(f"{live_server.url}/home")
    assert page.locator("#unscheduled").is_visible()
    assert run_axe(page) == []
