"""HTTP views (thin: parse, authorise, render): the push key, subscriptions, reminder settings."""

from datetime import time

from flask import current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..errors import error_response
from ..extensions import db
from ..inputs import json_object
from ..models import utcnow
from ..web_session import login_required
from . import bp, endpoints, keys, outbox, subscriptions
from .forms import ReminderSettingsForm, apply
from .rules import timing_for


@bp.get("/api/push/key")
def push_key():
    vapid = keys.current(current_app)
    return jsonify(key=vapid.public_b64, key_id=vapid.key_id)


@bp.post("/api/push/subscriptions")
@login_required("client")
def subscribe():
    vapid = keys.current(current_app)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, _("Send the subscription's JSON: endpoint and keys."))
    try:
        fields = subscriptions.parse(body, allowed=endpoints.extras(_extra_hosts()))
    except subscriptions.Invalid as err:
        return error_response(422, _("That push subscription is not valid: %(why)s", why=str(err)))
    key_id = keys.key_id(fields["key"]) if fields["key"] else vapid.key_id
    agent = request.user_agent.string or ""
    try:
        saved = subscriptions.save(g.user, fields, key_id=key_id, user_agent=agent, now=utcnow())
    except subscriptions.Invalid as err:
        db.session.rollback()
        return error_response(409, _("That push subscription is not valid: %(why)s", why=str(err)))
    if not saved:
        return error_response(409, _("That device is being saved already; try again."))
    return jsonify(ok=True, stale=key_id != vapid.key_id), 201


@bp.delete("/api/push/subscriptions")
@login_required("client")
def unsubscribe():
    endpoint = json_object("endpoint").get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return error_response(400, _("Say which subscription to remove (its endpoint)."))
    removed = subscriptions.remove(g.user, endpoint)
    db.session.commit()
    return jsonify(ok=True, removed=removed)


@bp.get("/account/reminders")
@login_required("client")
def settings():
    return redirect(url_for("auth.account", _anchor="reminders"))


@bp.post("/account/reminders")
@login_required("client")
def save_settings():
    form = ReminderSettingsForm()
    if not form.validate_on_submit():
        return render_template("reminders/settings.html", form=form), 400
    apply(form, g.user)
    outbox.resync_user(g.user, now=utcnow())
    db.session.commit()
    flash(_("Reminder settings saved."))
    return redirect(url_for("auth.account", _anchor="reminders"))


def _extra_hosts():
    return current_app.config.get("PUSH_EXTRA_HOSTS", ())


@bp.app_context_processor
def reminder_settings_form():
    """Lets the account page (another package's template) render this form, prefilled."""

    def make(user):
        quiet_on = (
            user.quiet_start_minute is None or user.quiet_start_minute != user.quiet_end_minute
        )
        timing = timing_for(user)
        return ReminderSettingsForm(
            formdata=None,
            data={
                "remind_before": user.remind_before is not False,
                "remind_after": user.remind_after is not False,
                "remind_nudge": user.remind_nudge is not False,
                "quiet": quiet_on and timing.quiet_start != timing.quiet_end,
                "quiet_start": _clock(timing.quiet_start),
                "quiet_end": _clock(timing.quiet_end),
            },
        )

    return {"reminder_settings_form": make}


def _clock(minute: int):
    return time(minute // 60 % 24, minute % 60)
