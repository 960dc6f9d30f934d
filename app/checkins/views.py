"""HTTP views (thin: parse, authorise, render)."""

import json

from flask import current_app, g, jsonify, render_template, request
from flask_babel import gettext as _

from ..auth.recovery import visible_since
from ..extensions import db, limiter
from ..models import utcnow
from ..web_session import login_required
from . import bp, chart, queries, service

SUBMIT_LIMIT = "60/minute"


def _per_user() -> str:
    user = g.get("user")
    return f"user:{user.id}" if user is not None else f"ip:{request.remote_addr}"


@bp.get("/home")
@login_required("client")
def home():
    state = queries.home_state(g.user, now=utcnow())
    return render_template("checkins/home.html", **state)


@bp.get("/my-check-ins")
@login_required("client")
def history():
    rows = queries.history(g.user, since=visible_since(g.user_session, utcnow()))
    return render_template(
        "checkins/history.html", rows=rows, lines=chart.lines(rows), grid=chart.grid(), chart=chart
    )


@bp.get("/check-in")
def check_in():
    """The app-shell check-in page: no personal data, so the service worker may cache it."""
    g.shell_page = True
    phase = request.args.get("phase") if request.args.get("phase") in ("before", "after") else None
    appointment = request.args.get("appointment", "")
    html = render_template(
        "checkins/check_in.html",
        shell=True,
        phase=phase or ("after" if appointment else "before"),
        scheduled=bool(appointment),
    )
    response = current_app.make_response(html)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _json_body():
    """The request body as JSON, or None for anything unparsable (including absurd nesting)."""
    try:
        return json.loads(request.get_data(cache=False) or b"")
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None


@bp.post("/api/check-ins")
@login_required("client")
@limiter.limit(SUBMIT_LIMIT, key_func=_per_user)
def submit():
    now = utcnow()
    body = _json_body()
    try:
        data = service.parse(body, now=now)
        row, created = service.submit(g.user, data, now=now)
    except service.CheckInError as err:
        db.session.rollback()
        payload = {"error": _(err.message)}
        if err.field:
            payload["field"] = err.field
        return jsonify(payload), err.status
    result = service.to_json(row)
    db.session.commit()
    return jsonify(result), 201 if created else 200
