"""Browser fixtures: one Debian Chromium per test session, a live app server per test,
Chromium's virtual authenticator for passkeys (testing-notes.md)."""

import os
import shutil
import threading
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from tests.conftest import need

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def playwright_instance():
    need(shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM), f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=False, args=ARGS
    )
    yield browser
    browser.close()


class LiveServer:
    def __init__(self, app_factory):
        self.server = make_server("127.0.0.1", 0, None, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://localhost:{self.port}"
        self.app = app_factory(
            ORIGIN=self.url, RP_ID="localhost", WTF_CSRF_ENABLED=True, SESSION_COOKIE_SECURE=False
        )
        self.server.app = self.app
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(make_app):
    server = LiveServer(make_app)
    yield server
    server.stop()


@contextmanager
def phone_context(browser, **extra):
    context = browser.new_context(**{**PHONE, **extra})
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def phone_profile(playwright_instance, tmp_path):
    """One phone that keeps its storage (IndexedDB, service worker) across sessions and users."""
    context = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=False, args=ARGS, **PHONE
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def phone(browser):
    with phone_context(browser) as context:
        yield context


def add_authenticator(page, *, user_verified: bool = True) -> tuple:
    """Attach a CTAP2 platform authenticator with resident keys and UV to `page`."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    auth_id = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": user_verified,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    return cdp, auth_id


def run_axe(page) -> list:
    """axe-core violations (WCAG 2.1 A/AA) on the current page; injected by evaluate under our CSP."""
    import axe_playwright_python

    path = os.path.join(os.path.dirname(axe_playwright_python.__file__), "axe.min.js")
    with open(path) as fh:
        page.evaluate(fh.read())
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]
