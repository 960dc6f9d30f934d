"""HTTP views (thin: parse, authorise, render)."""

from flask import current_app, g, jsonify, render_template, request
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from ..auth.recovery import visible_since
from ..errors import error_response
from ..extensions import csrf, db, limiter
from ..i18n import plural_samples
from ..inputs import body_json
from ..models import utcnow
from ..web_session import (
    columns_only,
    load_deferred,
    login_required,
    session_in_view,
    signed_in_as,
    token_hash,
)
from . import bp, fast_path, queries, service
from .history import by_session, panels

SUBMIT_LIMIT = "60/minute"


def _per_user() -> str:
    user = g.get("user")
    if user is not None:
        return f"user:{user.id}"
    token = g.get("session_token")  # a `session_in_view` route checks its limit before the lookup
    if token:
        return f"session:{token_hash(token)}"
    return f"ip:{request.remote_addr}"


def _owner(user) -> str:
    return service.owner_tag(user.id, secret=current_app.secret_key)


def unsent_warnings() -> dict[str, str]:
    """Every plural form of "N check-ins not sent yet" in the page's language, with {n} for N: only the
    phone knows N, so its script picks the form with Intl.PluralRules (the same CLDR rules as Babel)."""
    return {
        form: ngettext(
            "%(count)s check-in not sent yet.", "%(count)s check-ins not sent yet.", n, count="{n}"
        )
        for form, n in plural_samples(str(get_locale())).items()
    }


@bp.app_context_processor
def outbox_meta() -> dict:
    """What base.html tells a signed-in page about the phone's queue: whose it is, and the sign-out warning."""
    return {"outbox_owner": lambda: _owner(g.user), "unsent_warnings": unsent_warnings}


@bp.get("/home")
@login_required("client")
def home():
    state = queries.home_state(g.user, now=utcnow(), since=visible_since(g.user_session))
    return render_template("checkins/home.html", **state)


@bp.get("/my-check-ins")
@login_required("client")
def history():
    sessions = by_session(queries.history(g.user, since=visible_since(g.user_session)))
    return render_template(
        "checkins/history.html", sessions=sessions[::-1], panels=panels(sessions)
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


@bp.post("/check-in")
@csrf.exempt  # it reads and changes nothing; a CSRF refusal would only give a misleading reason
def check_in_without_script():
    """The check-in form as the browser itself sends it: JavaScript off, or Send tapped before the script
    ran. Check-ins travel only as JSON from the script, so this reads nothing from the form: the note is
    not stored, not echoed and (a POST, not a GET) never in a URL, a log line or a Referer."""
    return error_response(
        400,
        _("Your check-in was not sent: check-ins need JavaScript turned on. Nothing was saved."),
    )


@bp.get("/api/check-ins/owner")
@columns_only
@login_required()
def owner():
    """Who is signed in, as the phone's queue names them, and the CSRF token to send with. The page and
    the service worker ask before each flush and send only that person's items (issue 9.4)."""
    return jsonify(owner=_owner(g.user), csrf_token=generate_csrf())


@bp.post("/api/check-ins")
@session_in_view  # the session is checked in the insert's own statement (issue 12)
@limiter.limit(SUBMIT_LIMIT, key_func=_per_user)  # per signed-in device: checked before the lookup
def submit():
    now = utcnow()
    try:
        data, refused = service.parse(body_json(), now=now), None  # the body, parsed once
    except service.CheckInError as err:
        data, refused = None, err  # answered after the session check: 401 or 403 come first
    token = g.get("session_token")
    if token and data is not None:
        with fast_path.connection() as connection:  # closing it rolls back what was not committed
            stored = fast_path.submit(
                connection, token, data, now=now, secret=current_app.secret_key
            )
            if stored is not None:
                connection.commit()
        if stored is not None:
            row, created, session_id = stored
            signed_in_as(session_id, row.client_id, "client")
            return jsonify(service.to_json(row)), 201 if created else 200
    load_deferred(also=service.link_columns)  # the usual way decides what the fast path did not
    return _submit_usual(now, data, refused)


@login_required("client")
def _submit_usual(now, data, refused):
    """The check-in with the session read first (app/checkins/fast_path.py did not settle it): its
    refusals, touches, and replays of other answers."""
    try:
        if refused is not None:
            raise refused
        row, created = service.submit(
            g.user,
            data,
            now=now,
            client_owner=_owner(g.user),
            link=g.session_extra,
            cutoff=visible_since(g.user_session),
        )
    except service.CheckInError as err:
        db.session.rollback()
        payload = {"error": str(err.message)}
        if err.field:
            payload["field"] = err.field
        return jsonify(payload), err.status
    result = service.to_json(row)
    db.session.commit()
    return jsonify(result), 201 if created else 200
