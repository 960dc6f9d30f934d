"""Issue 2 acceptance in a real Chromium on a phone viewport: the printed admin link to a client
signing in again with nothing typed, and the ceremonies a hostile or broken client would attempt."""

import contextlib
import json
import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect
from sqlalchemy import func, select
from webauthn.helpers import bytes_to_base64url

from app.auth import invites
from app.extensions import db
from app.models import Credential, User, utcnow
from tests import factories
from tests.e2e.conftest import add_authenticator, phone_context, run_axe

WAIT = 15_000
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"


def register(page, link: str, name: str | None = None) -> None:
    page.goto(link)
    if name is not None:
        page.get_by_label("Your name or a nickname").fill(name)
    page.get_by_role("button", name="Create my passkey").click()
    page.wait_for_url(lambda url: "/invite/" not in url, timeout=WAIT)


def session_role(page, server) -> str | None:
    res = page.request.get(f"{server.url}/api/session")
    return res.json().get("role") if res.ok else None


def expect_not_an_error_page(page) -> None:
    expect(page.locator("h1").first).to_be_visible(timeout=WAIT)
    expect(page.locator("h1").first).not_to_have_text("Sorry")


def create_invite(page, server, *, role_label: str | None, name: str) -> str:
    """Fill the invite form; return the link shown next to the QR code (checked to be that QR)."""
    page.goto(f"{server.url}/invites")
    if role_label:
        page.get_by_label("Account type").select_option(label=role_label)
    else:
        expect(page.get_by_label("Account type")).to_have_count(0)
    page.get_by_label("Name or nickname (optional)").fill(name)
    with page.expect_response(
        lambda r: r.url.endswith("/invites") and r.request.method == "POST"
    ) as r:
        page.get_by_role("button", name="Create invite link").click()
    expect(page.get_by_role("heading", name="Invite ready")).to_be_visible()
    qr = page.get_by_role("img", name="QR code of the invite link")
    expect(qr.locator("svg")).to_be_visible()
    link = page.get_by_role("textbox", name="Invite link").input_value()
    assert link.startswith(f"{server.url}/invite/")
    assert invites.qr_svg(link) in r.value.text()  # segno encodes exactly the link shown
    return link


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_admin_link_to_client_signing_in_again_with_nothing_typed(live_server, browser):
    server = live_server
    result = server.app.test_cli_runner().invoke(args=["attune", "init"])
    assert result.exit_code == 0, result.output
    admin_link = re.search(r"(http://\S+/invite/\S+)", result.output).group(1)
    assert admin_link.startswith(server.url)
    errors = []

    with phone_context(browser) as admin_ctx, phone_context(browser) as therapist_ctx:
        admin = admin_ctx.new_page()
        admin.on("pageerror", lambda e: errors.append(str(e)))
        add_authenticator(admin)
        admin.goto(admin_link)
        expect(admin.get_by_role("heading", name="Set up Attune for My practice")).to_be_visible()
        expect(admin.get_by_text("You are the practice admin")).to_be_visible()
        register(admin, admin_link, "Ada Admin")
        expect_not_an_error_page(admin)
        assert session_role(admin, server) == "admin"
        expect(admin.get_by_role("navigation").get_by_role("link", name="Invite")).to_be_visible()

        therapist_link = create_invite(admin, server, role_label="Therapist", name="Theo")

        therapist = therapist_ctx.new_page()
        therapist.on("pageerror", lambda e: errors.append(str(e)))
        add_authenticator(therapist)
        therapist.goto(therapist_link)
        expect(therapist.get_by_role("heading", name="Join My practice on Attune")).to_be_visible()
        expect(therapist.get_by_label("Your name or a nickname")).to_have_value("Theo")
        register(therapist, therapist_link)
        expect_not_an_error_page(therapist)
        assert session_role(therapist, server) == "therapist"

        admin.goto(f"{server.url}/invites")
        expect(admin.get_by_text("No open invites.")).to_be_visible()  # the invite is used up

        client_link = create_invite(therapist, server, role_label=None, name="")

    with phone_context(browser) as client_ctx:
        person = client_ctx.new_page()
        person.on("pageerror", lambda e: errors.append(str(e)))
        _, auth_id = add_authenticator(person)
        person.goto(client_link)
        expect(person.get_by_role("heading", name="Theo invited you to Attune")).to_be_visible()
        expect(person.get_by_text("No email, no phone number.")).to_be_visible()
        register(person, client_link, "Kim")
        expect_not_an_error_page(person)
        assert session_role(person, server) == "client"
        expect(person.get_by_role("navigation").get_by_role("link", name="Invite")).to_have_count(0)

        # Chromium's virtual authenticator answers autofill (conditional UI) by itself, which a person
        # would not: switch autofill off here to test the button; test_conditional_ui covers autofill.
        client_ctx.add_init_script(NO_AUTOFILL)
        person.goto(f"{server.url}/account")
        person.get_by_role("button", name="Sign out", exact=True).click()
        expect(person.get_by_text("You are signed out.")).to_be_visible()
        assert session_role(person, server) is None
        expect(person.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
        person.get_by_role("button", name="Sign in with a passkey").click()
        person.wait_for_url(lambda url: "/signin" not in url, timeout=WAIT)
        expect_not_an_error_page(person)
        assert session_role(person, server) == "client"
        assert person.locator("input:not([type=hidden])").evaluate_all(
            "els => els.filter(e => e.value).length"
        ) in (0, 1)

    with server.app.app_context():
        kim = db.session.scalar(select(User).where(User.role == "client"))
        assert kim.display_name == "Kim"
        assert (
            db.session.scalar(select(Credential.sign_count).where(Credential.user_id == kim.id))
            >= 1
        )
        assert count(User) == 3 and count(Credential) == 3
    assert errors == []


def invite_token(server, role="therapist") -> str:
    with server.app.app_context():
        _, token = invites.create(practice=factories.practice(), role=role, now=utcnow())
        db.session.commit()
    return token


def capture(page, pattern: str) -> dict:
    """Let the request through, keeping its body, CSRF header and the cookie it was sent with."""
    seen = {}

    def handler(route):
        seen["body"] = route.request.post_data
        seen["csrf"] = route.request.headers.get("x-csrftoken")
        seen["cookies"] = {c["name"]: c["value"] for c in page.context.cookies()}
        route.continue_()

    page.route(pattern, handler)
    return seen


def replay(server, seen: dict, path: str):
    """Send the captured request again from another client holding the very same cookie."""
    client = server.app.test_client()
    for name, value in seen["cookies"].items():
        client.set_cookie(name, value)
    return client.post(
        path,
        data=seen["body"],
        headers={"X-CSRFToken": seen["csrf"], "Content-Type": "application/json"},
    )


def test_replayed_registration_and_sign_in_responses_are_refused(live_server, phone):
    server = live_server
    token = invite_token(server)
    page = phone.new_page()
    add_authenticator(page)
    registration = capture(page, "**/api/invite/*/verify")
    register(page, f"{server.url}/invite/{token}", "Theo")
    res = replay(server, registration, f"/api/invite/{token}/verify")
    assert res.status_code in (400, 410), res.data
    with server.app.app_context():
        assert count(User) == 1 and count(Credential) == 1

    phone.add_init_script(NO_AUTOFILL)  # the button's ceremony is the one captured and replayed
    page.goto(f"{server.url}/account")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    signin = capture(page, "**/api/auth/signin/verify")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(lambda url: "/signin" not in url, timeout=WAIT)
    res = replay(server, signin, "/api/auth/signin/verify")
    assert res.status_code == 400
    assert "no longer valid" in res.get_json()["error"]


def test_user_verification_off_is_refused(live_server, phone):
    server = live_server
    page = phone.new_page()
    cdp, auth_id = add_authenticator(page, user_verified=False)
    page.goto(f"{server.url}/invite/{invite_token(server)}")
    page.get_by_label("Your name or a nickname").fill("Theo")
    page.get_by_role("button", name="Create my passkey").click()
    expect(page.locator("#register-status")).to_contain_text(
        "open this link in your phone", timeout=WAIT
    )
    with server.app.app_context():
        assert count(User) == 0

    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": auth_id, "isUserVerified": True})
    page.get_by_role("button", name="Create my passkey").click()
    page.wait_for_url(lambda url: "/invite/" not in url, timeout=WAIT)
    # The virtual authenticator answers autofill by itself and could race the button: test the button.
    phone.add_init_script(NO_AUTOFILL)
    page.goto(f"{server.url}/account")
    page.get_by_role("button", name="Sign out", exact=True).click()
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": auth_id, "isUserVerified": False})
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#signin-status")).to_contain_text("passkey was not used", timeout=WAIT)
    assert session_role(page, server) is None


def test_credential_of_b_cannot_sign_in_as_a(live_server, browser):
    server = live_server
    with phone_context(browser) as a_ctx, phone_context(browser) as b_ctx:
        a, b = a_ctx.new_page(), b_ctx.new_page()
        add_authenticator(a)
        add_authenticator(b)
        register(a, f"{server.url}/invite/{invite_token(server)}", "Alice")
        register(b, f"{server.url}/invite/{invite_token(server)}", "Bob")
        with server.app.app_context():
            alice = db.session.scalar(select(User).where(User.display_name == "Alice"))
            alice_handle = bytes_to_base64url(alice.webauthn_user_id)

        def as_alice(route):
            body = json.loads(route.request.post_data)
            body["credential"]["response"]["userHandle"] = alice_handle
            route.continue_(post_data=json.dumps(body))

        # Before signing out: the sign-in page's autofill may finish a ceremony on its own.
        b.route("**/api/auth/signin/verify", as_alice)
        b.goto(f"{server.url}/account")
        b.get_by_role("button", name="Sign out", exact=True).click()
        b.get_by_role("button", name="Sign in with a passkey").click()
        expect(b.locator("#signin-status")).to_contain_text("not registered", timeout=WAIT)
        assert session_role(b, server) is None


def signed_in_cookie(server, owner) -> dict:
    client = server.app.test_client()
    factories.sign_in(client, owner)
    name = server.app.config["SESSION_COOKIE_NAME"]
    return {"name": name, "value": client.get_cookie(name).value, "url": server.url}


LAYOUT = """() => {
  const out = [];
  if (document.documentElement.scrollWidth > window.innerWidth) out.push('scrolls sideways');
  for (const el of document.querySelectorAll('main .btn, main button, main input:not([type=hidden]), main select')) {
    const box = el.getBoundingClientRect();
    if (box.width && box.height < 44 && !el.classList.contains('visually-hidden'))
      out.push(`${el.tagName} "${(el.textContent || el.id).trim()}" is ${box.height}px tall`);
  }
  return out;
}"""


def layout_problems(page) -> list[str]:
    """At 360 px: nothing scrolls sideways and every control is a 44 px tap target."""
    return page.evaluate(LAYOUT)


def test_pages_of_this_issue_have_no_axe_violations(live_server, browser):
    server = live_server
    with server.app.app_context():
        practice = factories.practice(name="Riverside")
        therapist = factories.user(practice, "therapist", display_name="Theo")
        factories.credential(therapist)
        _, token = invites.create(
            practice=practice,
            role="client",
            now=utcnow(),
            created_by=therapist,
            therapist=therapist,
        )
        db.session.commit()
        cookie = signed_in_cookie(server, therapist)

    found = {}
    with phone_context(browser, viewport={"width": 360, "height": 640}) as ctx:
        page = ctx.new_page()
        for name, path in [
            ("welcome", "/"),
            ("sign-in", "/signin"),
            ("invite landing", f"/invite/{token}"),
            ("invalid invite", "/invite/not-valid"),
            ("offline", "/offline"),
            ("error page", "/no-such-page"),
        ]:
            page.goto(server.url + path)
            found[name] = run_axe(page) + layout_problems(page)
        assert page.get_by_role("heading", name="Sorry").is_visible()

        ctx.add_cookies([cookie])
        page.goto(f"{server.url}/invites")
        found["invites"] = run_axe(page) + layout_problems(page)
        page.get_by_role("button", name="Create invite link").click()
        expect(page.get_by_role("heading", name="Invite ready")).to_be_visible()
        found["invite created with QR"] = run_axe(page) + layout_problems(page)
        page.goto(f"{server.url}/account")
        found["account"] = run_axe(page) + layout_problems(page)
        page.get_by_role("button", name="Remove").click()
        expect(page.get_by_role("heading", name="Remove your last passkey?")).to_be_visible()
        found["remove-last warning"] = run_axe(page) + layout_problems(page)
    assert {name: v for name, v in found.items() if v} == {}


def test_conditional_ui_signs_in_with_nothing_typed_and_never_races_the_button(live_server, phone):
    """Autofill signs in by itself (the virtual authenticator picks the passkey), and a click on the
    button at any moment during autofill still ends signed in as the right person."""
    server = live_server
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    add_authenticator(page)
    register(page, f"{server.url}/invite/{invite_token(server)}", "Theo")
    assert page.evaluate("PublicKeyCredential.isConditionalMediationAvailable()") is True
    for attempt in range(4):
        phone.clear_cookies()
        page.goto(f"{server.url}/signin")
        if attempt:
            page.wait_for_timeout(attempt * 15 - 15)  # 0, 15 and 30 ms into autofill
            with contextlib.suppress(PlaywrightError):  # autofill may have navigated away already
                page.evaluate("document.getElementById('signin-button')?.click()")
        page.wait_for_url(lambda url: "/signin" not in url, timeout=WAIT)
        expect_not_an_error_page(page)
        assert session_role(page, server) == "therapist", f"attempt {attempt}"
    assert errors == []


@pytest.mark.parametrize("script", ["signin", "invite"])
def test_a_tap_before_the_ceremony_script_is_wired_is_not_lost(live_server, phone, script):
    """On a slow phone the button shows before its module runs: it stays disabled until then, so a
    tap is never swallowed by a page that looks ready."""
    page = phone.new_page()
    held = []
    pattern = re.compile(rf".*/static/js/{script}(\.[0-9a-f]+)?\.js$")
    page.route(pattern, lambda route: held.append(route))
    url = f"/invite/{invite_token(live_server)}" if script == "invite" else "/signin"
    page.goto(live_server.url + url, wait_until="commit")  # a held module delays DOMContentLoaded
    button = page.locator("#signin-button" if script == "signin" else "#register-button")
    button.wait_for(state="attached")
    expect(button).to_be_disabled()
    for _ in range(
        WAIT // 50
    ):  # until the module request reaches the route (a busy machine is slow)
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the script was not held back"
    for route in held:
        route.continue_()
    page.unroute(pattern)
    expect(button).to_be_enabled(timeout=WAIT)
