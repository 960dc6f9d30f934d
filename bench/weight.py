"""Figure (d): the check-in page's weight, as a phone meets it (issue 12).

Attune runs under gunicorn as `bin/serve` starts it (one worker, SQLite). Measured:
- first load: the page and everything it pulls in before the user can answer, in bytes on the wire,
  asked as the budget test asks (`Accept-Encoding: gzip`) and as Chromium asks (`gzip, deflate, br`),
  against the 12 KB budget (tests/support/page_weight.py, shared with tests/test_page_budget.py);
- third-party URLs the page references: none allowed;
- a repeat load of the installed shell in Debian's Chromium, signed in: every request that reached the
  server (the service worker's own network fetches included), split into shell files (none allowed:
  hashed names, answered from the worker's cache) and the rest (the page itself, fetched network-first
  so a language or a deploy shows at once, and the signed-in person's owner tag and CSRF token).

    .venv/bin/python -m bench.weight
"""

import gzip
import os
import re
import tempfile

import brotli

from tests.support import live_server as live
from tests.support.page_weight import BUDGET, PAGE, first_load, over_the_wire, served

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SHELL_FILE = re.compile(r"^/static/.*\.[0-9a-f]{12}\.\w+$|^/manifest\.json$")
WAIT = 20_000


def _as_chromium(port: int, wire: dict[str, int]):
    """`fetch` for first_load asking as Chromium does; each body's size on the wire goes to `wire`."""

    def fetch(path):
        headers = {"Accept-Encoding": "gzip, deflate, br"}
        status, answered, body = live.request(port, "GET", path, headers=headers)
        wire[path] = len(body)
        encoding = answered.get("Content-Encoding")
        if encoding == "br":
            body = brotli.decompress(body)
        elif encoding == "gzip":
            body = gzip.decompress(body)
        return status, {}, body

    return fetch


def first_loads(port: int) -> dict:
    """{'gzip': bytes, 'br': bytes, 'files': n, 'third_party': [urls]} of the first load."""
    sizes, foreign = first_load(over_the_wire(port))
    wire: dict[str, int] = {}
    first_load(_as_chromium(port, wire))
    return {
        "gzip": sum(sizes.values()),
        "br": sum(wire.values()),
        "files": len(sizes),
        "third_party": foreign,
    }


def repeat_load(port: int, person: live.Client) -> dict:
    """{'shell': [paths], 'other': [paths]} the server was asked for on a repeat load in Chromium."""
    from playwright.sync_api import sync_playwright  # the bench's only browser figure

    origin = f"http://127.0.0.1:{port}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context()
            context.add_cookies(
                [{"name": person.cookie_name, "value": person.cookie, "url": origin}]
            )
            page = context.new_page()
            page.goto(f"{origin}{PAGE}")
            page.wait_for_function(
                "() => navigator.serviceWorker.controller !== null", timeout=WAIT
            )
            page.wait_for_function(
                """async () => {
                  const cache = await caches.open((await caches.keys())[0]);
                  const have = (await cache.keys()).map((r) => new URL(r.url).pathname);
                  return have.some((p) => p.includes("/js/checkin."));
                }""",
                timeout=WAIT,
            )
            page.wait_for_load_state("networkidle")
            page.close()
            asked: list[str] = []

            def reached_server(response) -> None:
                if not response.from_service_worker:
                    asked.append(response.url.removeprefix(origin).split("?")[0])

            context.on("response", reached_server)
            again = context.new_page()
            again.goto(f"{origin}{PAGE}")
            again.wait_for_selector("#checkin", timeout=WAIT)
            again.wait_for_load_state("networkidle")
            context.close()
        finally:
            browser.close()
    return {
        "shell": [p for p in asked if SHELL_FILE.match(p)],
        "other": [p for p in asked if not SHELL_FILE.match(p)],
    }


def run() -> dict:
    with tempfile.TemporaryDirectory() as instance, served(instance, "weight-secret") as running:
        port, person = running
        return {**first_loads(port), "repeat": repeat_load(port, person), "budget": BUDGET}


if __name__ == "__main__":
    print(run())
