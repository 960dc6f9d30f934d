"""HTTP views (thin: parse, authorise, render)."""

from flask import abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from wtforms.fields.choices import SelectChoice

from ..audit import record
from ..extensions import db
from ..models import utcnow
from ..web_session import login_required
from . import bp, service
from .forms import CancelForm, EditForm, ScheduleForm


def _schedule_form() -> ScheduleForm:
    form = ScheduleForm()
    form.client_id.choices = [
        SelectChoice(c.id, c.display_name) for c in service.clients_of(g.user)
    ]
    return form


def _when(form) -> dict:
    """The local date, time and length a schedule or edit form asks for."""
    return {
        "local_date": form.date.data,
        "local_time": form.time.data,
        "duration": form.duration.data,
    }


def _saved(change):
    """Run one scheduling change and commit it; a refused change is a 422 with its reason, nothing kept."""
    try:
        rows = change()
    except service.ScheduleError as err:
        db.session.rollback()
        abort(422, str(err))
    db.session.commit()
    return rows


def _own_or_404(appointment_id: int):
    row = service.own(g.user, appointment_id)
    if row is None:
        abort(404)
    return row


@bp.get("/appointments")
@login_required("therapist")
def index():
    """The therapist's schedule: client names and times, so reading it is audited (HIPAA 164.312(b))."""
    record(g.user, "view_appointments", target_type="user", target_id=g.user.id)
    html = _schedule_page(_schedule_form())
    db.session.commit()  # after rendering: the commit would expire the rows it shows
    return html


def _schedule_page(form) -> str:
    rows = service.upcoming(g.user, now=utcnow())
    return render_template("appointments/index.html", rows=rows, form=form)


@bp.post("/appointments")
@login_required("therapist")
def create():
    form = _schedule_form()
    if not form.validate_on_submit():
        return _schedule_page(form), 422  # a refused form changes nothing, not even the log
    client = next(c for c in service.clients_of(g.user) if c.id == form.client_id.data)
    made = _saved(
        lambda: service.schedule(g.user, client, **_when(form), weeks=form.weeks.data, now=utcnow())
    )
    flash(ngettext("%(num)s appointment scheduled.", "%(num)s appointments scheduled.", len(made)))
    return redirect(url_for("appointments.index"))


@bp.route("/appointments/<int:appointment_id>/edit", methods=["GET", "POST"])
@login_required("therapist")
def edit(appointment_id):
    row = _own_or_404(appointment_id)
    form = EditForm()
    if not form.is_submitted():
        form.date.data, form.time.data = service.local_parts(row.starts_at, g.user.time_zone)
        form.duration.data = row.duration_minutes
    elif form.validate():
        moved = _saved(
            lambda: service.move(
                row, **_when(form), scope=form.scope.data, tz_name=g.user.time_zone, now=utcnow()
            )
        )
        flash(ngettext("%(num)s appointment moved.", "%(num)s appointments moved.", len(moved)))
        return redirect(url_for("appointments.index"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "appointments/edit.html", row=row, form=form, cancel=CancelForm()
    ), status


@bp.post("/appointments/<int:appointment_id>/cancel")
@login_required("therapist")
def cancel(appointment_id):
    row = _own_or_404(appointment_id)
    form = CancelForm()
    if not form.validate_on_submit():
        abort(400, _("Choose which appointments to cancel."))
    cancelled = service.cancel(row, scope=form.scope.data, now=utcnow())
    db.session.commit()
    flash(
        ngettext(
            "%(num)s appointment cancelled.", "%(num)s appointments cancelled.", len(cancelled)
        )
    )
    return redirect(url_for("appointments.index"))
