"""Shared fixtures: one migrated database per test session (SQLite, or PostgreSQL when
ATTUNE_TEST_DB=postgres), emptied after each test; app, client and sign-in helpers."""

import os

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from tests.support.databases import (
    postgres_available,
    postgres_base_url,
    postgres_schema,
    upgrade_to_head,
)

DB_KIND = os.environ.get("ATTUNE_TEST_DB", "sqlite")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def need(condition: bool, why: str) -> None:
    """Skip locally when a real dependency is missing; in CI that is a failure."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI needs {why}")
        pytest.skip(f"needs {why}")


@pytest.fixture(scope="session")
def pg_schema_url():
    """A fresh PostgreSQL schema for this test session; dropped afterwards."""
    base = postgres_base_url()
    need(postgres_available(base), f"PostgreSQL at {base}")
    with postgres_schema(base, "attune_t") as (url, _schema):
        yield url


def base_config(url: str, instance: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "ORIGIN": "http://localhost:5000",
        "RP_ID": "localhost",
        "VAPID_SUBJECT": "mailto:tests@attune.invalid",
    }


def migrated(url: str, instance: str) -> None:
    upgrade_to_head(create_app(base_config(url, instance)))


@pytest.fixture
def pg_app(pg_schema_url, tmp_path):
    """An app on PostgreSQL whatever ATTUNE_TEST_DB says, for what only PostgreSQL does (concurrent
    writers, plans); its tables are emptied afterwards."""
    migrated(pg_schema_url, str(tmp_path))
    app = create_app(base_config(pg_schema_url, str(tmp_path)))
    yield app
    with app.app_context():
        db.session.remove()
        empty_tables()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory):
    instance = str(tmp_path_factory.mktemp("instance"))
    os.environ.setdefault("ATTUNE_INSTANCE", instance)
    if DB_KIND == "postgres":
        url = request.getfixturevalue("pg_schema_url")
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "attune.db")
    migrated(url, instance)
    return url


def empty_tables() -> None:
    with db.engine.begin() as conn:
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        if conn.dialect.name == "postgresql":
            quoted = ", ".join(f'"{t}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))


@pytest.fixture
def make_app(database_url):
    """Build apps on the session database with extra config; tables are emptied afterwards."""
    apps = []

    def factory(**overrides):
        app = create_app({**base_config(database_url, ""), **overrides})
        apps.append(app)
        return app

    yield factory
    for app in apps[:1]:
        with app.app_context():
            db.session.remove()
            empty_tables()
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def ctx(app):
    """An app context for calling domain functions directly."""
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def in_request(app):
    """A request context (English, UTC) for rendering helpers that translate or format dates."""
    with app.test_request_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()
