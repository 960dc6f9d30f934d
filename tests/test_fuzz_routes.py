"""Issue 10.1 and SECURITY 15: every rule in `app.url_map`, walked (a new route is fuzzed without a line
here), with every method it allows and as every role, gets hostile path parameters, query strings, form
fields and JSON bodies from Hypothesis. Whatever comes in: no 5xx, no exception that only the last-resort
error handler caught, no row changed by a refused (4xx) request, and every refusal names the problem (a
JSON `error`, or a message on the page). Runs on SQLite and, with ATTUNE_TEST_DB=postgres, on PostgreSQL.

The field names and valid values a route expects come from the access matrix's `body_for` (which must have
a row for every route anyway); each example keeps most of that body valid and breaks some of it, so the
request gets past the first check. FUZZ_EXAMPLES sets the examples per route, method and role.
"""

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from flask import got_request_exception, url_for
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app import create_app
from app.extensions import db
from app.inputs import ID_MAX
from app.models import utcnow
from tests import factories
from tests.conftest import base_config, empty_tables
from tests.test_access_matrix import body_for, build_world, changed, snapshot

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
ROLES = {"anon": None, "client": "A.c1", "therapist": "A.t1", "admin": "A.admin"}
# These end the actor's own account or sessions: fuzzed last, so the other routes still have their actors.
LAST = (
    "auth.sign_out",
    "auth.sign_out_everywhere",
    "dashboard.deactivate",
    "privacy.delete_account",
)
QUERY_NAMES = ("next", "before", "phase", "appointment", "reauth", "signed_out", "welcome")
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
WERKZEUG_PAGE = re.compile(r"<html lang=en>\s*<title>\d{3} ")
HTML_MESSAGE = re.compile(
    r'class="error"|role="alert"|<h1>Sorry</h1>|class="card[^"]*"[^>]*>\s*<h1>'
)

# Values -------------------------------------------------------------------------------------------------

NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "a\r\nb",
    "\n",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "x" * 10_000,
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%00",
    "' OR 1=1 --",
    "١٢٣",
    "😀",
    "localtime",
    "9999-12-31",
    "0001-01-01",
    "-1",
    "2147483648",
    "1e400",
    "NaN",
]
NASTY_INT = [0, -1, 1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63)]
# Printable text twice as often as anything else, so a hostile value elsewhere gets past the text check.
printable = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
texts = st.sampled_from(NASTY_TEXT) | printable | printable | st.text(max_size=30)
ints = st.sampled_from(NASTY_INT) | st.integers()
scalars = (
    texts | ints | st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
RAW_BODIES = [
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 30 + b"1" + b"}" * 30,
    b" " * 70_000,
    b"{",
    b"null",
    b"[]",
    b'"text"',
    b'{"a": NaN}',
    b"\xff\xfe\x00",
    b"1" * 5000,
]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain", None]


def utf8(value) -> bytes:
    """Bytes of any string, lone surrogates included (as a broken client would send them)."""
    return str(value).encode("utf-8", "surrogatepass")


def encode_pairs(pairs) -> str:
    return "&".join(f"{quote(utf8(k), safe='')}={quote(utf8(v), safe='')}" for k, v in pairs)


# Requests -----------------------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    query: str = ""
    body: bytes | None = None
    content_type: str | None = None

    def describe(self) -> str:
        shown = (self.body or b"")[:200]
        return f"{self.method} {self.path[:200]}?{self.query[:200]} [{self.content_type}] {shown!r}"


def path_for(rule, ids: dict, draw) -> str:
    """Fill each `<converter:name>` with the owner's real id or token, or a hostile value."""

    def fill(match):
        converter, name = match.group(1) or "default", match.group(2)
        real = [ids[name]] if name in ids else []
        if converter == "int":
            in_range = st.integers(1, ID_MAX)  # reaches the view: the column's whole range
            mine = st.sampled_from(real) if real else in_range  # the owner's row: past the 404
            numbers = mine | st.sampled_from(NASTY_INT) | in_range | st.integers(-(2**64), 2**64)
            numeric = numbers.map(str) | st.sampled_from(["1e3", "0x1f", "007"])
            value = draw(numeric | st.sampled_from(NASTY_TEXT[:12]))
        else:
            value = draw(st.sampled_from(real) | texts if real else texts)
        return quote(utf8(value), safe="") or "x"

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", fill, rule.rule)


def mutate(base: dict, values, draw) -> dict:
    """The valid body with some fields replaced, dropped or added."""
    body = dict(base)
    for name in draw(st.lists(st.sampled_from(sorted(body) or ["x"]), max_size=3, unique=True)):
        choice = draw(st.sampled_from(["replace", "replace", "drop"]))
        if choice == "drop":
            body.pop(name, None)
        else:
            body[name] = draw(values)
    for name in draw(st.lists(printable, max_size=2)):
        body[name] = draw(values)
    return body


def request_for(rule, method: str, ids: dict, base: dict, draw) -> Req:
    req = Req(method, path_for(rule, ids, draw))
    # Most examples keep the query (and a GET's body) clean, so the hostile part reaches the view.
    pairs = st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | texts, texts), max_size=3)
    req.query = encode_pairs(draw(st.sampled_from([[], []]) | pairs))
    if method not in BODY_METHODS and draw(st.integers(0, 3)):
        return req
    usual = "json" if "json" in base else "form"  # mostly what the route reads, sometimes the other
    kind = draw(st.sampled_from([usual] * 4 + ["json", "form", "raw"]))
    if kind == "raw":
        req.body, req.content_type = (
            draw(st.sampled_from(RAW_BODIES)),
            draw(st.sampled_from(CONTENT_TYPES)),
        )
    elif kind == "json":
        start = base.get("json", base.get("data", {}))
        whole = draw(st.sampled_from(["mutated"] * 4 + ["other"]))
        value = mutate(start, json_values, draw) if whole == "mutated" else draw(json_values)
        req.body = json.dumps(value).encode()
        req.content_type = "application/json"
    else:
        start = {k: str(v) for k, v in base.get("data", base.get("json", {})).items()}
        form = mutate(start, texts | ints.map(str), draw)
        req.body = encode_pairs(form.items()).encode()
        req.content_type = "application/x-www-form-urlencoded"
    return req


# Checks -------------------------------------------------------------------------------------------------


@contextmanager
def recorded_exceptions(app):
    """Exceptions that reached app/errors.py's last-resort handler: a view let them through."""
    seen = []

    def record(sender, exception, **extra):
        seen.append(exception)

    got_request_exception.connect(record, app)
    try:
        yield seen
    finally:
        got_request_exception.disconnect(record, app)


def names_the_problem(response) -> bool:
    if response.is_json:
        body = response.get_json(silent=True) or {}
        if response.status_code == 401 and body.get("signed_in") is False:
            return True  # /api/session's documented answer: the outbox asks, "not signed in" is the reason
        error = body.get("error")
        return isinstance(error, str) and bool(error.strip())
    return bool(HTML_MESSAGE.search(response.get_data(as_text=True)))


def send(app, actor, req: Req, *, csrf: bool = False):
    """One request from a fresh client (signed in as `actor`); a list of what went wrong."""
    client = app.test_client()
    headers = {}
    if actor is not None:
        factories.sign_in(client, actor, now=utcnow())
    if csrf and actor is not None:  # the token the page would carry, from the session API
        headers["X-CSRFToken"] = client.get("/api/session").get_json()["csrf_token"]
    before = snapshot()
    with recorded_exceptions(app) as raised:
        response = client.open(
            req.path,
            method=req.method,
            query_string=req.query,
            data=req.body,
            content_type=req.content_type,
            headers=headers,
        )
    db.session.rollback()
    status, text = response.status_code, response.get_data(as_text=True)
    problems = []
    if status >= 500:
        problems.append(f"status {status}")
    if raised:
        problems.append(f"unhandled {type(raised[0]).__name__}: {str(raised[0])[:120]}")
    if WERKZEUG_PAGE.search(text) or "Traceback" in text:
        problems.append("Werkzeug's bare page or a traceback")
    if 400 <= status < 500:
        tables = changed(before, snapshot())
        if tables:
            problems.append(f"refused with {status} but changed {tables}")
        if not names_the_problem(response):
            problems.append(f"refused with {status} without saying why: {text[:120]!r}")
    return [f"{req.describe()} -> {status}: {p}" for p in problems]


def fuzz_route(app, world, rule, method: str, role: str, *, examples: int, csrf=False) -> list[str]:
    """Fuzz one rule and method as one role; every problem found, as text (empty: none)."""
    owner = ROLES[role] or "A.t1"
    actor = world.users[ROLES[role]] if ROLES[role] else None
    ids = world.ids.get(owner, {})
    problems: list[str] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data):
        base = body_for(rule.endpoint, method, ids, actor.role if actor else None, utcnow())
        req = request_for(rule, method, ids, base, data.draw)
        problems.extend(send(app, actor, req, csrf=csrf and data.draw(st.booleans())))

    run()
    return [f"{rule.endpoint} as {role}: {p}" for p in problems]


def routes(app) -> list[tuple[object, str]]:
    """(rule, method) for every rule but `static`, the account-ending ones last."""
    found = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    return sorted(found, key=lambda rm: (order(rm[0].endpoint), rm[0].rule, rm[1]))


def order(endpoint: str) -> int:
    return LAST.index(endpoint) + 1 if endpoint in LAST else 0


# Tests --------------------------------------------------------------------------------------------------

_ROUTE_APP = create_app(base_config("sqlite://", ""))  # only to list the rules at collection
ROUTES = [(rule.endpoint, rule.rule, method) for rule, method in routes(_ROUTE_APP)]
# Failures in files another helper owns, for the lead to remove once their fixes are merged (issue 10.1).
OTHERS: dict[tuple[str, str], str] = {}


def marked(endpoint: str, rule: str, method: str):
    reason = OTHERS.get((endpoint, method))
    marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
    return pytest.param(endpoint, rule, method, id=f"{method} {rule}", marks=marks)


@pytest.fixture(scope="module")
def fuzz_world(database_url):
    app = create_app(base_config(database_url, ""))
    with app.app_context():
        world = build_world(utcnow())
        yield app, world
        db.session.remove()
        empty_tables()
        db.engine.dispose()


def rule_of(app, endpoint: str, rule_text: str):
    return next(r for r in app.url_map.iter_rules(endpoint) if r.rule == rule_text)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("endpoint,rule_text,method", [marked(*r) for r in ROUTES])
def test_route_survives_hostile_input_as_every_role(fuzz_world, endpoint, rule_text, method):
    app, world = fuzz_world
    rule = rule_of(app, endpoint, rule_text)
    problems = []
    for role in ROLES:
        problems += fuzz_route(app, world, rule, method, role, examples=EXAMPLES)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:20])


@pytest.mark.timeout(300)
def test_csrf_on_slice(fuzz_world, database_url):
    """With CSRF on (as in production), token or not, writes still answer 4xx with a reason, never 5xx."""
    _, world = fuzz_world
    app = create_app({**base_config(database_url, ""), "WTF_CSRF_ENABLED": True})
    problems = []
    for rule, method in routes(app):
        if method in BODY_METHODS and rule.endpoint not in LAST:
            for role in ("client", "therapist"):
                problems += fuzz_route(app, world, rule, method, role, examples=2, csrf=True)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:20])


def test_the_fuzz_finds_a_route_that_fails(fuzz_world, database_url):
    """A test of the test: routes with a 500 on a large id, a write before a 400 and a refusal without
    a reason are each reported."""
    _, world = fuzz_world
    app = create_app(base_config(database_url, ""))

    @app.get("/test/boom/<int:n>")
    def boom(n):
        if n > 1000:
            raise OverflowError("integer out of range")
        return "small"

    @app.post("/test/half-write")
    def half_write():
        factories.practice(name="written by a refused request")
        db.session.commit()
        return {"error": "refused after writing"}, 400

    @app.post("/test/silent")
    def silent():
        return "", 400

    found = {}
    for endpoint, examples in (("boom", 60), ("half_write", 25), ("silent", 25)):
        rule = next(app.url_map.iter_rules(endpoint))
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        found[endpoint] = "\n".join(fuzz_route(app, world, rule, method, "anon", examples=examples))
    assert "status 500" in found["boom"] and "unhandled OverflowError" in found["boom"]
    assert "refused with 400 but changed ['practice']" in found["half_write"]
    assert "without saying why" in found["silent"]


# Closed schemas (issue 10.1): a JSON API names an unknown field in its refusal. Routes whose parser is
# another helper's and not yet closed are listed with the owner, for the lead to remove after merging.
UNKNOWN = "surprise_field"
OPEN_SCHEMAS: dict[str, str] = {}
OWNER_OF = {
    "checkins.submit": "A.c1",
    "reminders.subscribe": "A.c1",
    "reminders.unsubscribe": "A.c1",
}


def json_routes() -> list:
    found = []
    for endpoint, rule_text, method in ROUTES:
        if "json" in body_for(endpoint, method, _FAKE_IDS, "client", utcnow()):
            reason = OPEN_SCHEMAS.get(endpoint)
            marks = [pytest.mark.xfail(strict=False, reason=f"open schema: {reason}")]
            found.append(
                pytest.param(
                    endpoint, rule_text, method, id=endpoint, marks=marks if reason else []
                )
            )
    return found


_FAKE_IDS = {"client_id": 1, "appointment_id": 1, "endpoint": "https://push.example.test/x"}


@pytest.mark.parametrize("endpoint,rule_text,method", json_routes())
def test_json_api_names_an_unknown_field(fuzz_world, endpoint, rule_text, method):
    app, world = fuzz_world
    rule = rule_of(app, endpoint, rule_text)
    key = OWNER_OF.get(endpoint, "A.t1")
    ids = world.ids[key]
    with app.test_request_context():
        path = url_for(endpoint, **{name: ids[name] for name in rule.arguments})
    client = app.test_client()
    factories.sign_in(client, world.users[key], now=utcnow())
    body = {**body_for(endpoint, method, ids, world.users[key].role, utcnow())["json"], UNKNOWN: 1}
    before = snapshot()
    res = client.open(path, method=method, json=body)
    db.session.rollback()
    assert 400 <= res.status_code < 500, res.status_code
    assert UNKNOWN in res.get_data(as_text=True)
    assert not changed(before, snapshot())
