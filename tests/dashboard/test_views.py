"""Dashboard, client page, exports and admin pages over HTTP: access, audit, privacy, query count."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import Alert, AuditEvent, CheckIn, Practice, User, UserSession
from tests import factories

from .helpers import NOW, appointment, assert_append_only, check_in, team, weekly_history


@pytest.fixture
def world(ctx):
    """Two therapists of one practice, each with a client, a drop alert and an appointment."""
    p, t1, t2, c1, c2, admin = team()
    for t, c in ((t1, c1), (t2, c2)):
        weekly_history(t and c, t, [(9, 9, 9), (9, 7, 9)], end=NOW - timedelta(days=1))
        appointment(t, c, NOW + timedelta(days=1))
    db.session.commit()
    alerts = {a.therapist_id: a.id for a in db.session.scalars(select(Alert))}
    return {"p": p, "t1": t1, "t2": t2, "c1": c1, "c2": c2, "admin": admin, "alerts": alerts}


def routes(w):
    """Every route of the dashboard, aimed at therapist 2's data (method, path)."""
    return [
        ("GET", "/dashboard"),
        ("GET", f"/clients/{w['c2'].id}"),
        ("POST", f"/alerts/{w['alerts'][w['t2'].id]}/talked"),
        ("POST", "/export/check-ins.csv"),
        ("POST", "/export/aggregates.csv"),
        ("GET", "/admin"),
        ("GET", "/admin/therapists"),
        ("POST", f"/admin/users/{w['t2'].id}/deactivate"),
        ("GET", "/admin/settings"),
        ("POST", "/admin/settings"),
        ("GET", "/admin/audit"),
    ]


def test_client_gets_403_on_every_route(world, client):
    factories.sign_in(client, world["c1"])
    for method, path in routes(world):
        assert client.open(path, method=method).status_code == 403, path


def test_signed_out_visitor_is_sent_to_sign_in(world, client):
    for method, path in routes(world):
        assert client.open(path, method=method).status_code in (302, 401, 400), path


def test_therapist_cannot_reach_another_therapists_client_or_alert(world, client):
    factories.sign_in(client, world["t1"])
    assert client.get(f"/clients/{world['c2'].id}").status_code == 404
    assert client.get(f"/clients/{world['t2'].id}").status_code == 404  # not a client
    assert client.get("/clients/999999").status_code == 404
    other_alert = world["alerts"][world["t2"].id]
    assert client.post(f"/alerts/{other_alert}/talked").status_code == 404
    assert db.session.get(Alert, other_alert).acknowledged_at is None
    for method, path in routes(world)[5:]:
        assert client.open(path, method=method).status_code == 403, path


def test_therapist_exports_hold_only_their_own_clients(world, client):
    factories.sign_in(client, world["t1"])
    body = client.post("/export/check-ins.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {r["client"] for r in rows} == {"Carla"} and len(rows) == 2


def test_admin_of_another_practice_gets_404(world, client):
    other = factories.practice(name="Other")
    outsider = factories.user(other, "admin")
    factories.sign_in(client, outsider)
    assert client.post(f"/admin/users/{world['t2'].id}/deactivate").status_code == 404
    assert db.session.get(User, world["t2"].id).active
    page = client.get("/admin/therapists").get_data(as_text=True)
    assert "Theo" not in page and "Tess" not in page


def test_admin_cannot_open_client_pages(world, client):
    factories.sign_in(client, world["admin"])
    assert client.get(f"/clients/{world['c1'].id}").status_code == 403
    assert client.get("/dashboard").status_code == 403


def test_dashboard_shows_alert_in_words_and_charts(world, client):
    factories.sign_in(client, world["t1"])
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Carla" in page and "Cody" not in page
    assert "felt less heard than last time (9 → 7)" in page
    assert page.count('role="img"') == 3 and "<circle" in page and "style=" not in page
    assert "<table" in page


def test_client_page_is_audited_in_the_same_transaction(world, client):
    factories.sign_in(client, world["t1"])
    assert client.get(f"/clients/{world['c1'].id}").status_code == 200
    event_row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "view_client"))
    assert (event_row.actor_id, event_row.target_id) == (world["t1"].id, world["c1"].id)


@pytest.mark.parametrize(
    "path,action",
    [
        ("/export/check-ins.csv", "export_check_ins"),
        ("/export/aggregates.csv", "export_aggregates"),
    ],
)
def test_exports_are_audited_csv_downloads(world, client, path, action):
    factories.sign_in(client, world["t1"])
    response = client.post(path)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == action)) == 1


def test_exports_need_post(world, client):
    factories.sign_in(client, world["t1"])
    assert client.get("/export/check-ins.csv").status_code == 405
    assert db.session.scalar(select(func.count(AuditEvent.id))) == 0


def test_csv_neutralises_formulas(ctx):
    _, t1, _, c1, *_ = team()
    check_in(c1, t1, (9, 9, 9), at=NOW, comment='=HYPERLINK("x")')
    from app.dashboard.exports import named_check_ins

    assert "'=HYPERLINK" in named_check_ins(t1.id)


def test_audit_rows_cannot_be_changed_or_deleted(ctx):
    from app.audit import record

    p, t1, *_ = team()
    row = record(t1, "view_client", target_type="user", target_id=1)
    db.session.commit()
    assert_append_only(row)


def test_talked_about_it_keeps_the_alert_with_its_date(world, client):
    factories.sign_in(client, world["t1"])
    alert_id = world["alerts"][world["t1"].id]
    response = client.post(f"/alerts/{alert_id}/talked", data={"next": "//evil.example/"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/clients/{world['c1'].id}")
    alert = db.session.get(Alert, alert_id)
    db.session.refresh(alert)
    assert alert.acknowledged_at is not None and alert.acknowledged_by_id == world["t1"].id
    assert "Nothing needs attention" in client.get("/dashboard").get_data(as_text=True)
    assert "Talked about it ·" in client.get(f"/clients/{world['c1'].id}").get_data(as_text=True)


def test_deactivate_revokes_sessions(world, client, app):
    other = app.test_client()
    factories.sign_in(other, world["t2"])
    assert other.get("/dashboard").status_code == 200
    factories.sign_in(client, world["admin"])
    assert client.post(f"/admin/users/{world['t2'].id}/deactivate").status_code == 302
    db.session.expire_all()
    t2 = db.session.get(User, world["t2"].id)
    assert not t2.active and t2.deactivated_at is not None
    live = select(func.count()).where(
        UserSession.user_id == t2.id, UserSession.revoked_at.is_(None)
    )
    assert db.session.scalar(live) == 0
    assert other.get("/dashboard").status_code == 302  # signed out
    assert (
        db.session.scalar(select(func.count()).where(AuditEvent.action == "deactivate_user")) == 1
    )


def test_admin_cannot_deactivate_self_or_clients(world, client):
    factories.sign_in(client, world["admin"])
    assert client.post(f"/admin/users/{world['admin'].id}/deactivate").status_code == 400
    assert client.post(f"/admin/users/{world['c1'].id}/deactivate").status_code == 404


SETTINGS = {
    "low_threshold": "5",
    "drop_threshold": "3",
    "mean_drop_threshold": "4",
    "prepost_drop_threshold": "4",
    "k_anonymity": "11",
    "before_reminder_minutes": "90",
    "after_reminder_minutes": "15",
    "nudge_hours": "24",
    "quiet_start": "22:30",
    "quiet_end": "07:15",
    "recovery_hold_hours": "96",
    "locale": "en",
}


def test_settings_save_and_validate(world, client):
    factories.sign_in(client, world["admin"])
    assert client.get("/admin/settings").status_code == 200
    assert client.post("/admin/settings", data={**SETTINGS, "k_anonymity": "3"}).status_code == 400
    assert (
        client.post("/admin/settings", data={**SETTINGS, "quiet_end": "25:00"}).status_code == 400
    )
    db.session.expire_all()
    assert db.session.get(Practice, world["p"].id).k_anonymity == 5
    assert client.post("/admin/settings", data=SETTINGS).status_code == 302
    db.session.expire_all()
    p = db.session.get(Practice, world["p"].id)
    assert (p.k_anonymity, p.low_threshold, p.quiet_start_minute, p.quiet_end_minute) == (
        11,
        5,
        22 * 60 + 30,
        7 * 60 + 15,
    )
    # A new k applies to periods not yet published: those already decided keep their k.
    from app.models import PublishedPeriod

    assert {r.k for r in db.session.scalars(select(PublishedPeriod))} <= {5, 11}


def test_admin_pages_render(world, client):
    factories.sign_in(client, world["admin"])
    for path in ("/admin", "/admin/therapists", "/admin/audit"):
        response = client.get(path)
        assert response.status_code == 200 and "style=" not in response.get_data(as_text=True), path
    assert "Tess" in client.get("/admin/therapists").get_data(as_text=True)


def test_no_anonymous_check_in_on_client_page_alerts_or_named_csv(ctx, client):
    _, t1, _, c1, *_ = team()
    named = weekly_history(c1, t1, [(10, 10, 10)] * 3, end=NOW - timedelta(days=3))
    secret = check_in(c1, t1, (0, 0, 0), at=NOW, visibility="anonymous", comment="ANON-SECRET")
    db.session.commit()
    assert db.session.scalar(select(Alert.id)) is None
    factories.sign_in(client, t1)
    page = client.get(f"/clients/{c1.id}").get_data(as_text=True)
    assert "ANON-SECRET" not in page and f'data-check-in="{secret.id}"' not in page
    assert page.count("data-check-in=") == len(named)
    body = client.post("/export/check-ins.csv").get_data(as_text=True)
    assert "ANON-SECRET" not in body and len(body.strip().splitlines()) == 1 + len(named)
    assert "ANON-SECRET" not in client.get("/dashboard").get_data(as_text=True)


def count_statements(app, fn):
    seen = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return seen


MAX_DASHBOARD_STATEMENTS = 10


def test_dashboard_render_issues_a_fixed_number_of_statements(world, client, app):
    t1 = world["t1"]
    for _ in range(6):  # more clients, alerts and appointments must not mean more queries
        c = factories.user(world["p"], "client", therapist=t1)
        weekly_history(c, t1, [(9, 9, 9), (4, 4, 4)], end=NOW - timedelta(days=2))
        appointment(t1, c, NOW + timedelta(days=1))
    db.session.commit()
    factories.sign_in(client, t1)
    client.get("/dashboard")
    statements = count_statements(app, lambda: client.get("/dashboard"))
    assert len(statements) <= MAX_DASHBOARD_STATEMENTS, "\n".join(statements)
    assert not any(
        "FROM check_in" in s
        and "GROUP BY" not in s
        and "comment" not in s
        and "count(" not in s.lower()
        for s in statements
    )
    assert db.session.scalar(select(func.count(CheckIn.id))) > 10


def test_anonymous_totals_and_comments_only_for_k_clients_by_month(ctx, client):
    from app.dashboard.anonymity import months_window

    p, t1, t2, *_ = team()
    month = months_window(NOW)[-1]
    day = datetime(month.year, month.month, 10, 12, tzinfo=UTC)
    people = [factories.user(p, "client", therapist=t1) for _ in range(5)]
    for i, person in enumerate(people):
        check_in(
            person,
            t1,
            (8, 8, 8),
            at=day + timedelta(days=i),
            visibility="anonymous",
            comment=f"note {i}",
        )
    few = [factories.user(p, "client", therapist=t2) for _ in range(4)]
    for (
        person
    ) in few:  # therapist 2's month is under k: hidden; so is the practice month difference
        check_in(person, t2, (2, 2, 2), at=day, visibility="anonymous", comment="HIDDEN")
    db.session.commit()
    from app.dashboard import anonymity

    anonymity.refresh(p, now=NOW)
    db.session.commit()
    factories.sign_in(client, t1)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "HIDDEN" not in page
    # Therapist 1's month would differ from the practice month by 4 clients (< k): suppressed too.
    assert "note 0" not in page and "8.0" not in page
    factories.sign_in(client, t2)
    assert "HIDDEN" not in client.get("/dashboard").get_data(as_text=True)


def test_anonymous_comments_shown_by_month_when_group_is_k(ctx, client):
    from app.dashboard import anonymity
    from app.dashboard.anonymity import months_window

    p, t1, *_ = team()
    month = months_window(NOW)[-1]
    day = datetime(month.year, month.month, 10, 12, tzinfo=UTC)
    for i in range(5):
        person = factories.user(p, "client", therapist=t1)
        check_in(
            person,
            t1,
            (8, 8, 8),
            at=day + timedelta(days=i),
            visibility="anonymous",
            comment=f"note {i}",
        )
    db.session.commit()
    anonymity.refresh(p, now=NOW)  # the periodic pass publishes the month once it has ended
    db.session.commit()
    factories.sign_in(client, t1)
    page = client.get("/dashboard").get_data(as_text=True)
    assert all(f"note {i}" in page for i in range(5)) and "8.0" in page
    assert month.strftime("%B %Y") in page
    assert day.strftime("%-d %b") not in page.split("Anonymous check-ins")[1]


def test_dashboard_with_a_snapshot_reads_no_per_client_atoms(world, client, app):
    from app.dashboard import anonymity

    anonymity.refresh(world["p"], now=NOW)
    db.session.commit()
    factories.sign_in(client, world["t1"])
    first = count_statements(app, lambda: client.get("/dashboard"))
    statements = count_statements(app, lambda: client.get("/dashboard"))
    assert len(statements) <= MAX_DASHBOARD_STATEMENTS, "\n".join(statements)
    assert len(statements) <= len(first)
    assert any("published_cell" in s for s in first)
    # The next render finds the same published rows (their stamp) and builds no cell again.
    assert any("published_period" in s for s in statements)
    assert not any("published_cell" in s for s in statements)
    for seen in (first, statements):
        assert not any("GROUP BY check_in.therapist_id" in s for s in seen)


def test_rules_from_one_session_show_as_one_entry_and_are_talked_about_together(ctx, client):
    from tests.dashboard import helpers

    _, t1, _, c1, _, _ = helpers.team()
    start = helpers.NOW - timedelta(days=1)
    appt = helpers.appointment(t1, c1, start)
    helpers.check_in(c1, t1, (9, 9, 9), at=start - timedelta(hours=1), phase="before", appt=appt)
    helpers.check_in(c1, t1, (5, 9, 4), at=start + timedelta(hours=1), appt=appt)
    db.session.commit()
    rules = db.session.scalars(select(Alert).where(Alert.client_id == c1.id)).all()
    assert len(rules) >= 2  # low item and worse than before, at least

    factories.sign_in(client, t1)
    page = client.get("/dashboard").get_data(as_text=True)
    assert page.count('class="list-row alert"') == 1
    assert page.count('class="why"') == len(rules)
    assert client.post(f"/alerts/{rules[0].id}/talked").status_code == 302
    db.session.expire_all()
    assert all(a.acknowledged_at is not None for a in db.session.scalars(select(Alert)))
    assert "Nothing needs attention" in client.get("/dashboard").get_data(as_text=True)


def _flat(statement: str) -> str:
    return " ".join(statement.split())


def practice_wide_check_in_reads(statements, therapist_id=None):
    """Statements that read check-ins beyond one therapist's own (the periodic pass's kind of query):
    with `therapist_id`, any statement in which some check_in (or alias of it) is not pinned by its own
    `therapist_id = ?` (a join by appointment alone lets PostgreSQL's planner hash every check-in of
    the practice); without one (the admin page), any read of check_in at all."""
    out = []
    for s in map(_flat, statements):
        if not re.search(r"\b(FROM|JOIN) check_in\b", s):
            continue
        aliases = re.findall(r"\bcheck_in AS (\w+)", s)
        if re.search(r"\b(FROM|JOIN) check_in(?! AS)\b", s):
            aliases.append("check_in")
        pinned = all(re.search(rf"\b{a}\.therapist_id = ", s) for a in aliases)
        if therapist_id is None or not pinned:
            out.append(s)
    return out


def grow_practice(p, therapists=2, clients=6):
    """More therapists and clients, each with months of named and anonymous after-check-ins."""
    for _ in range(therapists):
        t = factories.user(p, "therapist")
        for _ in range(clients):
            c = factories.user(p, "client", therapist=t)
            for months_back in range(1, 7):
                at = NOW - timedelta(days=30 * months_back + 3)
                check_in(c, t, (7, 8, 9), at=at, visibility="anonymous", raise_alerts=False)
                check_in(c, t, (6, 6, 6), at=at + timedelta(hours=1), raise_alerts=False)
    db.session.commit()


@pytest.mark.parametrize("role", ["t1", "admin"])
def test_render_reads_no_practice_wide_check_ins_and_its_statements_do_not_grow(
    world, client, app, role
):
    """Issue 12: no request computes practice-wide aggregates; a render costs the same number of
    statements whatever the practice's size and however many periods are published."""
    from app.dashboard import anonymity

    path = "/dashboard" if role == "t1" else "/admin"
    mine = world["t1"].id if role == "t1" else None
    factories.sign_in(client, world[role])
    client.get(path)
    small = count_statements(app, lambda: client.get(path))
    grow_practice(world["p"])
    anonymity.refresh(world["p"], now=NOW)
    db.session.commit()
    client.get(path)
    big = count_statements(app, lambda: client.get(path))
    assert len(big) == len(small) <= MAX_DASHBOARD_STATEMENTS, "\n".join(big)
    assert practice_wide_check_in_reads(small + big, therapist_id=mine) == []
    assert any("published_period" in s for s in big)


def test_the_checker_sees_a_practice_wide_read(world, app):
    """The check above would catch the periodic pass's query if a render ran it."""
    from app.dashboard import anonymity

    statements = count_statements(app, lambda: anonymity.refresh(world["p"], now=NOW))
    assert practice_wide_check_in_reads(statements, therapist_id=world["t1"].id)
    assert practice_wide_check_in_reads(statements)


def test_unpublished_periods_say_so_and_show_no_numbers_until_the_periodic_pass(ctx, client):
    from app.dashboard import anonymity

    p, t1, *_ = team()
    month = anonymity.months_window(NOW)[-1]
    day = datetime(month.year, month.month, 10, 12, tzinfo=UTC)
    for i in range(6):
        person = factories.user(p, "client", therapist=t1)
        check_in(person, t1, (8, 8, 8), at=day, visibility="anonymous", comment=f"note {i}")
    db.session.commit()
    factories.sign_in(client, t1)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "none are published yet" in page
    assert "8.0" not in page and "note 0" not in page
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    page = client.get("/dashboard").get_data(as_text=True)
    assert "8.0" in page and "note 0" in page and "none are published yet" not in page


def test_after_an_erasure_the_render_reads_the_same_published_cells_the_same_way(
    world, client, app
):
    """Issue 12: an erasure invalidates nothing a render reads, so its first render after one runs the
    same statements (no live pass) and shows the same published cells."""
    from app.dashboard import anonymity
    from app.privacy.service import erase

    grow_practice(world["p"], therapists=1)
    anonymity.refresh(world["p"], now=NOW)
    db.session.commit()
    t1 = world["t1"]
    factories.sign_in(client, t1)
    client.get("/dashboard")
    before = count_statements(app, lambda: client.get("/dashboard"))
    cells = anonymity.practice_cells(world["p"].id, now=NOW, therapist_id=t1.id)[2]
    assert cells  # something is published
    victim = db.session.scalar(select(CheckIn.client_id).where(CheckIn.visibility == "anonymous"))
    erase(db.session.get(User, victim))
    db.session.commit()
    after = count_statements(app, lambda: client.get("/dashboard"))
    assert [_flat(s) for s in after] == [_flat(s) for s in before]
    assert anonymity.practice_cells(world["p"].id, now=NOW, therapist_id=t1.id)[2] == cells


def _thursday_noon(therapist):
    """Midweek in the therapist's zone, so sessions hours either side fall in the same week."""
    from app.dashboard import stats

    return stats.week_starts(NOW, therapist.time_zone, weeks=1)[0] + timedelta(days=3, hours=12)


def test_this_weeks_links_are_the_routes_own_for_every_client(ctx):
    from flask import url_for

    from app.dashboard import pages

    p, t1, _, c1, _, _ = team()
    now = _thursday_noon(t1)
    others = [factories.user(p, "client", therapist=t1) for _ in range(11)]
    for i, person in enumerate([c1, *others]):
        appointment(t1, person, now + timedelta(hours=1 + i))
    db.session.commit()
    with ctx.test_request_context():
        rows = pages._week_rows(t1, now)
        expected = {url_for("dashboard.client", client_id=c.id) for c in [c1, *others]}
    assert len(rows) == 12 and {r.url for r in rows} == expected


def test_this_weeks_rows_escape_names_and_say_each_status(ctx):
    from app.dashboard import pages

    p, t1, _, c1, _, _ = team()
    now = _thursday_noon(t1)
    c1.display_name = '<img src=x onerror="alert(1)">&'
    late = appointment(t1, c1, now - timedelta(hours=3))  # before done, after due
    soon = appointment(t1, factories.user(p, "client", therapist=t1), now + timedelta(hours=30))
    check_in(c1, t1, (5, 5, 5), at=late.starts_at - timedelta(hours=1), phase="before", appt=late)
    db.session.commit()
    with ctx.test_request_context():
        html = "\n".join(pages.week_table(pages._week_rows(t1, now)))
    assert "<img" not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;" in html
    assert html.count("<tr>") == 2 and soon.starts_at.isoformat() in html
    assert '<td class="st-done">done</td><td class="st-due">due now</td>' in html
    assert '<td class="st-later">not yet open</td><td class="st-later">not yet open</td>' in html


def test_client_check_in_rows_escape_comments_and_write_times_as_format_when(ctx):
    from app.dashboard import pages
    from app.i18n import format_when

    _, t1, _, c1, _, _ = team()
    rows = [
        check_in(c1, t1, (1, 2, 3), at=NOW - timedelta(days=d, hours=d), phase=phase, comment=text)
        for d, phase, text in ((1, "before", "<script>x()</script>"), (9, "after", 'a "b" & c'))
    ]
    db.session.commit()
    with ctx.test_request_context():
        html = "\n".join(pages.check_in_rows(rows))
        whens = [format_when(r.created_at, "MMMEd", clock=True) for r in rows]
    assert "<script>" not in html and "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "a &#34;b&#34; &amp; c" in html
    for r, when in zip(rows, whens, strict=True):
        assert f'<td><time datetime="{r.created_at.isoformat()}">{when}</time></td>' in html
    assert "<td>before</td><td>1</td><td>2</td><td>3</td>" in html and "<td>after</td>" in html


def test_admin_therapist_rows_escape_names_and_show_dashes_for_hidden_cells():
    from types import SimpleNamespace

    from app.dashboard import pages

    theo = SimpleNamespace(display_name="<b>Theo</b> & co")
    cell = SimpleNamespace(safe=7.5, heard=8, understood=6.3)
    (row,) = pages.therapist_table([(theo, [cell, None, None, cell])])
    assert row == (
        '<tr><th scope="row">&lt;b&gt;Theo&lt;/b&gt; &amp; co</th><td>7.5 / 8.0 / 6.3</td>'
        "<td>–</td><td>–</td><td>7.5 / 8.0 / 6.3</td></tr>"
    )


def test_table_means_are_written_in_the_pages_language_with_one_decimal(ctx):
    """The weekly, anonymous and by-therapist tables write their means as the charts do, in the
    page's language ("7,5" in German), with one decimal so a column lines up."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from flask import render_template_string
    from flask_babel import force_locale

    from app.dashboard import pages, stats

    week = stats.Week(datetime(2026, 11, 2, tzinfo=UTC), safe=7.5, heard=8.0, understood=6.3)
    week.prepost, week.appointments, week.answered = -1.5, 3, 3
    cell = SimpleNamespace(safe=7.5, heard=8, understood=6.3, n_rounded=10)
    table = (
        '{% from "dashboard/_parts.html" import anonymous_table %}{{ anonymous_table(rows, "x") }}'
    )
    with ctx.test_request_context(), force_locale("de"):
        (trend,) = pages.trend_rows(["2. Nov."], [week])
        (by_therapist,) = pages.therapist_table([(SimpleNamespace(display_name="T"), [cell])])
        anonymous = render_template_string(table, rows=[("Okt. 2026", cell, True)])
    assert "<td>7,5</td><td>8,0</td><td>6,3</td><td>-1,5</td><td>100 %</td>" in trend
    assert "<td>7,5 / 8,0 / 6,3</td>" in by_therapist
    assert "<td>7,5</td><td>8,0</td><td>6,3</td>" in anonymous


def test_weekly_trend_rows_escape_labels_and_show_dashes_for_empty_weeks():
    from datetime import UTC, datetime

    from app.dashboard import pages, stats

    start = datetime(2026, 11, 2, tzinfo=UTC)
    full = stats.Week(start, safe=7.5, heard=8.0, understood=6.3, prepost=-1.5)
    full.appointments, full.answered = 4, 3
    rows = pages.trend_rows(["<i>Nov 2</i>", "Nov 9"], [full, stats.Week(start)])
    assert rows == [
        '<tr><th scope="row">&lt;i&gt;Nov 2&lt;/i&gt;</th><td>7.5</td><td>8.0</td><td>6.3</td>'
        "<td>-1.5</td><td>75 %</td></tr>",
        '<tr><th scope="row">Nov 9</th><td>–</td><td>–</td><td>–</td><td>–</td><td>–</td></tr>',
    ]


def test_client_pairs_table_dates_each_session_by_its_start_in_the_viewers_zone(world, client, ctx):
    """The before/after table's times are written once for the table (pages._timed_pairs): each row
    still shows its own session's start, whichever check-in the pair has, as format_when writes it in
    the therapist's zone."""
    from flask import g

    from app.i18n import format_when

    t1, c1 = world["t1"], world["c1"]
    t1.time_zone = "America/New_York"
    early = appointment(t1, c1, NOW - timedelta(days=3, hours=5))
    late = appointment(t1, c1, NOW - timedelta(hours=5))
    check_in(
        c1, t1, (3, 4, 5), at=late.starts_at - timedelta(minutes=30), phase="before", appt=late
    )
    done = early.starts_at + timedelta(minutes=55)
    check_in(c1, t1, (6, 6, 6), at=done, phase="after", appt=early, raise_alerts=False)
    db.session.commit()
    factories.sign_in(client, t1)
    page = client.get(f"/clients/{c1.id}").get_data(as_text=True)
    with ctx.test_request_context():
        g.user = t1
        for at in (early.starts_at, late.starts_at):
            shown = f'<th scope="row"><time datetime="{at.isoformat()}">'
            assert shown + f"{format_when(at, 'MMMEd', clock=True)}</time></th>" in page
