"""The check-in page is tiny (DESIGN 7): first load at most 12 KB gzip, and nothing from another origin.

First load is the HTML plus everything it pulls in before the user can answer: stylesheets, scripts and the
modules they import statically (`import ... from "./x.js"`), followed transitively. Each file is measured as
`gzip -9` would send it; a slow phone on a bad network pays for every byte.
"""

import gzip
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

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


def _third_party(url: str, base: str) -> bool:
    absolute = urlsplit(urljoin(base, url))
    return absolute.scheme in ("http", "https") and absolute.netloc != urlsplit(base).netloc


def first_load(client) -> tuple[dict[str, int], list[str]]:
    """({path: gzip bytes} for the page and everything it pulls in, [third-party URLs referenced])."""
    base = "http://localhost" + PAGE
    response = client.get(PAGE)
    assert response.status_code == 200
    html = response.get_data()
    sizes = {PAGE: len(gzip.compress(html, 9))}
    parser = Assets()
    parser.feed(html.decode())
    foreign = [u for u in parser.urls if _third_party(u, base)]
    todo = [urljoin(base, u) for u in parser.fetched]
    while todo:
        url = todo.pop()
        if _third_party(url, base):
            foreign.append(url)
            continue
        path = urlsplit(url).path
        if path in sizes:
            continue
        asset = client.get(path)
        assert asset.status_code == 200, f"{path} answered {asset.status_code}"
        body = asset.get_data()
        asset.close()
        sizes[path] = len(gzip.compress(body, 9))
        text = body.decode()
        found = STATIC_IMPORT.findall(text) if path.endswith(".js") else []
        found += CSS_URL.findall(text) if path.endswith(".css") else []
        todo += [urljoin(url, u) for u in found if not u.startswith("data:")]
    return sizes, foreign


def _report(sizes: dict[str, int]) -> str:
    lines = [f"{path:<32} {size:>6} B" for path, size in sorted(sizes.items())]
    return "\n".join(lines + [f"{'total':<32} {sum(sizes.values()):>6} B (budget {BUDGET} B)"])


def test_check_in_first_load_fits_in_12_kb_gzip(client):
    sizes, _ = first_load(client)
    assert "/static/js/checkin.js" in sizes and "/static/css/checkin.css" in sizes, _report(sizes)
    # checkin.js imports outbox.js, which imports the queue shared with the service worker.
    assert "/static/js/outbox-core.js" in sizes, "static imports were not followed"
    assert sum(sizes.values()) <= BUDGET, _report(sizes)


def test_check_in_page_references_no_third_party_origin(client):
    sizes, foreign = first_load(client)
    assert not foreign, foreign
    policy = client.get(PAGE).headers["Content-Security-Policy"]
    sources = {word for part in policy.split(";") for word in part.split()[1:]}
    assert sources <= {"'self'", "'none'", "data:"}, policy


def test_import_scanner_finds_the_forms_we_write():
    """The scanner must see every static form, or the budget silently skips a module."""
    js = (
        'import * as outbox from "./outbox.js";\n'
        "import { csrfToken, forgetCsrfToken } from './api.js';\n"
        'import "./side-effect.js";\n'
        'export { x } from "./re.js";\n'
        '  import("./lazy.js");\n'
    )
    assert STATIC_IMPORT.findall(js) == ["./outbox.js", "./api.js", "./side-effect.js", "./re.js"]
    assert _third_party("https://cdn.example.com/x.js", "http://localhost/check-in")
    assert _third_party("//cdn.example.com/x.js", "http://localhost/check-in")
    assert not _third_party("/static/js/app.js", "http://localhost/check-in")
