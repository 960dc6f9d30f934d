"""Recovery and redirects in a real Chromium (issue 9.3 and 9.6; SECURITY.md 28 and 29): the old phone
sees the recovery banner, the recovered phone sees no earlier history, and a hostile `next` after sign-in
never leaves the site."""

import secrets
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from app.auth import ceremonies
from app.extensions import db
from app.models import CheckIn, User, utcnow
from tests import factories
from tests.auth.flows import make_invite
from tests.e2e.conftest import add_authenticator, phone_context, run_axe

WAIT = 15_000
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"
OLD_NOTE = "note-from-before-" + secrets.token_hex(3)


def register(page, link: str) -> None:
    add_authenticator(page)
    page.goto(link)
    name = page.get_by_label("Your name or a nickname")
    if name.count():
        name.fill("Kim")
    page.get_by_role("button", name="Create my passkey").click()
    page.wait_for_url(lambda url: "/invite/" not in url, timeout=WAIT)


def seed(server):
    with server.app.app_context():
        practice = factories.practice()
        therapist = factories.user(practice, "therapist")
        token = make_invite("client", practice=practice, created_by=therapist, therapist=therapist)
        return therapist.id, f"{server.url}/invite/{token}"


def test_security_29_old_phone_sees_the_banner_and_recovered_phone_no_history(browser, live_server):
    therapist_id, link = seed(live_server)
    with phone_context(browser) as old_ctx, phone_context(browser) as new_ctx:
        old = old_ctx.new_page()
        register(old, link)
        with live_server.app.app_context():
            person = db.session.scalar(select(User).where(User.role == "client"))
            at = utcnow() - timedelta(days=5)
            db.session.add(
                CheckIn(
                    client_id=person.id,
                    therapist_id=therapist_id,
                    phase="after",
                    safe=5,
                    heard=5,
                    understood=5,
                    comment=OLD_NOTE,
                    idempotency_key=secrets.token_hex(8),
                    body_hash="x" * 64,
                    created_at=at,
                    received_at=at,
                )
            )
            therapist = db.session.get(User, therapist_id)
            _, token = ceremonies.reinvite(therapist, person, now=utcnow(), days=7)
            db.session.commit()
        new = new_ctx.new_page()
        register(new, f"{live_server.url}/invite/{token}")
        new.wait_for_url("**/account/hold", timeout=WAIT)  # it starts on the hold page
        expect(new.get_by_role("button", name="Use my recovery code")).to_be_visible(timeout=WAIT)
        assert run_axe(new) == []
        new.goto(f"{live_server.url}/my-check-ins")
        expect(new.locator("h1").first).to_be_visible(timeout=WAIT)
        assert OLD_NOTE not in new.content()

        old.goto(f"{live_server.url}/home")
        banner = old.get_by_role("alert").filter(has_text="through a recovery link")
        expect(banner).to_contain_text("Not you? Remove it.", timeout=WAIT)
        old.goto(f"{live_server.url}/my-check-ins")
        expect(old.get_by_text(OLD_NOTE)).to_be_visible(timeout=WAIT)


def test_sign_in_with_a_tab_in_next_stays_on_the_site(browser, live_server):
    _, link = seed(live_server)
    with phone_context(browser) as context:
        page = context.new_page()
        register(page, link)
        context.add_init_script(NO_AUTOFILL)
        page.request.post(
            f"{live_server.url}/signout",
            headers={"X-CSRFToken": page.locator("meta[name=csrf-token]").get_attribute("content")},
        )
        page.goto(f"{live_server.url}/signin?next=/%09/evil.example/x")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(lambda url: "/signin" not in url, timeout=WAIT)
        assert page.url.startswith(live_server.url + "/"), page.url
