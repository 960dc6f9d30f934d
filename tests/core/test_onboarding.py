"""The sign-up's 'two more things' screen and when the home page may offer skipped steps again."""

import pytest

from app.core.onboarding import offer_again_ready
from app.extensions import db
from app.models import utcnow
from tests import factories
from tests.dashboard.helpers import check_in


def test_a_client_is_offered_again_only_after_a_first_check_in(ctx):
    p = factories.practice()
    therapist = factories.user(p, "therapist")
    client = factories.user(p, "client", therapist=therapist)
    other = factories.user(p, "client", therapist=therapist)
    check_in(other, therapist, (8, 8, 8), at=utcnow(), phase="before")
    assert offer_again_ready(client) is False  # someone else's check-in does not count
    check_in(client, therapist, (8, 8, 8), at=utcnow(), phase="before", visibility="anonymous")
    assert offer_again_ready(client) is True
    assert offer_again_ready(therapist) is False  # staff: the page waits a day instead


@pytest.mark.parametrize(
    "role,headings",
    [("client", ["Two more things", "Turn on reminders"]), ("therapist", ["One more thing"])],
)
def test_sign_up_lands_on_the_steps_and_staff_get_no_reminders(app, client, role, headings):
    with app.app_context():
        person = factories.user(factories.practice(), role)
        factories.sign_in(client, person)
        db.session.remove()
    res = client.get("/?welcome=1")
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert all(h in html for h in headings)
    assert "Add Attune to your Home Screen" in html
    assert ('data-step="push"' in html) is (role == "client")
    assert client.get("/").status_code == 302  # without the flag: straight to their first screen
