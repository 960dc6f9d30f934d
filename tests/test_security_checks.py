"""SECURITY.md checks 13, 18 and 39 by number (37 is in tests/e2e/test_security_checks.py; 28 and 29 in
tests/auth/test_recovery.py, test_recovery_push.py and test_recovery_codes.py; 42 in
tests/auth/test_hold_gate.py, test_recovery_lock.py and test_recovery_codes.py). Each test makes the check itself, so a search
for `security_13` finds a test that fails when the check does."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import settings
from app.audit import record
from app.dashboard import anonymity
from app.dashboard.anonymity import months_window
from app.extensions import db
from app.models import AuditEvent, CheckIn, Practice
from tests import factories
from tests.dashboard.helpers import NOW, assert_append_only, check_in, team

AGGREGATE_COLUMNS = [
    "week_start",
    "after_checkins",
    "mean_safe",
    "mean_heard",
    "mean_understood",
    "mean_prepost_change",
    "appointments",
    "answered",
    "response_rate_pct",
]


def last_month_day() -> datetime:
    month = months_window(NOW)[-1]
    return datetime(month.year, month.month, 10, 12, tzinfo=UTC)


@pytest.fixture
def published(ctx):
    """Five clients of one therapist, each one anonymous after-check-in with a comment last month."""
    p, t1, t2, c1, c2, admin = team()
    day = last_month_day()
    people = [
        factories.user(p, "client", therapist=t1, display_name=f"Anon Person {i}") for i in range(5)
    ]
    rows = [
        check_in(
            person,
            t1,
            (8, 7, 9),
            at=day + timedelta(days=i),
            visibility="anonymous",
            comment=f"anon note {i}",
        )
        for i, person in enumerate(people)
    ]
    db.session.commit()
    anonymity.refresh(db.session.get(Practice, p.id), now=NOW)
    db.session.commit()
    return {"practice": p, "therapist": t1, "admin": admin, "people": people, "rows": rows}


def test_security_13_staff_views_never_tie_anonymous_feedback_to_a_client(published, app):
    therapist, admin, people = published["therapist"], published["admin"], published["people"]
    seen = {}
    for viewer in (therapist, admin):
        web = app.test_client()
        factories.sign_in(web, viewer)
        paths = ["/dashboard", "/admin"] + [f"/clients/{p.id}" for p in people]
        for path in paths:
            seen[(viewer.role, "GET", path)] = web.get(path)
        for path in ("/export/aggregates.csv", "/export/check-ins.csv"):
            seen[(viewer.role, "POST", path)] = web.post(path)
    dashboard = seen[("therapist", "GET", "/dashboard")].get_data(as_text=True)
    assert all(f"anon note {i}" in dashboard for i in range(5))  # published: shown, as a batch
    comments = re.findall(r'<ul class="comments">(.*?)</ul>', dashboard, re.S)
    assert comments and all("Anon Person" not in c and "href" not in c for c in comments)
    for key, response in seen.items():
        body = response.get_data(as_text=True)
        if response.status_code != 200:
            assert response.status_code in (403, 404), key
            continue
        for row in published["rows"]:
            assert f'data-check-in="{row.id}"' not in body, key
        if not key[2].startswith("/dashboard"):
            assert "anon note" not in body, key  # nowhere but the batch of comments
    aggregates = seen[("therapist", "POST", "/export/aggregates.csv")].get_data(as_text=True)
    assert next(csv.reader(io.StringIO(aggregates))) == AGGREGATE_COLUMNS  # no client id, no text
    named = seen[("therapist", "POST", "/export/check-ins.csv")].get_data(as_text=True)
    assert len(named.strip().splitlines()) == 1  # only the header: no anonymous row


def test_security_18_every_read_and_export_is_audited_and_the_log_is_append_only(ctx, app):
    p, t1, _, c1, *_ = team()
    check_in(c1, t1, (9, 9, 9), at=NOW - timedelta(days=1))
    db.session.commit()
    web = app.test_client()
    factories.sign_in(web, t1)
    actions = {
        ("GET", f"/clients/{c1.id}"): "view_client",
        ("POST", "/export/check-ins.csv"): "export_check_ins",
        ("POST", "/export/aggregates.csv"): "export_aggregates",
    }
    for (method, path), action in actions.items():
        assert web.open(path, method=method).status_code == 200, path
        row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == action))
        assert row is not None and row.actor_id == t1.id and row.practice_id == p.id, action
    row = record(t1, "view_client", target_type="user", target_id=c1.id)
    db.session.commit()
    assert_append_only(row)


def anonymous_section(web) -> str:
    page = web.get("/dashboard").get_data(as_text=True)
    return page.split('id="anon-h"', 1)[1]


def test_security_39_under_k_clients_nothing_is_shown_and_k_is_at_least_5(ctx, app):
    """k's floor holds in the database; with k-1 clients a month shows neither means nor comments,
    and a kth client (a later month) does not reopen a month already decided."""
    assert settings.K_MIN >= 5 and settings.BY_NAME["k_anonymity"].lo == settings.K_MIN
    with pytest.raises(IntegrityError):  # the CHECK constraint
        factories.practice(k_anonymity=settings.K_MIN - 1)
        db.session.flush()
    db.session.rollback()
    p, t1, *_ = team()
    day = last_month_day()
    for i in range(p.k_anonymity - 1):
        person = factories.user(p, "client", therapist=t1)
        check_in(person, t1, (3, 3, 3), at=day, visibility="anonymous", comment=f"few {i}")
    db.session.commit()
    anonymity.refresh(db.session.get(Practice, p.id), now=NOW)
    db.session.commit()
    web = app.test_client()
    factories.sign_in(web, t1)
    page = anonymous_section(web)
    assert "few " not in page and "3.0" not in page
    late = factories.user(p, "client", therapist=t1)
    check_in(late, t1, (3, 3, 3), at=day, visibility="anonymous", comment="late one")
    db.session.commit()
    anonymity.refresh(db.session.get(Practice, p.id), now=NOW)
    db.session.commit()
    page = anonymous_section(web)
    assert "few " not in page and "late one" not in page and "3.0" not in page
    assert db.session.scalar(select(func.count(CheckIn.id))) == p.k_anonymity
