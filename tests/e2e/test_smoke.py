from app.auth import invites
from app.extensions import db
from app.models import Credential, User, utcnow
from tests import factories
from tests.e2e.conftest import add_authenticator, run_axe


def test_admin_registers_from_printed_link(live_server, phone):
    with live_server.app.app_context():
        practice = factories.practice()
        _, token = invites.create(practice=practice, role="admin", now=utcnow())
        db.session.commit()
    page = phone.new_page()
    add_authenticator(page)
    page.goto(f"{live_server.url}/invite/{token}")
    page.get_by_label("Your name or a nickname").fill("Ada Admin")
    page.get_by_role("button", name="Create my passkey").click()
    page.wait_for_url(lambda url: "/invite/" not in url, timeout=15000)
    assert page.request.get(f"{live_server.url}/api/session").json()["role"] == "admin"
    assert page.locator("h1").first.inner_text(timeout=15000) != "Sorry"
    with live_server.app.app_context():
        assert db.session.query(User).filter_by(role="admin").count() == 1
        assert db.session.query(Credential).count() == 1
    assert run_axe(page) == []
