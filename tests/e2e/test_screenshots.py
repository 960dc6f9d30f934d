"""Screenshots for reviewers (issue 11, acceptance): the therapist's dashboard and client page and the
client's history, as a 390x844 phone shows them, saved into the git-ignored screenshots/ folder.
(Sign-up, "two more things", home and check-in are saved by tests/e2e/test_onboarding.py.)"""

from datetime import timedelta

from app.extensions import db
from app.models import User, utcnow
from tests.dashboard.helpers import check_in
from tests.e2e.conftest import phone_context
from tests.e2e.test_dashboard import seed, signed_in
from tests.e2e.test_onboarding import SCREENSHOTS, shoot


def test_screenshots_of_dashboard_client_page_and_history_at_390x844(browser, live_server):
    therapist_id, (client_id, client_name), _ = seed(live_server)
    with live_server.app.app_context():
        client, therapist = db.session.get(User, client_id), db.session.get(User, therapist_id)
        # A before-check-in too, so the history shows both series.
        check_in(client, therapist, (8, 8, 9), at=utcnow() - timedelta(days=1), phase="before")
        db.session.commit()
    shots = {
        "dashboard": (therapist_id, "/dashboard"),
        "client-page": (therapist_id, f"/clients/{client_id}"),
        "history": (client_id, "/my-check-ins"),
    }
    for name, (user_id, path) in shots.items():
        with phone_context(browser) as context:
            signed_in(context, live_server, user_id)
            page = context.new_page()
            page.goto(f"{live_server.url}{path}")
            page.locator("h1").first.wait_for()
            assert page.viewport_size == {"width": 390, "height": 844}
            if name == "client-page":
                assert client_name in page.locator("h1").first.inner_text()
            shoot(page, name)
            assert (SCREENSHOTS / f"{name}.png").stat().st_size > 1000, name
