"""What a phone downloads to open the check-in page (DESIGN 7, issue 12): the page and everything it
pulls in before the user can answer, in bytes on the wire, and any URL of another origin. Shared by
tests/test_page_budget.py and the bench's page-weight figure (bench/weight.py)."""

import gzip
import os
import re
from contextlib import contextmanager
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from tests.support import live_server as live

BUDGET = 12 * 1024
PAGE = "/check-in"
# `import x from "./a.js"`, `import "./a.js"`, `export { y } from "./a.js"`, at the start of a line.
STATIC_IMPORT = re.compile(
    r"""^\s*(?:import|export)\s+(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']""", re.M
)
CSS_URL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])([^"')\s]+)""")
ASSET_ATTRS = {"src", "href", "srcset", "poster", "data", "action", "formaction"}


class Assets(HTMLParser):
    """Collect what the HTML makes the browser fetch, and every URL-valued attribute."""

    def __init__(self):
        super().__init__()
        self.fetched: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.urls += [v for k, v in attrs if k in ASSET_ATTRS and v]
        if tag == "link" and "stylesheet" in (a.get("rel") or "").split() and a.get("href"):
            self.fetched.append(a["href"])
        if tag == "script" and a.get("src"):
            self.fetched.append(a["src"])


def third_party(url: str, base: str) -> bool:
    absolute = urlsplit(urljoin(base, url))
    return absolute.scheme in ("http", "https") and absolute.netloc != urlsplit(base).netloc


def first_load(fetch) -> tuple[dict[str, int], list[str]]:
    """({path: bytes on the wire} for the page and everything it pulls in, [third-party URLs]).

    `fetch(path)` answers (status, headers, body as sent); gzip bodies are unpacked to be scanned.
    """
    base = "http://localhost" + PAGE
    sizes: dict[str, int] = {}
    foreign: list[str] = []
    todo = [base]
    while todo:
        url = todo.pop()
        if third_party(url, base):
            foreign.append(url)
            continue
        path = urlsplit(url).path
        if path in sizes:
            continue
        status, headers, body = fetch(path)
        assert status == 200, f"{path} answered {status}"
        sizes[path] = len(body)
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        text = body.decode()
        if path == PAGE:
            parser = Assets()
            parser.feed(text)
            foreign += [u for u in parser.urls if third_party(u, base)]
            found = parser.fetched
        else:
            found = STATIC_IMPORT.findall(text) if path.endswith(".js") else []
            found += CSS_URL.findall(text) if path.endswith(".css") else []
        todo += [urljoin(url, u) for u in found if not u.startswith("data:")]
    return sizes, foreign


def over_the_wire(port: int, cookie: str | None = None):
    """`fetch` for first_load: the real server, as a browser asks (gzip accepted, maybe signed in)."""

    def fetch(path):
        headers = {"Accept-Encoding": "gzip"}
        if cookie:
            headers["Cookie"] = cookie
        status, response_headers, body = live.request(port, "GET", path, headers=headers)
        fetch.headers[path] = response_headers
        return status, response_headers, body

    fetch.headers = {}
    return fetch


@contextmanager
def served(instance: str, secret: str, *, host: str = "127.0.0.1", limits: bool = True):
    """Attune under gunicorn as bin/serve runs it (one worker), on a migrated SQLite file in
    `instance`: yields (port, a signed-in client)."""
    url = "sqlite:///" + os.path.join(instance, "attune.db")
    port = live.free_port()
    origin = f"http://{host}:{port}"
    live.migrate(url)
    client = live.signed_in_client(url, secret, origin)
    env = {
        "DATABASE_URL": url,
        "ORIGIN": origin,
        "SECRET_KEY": secret,
        "RATELIMIT_ENABLED": "1" if limits else "0",
        "ATTUNE_INSTANCE": instance,
    }
    server = live.Server(env, port, workers=1, log_path=os.path.join(instance, "gunicorn.log"))
    server.start(timeout=120)
    try:
        yield port, client
    finally:
        server.stop()
