"""Therapist schedules a weekly series in the browser, in their own zone; the pages pass axe."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.extensions import db
from app.models import Appointment, utcnow
from tests import factories
from tests.e2e.conftest import phone_context, run_axe
from tests.e2e.test_checkin import browser_sign_in


def test_therapist_schedules_a_series_and_pages_pass_axe(live_server, browser):
    with live_server.app.app_context():
        practice = factories.practice()
        therapist = factories.user(practice, "therapist", time_zone="America/Los_Angeles")
        factories.user(practice, "client", therapist=therapist, display_name="Kiri")
        db.session.commit()
        therapist_id = therapist.id
    day = (utcnow() + timedelta(days=9)).date()
    with phone_context(browser, viewport={"width": 360, "height": 740}) as context:
        browser_sign_in(context, live_server, therapist_id)
        page = context.new_page()
        page.goto(f"{live_server.url}/appointments")
        assert run_axe(page) == []
        page.get_by_label("Client").select_option(label="Kiri")
        page.get_by_label("Date").fill(day.isoformat())
        page.get_by_label("Start time").fill("09:30")
        page.get_by_label("Weekly, for how many weeks").fill("4")
        page.get_by_role("button", name="Schedule").last.click()
        page.get_by_text("4 appointments scheduled.").wait_for(timeout=10000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert run_axe(page) == []
        page.get_by_role("link", name="Edit or cancel").first.click()
        page.get_by_role("heading", name="Appointment with Kiri").wait_for(timeout=10000)
        assert run_axe(page) == []
    with live_server.app.app_context():
        rows = list(db.session.scalars(select(Appointment).order_by(Appointment.starts_at)))
        local = [r.starts_at.astimezone(ZoneInfo("America/Los_Angeles")) for r in rows]
        assert len(rows) == 4 and all((t.hour, t.minute) == (9, 30) for t in local)
