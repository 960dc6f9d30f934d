"""A therapist on a phone and on a desktop: sees a seeded drop, opens the client, marks it talked about."""

from contextlib import contextmanager
from datetime import timedelta

import pytest

from app.auth import sessions
from app.extensions import db
from app.models import Alert, User, utcnow
from tests.dashboard.helpers import appointment, team, weekly_history
from tests.e2e.conftest import phone_context, run_axe

DESKTOP = {"viewport": {"width": 1280, "height": 800}}


@contextmanager
def desktop_context(browser):
    context = browser.new_context(**DESKTOP)
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


def signed_in(context, live_server, user_id: int) -> None:
    """Give the browser a real session cookie for a user (the passkey ceremony is tested elsewhere)."""
    app = live_server.app
    with app.app_context():
        token = sessions.start(db.session.get(User, user_id), now=utcnow())
        db.session.commit()
    value = app.session_interface.get_signing_serializer(app).dumps(
        {"sid": token, "_permanent": True}
    )
    context.add_cookies(
        [{"name": app.config["SESSION_COOKIE_NAME"], "value": value, "url": live_server.url}]
    )


def seed(live_server):
    with live_server.app.app_context():
        p, t1, t2, c1, c2, admin = team()
        now = utcnow()
        weekly_history(c1, t1, [(9, 9, 9), (9, 9, 9), (9, 7, 9)], end=now - timedelta(hours=2))
        appointment(t1, c1, now + timedelta(days=2))
        db.session.commit()
        return t1.id, (c1.id, c1.display_name), admin.id


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_therapist_acts_on_a_drop_alert(browser, live_server, viewport):
    t1, (client_id, client_name), _ = seed(live_server)
    make = phone_context if viewport == "phone" else (lambda b: desktop_context(b))
    with make(browser) as context:
        signed_in(context, live_server, t1)
        page = context.new_page()
        page.goto(f"{live_server.url}/")
        page.wait_for_url("**/dashboard", timeout=15_000)
        alert = page.locator("li.alert", has_text="felt less heard than last time (9 → 7)")
        alert.wait_for(timeout=15_000)
        assert page.locator("svg[role=img] circle").count() >= 3
        assert run_axe(page) == []

        alert.get_by_role("link", name=client_name).click()
        page.wait_for_url(f"**/clients/{client_id}", timeout=15_000)
        assert page.locator("svg[role=img] circle").count() == 9  # 3 sessions x 3 items
        assert run_axe(page) == []

        page.get_by_role("button", name="Talked about it").click()
        page.locator(".talked").wait_for(timeout=15_000)
        assert run_axe(page) == []
        page.goto(f"{live_server.url}/dashboard")
        page.get_by_text("Nothing needs attention right now.").wait_for(timeout=15_000)
    with live_server.app.app_context():
        assert db.session.query(Alert).filter(Alert.acknowledged_at.is_not(None)).count() == 1


def test_admin_pages_pass_axe_on_a_phone(browser, live_server):
    _, _, admin = seed(live_server)
    with phone_context(browser) as context:
        signed_in(context, live_server, admin)
        page = context.new_page()
        for path in ("/admin", "/admin/therapists", "/admin/settings", "/admin/audit"):
            page.goto(f"{live_server.url}{path}")
            page.locator("h1").wait_for(timeout=15_000)
            assert run_axe(page) == [], path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390


def test_deactivate_from_the_therapists_page(browser, live_server):
    t1, _, admin = seed(live_server)
    with desktop_context(browser) as context:
        signed_in(context, live_server, admin)
        page = context.new_page()
        page.on("dialog", lambda d: d.accept())
        page.goto(f"{live_server.url}/admin/therapists")
        page.locator(f"li[data-user='{t1}']").get_by_role("button", name="Deactivate").click()
        # The row, not the one-time flash message: a reload by the service worker would drop that.
        page.locator(f"li[data-user='{t1}']").get_by_text("deactivated").wait_for(timeout=15_000)
    with live_server.app.app_context():
        assert not db.session.get(User, t1).active
