"""Installable PWA: manifest, service worker at the root, offline shell, and nothing signed-in cached."""

import re
import struct
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.auth import invites
from app.extensions import db
from app.models import utcnow
from tests import factories
from tests.e2e.conftest import ARGS, CHROMIUM, add_authenticator

ROOT = Path(__file__).resolve().parents[2]
WAIT = 15_000


def sw_shell() -> set[str]:
    """Every URL the service worker is allowed to cache (its precache list)."""
    source = (ROOT / "static" / "sw.js").read_text()
    return set(
        re.findall(r'"([^"]+)"', re.search(r"const SHELL = \[(.*?)\];", source, re.S).group(1))
    )


def unhashed(path: str) -> str:
    """/static/js/a.0123456789ab.js -> /static/js/a.js: the name in static/sw.js (app/core/assets.py)."""
    return re.sub(r"\.[0-9a-f]{12}(\.\w+)$", r"\1", path)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_manifest_fields_and_icons(client):
    res = client.get("/manifest.json")
    assert res.status_code == 200
    assert res.mimetype == "application/manifest+json"
    m = res.get_json()
    assert m["name"] and m["short_name"] and len(m["short_name"]) <= 12
    assert m["id"] == "/" and m["scope"] == "/"
    assert m["start_url"].startswith("/")
    assert m["display"] == "standalone"
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", m["theme_color"])
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", m["background_color"])
    sizes = {}
    for icon in m["icons"]:
        data = client.get(icon["src"]).data
        width, height = png_size(data)
        assert icon["sizes"] == f"{width}x{height}"
        sizes.setdefault(icon.get("purpose", "any"), set()).add(width)
    assert {192, 512} <= sizes["any"]
    assert 512 in sizes["maskable"]


def test_service_worker_is_served_from_the_root_uncached(client):
    res = client.get("/sw.js")
    assert res.status_code == 200
    assert res.mimetype in ("text/javascript", "application/javascript")
    assert res.headers["Cache-Control"] == "no-cache"
    assert res.headers.get("Service-Worker-Allowed") == "/"
    shell = sw_shell()
    assert "/offline" in shell
    assert not {"/", "/account", "/invites", "/api/session", "/signin"} & shell


@pytest.fixture
def installable_page(live_server, playwright_instance, tmp_path):
    context = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=False, args=ARGS
    )
    context.set_default_timeout(WAIT)
    try:
        yield context.pages[0] if context.pages else context.new_page()
    finally:
        context.close()


def installability_errors(page) -> list[str]:
    cdp = page.context.new_cdp_session(page)
    return [e["errorId"] for e in cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]]


def test_installable_in_a_persistent_context(live_server, installable_page):
    page = installable_page
    page.goto(f"{live_server.url}/")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=WAIT)
    scope = page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.scope)")
    assert scope == f"{live_server.url}/"
    cdp = page.context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == []
    assert installability_errors(page) == []

    # negative control: a page without a manifest link (another origin, so no service worker)
    page.route(
        "**/no-manifest",
        lambda route: route.fulfill(
            content_type="text/html", body="<!doctype html><title>x</title><p>no manifest</p>"
        ),
    )
    page.goto(f"http://127.0.0.1:{live_server.port}/no-manifest")
    assert "no-manifest" in installability_errors(page)


def sign_up(page, server, role="therapist", name="Theo"):
    with server.app.app_context():
        _, token = invites.create(practice=factories.practice(), role=role, now=utcnow())
        db.session.commit()
    add_authenticator(page)
    page.goto(f"{server.url}/invite/{token}")
    page.get_by_label("Your name or a nickname").fill(name)
    page.get_by_role("button", name="Create my passkey").click()
    page.wait_for_url(lambda url: "/invite/" not in url, timeout=WAIT)


def cached_entries(page) -> list[dict]:
    return page.evaluate(
        """async () => {
          const out = [];
          for (const name of await caches.keys()) {
            const cache = await caches.open(name);
            for (const request of await cache.keys()) {
              const response = await cache.match(request);
              out.push({url: request.url, body: await response.clone().text(),
                        type: response.headers.get('content-type') || ''});
            }
          }
          return out;
        }"""
    )


def test_offline_reload_of_a_shell_page_comes_from_the_service_worker(live_server, phone):
    page = phone.new_page()
    page.goto(f"{live_server.url}/offline")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=WAIT)
    page.wait_for_function(
        "() => caches.open('attune-v1').then(c => c.match('/offline')).then(Boolean)", timeout=WAIT
    )
    phone.set_offline(True)
    try:
        response = page.reload()
        assert response.from_service_worker is True
        expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
        response = page.goto(f"{live_server.url}/account")  # a signed-in page: never from cache
        assert response.from_service_worker is True
        expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    finally:
        phone.set_offline(False)


def test_no_signed_in_page_is_in_the_service_worker_cache(live_server, phone):
    page = phone.new_page()
    sign_up(page, live_server, name="Theodora Unique")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=WAIT)
    for path in ["/", "/account", "/invites", "/api/session", "/offline", "/signin"]:
        page.goto(f"{live_server.url}{path}")
    page.get_by_role("button", name="Create invite link").count()
    page.goto(f"{live_server.url}/invites")
    page.get_by_role("button", name="Create invite link").click()
    expect(page.get_by_role("heading", name="Invite ready")).to_be_visible()
    page.evaluate("navigator.serviceWorker.ready")
    entries = cached_entries(page)
    assert entries, "the service worker precached nothing"
    allowed = sw_shell()
    for entry in entries:
        path = entry["url"].removeprefix(live_server.url)
        assert unhashed(path) in allowed, path
        assert "Theodora Unique" not in entry["body"], path
        assert not re.search(r'name="csrf-token" content="[^"]+"', entry["body"]), path
        assert "application/json" not in entry["type"], path


def test_service_worker_installed_while_signed_in_caches_nothing_personal(live_server, phone):
    """The precache runs with the person's cookies when they are signed in at install time."""
    server = live_server
    with server.app.app_context():
        practice = factories.practice()
        therapist = factories.user(practice, "therapist", display_name="Theo")
        person = factories.user(
            practice, "client", therapist=therapist, display_name="Kimberly Unique"
        )
        client = server.app.test_client()
        factories.sign_in(client, person)
        name = server.app.config["SESSION_COOKIE_NAME"]
        phone.add_cookies(
            [{"name": name, "value": client.get_cookie(name).value, "url": server.url}]
        )
    page = phone.new_page()
    page.goto(f"{server.url}/account")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=WAIT)
    entries = cached_entries(page)
    assert any(e["url"].endswith("/offline") for e in entries)
    for entry in entries:
        path = entry["url"].removeprefix(server.url)
        assert unhashed(path) in sw_shell(), path
        assert "Kimberly Unique" not in entry["body"], path
        assert not re.search(r'name="csrf-token" content="[^"]+"', entry["body"]), path


def test_a_repeat_load_of_the_installed_shell_asks_the_server_for_no_static_file(
    live_server, phone
):
    """Issue 12: hashed shell files come from the service worker's cache, never revalidated."""
    asked: list[str] = []
    inner = live_server.app.wsgi_app

    def counting(environ, start_response):
        asked.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    live_server.app.wsgi_app = counting
    first = phone.new_page()
    first.goto(f"{live_server.url}/check-in")
    first.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=WAIT)
    served_sw = first.request.get(f"{live_server.url}/sw.js").text()
    shell = re.findall(r'"(/static/[^"]+)"', served_sw)
    assert shell and all(re.search(r"\.[0-9a-f]{12}\.\w+$", p) for p in shell), shell
    first.wait_for_function(
        """async (want) => {
          const cache = await caches.open((await caches.keys())[0]);
          const have = (await cache.keys()).map((r) => new URL(r.url).pathname);
          return want.every((p) => have.includes(p));
        }""",
        arg=[p for p in shell if p.endswith((".js", ".css"))],
        timeout=WAIT,
    )
    first.close()
    asked.clear()

    again = phone.new_page()
    again.goto(f"{live_server.url}/check-in")
    expect(again.locator("#checkin")).to_be_visible()
    again.wait_for_load_state("networkidle")
    assert again.evaluate("document.querySelectorAll('script[src]').length") > 0
    assert [p for p in asked if p.startswith("/static/")] == []
