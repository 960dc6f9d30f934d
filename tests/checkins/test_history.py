"""The client's history reads true (issue 11.4): before and after answers are separate panels over the
session's date, and every answer is shown with the session it belongs to.

The trap: 3/2/2 after one session, then 9/9/10 before the next, drawn as one line in time order, rises
and looks like improvement; they answer different questions about different things.
"""

import re
import secrets
from datetime import UTC, datetime, timedelta

from app.checkins.history import Session, by_session, panels
from app.extensions import db
from app.models import Appointment, CheckIn
from tests import factories
from tests.checkins.helpers import people

MON = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday, session 1
NEXT = MON + timedelta(weeks=1)  # session 2


def answer(phase, scores, *, at, appointment=None, **kw) -> CheckIn:
    safe, heard, understood = scores
    return CheckIn(
        appointment=appointment,
        appointment_id=appointment.id if appointment is not None else None,
        phase=phase,
        safe=safe,
        heard=heard,
        understood=understood,
        created_at=at,
        comment=kw.pop("comment", ""),
        visibility=kw.pop("visibility", "named"),
        **kw,
    )


def session_pair():
    """Session 1 went badly (after 3/2/2, sent late, after the before of session 2 was sent);
    session 2's before is 9/9/10."""
    first = Appointment(id=1, starts_at=MON, duration_minutes=50)
    second = Appointment(id=2, starts_at=NEXT, duration_minutes=50)
    before_1 = answer("before", (8, 8, 8), at=MON - timedelta(hours=3), appointment=first)
    before_2 = answer("before", (9, 9, 10), at=NEXT - timedelta(hours=20), appointment=second)
    late_after_1 = answer("after", (3, 2, 2), at=NEXT - timedelta(hours=19), appointment=first)
    newest_first = [late_after_1, before_2, before_1]
    return newest_first, first, second


def points(svg: str) -> list[str]:
    """The circles' titles, in the order the chart draws them (series by series, left to right)."""
    return re.findall(r"<title>([^<]+)</title>", str(svg))


def test_answers_group_by_session_in_session_date_order_not_send_order():
    newest_first, first, second = session_pair()
    sessions = by_session(newest_first)
    assert [s.starts_at for s in sessions] == [MON, NEXT]
    assert (sessions[0].before.safe, sessions[0].after.safe) == (8, 3)
    assert (sessions[1].before.safe, sessions[1].after) == (9, None)


def test_unscheduled_answers_stand_alone_at_their_own_time():
    newest_first, _first, _second = session_pair()
    loose = answer("after", (5, 5, 5), at=MON + timedelta(days=3))
    sessions = by_session([loose, *newest_first])
    assert [s.when for s in sessions] == [MON, loose.created_at, NEXT]
    assert sessions[1] == Session(None, None, loose)


def test_before_and_after_are_separate_panels_on_one_session_axis(in_request):
    newest_first, _first, _second = session_pair()
    (before_title, before_svg), (after_title, after_svg) = panels(by_session(newest_first))
    assert (before_title, after_title) == ("Before the session", "After the session")
    # The after panel holds only after-answers: session 1's 3, a gap at session 2 (nothing rises to 9).
    assert points(after_svg) == ["Safe: 3", "Heard: 2", "Understood: 2"]
    assert "<polyline" not in str(after_svg)
    assert points(before_svg)[:2] == ["Safe: 8", "Safe: 9"]
    # Both panels label the x axis with the session dates, oldest left.
    for svg in (before_svg, after_svg):
        assert re.findall(r">(\w{3} \d+)</text>", str(svg)) == ["Nov 2", "Nov 9"]


def test_a_phase_without_answers_has_no_panel(in_request):
    only_after = [answer("after", (7, 7, 7), at=MON)]
    assert [title for title, _svg in panels(by_session(only_after))] == ["After the session"]


def test_the_chart_shows_the_last_sessions_only(in_request):
    many = [answer("after", (i % 11, 5, 5), at=MON + timedelta(days=i)) for i in range(25)]
    ((_title, svg),) = panels(by_session(many), last=20)
    assert points(svg)[0] == "Safe: 5" and len(points(svg)) == 60


def _store(me, therapist, phase, scores, *, at, appointment=None):
    row = answer(
        phase,
        scores,
        at=at,
        appointment=appointment,
        client_id=me.id,
        therapist_id=therapist.id,
        idempotency_key=secrets.token_hex(8),
        body_hash="x",
        received_at=at,
    )
    db.session.add(row)
    db.session.flush()
    return row


def test_history_page_has_two_panels_and_names_each_answers_session(ctx, client):
    _, therapist, me = people()
    first = factories.appointment(therapist, me, MON)
    second = factories.appointment(therapist, me, NEXT)
    _store(me, therapist, "before", (9, 9, 10), at=NEXT - timedelta(hours=20), appointment=second)
    _store(me, therapist, "after", (3, 2, 2), at=NEXT - timedelta(hours=19), appointment=first)
    _store(me, therapist, "after", (6, 6, 6), at=MON + timedelta(days=3))
    factories.sign_in(client, me)
    html = client.get("/my-check-ins").get_data(as_text=True)

    figures = re.findall(r"<figcaption[^>]*>([^<]+)</figcaption>", html)
    assert figures == ["Before the session", "After the session"]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(\w+)</td><td>(\d+)</td>", html)
    session_of = {(phase, int(safe)): re.sub(r"<[^>]+>", "", label) for label, phase, safe in rows}
    # Newest session first; the late after-answer sits with session 1, not between the others.
    assert [(phase, int(safe)) for _label, phase, safe in rows] == [
        ("before", 9),
        ("after", 6),
        ("after", 3),
    ]
    assert session_of == {
        ("before", 9): "Nov 9, 2026",
        ("after", 3): "Nov 2, 2026",
        ("after", 6): "none",
    }
    entries = html.split('id="check-in-list"')[1]
    listed = [re.sub(r"<[^>]+>", "", x) for x in re.findall(r"<strong>(.*?)</strong>", entries)]
    assert listed == [
        "Session of Mon, Nov 9, 2026, 10:00\u202fAM",  # English as CLDR writes it
        "No scheduled session",
        "Session of Mon, Nov 2, 2026, 10:00\u202fAM",
    ]
