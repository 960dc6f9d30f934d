"""The schema comes only from migrations: upgrade an empty database to head, prove the models agree
with it, and downgrade back to base, on SQLite and on a fresh PostgreSQL schema."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import base_config, need
from tests.support.databases import postgres_available, postgres_base_url, postgres_schema


@pytest.fixture
def fresh_pg_schema():
    """A PostgreSQL schema of its own (not the test session's), dropped afterwards."""
    base = postgres_base_url()
    need(postgres_available(base), f"PostgreSQL at {base}")
    with postgres_schema(base, "attune_mig") as fresh:
        yield fresh


def tables(schema=None) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names(schema=schema))


def differences() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def round_trip(url: str, schema=None) -> None:
    app = create_app(base_config(url, ""))
    with app.app_context():
        assert tables(schema) == set()
        upgrade()
        model_tables = {t.name for t in db.metadata.sorted_tables}
        assert model_tables <= tables(schema)
        assert {"user", "credential", "invite", "user_session", "care_link"} <= model_tables
        assert differences() == []
        extra = sa.Table("not_migrated", db.metadata, sa.Column("id", sa.Integer, primary_key=True))
        try:
            assert differences() != []  # the comparison does see a model the migrations lack
        finally:
            db.metadata.remove(extra)
        downgrade(revision="base")
        assert tables(schema) <= {"alembic_version"}
        upgrade()  # and back up again: downgrade left nothing behind that breaks a new upgrade
        assert differences() == []
        db.session.remove()
        db.engine.dispose()


def test_sqlite_upgrade_check_downgrade(tmp_path):
    round_trip("sqlite:///" + str(tmp_path / "fresh.db"))


def test_postgres_upgrade_check_downgrade(fresh_pg_schema):
    url, schema = fresh_pg_schema
    round_trip(url, schema)


def test_app_never_creates_tables_itself(tmp_path):
    """Creating the app and serving a request must not create the schema (only `flask db upgrade` does)."""
    app = create_app(base_config("sqlite:///" + str(tmp_path / "untouched.db"), ""))
    with app.app_context():
        app.test_client().get("/manifest.json")
        assert tables() == set()
        db.engine.dispose()
