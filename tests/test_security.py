"""SECURITY.md checks 1-5, 14, 16, 17, 19, 20 and the role wall, swept over every route in url_map,
so routes added later by other features are covered automatically."""

import logging
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import url_for

from app.extensions import db
from tests import factories

ROLES = ("admin", "therapist", "client")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
READ_AUDIT = {"audit_event"}  # viewing health data writes an audit row by design (SECURITY.md 18)
SW = Path(__file__).resolve().parents[1] / "static" / "sw.js"


def shell_paths() -> set[str]:
    """Pages the service worker may cache (parsed from sw.js) plus the manifest and the worker."""
    found = re.search(r"SHELL_PAGES = new Set\(\[([^\]]*)\]", SW.read_text())
    return set(re.findall(r'"([^"]+)"', found.group(1))) | {"/manifest.json", "/sw.js"}


def urls(app, methods: set[str]) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) for every rule answering one of `methods`, with dummy arguments."""
    out = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            args = {a: 1 for a in rule.arguments}
            if rule.endpoint == "static":
                args = {"filename": "css/app.css"}
            url = url_for(rule.endpoint, **args)
            out += [(m, url, rule.endpoint) for m in sorted(rule.methods & methods)]
    return out


def row_counts(app, *, skip=()) -> dict[str, int]:
    with app.app_context(), db.engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in db.metadata.sorted_tables
            if t.name not in skip
        }


def people(app):
    """A practice with one person of each role, each with a signed-in test client.

    Requests are then made outside any app context, so that each gets its own `g` as in production.
    """
    with app.app_context():
        return _people(app)


def _people(app):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist", display_name="Therapist Zed")
    users = {
        "admin": factories.user(practice, "admin", display_name="Admin Ann"),
        "therapist": therapist,
        "client": factories.user(
            practice, "client", therapist=therapist, display_name="Client Kim"
        ),
    }
    clients = {}
    for role, user in users.items():
        clients[role] = app.test_client()
        factories.sign_in(clients[role], user)
    names = {role: user.display_name for role, user in users.items()}
    db.session.remove()
    return names, clients


def check_headers(res, where: str) -> None:
    h = res.headers
    csp = dict(
        (part.strip().split(" ", 1) + [""])[:2]
        for part in h.get("Content-Security-Policy", "").split(";")
    )
    assert csp.get("object-src") == "'none'", where
    assert csp.get("base-uri") == "'none'", where
    assert csp.get("frame-ancestors") == "'none'", where
    assert "unsafe-inline" not in csp.get("script-src", "unsafe-inline"), where
    assert "unsafe-eval" not in csp.get("script-src", ""), where
    assert h.get("X-Content-Type-Options") == "nosniff", where
    assert h.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin"), where
    assert "camera=()" in h.get("Permissions-Policy", ""), where


def test_every_get_route_sends_security_headers_and_never_writes(app):
    users, clients = people(app)
    clients["anonymous"] = app.test_client()
    before = row_counts(app, skip=READ_AUDIT)
    for who, client in clients.items():
        for _, url, endpoint in urls(app, {"GET"}):
            res = client.get(url)
            where = f"{who} GET {url} ({endpoint}) -> {res.status_code}"
            assert res.status_code < 500, where
            check_headers(res, where)
    assert row_counts(app, skip=READ_AUDIT) == before


def test_signed_in_pages_and_api_answers_are_not_stored(app):
    users, clients = people(app)
    shell = shell_paths()
    for role, client in clients.items():
        for _, url, endpoint in urls(app, {"GET"}):
            res = client.get(url)
            where = f"{role} GET {url} ({endpoint}) -> {res.status_code}"
            if endpoint == "static":
                continue
            if url in shell:
                # cached by the service worker: must hold nothing about the person
                assert users[role] not in res.get_data(as_text=True), where
                continue
            assert "no-store" in res.headers.get("Cache-Control", ""), where
    anonymous = app.test_client()
    assert "no-store" in anonymous.get("/api/session").headers["Cache-Control"]
    assert (
        "no-store" in anonymous.post("/api/auth/signin/options", json={}).headers["Cache-Control"]
    )


def test_hsts_only_behind_https(client):
    res = client.get("/", base_url="https://attune.example")
    hsts = res.headers["Strict-Transport-Security"]
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000
    assert "includeSubDomains" in hsts
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_hsts_with_an_https_origin_behind_a_proxy(make_app):
    app = make_app(ORIGIN="https://attune.example", RP_ID="attune.example")
    assert "includeSubDomains" in app.test_client().get("/").headers["Strict-Transport-Security"]


def test_session_cookie_flags_over_http(client):
    res = client.post("/api/auth/signin/options", json={})
    cookie = res.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie


def test_session_cookie_is_secure_host_prefixed_with_https_origin(make_app, monkeypatch):
    monkeypatch.setenv("ORIGIN", "https://attune.example")
    app = make_app(ORIGIN="https://attune.example", RP_ID="attune.example")
    res = app.test_client().post(
        "/api/auth/signin/options", json={}, base_url="https://attune.example"
    )
    cookie = res.headers["Set-Cookie"]
    assert cookie.startswith("__Host-")
    attributes = [a.strip() for a in cookie.split(";")]
    assert "Secure" in attributes and "HttpOnly" in attributes and "SameSite=Lax" in attributes
    assert "Path=/" in attributes
    assert not any(a.lower().startswith("domain=") for a in attributes)


def test_writes_without_csrf_token_are_refused_and_change_nothing(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    _, clients = people(app)
    clients["anonymous"] = app.test_client()
    writes = urls(app, WRITE_METHODS)
    assert len(writes) >= 10  # the sweep really sees the app's routes
    before = row_counts(app)
    for who, client in clients.items():
        for method, url, endpoint in writes:
            for kwargs in ({"data": {"role": "client"}}, {"json": {}}):
                res = client.open(url, method=method, **kwargs)
                assert res.status_code == 400, f"{who} {method} {url} ({endpoint})"
    assert row_counts(app) == before
    for role, client in clients.items():
        if role != "anonymous":
            assert client.get("/api/session").status_code == 200  # still signed in


def test_json_write_with_header_token_passes_csrf(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    _, clients = people(app)
    client = clients["therapist"]
    token = client.get("/api/session").get_json()["csrf_token"]
    headers = {"X-CSRFToken": token}
    res = client.post("/api/account/time-zone", json={"time_zone": "Europe/Paris"}, headers=headers)
    assert res.status_code == 200
    bad = client.post("/api/account/time-zone", json={"time_zone": "Nowhere/Else"}, headers=headers)
    assert bad.status_code == 422


def test_client_cannot_open_staff_pages(app):
    _, clients = people(app)
    assert clients["client"].get("/invites").status_code == 403
    assert clients["client"].post("/invites", data={"role": "client"}).status_code == 403
    assert clients["client"].post("/invites/1/revoke").status_code == 403
    staff_only = [
        (m, url) for m, url, endpoint in urls(app, {"GET"}) if endpoint.split(".")[0] == "dashboard"
    ]
    for _, url in staff_only:
        assert clients["client"].get(url).status_code == 403, url
    with app.test_request_context():
        admin_only = url_for("dashboard.admin") if "dashboard.admin" in app.view_functions else None
    if admin_only:
        assert clients["therapist"].get(admin_only).status_code == 403


def test_anonymous_is_sent_to_sign_in_or_gets_401(client):
    res = client.get("/account")
    assert res.status_code == 302 and "/signin" in res.headers["Location"]
    assert client.get("/api/session").status_code == 401
    assert client.post("/api/account/time-zone", json={"time_zone": "UTC"}).status_code == 401


def test_rate_limit_answers_429(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    codes = [client.post("/api/auth/signin/options", json={}).status_code for _ in range(25)]
    assert codes[0] == 200
    assert codes[-1] == 429
    res = client.post("/api/auth/signin/options", json={})
    assert "error" in res.get_json()
    assert "Retry-After" in res.headers
    pages = [client.get("/invite/nope").status_code for _ in range(25)]
    assert pages[-1] == 429
    assert "Too many attempts" in client.get("/invite/nope").get_data(as_text=True)


@pytest.fixture
def boom_app(make_app):
    app = make_app()

    @app.get("/boom/<where>")
    def boom(where):
        raise RuntimeError("internal secret detail")

    @app.get("/api/boom")
    def api_boom():
        raise RuntimeError("internal secret detail")

    return app


def test_forced_exception_gives_a_friendly_page_and_json(boom_app, caplog):
    client = boom_app.test_client()
    res = client.get("/boom/here")
    body = res.get_data(as_text=True)
    assert res.status_code == 500
    assert "Traceback" not in body and "internal secret detail" not in body
    assert "Sorry, something went wrong" in body
    check_headers(res, "/boom")
    res = client.get("/api/boom")
    assert res.status_code == 500
    assert res.get_json() == {"error": "Sorry, something went wrong on our side. Please try again."}
    assert not boom_app.debug


def test_logs_escape_cr_and_lf(boom_app, caplog):
    caplog.set_level(logging.INFO, logger="attune")
    boom_app.test_client().get("/boom/a%0D%0Afake%20log%20line%0Aagain")
    logging.getLogger("attune.auth").info("user said %s", "two\nlines")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("attune")]
    forged = [m for m in messages if "fake log line" in m]
    assert forged and all("\n" not in m and "\r" not in m for m in forged)
    assert "a\\r\\nfake log line\\nagain" in forged[0]
    assert "user said two\\nlines" in messages


def test_public_deployment_with_in_memory_rate_limits_is_warned_about(make_app, caplog):
    with caplog.at_level("WARNING"):
        make_app(ORIGIN="https://attune.example", RATELIMIT_STORAGE_URI="memory://")
    assert any("RATELIMIT_STORAGE_URI" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING"):
        make_app(ORIGIN="https://attune.example", RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379")
    assert not any("RATELIMIT_STORAGE_URI" in r.getMessage() for r in caplog.records)


def test_rate_limits_are_shared_by_workers_through_redis(make_app):
    """Two app instances (two gunicorn workers) count against one limit when storage is Redis."""
    import secrets as _secrets

    import redis

    from tests.conftest import need

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379", socket_timeout=2).ping()
        up = True
    except redis.RedisError:
        up = False
    need(up, "Redis on 127.0.0.1:6379")
    config = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379"}
    workers = [make_app(**config).test_client(), make_app(**config).test_client()]
    # Flask-Limiter keeps the first app's key prefix for the whole process (one app per process in
    # production), so this run's own key is a client address nobody else uses (a WSGI value, no traffic).
    me = {"REMOTE_ADDR": f"198.18.{_secrets.randbelow(256)}.{_secrets.randbelow(256)}"}
    codes = [
        workers[i % 2].post("/api/auth/signin/options", json={}, environ_base=me).status_code
        for i in range(21)
    ]
    assert codes[:20] == [200] * 20
    assert codes[20] == 429
