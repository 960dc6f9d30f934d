"""HTTP for sign-in and sign-out (thin: parse, authorise, render). Invites are in invite_views.py, the
account page in account_views.py; what they do lives in ceremonies.py."""

import logging

from flask import current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import generate_csrf

from ..extensions import db, limiter
from ..inputs import json_object
from ..models import Credential, utcnow
from ..web_session import login_required, safe_next
from . import bp, ceremonies, passkeys, sessions

log = logging.getLogger("attune.auth")
AUTH_LIMIT = "20/minute"


def relying_party() -> passkeys.RelyingParty:
    cfg = current_app.config
    return passkeys.RelyingParty(id=cfg["RP_ID"], name=cfg["RP_NAME"], origin=cfg["ORIGIN"])


# What each ceremony's JSON body may hold (inputs.json_object refuses anything else).
SIGN_IN_FIELDS = ("credential", "next", "reauth")
INVITE_FIELDS = ("display_name", "time_zone")
REGISTER_FIELDS = (*INVITE_FIELDS, "credential", "nickname")


def failed(err: Exception):
    """The JSON answer for one of ceremonies.AUTH_ERRORS; nothing from the attempt is kept."""
    db.session.rollback()
    payload = {"error": str(err)}
    if err.field:
        payload["field"] = err.field
    return jsonify(payload), err.status


def begin_session(credential: Credential, *, now) -> None:
    """Start a fresh session: a new cookie, so a pre-sign-in cookie is useless afterwards."""
    token = sessions.start(
        credential.user, now=now, user_agent=request.user_agent.string, credential=credential
    )
    session.clear()
    session.permanent = True
    session["sid"] = token
    generate_csrf()  # made now, so later pages never have to change the cookie


def signed_out():
    session.clear()
    response = redirect(url_for("auth.sign_in", signed_out=1))
    response.headers["Clear-Site-Data"] = sessions.CLEAR_SITE_DATA
    return response


@bp.get("/signin")
def sign_in():
    if g.user is not None and not request.args.get("reauth"):
        return redirect(url_for("core.index"))
    return render_template("auth/signin.html", next=safe_next(request.args.get("next"), "/"))


@bp.post("/api/auth/signin/options")
@limiter.limit(AUTH_LIMIT)
def sign_in_options():
    options, handle = passkeys.authentication_options(relying_party(), now=utcnow())
    session["challenge"] = handle
    return jsonify(options)


@bp.post("/api/auth/signin/verify")
@limiter.limit(AUTH_LIMIT)
def sign_in_verify():
    body, now = json_object(*SIGN_IN_FIELDS), utcnow()
    handle = session.pop("challenge", None)
    try:
        row = ceremonies.sign_in(relying_party(), handle, body.get("credential"), now=now)
    except ceremonies.AUTH_ERRORS as err:
        return failed(err)
    if g.user_session is not None and g.user.id == row.user_id and body.get("reauth"):
        sessions.reauthenticated(g.user_session, row, now=now)
    else:
        begin_session(row, now=now)
    db.session.commit()
    log.info("signed in user=%s role=%s", row.user_id, row.user.role)
    return jsonify(redirect=safe_next(body.get("next"), url_for("core.index")))


@bp.post("/signout")
def sign_out():
    if g.user_session is not None:
        sessions.revoke(g.user_session, now=utcnow())
        db.session.commit()
        log.info("signed out user=%s", g.user.id)
    return signed_out()


@bp.post("/account/sessions/revoke-all")
@login_required()
def sign_out_everywhere():
    count = sessions.revoke_all(g.user.id, now=utcnow())
    db.session.commit()
    log.info("signed out everywhere user=%s sessions=%s", g.user.id, count)
    return signed_out()


@bp.get("/api/session")
def session_info():
    """What the offline outbox needs before it sends: am I signed in, and a CSRF token."""
    if g.user is None:
        return jsonify(signed_in=False), 401
    return jsonify(signed_in=True, role=g.user.role, csrf_token=generate_csrf())
