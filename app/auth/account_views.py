"""HTTP for the account page: passkeys, recovery notices, time zone (thin: parse, authorise, render)."""

import logging

from flask import (
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from ..extensions import db
from ..inputs import json_object
from ..models import Credential, utcnow
from ..web_session import login_required
from . import bp, ceremonies, codes, passkeys, recovery, sessions
from .forms import LanguageForm, RenameForm
from .views import failed, relying_party

log = logging.getLogger("attune.auth")


@bp.app_context_processor
def recovery_context():
    """`recovery_notices()` for the banner every page of an account's other devices shows."""

    def recovery_notices():
        if g.get("user") is None:
            return []
        return recovery.notices(g.user, g.user_session, now=utcnow())

    return {"recovery_notices": recovery_notices}


@bp.get("/account")
@login_required()
def account():
    now = utcnow()
    return render_template(
        "auth/account.html",
        rename_form=RenameForm(),
        recent=sessions.recently_authenticated(g.user_session, now=now),
        may_confirm=recovery.may_confirm(g.user_session, now=now),
        locked=recovery.visible_since(g.user_session) is not None,
        may_rename=lambda credential: recovery.may_rename(credential, g.user_session),
        recovery_code=codes.current(g.user),
    )


@bp.post("/api/account/passkeys/options")
@login_required()
def add_passkey_options():
    json_object()
    if not sessions.recently_authenticated(g.user_session, now=utcnow()):
        return jsonify(error=_("Please confirm it is you first."), reauth=True), 403
    options, handle = passkeys.registration_options(relying_party(), g.user, now=utcnow())
    session["challenge"] = handle
    return jsonify(options)


@bp.post("/api/account/passkeys/verify")
@login_required()
def add_passkey_verify():
    body, now = json_object("credential", "nickname"), utcnow()
    handle = session.pop("challenge", None)
    try:
        ceremonies.add_passkey(relying_party(), g.user, g.user_session, handle, body, now=now)
    except ceremonies.AUTH_ERRORS as err:
        return failed(err)
    db.session.commit()
    recovery.passkeys_changed.send(current_app._get_current_object(), user_id=g.user.id, at=now)
    log.info("passkey added user=%s", g.user.id)
    return jsonify(redirect=url_for("auth.account", added=1)), 201


def _own_credential(credential_id: int) -> Credential:
    row = db.session.get(Credential, credential_id)
    if row is None or row.user_id != g.user.id:
        abort(404)
    return row


@bp.post("/account/passkeys/<int:credential_id>/rename")
@login_required()
def rename_passkey(credential_id):
    row = _own_credential(credential_id)
    try:
        recovery.check_rename(row, g.user_session)
    except ceremonies.AUTH_ERRORS as err:
        abort(err.status, str(err))
    form = RenameForm()
    if not form.validate_on_submit():
        abort(
            400,
            _("Please give the passkey a name of 1 to 60 characters, without control characters."),
        )
    row.nickname = form.nickname.data.strip()
    db.session.commit()
    return redirect(url_for("auth.account"))


@bp.post("/account/passkeys/<int:credential_id>/remove")
@login_required()
def remove_passkey(credential_id):
    row, now = _own_credential(credential_id), utcnow()
    if not sessions.recently_authenticated(g.user_session, now=now):
        abort(403, _("Please confirm it is you (sign in again) before removing a passkey."))
    confirm_last = request.form.get("confirm_last") == "yes"
    try:
        removed = ceremonies.remove_passkey(g.user, row, now=now, confirm_last=confirm_last)
    except ceremonies.AUTH_ERRORS as err:
        abort(err.status, str(err))
    if not removed:
        return render_template("auth/remove_last.html", credential=row), 409
    db.session.commit()
    recovery.passkeys_changed.send(current_app._get_current_object(), user_id=g.user.id, at=now)
    log.info("passkey removed user=%s remaining=%s", g.user.id, len(g.user.credentials))
    return redirect(url_for("auth.account", removed=1))


@bp.post("/account/recovery/confirm")
@login_required()
def confirm_recovery():
    """'It was me': an older passkey lifts the recovery hold of the passkeys added after it."""
    try:
        recovery.confirm(g.user, g.user_session, now=utcnow())
    except ceremonies.AUTH_ERRORS as err:
        abort(err.status, str(err))
    db.session.commit()
    return redirect(url_for("auth.account", confirmed=1))


@bp.post("/account/language")
@login_required()
def set_language():
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400, _("Choose one of the languages listed."))
    g.user.locale = form.locale.data or None
    db.session.commit()
    return redirect(url_for("auth.account"))


@bp.post("/api/account/time-zone")
@login_required()
def set_time_zone():
    try:
        g.user.time_zone = ceremonies.time_zone(json_object("time_zone").get("time_zone"))
    except ceremonies.AUTH_ERRORS as err:
        return failed(err)
    db.session.commit()
    return jsonify(time_zone=g.user.time_zone)
