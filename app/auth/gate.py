"""The one enforcement point of the recovery lock (DESIGN 4b, SECURITY 42, issues 21 and 22).

A before_request hook, registered once by the app factory, that runs after the session is loaded. A
session whose past is locked (app/auth/recovery.py: a passkey a staff member's recovery link made, not yet
unlocked) may use only the routes listed in `ROUTES`; every other route is refused with the hold page
(403), whatever it is and whoever wrote it, including routes added later that nobody listed here. No view
checks the lock itself; the views a locked session may read filter by `recovery.visible_since`.

What each kind of route lets a locked session do:
- PUBLIC: pages with no account data and no account change (the same for every visitor), sign-in and
  sign-out (which ends only this session).
- CHECK_IN: check in for sessions after the recovery (`recovery.may_check_in` refuses earlier ones).
- OWN: read what was recorded since the recovery (its history and its export, filtered).
- HOLD: the hold page, and unlocking with the person's own recovery code.
- MANAGE: change the account (reminders, passkeys, devices, language, a recovery code): refused during
  the practice's hold, allowed after it; what was recorded before stays locked either way.

Staff pages (dashboard, client pages, appointments, invites, admin), account deletion and confirming
someone else's recovery are not listed: a locked session never opens them.
"""

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _

from ..errors import wants_json
from ..models import utcnow
from . import recovery

PUBLIC, CHECK_IN, OWN, HOLD, MANAGE = "public", "check-in", "own", "hold", "manage"

ROUTES: dict[str, str] = {
    "core.index": PUBLIC,
    "core.manifest": PUBLIC,
    "core.service_worker": PUBLIC,
    "core.offline": PUBLIC,
    "core.health": PUBLIC,
    "reminders.push_key": PUBLIC,
    "auth.sign_in": PUBLIC,
    "auth.sign_in_options": PUBLIC,
    "auth.sign_in_verify": PUBLIC,
    "auth.session_info": PUBLIC,
    "auth.sign_out": PUBLIC,
    "auth.recover": PUBLIC,
    "auth.recover_options": PUBLIC,
    "auth.recover_verify": PUBLIC,
    "checkins.check_in": CHECK_IN,
    "checkins.check_in_without_script": CHECK_IN,
    "checkins.owner": CHECK_IN,
    "checkins.submit": CHECK_IN,
    "checkins.home": CHECK_IN,
    "checkins.history": OWN,
    "privacy.export": OWN,
    "auth.hold": HOLD,
    "auth.unlock_with_code": HOLD,
    "auth.account": MANAGE,
    "auth.rename_passkey": MANAGE,
    "auth.remove_passkey": MANAGE,
    "auth.add_passkey_options": MANAGE,
    "auth.add_passkey_verify": MANAGE,
    "auth.set_time_zone": MANAGE,
    "auth.set_language": MANAGE,
    "auth.sign_out_everywhere": MANAGE,
    "auth.make_recovery_code": MANAGE,
    "auth.recovery_code_later": MANAGE,
    "reminders.settings": MANAGE,
    "reminders.save_settings": MANAGE,
    "reminders.subscribe": MANAGE,
    "reminders.unsubscribe": MANAGE,
}


def init_app(app: Flask) -> None:
    """Register the gate; after web_session.init_app, whose hook loads the session it reads."""
    app.before_request(refuse_if_locked)


def refuse_if_locked():
    """Refuse the request when its session's past is locked and its route is not one it may use.

    The check-in POST loads its session inside its own statement (web_session.session_in_view) and
    never through here; that statement takes only unlocked sessions, and the usual way it falls back
    to applies `recovery.may_check_in`. A URL that matches no route is left to answer 404 or 405."""
    user_session = g.get("user_session")
    if user_session is None or request.endpoint is None:
        return None
    if recovery.visible_since(user_session) is None:
        return None
    kind = ROUTES.get(request.endpoint)
    if kind is None or (kind == MANAGE and recovery.held(user_session.credential, utcnow())):
        return hold_page(status=403)
    return None


def hold_page(*, status: int = 200, error: str = ""):
    """What a locked session is told: the hold page, or its gist as JSON."""
    message = _(
        "This device was added through a recovery link: it can check in and show what you recorded "
        "since then, nothing more."
    )
    if wants_json():
        return jsonify(error=message, hold=True), status
    credential = g.user_session.credential
    held_until = credential.hold_until if recovery.held(credential, utcnow()) else None
    return render_template(
        "auth/held.html", sees_from=g.user_session.sees_from, held_until=held_until, error=error
    ), status
