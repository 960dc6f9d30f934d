"""Read-side helpers that gather what each page shows; the views only authorise and render."""

from datetime import datetime
from typing import NamedTuple

from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import bindparam, select

from .. import alerts
from ..charts import Series, item_chart, line_chart
from ..extensions import db
from ..i18n import MEAN, decimal_writer, format_many, format_when
from ..models import Alert, Appointment, CareLink, CheckIn, User
from ..reminders.status import reminder_status
from . import anonymity, snapshots, stats


def my_client(therapist: User, client_id: int) -> User | None:
    """The client when this therapist looks after (or looked after) them, else None."""
    return db.session.scalar(
        select(User)
        .join(CareLink, CareLink.client_id == User.id)
        .where(User.id == client_id, User.role == "client", CareLink.therapist_id == therapist.id)
    )


def dashboard(user: User, *, now: datetime) -> dict:
    weeks = stats.weekly(user.id, now=now, tz_name=user.time_zone)
    labels = format_many([w.start for w in weeks], "MMMd")
    window = anonymity.published_window(user.practice_id, now=now, therapist_id=user.id)
    months, shown = window.months, window.shown
    shown_months = snapshots.shown_months(shown, user.id)
    return {
        "appointments": week_table(_week_rows(user, now)),
        "alerts": alerts.grouped(alerts.open_alerts(user.id, now=now)),
        "trend_rows": trend_rows(labels, weeks),
        "trend_chart": item_chart(labels, weeks, _("Weekly after-session means, last 12 weeks")),
        "change_chart": line_chart(
            labels,
            [Series(_("Change"), "s1", [w.prepost for w in weeks])],
            lo=-10,
            hi=10,
            label=_("Weekly mean change from before to after the session, total of 30"),
        ),
        "rate_chart": line_chart(
            labels,
            [Series(_("Response rate"), "s2", [w.response_rate for w in weeks])],
            lo=0,
            hi=100,
            label=_("Weekly share of sessions with an after-session check-in, percent"),
        ),
        "anonymous": _anonymous_rows(user.id, window),
        "comments": [
            (format_when(months[m], "yMMMM"), texts)
            for m, texts in sorted(anonymity.comments(user.id, months, shown_months).items())
        ],
        "describe": alerts.describe,
    }


class WeekRow(NamedTuple):
    """One session of this week's table, with its time written and its link built here: a week can
    hold a couple of hundred sessions, and a template macro per cell cost more than the query."""

    starts_at: datetime
    when: str
    url: str
    display_name: str
    status: dict


def _week_rows(user: User, now: datetime) -> list[WeekRow]:
    rows = stats.this_week(user.id, now=now, tz_name=user.time_zone)
    whens = format_many([r.starts_at for r in rows], "MMMEd", clock=True)
    # One url_for for the table (a routing build per row was 10 us): /clients/<int:id> with the id last.
    prefix = url_for("dashboard.client", client_id=0).removesuffix("0")
    return [
        WeekRow(
            r.starts_at,
            when,
            f"{prefix}{int(r.client_id)}",
            r.display_name,
            stats.check_in_status(r, now=now),
        )
        for r, when in zip(rows, whens, strict=True)
    ]


def week_table(rows: list[WeekRow]) -> list[Markup]:
    """This week's table rows as escaped HTML, written here rather than in the template: Jinja's
    attribute lookups, escapes and calls cost ~20 us a row, and a week can hold 200 sessions."""
    words = {
        "done": _("done"),
        "due": _("due now"),
        "missing": _("missing"),
        "later": _("not yet open"),
    }
    cells = {key: f'<td class="st-{key}">{escape(word)}</td>' for key, word in words.items()}
    out = []
    for r in rows:
        status = r.status
        out.append(
            Markup(
                f'<tr><td><time datetime="{r.starts_at.isoformat()}">{escape(r.when)}</time>'
                f'</td><td><a href="{escape(r.url)}">{escape(r.display_name)}</a></td>'
                f"{cells[status['before']]}{cells[status['after']]}</tr>"
            )
        )
    return out


def trend_rows(labels: list[str], weeks: list[stats.Week]) -> list[Markup]:
    """The weekly trends table as escaped HTML (a template macro call per cell cost more than the
    statement behind the figures); an empty week shows a dash."""

    mean, whole = decimal_writer(MEAN), decimal_writer()

    def cell(value, write=mean, unit=""):
        return "<td>–</td>" if value is None else f"<td>{escape(write(value))}{unit}</td>"

    return [
        Markup(
            f'<tr><th scope="row">{escape(label)}</th>{cell(w.safe)}{cell(w.heard)}'
            f"{cell(w.understood)}{cell(w.prepost)}{cell(w.response_rate, whole, ' %')}</tr>"
        )
        for label, w in zip(labels, weeks, strict=True)
    ]


def _anonymous_rows(scope, window: anonymity.Window):
    """(label, Shown or None, published) for the months and quarters of one scope, newest first: a
    period not published yet says so rather than "not enough responses" (nothing is computed live)."""
    months, quarters = window.months, window.quarters
    periods = [(format_when(m, "yMMMM"), "m", i) for i, m in enumerate(months)]
    periods += [(anonymity.quarter_label(months, q), "q", i) for i, q in enumerate(quarters)]
    rows = [
        (label, window.shown.get(anonymity.Cell(scope, kind, i)), (kind, i) in window.decided)
        for label, kind, i in periods
    ]
    return rows[::-1]


def _client_check_ins():
    """A client's named check-ins with their session's start, newest first, as plain rows (built once):
    the ORM objects and the appointments' second query cost more than reading the rows (issue 12)."""
    return (
        select(
            CheckIn.id,
            CheckIn.created_at,
            CheckIn.phase,
            CheckIn.safe,
            CheckIn.heard,
            CheckIn.understood,
            CheckIn.comment,
            CheckIn.appointment_id,
            Appointment.starts_at.label("session_start"),
        )
        .outerjoin(Appointment, Appointment.id == CheckIn.appointment_id)
        .where(
            CheckIn.client_id == bindparam("client"),
            CheckIn.therapist_id == bindparam("therapist"),
            CheckIn.visibility == "named",
        )
        .order_by(CheckIn.created_at.desc())
        .limit(500)
    )


CLIENT_CHECK_INS = _client_check_ins()


def client_page(therapist: User, client: User, *, now: datetime) -> dict:
    """A client's page for their therapist (a session whose past is locked never gets here:
    app/auth/gate.py)."""
    params = {"client": client.id, "therapist": therapist.id}
    check_ins = stats.read(CLIENT_CHECK_INS, params).all()
    afters = [c for c in check_ins if c.phase == "after"][:20][::-1]
    labels = format_many([c.created_at for c in afters], "MMMd")
    return {
        "client": client,
        "check_ins": check_ins,
        "check_in_rows": check_in_rows(check_ins),
        "chart": item_chart(labels, afters, _("After-session ratings over time"))
        if afters
        else None,
        "pairs": _timed_pairs(_pairs(check_ins)),
        "alerts": db.session.scalars(
            select(Alert)
            .where(Alert.client_id == client.id, Alert.therapist_id == therapist.id)
            .order_by(Alert.created_at.desc())
            .limit(100)
        ).all(),
        "next_appointments": db.session.scalars(
            select(Appointment)
            .where(
                Appointment.client_id == client.id,
                Appointment.therapist_id == therapist.id,
                Appointment.status == "scheduled",
                Appointment.starts_at >= now,
            )
            .order_by(Appointment.starts_at)
            .limit(5)
        ).all(),
        "reminders": reminder_status(client),
        "describe": alerts.describe,
    }


def check_in_rows(check_ins) -> list[Markup]:
    """The client's check-in table rows as escaped HTML, times written by one format_many: up to 500
    rows, where a template macro and format_when per row cost more than the query."""
    phases = {"before": _("before"), "after": _("after")}
    whens = format_many([c.created_at for c in check_ins], "MMMEd", clock=True)
    return [
        Markup(
            f'<tr data-check-in="{int(c.id)}"><td><time datetime="{escape(c.created_at.isoformat())}">'
            f"{escape(when)}</time></td><td>{escape(phases[c.phase])}</td><td>{int(c.safe)}</td>"
            f"<td>{int(c.heard)}</td><td>{int(c.understood)}</td><td>{escape(c.comment)}</td></tr>"
        )
        for c, when in zip(check_ins, whens, strict=True)
    ]


def _pairs(check_ins):
    """Before and after per appointment, newest first."""
    by_appt = {}
    for c in check_ins:
        if c.appointment_id:
            by_appt.setdefault(c.appointment_id, {})[c.phase] = c
    return sorted(
        by_appt.values(), key=lambda p: (p.get("after") or p["before"]).created_at, reverse=True
    )[:20]


def _timed_pairs(pairs) -> list[tuple[dict, datetime, str]]:
    """(pair, when its session started, that time written) for the pairs table: one format_many for
    the table rather than a date formatting per row in the template."""
    starts = [_started(p.get("before") or p["after"]) for p in pairs]
    return list(zip(pairs, starts, format_many(starts, "MMMEd", clock=True), strict=True))


def _started(check_in) -> datetime:
    return check_in.session_start or check_in.created_at


def admin_overview(practice, *, now: datetime) -> dict:
    """Practice-wide aggregates over all after-check-ins, k-anonymous across therapists too."""
    months = anonymity.months_window(now)
    quarters = anonymity.quarters_of(months)
    periods = [(format_when(months[i], "yMMM"), "m", i) for i in range(len(months))][-3:]
    if quarters:
        periods.append((anonymity.quarter_label(months, quarters[-1]), "q", len(quarters) - 1))
    window = anonymity.published_window(
        practice.id,
        now=now,
        visibilities=("named", "anonymous"),
        periods=[(kind, i) for _label, kind, i in periods],
    )
    therapists = db.session.execute(
        select(User.id, User.display_name)
        .where(User.practice_id == practice.id, User.role == "therapist")
        .order_by(User.display_name)
    ).all()
    return {
        "practice_rows": _anonymous_rows(None, window),
        "periods": [(label, (kind, i) in window.decided) for label, kind, i in periods],
        "therapist_rows": therapist_table(
            [
                (
                    t,
                    [
                        window.shown.get(anonymity.Cell(t.id, kind, i))
                        for _label, kind, i in periods
                    ],
                )
                for t in therapists
            ]
        ),
        "k": practice.k_anonymity,
    }


def therapist_table(rows) -> list[Markup]:
    """The admin's by-therapist rows ((therapist, cells)) as escaped HTML: 200 therapists times four
    periods at issue 12's size, where the template's per-cell work cost more than reading the cells."""
    mean, out = decimal_writer(MEAN), []
    for therapist, cells in rows:
        tds = "".join(
            f"<td>{escape(mean(c.safe))} / {escape(mean(c.heard))} / {escape(mean(c.understood))}</td>"
            if c
            else "<td>–</td>"
            for c in cells
        )
        out.append(Markup(f'<tr><th scope="row">{escape(therapist.display_name)}</th>{tds}</tr>'))
    return out
