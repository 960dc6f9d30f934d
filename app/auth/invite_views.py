"""HTTP for invites and re-invites (thin: parse, authorise, render)."""

import logging

from flask import current_app, g, jsonify, redirect, render_template, request, session, url_for
from werkzeug.exceptions import NotFound

from ..extensions import db, limiter
from ..i18n import follow_practice
from ..inputs import json_object
from ..models import Invite, User, utcnow
from ..web_session import login_required
from . import bp, ceremonies, invites, recovery
from .forms import InviteForm
from .views import AUTH_LIMIT, INVITE_FIELDS, REGISTER_FIELDS, begin_session, failed, relying_party

log = logging.getLogger("attune.auth")


@bp.get("/invite/<token>")
@limiter.limit(AUTH_LIMIT)
def invite_landing(token):
    try:
        invite = ceremonies.usable_invite(token, now=utcnow(), current_user=g.user)
    except ceremonies.AUTH_ERRORS as err:
        return render_template("auth/invite_invalid.html", message=str(err)), err.status
    follow_practice(invite.practice)
    return render_template("auth/invite.html", invite=invite, token=token)


@bp.post("/api/invite/<token>/options")
@limiter.limit(AUTH_LIMIT)
def invite_options(token):
    body = json_object(*INVITE_FIELDS)
    try:
        options, handle = ceremonies.invite_options(
            relying_party(), token, body, now=utcnow(), current_user=g.user
        )
    except ceremonies.AUTH_ERRORS as err:
        return failed(err)
    session["challenge"] = handle
    return jsonify(options)


@bp.post("/api/invite/<token>/verify")
@limiter.limit(AUTH_LIMIT)
def invite_verify(token):
    body, now = json_object(*REGISTER_FIELDS), utcnow()
    handle = session.pop("challenge", None)
    try:
        row = ceremonies.redeem_invite(
            relying_party(), token, handle, body, now=now, current_user=g.user
        )
    except ceremonies.AUTH_ERRORS as err:
        return failed(err)
    begin_session(row, now=now)
    db.session.commit()
    recovery.passkeys_changed.send(current_app._get_current_object(), user_id=row.user_id, at=now)
    log.info(
        "registered user=%s role=%s recovered=%s",
        row.user_id,
        row.user.role,
        bool(row.recovered_at),
    )
    if row.sees_from is not None:  # a recovery link: the device starts on the hold page
        return jsonify(redirect=url_for("auth.hold"))
    return jsonify(redirect=url_for("core.index", welcome=1))


@bp.route("/invites", methods=["GET", "POST"])
@login_required("admin", "therapist")
def invite_people():
    form = InviteForm(roles=sorted(invites.WHO_MAY_INVITE[g.user.role]))
    if len(request.form.getlist("role")) <= 1 and form.validate_on_submit():
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
    status = 400 if form.is_submitted() else 200
    return render_template("auth/invites.html", form=form, pending=pending), status


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
        raise NotFound()
    days = current_app.config["INVITE_DAYS"]
    invite, token = ceremonies.reinvite(g.user, person, now=utcnow(), days=days)
    db.session.commit()
    log.info("re-invite user=%s by=%s", person.id, g.user.id)
    return _show_invite(invite, token)


@bp.post("/invites/<int:invite_id>/revoke")
@login_required("admin", "therapist")
def revoke_invite(invite_id):
    invite = db.session.get(Invite, invite_id)
    if invite is None or invite.created_by_id != g.user.id:
        raise NotFound()
    invite.revoked_at = utcnow()
    db.session.commit()
    return redirect(url_for("auth.invite_people"))
