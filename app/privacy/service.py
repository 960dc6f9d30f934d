"""The client's data rights (DESIGN 1, Client 5): export everything they own, erase their account."""

from datetime import datetime

from sqlalchemy import delete, or_, select, update

from ..audit import record
from ..extensions import db
from ..models import (
    Alert,
    Appointment,
    CareLink,
    CheckIn,
    Credential,
    Invite,
    PushSubscription,
    Reminder,
    User,
    UserSession,
    WebAuthnChallenge,
)


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _rows(model, where, fields: list[str], *, held=None) -> list[dict]:
    rows = db.session.scalars(select(model).where(where, *(held or ())).order_by(model.id))
    return [{f: _iso(getattr(r, f)) for f in fields} for r in rows]


def _since(column, since: datetime | None):
    """For a session locked by a recovery, only what was recorded from `since` on (app/auth/recovery.py)."""
    return () if since is None else (column >= since,)


def export(user: User, *, now: datetime, since: datetime | None = None) -> dict:
    """Everything stored about `user`, as plain JSON-able data (no key material, no token hashes);
    with `since`, only what was recorded from then on."""
    profile_fields = ["id", "role", "display_name", "locale", "time_zone", "created_at"]
    profile_fields += ["remind_before", "remind_after", "remind_nudge"]
    profile_fields += ["quiet_start_minute", "quiet_end_minute"]
    return {
        "exported_at": now.isoformat(),
        "profile": {f: _iso(getattr(user, f)) for f in profile_fields},
        "passkeys": _rows(
            Credential,
            Credential.user_id == user.id,
            ["nickname", "device_type", "backed_up", "created_at", "last_used_at"],
            held=_since(Credential.created_at, since),
        ),
        "sessions": _rows(
            UserSession,
            UserSession.user_id == user.id,
            ["created_at", "last_seen_at", "revoked_at", "user_agent"],
            held=_since(UserSession.created_at, since),
        ),
        "care_links": _rows(
            CareLink,
            or_(CareLink.client_id == user.id, CareLink.therapist_id == user.id),
            ["therapist_id", "client_id", "started_at", "ended_at"],
            held=_since(CareLink.started_at, since),
        ),
        "appointments": _rows(
            Appointment,
            Appointment.client_id == user.id,
            ["id", "therapist_id", "starts_at", "duration_minutes", "status"],
            held=_since(Appointment.created_at, since),
        ),
        "check_ins": _rows(
            CheckIn,
            CheckIn.client_id == user.id,
            ["id", "appointment_id", "phase", "safe", "heard", "understood", "comment"]
            + ["visibility", "created_at", "received_at"],
            held=_since(CheckIn.received_at, since),
        ),
        "push_subscriptions": _rows(
            PushSubscription,
            PushSubscription.user_id == user.id,
            ["user_agent", "created_at", "last_success_at"],
            held=_since(PushSubscription.created_at, since),
        ),
        "reminders": _rows(
            Reminder,
            Reminder.user_id == user.id,
            ["appointment_id", "kind", "due_at", "status"],
            held=_since(Reminder.due_at, since),
        ),
    }


def _therapist_names(user: User) -> str:
    names = db.session.scalars(
        select(User.display_name)
        .join(CareLink, CareLink.therapist_id == User.id)
        .where(CareLink.client_id == user.id)
        .order_by(User.display_name)
    )
    return ", ".join(names)


def erase(user: User) -> None:
    """Delete the account and everything hanging off it, in the caller's transaction.

    Audit rows stay (append-only, and they hold no check-in content); the database sets their actor to
    NULL when the user row goes. The erasure itself is recorded for the practice's admins, naming the
    therapist but never the client. Published anonymous cells and comments
    stay too: they are k-anonymous, linked to no one, and changing them would show what this person had
    answered (DESIGN 4).
    """
    uid = user.id
    if user.role == "client":
        therapists = _therapist_names(user)
        detail = f"a client of {therapists}" if therapists else "a client"
    else:
        detail = f"a {user.role}"
    record(None, "delete_account", practice_id=user.practice_id, detail=detail)
    # Invites made before invites were linked to their account: the name typed by the therapist.
    db.session.execute(
        update(Invite)
        .where(
            Invite.used_at.is_not(None),
            Invite.display_name == user.display_name,
            Invite.therapist_id.in_(select(CareLink.therapist_id).where(CareLink.client_id == uid)),
        )
        .values(display_name=""),
        execution_options={"synchronize_session": False},
    )
    for stmt in (
        delete(Alert).where(Alert.client_id == uid),
        delete(CheckIn).where(CheckIn.client_id == uid),
        delete(Reminder).where(Reminder.user_id == uid),
        delete(PushSubscription).where(PushSubscription.user_id == uid),
        delete(WebAuthnChallenge).where(WebAuthnChallenge.user_id == uid),
        delete(Credential).where(Credential.user_id == uid),
        delete(UserSession).where(UserSession.user_id == uid),
        delete(Invite).where(or_(Invite.user_id == uid, Invite.therapist_id == uid)),
        update(Invite).where(Invite.created_by_id == uid).values(created_by_id=None),
        delete(Appointment).where(Appointment.client_id == uid),
        delete(CareLink).where(CareLink.client_id == uid),
    ):
        db.session.execute(stmt, execution_options={"synchronize_session": False})
    db.session.expunge(user)
    db.session.execute(delete(User).where(User.id == uid))
