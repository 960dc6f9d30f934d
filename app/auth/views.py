"""HTTP for sign-in, invites and account settings. The rules live in passkeys.py, invites.py, sessions.py."""

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
from flask_babel import lazy_gettext as _l

from ..extensions import db, limiter
from ..i18n import is_valid_zone
from ..models import Credential, User, new_user_handle, utcnow
from ..web_session import login_required, safe_next
from ..web_session import sign_in as start_session
from . import bp, invites, passkeys, sessions

log = logging.getLogger("attune.auth")
AUTH_LIMIT = "20/minute"


def relying_party() -> passkeys.RelyingParty:
    cfg = current_app.config
    return passkeys.RelyingParty(id=cfg["RP_ID"], name=cfg["RP_NAME"], origin=cfg["ORIGIN"])


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, _("Expected a JSON object."))
    return body


def passkey_failed(err: passkeys.PasskeyError):
    return jsonify(error=str(err)), 400


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
    body = json_body()
    now = utcnow()
    try:
        challenge = passkeys.take_challenge(session.pop("challenge", None), "signin", now=now)
        user = passkeys.verify_authentication(
            relying_party(), challenge, body.get("credential") or {}, now=now
        )
    except passkeys.PasskeyError as err:
        db.session.commit()
        return passkey_failed(err)
    if g.user_session is not None and g.user.id == user.id and body.get("reauth"):
        g.user_session.reauthenticated_at = now
    else:
        start_session(user, now=now)
    db.session.commit()
    log.info("signed in user=%s role=%s", user.id, user.role)
    return jsonify(redirect=safe_next(body.get("next"), url_for("core.index")))


@bp.post("/signout")
def sign_out():
    if g.user_session is not None:
        sessions.revoke(g.user_session, now=utcnow())
        db.session.commit()
        log.info("signed out user=%s", g.user.id)
    session.clear()
    response = redirect(url_for("auth.sign_in", signed_out=1))
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.post("/account/sessions/revoke-all")
@login_required()
def sign_out_everywhere():
    count = sessions.revoke_all(g.user.id, now=utcnow())
    db.session.commit()
    log.info("signed out everywhere user=%s sessions=%s", g.user.id, count)
    session.clear()
    response = redirect(url_for("auth.sign_in", signed_out=1))
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


# Invites -------------------------------------------------------------------------------------------


@bp.get("/invite/<token>")
@limiter.limit(AUTH_LIMIT)
def invite_landing(token):
    try:
        invite = invites.find_usable(token, now=utcnow())
    except invites.InviteError as err:
        return render_template("auth/invite_invalid.html", message=str(err)), 410
    return render_template("auth/invite.html", invite=invite, token=token)


@bp.post("/api/invite/<token>/options")
@limiter.limit(AUTH_LIMIT)
def invite_options(token):
    body = json_body()
    now = utcnow()
    try:
        invite = invites.find_usable(token, now=now)
    except invites.InviteError as err:
        return jsonify(error=str(err)), 410
    user = invite.user or User(
        role=invite.role,
        display_name=_clean_name(body.get("display_name")) or invite.display_name or "Attune user",
        webauthn_user_id=new_user_handle(),
    )
    options, handle = passkeys.registration_options(
        relying_party(), user, now=now, invite_id=invite.id
    )
    session["challenge"] = handle
    return jsonify(options)


@bp.post("/api/invite/<token>/verify")
@limiter.limit(AUTH_LIMIT)
def invite_verify(token):
    body = json_body()
    now = utcnow()
    try:
        invite = invites.find_usable(token, now=now)
        challenge = passkeys.take_challenge(session.pop("challenge", None), "register", now=now)
        if challenge.invite_id != invite.id:
            raise passkeys.PasskeyError(
                _l("This sign-up attempt is no longer valid. Please try again.")
            )
        credential = body.get("credential") or {}
        verified = passkeys.verify_registration(relying_party(), challenge, credential)
    except invites.InviteError as err:
        return jsonify(error=str(err)), 410
    except passkeys.PasskeyError as err:
        db.session.commit()
        return passkey_failed(err)
    zone = body.get("time_zone") if is_valid_zone(str(body.get("time_zone") or "")) else "UTC"
    user = invites.redeem(
        invite, display_name=_clean_name(body.get("display_name")), time_zone=zone, now=now
    )
    if challenge.user_handle is not None:
        user.webauthn_user_id = challenge.user_handle
    passkeys.store_credential(
        user,
        verified,
        credential,
        now=now,
        nickname=_clean_name(body.get("nickname")) or _("My device"),
    )
    start_session(user, now=now)
    db.session.commit()
    log.info("registered user=%s role=%s via invite=%s", user.id, user.role, invite.id)
    return jsonify(redirect=url_for("core.index", welcome=1))


def _clean_name(value) -> str:
    return " ".join(str(value or "").split())[:80]


@bp.route("/invites", methods=["GET", "POST"])
@login_required("admin", "therapist")
def invite_people():
    from .forms import InviteForm

    form = InviteForm(roles=sorted(invites.WHO_MAY_INVITE[g.user.role]))
    if form.validate_on_submit():
        invite, token = invites.create(
            practice=g.user.practice,
            role=form.role.data,
            now=utcnow(),
            created_by=g.user,
            therapist=g.user if form.role.data == "client" else None,
            display_name=form.display_name.data or "",
            days=current_app.config["INVITE_DAYS"],
        )
        db.session.commit()
        return _show_invite(invite, token)
    pending = invites.pending_for(g.user, now=utcnow())
    return render_template("auth/invites.html", form=form, pending=pending), (
        400 if form.is_submitted() else 200
    )


def _show_invite(invite, token: str):
    # Built from ORIGIN, not the Host header, so a forged Host cannot redirect the invitee.
    link = current_app.config["ORIGIN"] + url_for("auth.invite_landing", token=token)
    return render_template(
        "auth/invite_created.html", invite=invite, link=link, qr=invites.qr_svg(link)
    )


@bp.post("/invites/for/<int:user_id>")
@login_required("admin", "therapist")
def reinvite(user_id):
    """A one-time link that adds a passkey to an existing account (a client who lost their phone)."""
    person = db.session.get(User, user_id)
    if person is None or not invites.may_reinvite(g.user, person):
        abort(404)
    invite, token = invites.create(
        practice=g.user.practice,
        role=person.role,
        now=utcnow(),
        created_by=g.user,
        therapist=g.user if person.role == "client" else None,
        user=person,
        display_name=person.display_name,
        days=current_app.config["INVITE_DAYS"],
    )
    db.session.commit()
    log.info("re-invite user=%s by=%s", person.id, g.user.id)
    return _show_invite(invite, token)


@bp.post("/invites/<int:invite_id>/revoke")
@login_required("admin", "therapist")
def revoke_invite(invite_id):
    from ..models import Invite

    invite = db.session.get(Invite, invite_id)
    if invite is None or invite.created_by_id != g.user.id:
        abort(404)
    invite.revoked_at = utcnow()
    db.session.commit()
    return redirect(url_for("auth.invite_people"))


# Account: passkeys, sessions, time zone ---------------------------------------------------------------


@bp.get("/account")
@login_required()
def account():
    from .forms import RenameForm

    return render_template(
        "auth/account.html",
        rename_form=RenameForm(),
        recent=sessions.recently_authenticated(g.user_session, now=utcnow()),
    )


@bp.post("/api/account/passkeys/options")
@login_required()
def add_passkey_options():
    if not sessions.recently_authenticated(g.user_session, now=utcnow()):
        return jsonify(error=_("Please confirm it is you first."), reauth=True), 403
    options, handle = passkeys.registration_options(relying_party(), g.user, now=utcnow())
    session["challenge"] = handle
    return jsonify(options)


@bp.post("/api/account/passkeys/verify")
@login_required()
def add_passkey_verify():
    body = json_body()
    now = utcnow()
    try:
        challenge = passkeys.take_challenge(session.pop("challenge", None), "register", now=now)
        if challenge.user_id != g.user.id:
            raise passkeys.PasskeyError(_l("This attempt is no longer valid. Please try again."))
        credential = body.get("credential") or {}
        verified = passkeys.verify_registration(relying_party(), challenge, credential)
    except passkeys.PasskeyError as err:
        db.session.commit()
        return passkey_failed(err)
    passkeys.store_credential(
        g.user,
        verified,
        credential,
        now=now,
        nickname=_clean_name(body.get("nickname")) or _("Another device"),
    )
    db.session.commit()
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
    from .forms import RenameForm

    row = _own_credential(credential_id)
    form = RenameForm()
    if not form.validate_on_submit():
        abort(400, _("Please give the passkey a name of 1 to 60 characters."))
    row.nickname = form.nickname.data.strip()
    db.session.commit()
    return redirect(url_for("auth.account"))


@bp.post("/account/passkeys/<int:credential_id>/remove")
@login_required()
def remove_passkey(credential_id):
    row = _own_credential(credential_id)
    if not sessions.recently_authenticated(g.user_session, now=utcnow()):
        abort(403, _("Please confirm it is you (sign in again) before removing a passkey."))
    if len(g.user.credentials) == 1 and request.form.get("confirm_last") != "yes":
        return render_template("auth/remove_last.html", credential=row), 409
    db.session.delete(row)
    db.session.commit()
    log.info("passkey removed user=%s remaining=%s", g.user.id, len(g.user.credentials))
    return redirect(url_for("auth.account", removed=1))


@bp.post("/api/account/time-zone")
@login_required()
def set_time_zone():
    zone = str(json_body().get("time_zone") or "")
    if not is_valid_zone(zone):
        return jsonify(error=_("Unknown time zone."), field="time_zone"), 422
    g.user.time_zone = zone
    db.session.commit()
    return jsonify(time_zone=zone)


@bp.get("/api/session")
def session_info():
    """What the offline outbox needs before it sends: am I signed in, and a CSRF token."""
    from flask_wtf.csrf import generate_csrf

    if g.user is None:
        return jsonify(signed_in=False), 401
    return jsonify(signed_in=True, role=g.user.role, csrf_token=generate_csrf())
