"""The recovery code in a real Chromium with the virtual authenticator (SECURITY 29, issue 21.2): a client
saves a code in Settings, loses the phone, and on another phone makes a new passkey with the code alone,
no staff link and no hold, seeing everything recorded before; the code then works no more."""

import secrets
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import CheckIn, User, utcnow
from tests.e2e.conftest import add_authenticator, phone_context, run_axe
from tests.e2e.test_recovery import NO_AUTOFILL, register, seed

WAIT = 15_000
OLD_NOTE = "before-the-lost-phone-" + secrets.token_hex(3)


def add_old_check_in(server, therapist_id: int) -> None:
    with server.app.app_context():
        person = db.session.scalar(select(User).where(User.role == "client"))
        at = utcnow() - timedelta(days=3)
        db.session.add(
            CheckIn(
                client_id=person.id,
                therapist_id=therapist_id,
                phase="after",
                safe=6,
                heard=7,
                understood=8,
                comment=OLD_NOTE,
                idempotency_key=secrets.token_hex(8),
                body_hash="x" * 64,
                created_at=at,
                received_at=at,
            )
        )
        db.session.commit()


def use_code(page, server, code: str) -> None:
    add_authenticator(page)
    page.goto(f"{server.url}/signin")
    page.get_by_role("link", name="Use your recovery code").click()
    assert run_axe(page) == []
    page.get_by_label("Recovery code").fill(code)
    page.get_by_role("button", name="Create my passkey").click()


def test_security_29_a_saved_code_brings_the_client_back_on_another_phone(browser, live_server):
    therapist_id, link = seed(live_server)
    with (
        phone_context(browser) as lost,
        phone_context(browser) as found,
        phone_context(browser) as third,
    ):
        old = lost.new_page()
        register(old, link)
        add_old_check_in(live_server, therapist_id)
        old.goto(f"{live_server.url}/account#recovery-code")
        old.get_by_role("button", name="Make my recovery code").click()
        code = old.locator("#the-code").inner_text(timeout=WAIT).strip()
        assert len(code) == 29 and code.count("-") == 5
        assert run_axe(old) == []

        for context in (found, third):
            context.add_init_script(NO_AUTOFILL)
        new = found.new_page()
        use_code(new, live_server, code)
        new.wait_for_url(lambda url: "/recover" not in url, timeout=WAIT)
        new.goto(f"{live_server.url}/my-check-ins")
        expect(new.get_by_text(OLD_NOTE)).to_be_visible(timeout=WAIT)  # no hold, no lock

        again = third.new_page()
        use_code(again, live_server, code)
        status = again.locator("#recover-status")
        expect(status).to_contain_text("not valid, or it was used already", timeout=WAIT)
        assert "/recover" in again.url
