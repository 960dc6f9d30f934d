"""PostgreSQL plans the dashboard's weekly figures for their own values every time (issue 12).

psycopg prepares a statement after its 5th run and PostgreSQL then switches to a generic plan, which
guesses a handful of rows for a range over bound timestamps and probes an index once per row where a
hash join is 2-3x faster at a therapist's 12 weeks. `extensions.plan_each_time` keeps the marked
statement unprepared; the check below would see it prepared (it sees the week table's statement).
"""

import pytest
import sqlalchemy as sa

from app.dashboard import stats
from app.extensions import db
from app.models import utcnow

RUNS = 8  # past psycopg's prepare threshold (5)


def _prepared() -> list[str]:
    return db.session.scalars(sa.text("SELECT statement FROM pg_prepared_statements")).all()


@pytest.mark.postgres
def test_the_weekly_figures_are_never_prepared_and_the_week_table_is(pg_app):
    now = utcnow()
    with pg_app.app_context():
        db.session.connection()  # one connection for every run below
        for _ in range(RUNS):
            assert len(stats.weekly(1, now=now, tz_name="Europe/Berlin")) == stats.WEEKS
            assert stats.this_week(1, now=now, tz_name="Europe/Berlin") == []
        prepared = _prepared()
        assert any("appointment.duration_minutes" in s for s in prepared), prepared
        assert not any("UNION ALL" in s for s in prepared), prepared


@pytest.mark.postgres
def test_only_marked_statements_skip_preparing(pg_app):
    marked = sa.select(sa.literal(1).label("marked")).execution_options(attune_plan_each_time=True)
    plain = sa.select(sa.literal(2).label("plain"))
    with pg_app.app_context():
        db.session.connection()
        for _ in range(RUNS):
            assert db.session.execute(marked).scalar() == 1
            assert db.session.execute(plain).scalar() == 2
        prepared = " ".join(_prepared())
        assert "AS plain" in prepared and "AS marked" not in prepared
