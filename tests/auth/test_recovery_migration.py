"""Migration recovery_01 on a database with rows (SQLite and PostgreSQL): unconfirmed recoveries made
under the old rule are locked from their recovery on, their sessions too, a hold below 72 hours is
raised to 72, and the rebuilt practice table keeps every row that refers to it."""

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import base_config, need
from tests.support.databases import postgres_available, postgres_base_url, postgres_schema

AT = datetime(2026, 12, 1, 9, 0)


def seed() -> None:
    rows = [
        "INSERT INTO practice (id, name, locale, low_threshold, drop_threshold,"
        " mean_drop_threshold, prepost_drop_threshold, k_anonymity, before_reminder_minutes,"
        " after_reminder_minutes, nudge_hours, quiet_start_minute, quiet_end_minute,"
        " recovery_hold_hours, created_at) VALUES (1, 'P', 'en', 6, 2, 3, 3, 5, 60, 10, 20,"
        " 1260, 480, 1, :at)",
        'INSERT INTO "user" (id, practice_id, role, display_name, webauthn_user_id, time_zone,'
        " active, remind_before, remind_after, remind_nudge, push_chosen, created_at)"
        " VALUES (1, 1, 'client', 'Robin', :handle, 'UTC', true, true, true, true, false, :at)",
        "INSERT INTO credential (id, user_id, credential_id, public_key, sign_count, transports,"
        " backed_up, device_type, nickname, created_at, recovered_at, hold_until) VALUES"
        " (1, 1, :c1, :k, 0, '', false, '', 'old', :at, NULL, NULL),"
        " (2, 1, :c2, :k, 0, '', false, '', 'held', :at, :at, :later),"
        " (3, 1, :c3, :k, 0, '', false, '', 'confirmed', :at, :at, NULL)",
        "INSERT INTO user_session (id, user_id, token_hash, created_at, last_seen_at,"
        " reauthenticated_at, user_agent, credential_id) VALUES"
        " (1, 1, 'a', :at, :at, :at, '', 1), (2, 1, 'b', :at, :at, :at, '', 2)",
    ]
    values = {
        "at": AT,
        "later": AT + timedelta(hours=72),
        "handle": b"h" * 64,
        "k": b"key",
        "c1": b"1",
        "c2": b"2",
        "c3": b"3",
    }
    for statement in rows:
        db.session.execute(sa.text(statement), values)
    db.session.commit()


def moment(value) -> str | None:
    """A stored time as text to the second (SQLite hands raw SQL text back, PostgreSQL datetimes)."""
    return None if value is None else str(value)[:19]


def scalar(sql: str):
    return db.session.execute(sa.text(sql)).scalar()


def upgrade_with_rows(url: str) -> None:
    app = create_app(base_config(url, ""))
    with app.app_context():
        upgrade(revision="0001")
        seed()
        upgrade(revision="recovery_01")
        locked = db.session.execute(
            sa.text("SELECT id, sees_from FROM credential ORDER BY id")
        ).all()
        assert [(i, moment(s)) for i, s in locked] == [(1, None), (2, moment(AT)), (3, None)]
        sessions = db.session.execute(
            sa.text("SELECT id, sees_from FROM user_session ORDER BY id")
        ).all()
        assert [(i, moment(s)) for i, s in sessions] == [(1, None), (2, moment(AT))]
        assert scalar("SELECT recovery_hold_hours FROM practice") == 72
        assert scalar('SELECT count(*) FROM "user"') == 1
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.text("UPDATE practice SET recovery_hold_hours = 71"))
            db.session.flush()
        db.session.rollback()
        downgrade(revision="0001")
        assert scalar("SELECT count(*) FROM credential") == 3
        db.session.execute(sa.text("UPDATE practice SET recovery_hold_hours = 1"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_recovery_01_upgrades_rows_on_sqlite(tmp_path):
    upgrade_with_rows("sqlite:///" + str(tmp_path / "rows.db"))


def test_recovery_01_upgrades_rows_on_postgres():
    base = postgres_base_url()
    need(postgres_available(base), f"PostgreSQL at {base}")
    with postgres_schema(base, "attune_rec") as (url, _schema):
        upgrade_with_rows(url)
