"""HTTP for recovery codes and the hold page (thin: parse, authorise, render); what they do is in codes.py,
ceremonies.py and recovery.py."""

import logging

from flask import current_app, g, jsonify, redirect, render_template, request, session, url_for

from ..extensions import db, limiter
from ..inputs import json_object
from ..models import utcnow
from ..web_session import login_required, safe_next
from . import bp, ceremonies, codes, gate, recovery, sessions
from .errors import AuthError
from .views import begin_session, failed, relying_party

log = logging.getLogger("attune.auth")
# Guessing codes: a few tries a minute from one address, and for one signed-in account (SECURITY 29).
CODE_LIMIT = "5/minute;30/hour"


def _per_user() -> str:
    return f"user:{g.user.id}" if g.get("user") is not None else f"ip:{request.remote_addr}"


def refused(err: AuthError):
    """A refused code: the guess's audit row (codes.find) is kept, nothing else."""
    if isinstance(err, codes.CodeError):
        db.session.commit()
        return jsonify(error=str(err), field=err.field), err.status
    return failed(err)


@bp.get("/recover")
def recover():
    """A lost device: a new passkey with the recovery code the person saved, no one else involved."""
    return render_template("auth/recover.html")


@bp.post("/api/recover/options")
@limiter.limit(CODE_LIMIT)
def recover_options():
    body = json_object("code")
    try:
        options, handle = ceremonies.recover_options(relying_party(), body, now=utcnow())
    except ceremonies.AUTH_ERRORS as err:
        return refused(err)
    session["challenge"] = handle
    return jsonify(options)


@bp.post("/api/recover/verify")
@limiter.limit(CODE_LIMIT)
def recover_verify():
    body, now = json_object("credential"), utcnow()
    handle = session.pop("challenge", None)
    try:
        row = ceremonies.recover_with_code(relying_party(), handle, body, now=now)
    except ceremonies.AUTH_ERRORS as err:
        return refused(err)
    begin_session(row, now=now)
    db.session.commit()
    recovery.passkeys_changed.send(current_app._get_current_object(), user_id=row.user_id, at=now)
    log.info("recovered with a code user=%s", row.user_id)
    return jsonify(redirect=url_for("core.index"))


@bp.get("/account/hold")
@login_required()
def hold():
    """What a device a recovery link added may do, and how the person unlocks it."""
    if recovery.visible_since(g.user_session) is None:
        return redirect(url_for("auth.account"))
    return gate.hold_page()


@bp.post("/account/hold/unlock")
@login_required()
@limiter.limit(CODE_LIMIT, key_func=_per_user)
def unlock_with_code():
    if recovery.visible_since(g.user_session) is None:  # nothing to unlock; the code stays unspent
        return redirect(url_for("auth.account"))
    try:
        ceremonies.unlock_with_code(g.user, g.user_session, request.form.get("code"), now=utcnow())
    except ceremonies.AUTH_ERRORS as err:
        if isinstance(err, codes.CodeError):
            db.session.commit()  # the guess's audit row
        else:
            db.session.rollback()
        return gate.hold_page(status=err.status, error=str(err))
    db.session.commit()
    log.info("unlocked with a recovery code user=%s", g.user.id)
    return redirect(url_for("core.index"))


@bp.post("/account/recovery-code")
@login_required()
def make_recovery_code():
    """A new recovery code, shown once; needs a recent sign-in, as adding a passkey does."""
    now = utcnow()
    if not sessions.recently_authenticated(g.user_session, now=now):
        target = url_for("auth.account", _anchor="recovery-code")
        return redirect(url_for("auth.sign_in", reauth=1, next=target))
    code = codes.make(g.user, now=now, sees_from=recovery.visible_since(g.user_session))
    g.user.recovery_code_offered_at = g.user.recovery_code_offered_at or now
    db.session.commit()
    return render_template("auth/recovery_code.html", code=code)


@bp.post("/account/recovery-code/later")
@login_required()
def recovery_code_later():
    """'Not now' to the one offer after the first check-in (Settings still has it)."""
    g.user.recovery_code_offered_at = g.user.recovery_code_offered_at or utcnow()
    db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("core.index")))


@bp.app_context_processor
def recovery_code_offer():
    """`offer_recovery_code()`: on a client's home, once, after their first check-in."""

    def offer_recovery_code() -> bool:
        user = g.get("user")
        if user is None or request.endpoint != "checkins.home" or user.role != "client":
            return False
        if user.recovery_code_offered_at is not None:
            return False
        if recovery.visible_since(g.user_session) is not None:
            return False
        return codes.offer_due(user)

    return {"offer_recovery_code": offer_recovery_code}
