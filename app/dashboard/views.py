"""Therapist views (thin: parse, authorise, render). Admin views are in admin_views.py."""

from flask import Response, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import alerts
from ..audit import record
from ..extensions import db
from ..models import Alert, utcnow
from ..web_session import login_required, safe_next
from . import bp, exports, pages, stats


@bp.get("/dashboard")
@login_required("therapist")
def index():
    """The therapist's first screen: this week, needs attention, trends, anonymous totals."""
    context = pages.dashboard(g.user, now=utcnow())
    record(g.user, "view_dashboard", target_type="user", target_id=g.user.id)
    return _render_then_commit("dashboard/index.html", context)


@bp.get("/clients/<int:client_id>")
@login_required("therapist")
def client(client_id):
    person = pages.my_client(g.user, client_id) or abort(404)
    context = pages.client_page(g.user, person, now=utcnow())
    record(g.user, "view_client", target_type="user", target_id=person.id)
    return _render_then_commit("dashboard/client.html", context)


def _render_then_commit(template: str, context: dict) -> str:
    """The audit row is written last (SQLite's write lock is held only briefly) and commits with the
    read; rendering before the commit avoids reloading rows that the commit would expire."""
    html = render_template(template, **context)
    db.session.commit()
    return html


@bp.post("/alerts/<int:alert_id>/talked")
@login_required("therapist")
def talked_about(alert_id):
    """Mark an alert 'talked about it' (it stays, with the date)."""
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.therapist_id != g.user.id:
        abort(404, _("We could not find that alert."))
    alerts.acknowledge(alert, user=g.user, now=utcnow())
    db.session.commit()
    default = url_for("dashboard.client", client_id=alert.client_id)
    return redirect(safe_next(request.form.get("next"), default))


@bp.post("/export/check-ins.csv")
@login_required("therapist")
def export_check_ins():
    body = exports.named_check_ins(g.user.id)
    record(g.user, "export_check_ins", target_type="user", target_id=g.user.id)
    db.session.commit()
    return _csv(body, "attune-check-ins.csv")


@bp.post("/export/aggregates.csv")
@login_required("therapist")
def export_aggregates():
    weeks = stats.weekly(g.user.id, now=utcnow(), tz_name=g.user.time_zone)
    record(g.user, "export_aggregates", target_type="user", target_id=g.user.id)
    db.session.commit()
    return _csv(exports.aggregates(weeks), "attune-weekly.csv")


def _csv(body: str, name: str) -> Response:
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


from . import admin_views  # noqa: E402,F401
