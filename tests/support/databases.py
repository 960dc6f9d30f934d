"""Databases for tests and benches: a fresh PostgreSQL schema per run, and the schema made only by migrations.

`TEST_DATABASE_URL` names the PostgreSQL server (default: the local one, trust auth, database `test`); every
run works in a schema of its own, dropped afterwards, so runs side by side never see each other's rows.
"""

import contextlib
import os
import secrets

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from app.extensions import db

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "migrations")


def postgres_base_url() -> str:
    """The PostgreSQL server to use, with the psycopg 3 driver whatever the URL says."""
    return os.environ.get("TEST_DATABASE_URL", PG_DEFAULT).replace(
        "postgresql://", "postgresql+psycopg://"
    )


def postgres_available(url: str) -> bool:
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def postgres_schema(base: str, prefix: str = "attune_tmp"):
    """A fresh PostgreSQL schema on `base`, dropped afterwards; yields (url that uses it, schema)."""
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}", schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def upgrade_to_head(app: Flask) -> None:
    """Bring the app's empty database to head the way production does (never `create_all`)."""
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        db.engine.dispose()
