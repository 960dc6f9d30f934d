"""The per-process warm-up (app/dashboard/warm.py): it reads only (it publishes when nothing is
published, and writes nothing else), survives a database without tables, and leaves the first
dashboard render of a new app with none of its statements left to compile."""

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import CacheStats

from app import create_app
from app.extensions import db
from app.models import AuditEvent, PublishedPeriod, User, UserSession
from tests import factories
from tests.conftest import base_config

from .helpers import NOW, check_in, team
from .test_views import count_statements


def record_statements():
    seen = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(Engine, "before_cursor_execute", before)


def writes(statements):
    return [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_warm_up_only_reads_once_something_is_published(make_app):
    from app.dashboard import anonymity

    setup = make_app()
    with setup.app_context():
        p, *_ = team()
        anonymity.refresh(p, now=NOW)
        db.session.commit()
        published = db.session.scalar(select(func.count(PublishedPeriod.id)))
    seen, stop = record_statements()
    try:
        app = make_app(WARM_UP=True)
    finally:
        stop()
    assert any("published_period" in s for s in seen)  # the pages' reads ran
    assert writes(seen) == []
    with app.app_context():
        assert db.session.scalar(select(func.count(AuditEvent.id))) == 0
        assert db.session.scalar(select(func.count(UserSession.id))) == 0
        assert db.session.scalar(select(func.count(PublishedPeriod.id))) == published
    assert "dashboard/index.html" in {t.name for t in app.jinja_env.cache.values() if t.name}


def test_a_server_start_publishes_when_nothing_is_published_and_writes_nothing_else(make_app):
    setup = make_app()
    with setup.app_context():
        team()
        db.session.commit()
    seen, stop = record_statements()
    try:
        app = make_app(WARM_UP=True)
    finally:
        stop()
    assert writes(seen)
    assert all(re.search(r"INTO published_(period|cell|comment)\b", s) for s in writes(seen))
    with app.app_context():
        assert db.session.scalar(select(func.count(PublishedPeriod.id))) > 0
        assert db.session.scalar(select(func.count(AuditEvent.id))) == 0


def test_publish_on_start_can_be_turned_off(make_app):
    setup = make_app()
    with setup.app_context():
        team()
        db.session.commit()
    app = make_app(WARM_UP=True, PUBLISH_ON_START=False)
    with app.app_context():
        assert db.session.scalar(select(func.count(PublishedPeriod.id))) == 0


def test_warm_up_survives_a_database_without_tables(tmp_path, caplog):
    url = "sqlite:///" + str(tmp_path / "empty.db")
    app = create_app({**base_config(url, ""), "WARM_UP": True})  # no exception
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # no request was tried
    assert app.test_client().get("/healthz").status_code in (200, 503)


@pytest.mark.parametrize("preloaded", [True, False])
@pytest.mark.parametrize("published", [False, True])
def test_first_dashboard_render_after_warm_up_compiles_none_of_its_statements(
    make_app, monkeypatch, published, preloaded
):
    """Also with a shown month of anonymous comments. The warm-up loaded the therapist's published
    window and comments (`warm_therapist_cells`), so the first render only checks they are current;
    a therapist it had no room for reads them, with statements already compiled."""
    from app.dashboard import anonymity, snapshots

    if not preloaded:
        monkeypatch.setattr(snapshots, "CACHE_LIMIT", 2)  # no room for any therapist's entries
    setup = make_app()
    with setup.app_context():
        p, t1, *_ = team()
        if published:
            month = anonymity.months_window(NOW)[-1]
            for i in range(5):
                person = factories.user(p, "client", therapist=t1)
                at = datetime(month.year, month.month, 10 + i, 12, tzinfo=UTC)
                check_in(person, t1, (8, 8, 8), at=at, visibility="anonymous", comment=f"n{i}")
            db.session.commit()
            anonymity.refresh(p, now=NOW)
        db.session.commit()
        t1_id = t1.id
    app = make_app(WARM_UP=True)
    client = app.test_client()
    with app.app_context():
        factories.sign_in(client, db.session.get(User, t1_id))
    statements, misses = compiled_while(app, lambda: client.get("/dashboard"))
    assert statements and any("published_period" in s for s in statements)
    loaded = [s for s in statements if re.search(r"published_(cell|comment)\b", s)]
    assert bool(loaded) is not preloaded, statements
    assert any("published_comment" in s for s in loaded) is (published and not preloaded)
    assert uncached_reads(misses) == [], "\n".join(misses)
    if published:
        assert "n4" in client.get("/dashboard").get_data(as_text=True)


def compiled_while(app, fn) -> tuple[list[str], list[str]]:
    """(every statement `fn` ran, those its engine compiled afresh rather than took from its cache)."""
    with app.app_context():
        engine = db.engine
    misses = []

    def after(conn, cursor, statement, params, context, executemany):
        if context.compiled is not None and context.cache_hit is CacheStats.CACHE_MISS:
            misses.append(statement)

    event.listen(engine, "after_cursor_execute", after)
    try:
        return count_statements(app, fn), misses
    finally:
        event.remove(engine, "after_cursor_execute", after)


def uncached_reads(misses: list[str]) -> list[str]:
    """Compiled reads, except the lazy load of the signed-in user's practice (for the locale): its
    cache key holds the path the user was loaded by (the session lookup), which no read for nobody
    can take."""
    reads = [s for s in misses if s.lstrip().upper().startswith("SELECT")]
    return [s for s in reads if "FROM practice" not in s]


def test_the_first_admin_render_after_warm_up_loads_no_cells(make_app):
    """The warm-up loaded the admin overview's published cells: the first /admin of a new app only
    checks they are still current (the stamp) and reads no published cell."""
    from app.dashboard import anonymity

    setup = make_app()
    with setup.app_context():
        p, *_ = team()
        anonymity.refresh(p, now=NOW)
        admin = factories.user(p, "admin")
        db.session.commit()
        admin_id = admin.id
    app = make_app(WARM_UP=True)
    client = app.test_client()
    with app.app_context():
        factories.sign_in(client, db.session.get(User, admin_id))
    statements, misses = compiled_while(app, lambda: client.get("/admin"))
    assert any("published_period" in s for s in statements), statements  # the stamp
    assert not [s for s in statements if "published_cell" in s], statements
    assert uncached_reads(misses) == [], "\n".join(misses)  # the stamp's statement was warmed too
    cold = make_app(WARM_UP=False)
    cold_client = cold.test_client()
    with cold.app_context():
        factories.sign_in(cold_client, db.session.get(User, admin_id))
    statements = count_statements(cold, lambda: cold_client.get("/admin"))
    assert [s for s in statements if "published_cell" in s], statements  # the control: a cold load
