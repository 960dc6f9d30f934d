"""The check-in page is tiny (DESIGN 7): first load at most 12 KB on the wire, nothing from another origin.

First load is the HTML plus everything it pulls in before the user can answer: stylesheets, scripts and the
modules they import statically (`import ... from "./x.js"`), followed transitively. It is measured as the
real server sends it: gunicorn started the way `bin/serve` starts it, asked with `Accept-Encoding: gzip`,
counting the body bytes each response puts on the wire (a slow phone on a bad network pays for every one).
Static files must come with content-hashed names and a year-long, immutable cache lifetime, so a second
visit asks for nothing (tests/e2e/test_pwa.py checks that in a browser with the service worker).
"""

import re
from pathlib import Path

import pytest

from app.core import assets
from tests.support import live_server as live
from tests.support import page_weight
from tests.support.page_weight import (
    BUDGET,
    PAGE,
    STATIC_IMPORT,
    first_load,
    over_the_wire,
    third_party,
)


def in_process(client):
    """`fetch` for first_load through Flask's test client (what the app itself emits)."""

    def fetch(path):
        response = client.get(path)
        body = response.get_data()
        response.close()
        return response.status_code, response.headers, body

    return fetch


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Attune under gunicorn as bin/serve runs it, on a migrated SQLite file, and a signed-in client."""
    instance = str(tmp_path_factory.mktemp("served"))
    with page_weight.served(instance, "budget-secret", host="localhost", limits=False) as running:
        yield running


def _report(sizes: dict[str, int]) -> str:
    lines = [f"{path:<32} {size:>6} B" for path, size in sorted(sizes.items())]
    return "\n".join(lines + [f"{'total':<32} {sum(sizes.values()):>6} B (budget {BUDGET} B)"])


@pytest.mark.parametrize("signed_in", [False, True], ids=["shell", "signed-in"])
def test_check_in_first_load_fits_in_12_kb_on_the_wire(served, signed_in):
    port, client = served
    fetch = over_the_wire(port, client.header() if signed_in else None)
    sizes, _ = first_load(fetch)
    names = {re.sub(r"\.[0-9a-f]{12}(\.\w+)$", r"\1", path) for path in sizes}
    assert "/static/js/checkin.js" in names and "/static/css/checkin.css" in names, _report(sizes)
    # checkin.js imports outbox.js, which imports the queue shared with the service worker.
    assert "/static/js/outbox-core.js" in names, "static imports were not followed"
    assert sum(sizes.values()) <= BUDGET, _report(sizes)
    for path, headers in fetch.headers.items():
        assert headers.get("Content-Encoding") == "gzip", f"{path} was sent uncompressed"
        assert "Accept-Encoding" in headers.get("Vary", ""), path


def test_static_files_have_hashed_names_and_a_year_long_cache_life(served):
    port, _ = served
    fetch = over_the_wire(port)
    sizes, _ = first_load(fetch)
    assets = [path for path in sizes if path != PAGE]
    assert len(assets) >= 5, _report(sizes)
    for path in assets:
        assert re.search(r"\.[0-9a-f]{12}\.(js|css)$", path), f"{path}: no content hash in the name"
        cache = fetch.headers[path]["Cache-Control"]
        assert "immutable" in cache and int(re.search(r"max-age=(\d+)", cache)[1]) >= 365 * 86400
        assert fetch.headers[path]["X-Content-Type-Options"] == "nosniff", path
    # The original names still answer (the web manifest's icons), but must be revalidated.
    status, headers, _ = live.request(port, "GET", "/static/js/checkin.js")
    assert status == 200 and "immutable" not in headers["Cache-Control"]


def test_a_hashed_module_imports_hashed_modules(served):
    """ES modules import by relative URL: a hashed copy must name its imports' hashed copies."""
    port, _ = served
    sizes, _ = first_load(over_the_wire(port))
    checkin = next(p for p in sizes if "/js/checkin." in p)
    _, _, body = live.request(port, "GET", checkin)
    imports = STATIC_IMPORT.findall(body.decode())
    assert imports and all(re.fullmatch(r"\./[\w-]+\.[0-9a-f]{12}\.js", i) for i in imports), (
        imports
    )


def test_service_worker_precaches_the_names_pages_use(served):
    port, _ = served
    sizes, _ = first_load(over_the_wire(port))
    status, headers, body = live.request(port, "GET", "/sw.js")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    source = body.decode()
    for path in sizes:
        if path != PAGE:
            assert f'"{path}"' in source, f"{path} is not in the service worker's precache list"
    assert re.search(r'importScripts\("/static/js/outbox-core\.[0-9a-f]{12}\.js"\)', source)


def test_check_in_page_references_no_third_party_origin(client):
    sizes, foreign = first_load(in_process(client))
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
    assert third_party("https://cdn.example.com/x.js", "http://localhost/check-in")
    assert third_party("//cdn.example.com/x.js", "http://localhost/check-in")
    assert not third_party("/static/js/app.js", "http://localhost/check-in")


def test_changing_a_module_renames_every_module_that_imports_it(tmp_path):
    """A hashed name must change with anything it pulls in, or phones keep the old import forever."""
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    (static / "js" / "api.js").write_text("export const v = 1;\n")
    (static / "js" / "page.js").write_text(
        'import { v } from "./api.js";\n' + "console.log(v);\n" * 40
    )
    (static / "js" / "other.js").write_text("export const w = 2;\n")
    _, first = assets.build(str(static), str(tmp_path / "builds"))
    (static / "js" / "api.js").write_text("export const v = 2;\n")
    root, second = assets.build(str(static), str(tmp_path / "builds"))
    assert first["js/api.js"] != second["js/api.js"]
    assert first["js/page.js"] != second["js/page.js"]
    assert first["js/other.js"] == second["js/other.js"]
    page = (Path(root) / second["js/page.js"]).read_text()
    assert f'from "./{second["js/api.js"].split("/")[-1]}"' in page
    assert (Path(root) / (second["js/page.js"] + ".gz")).exists()
