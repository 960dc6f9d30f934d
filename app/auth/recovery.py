"""Account recovery that cannot become a silent takeover (DESIGN 4b, SECURITY 28/29).

A passkey added through a re-invite is marked `recovered_at`; for the practice's hold (default 72 h)
every session it starts sees nothing recorded before the recovery, until the hold ends or one of the
account's older passkeys confirms. The account's other devices see a notice until then.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from blinker import Namespace
from flask_babel import lazy_gettext as _l

from ..audit import record
from ..models import Credential, User, UserSession
from . import sessions
from .errors import AuthError

NOTICE_FOR = timedelta(days=30)
# Sent after a passkey is added (through a recovery link or in Settings) or removed and the change has
# committed, with `user_id` and `at`. Reminders (a layer above auth) listens and pushes a generic notice to
# the devices subscribed before `at` (SECURITY 28), so auth never imports reminders.
passkeys_changed = Namespace().signal("passkeys-changed")


class RecoveryError(AuthError):
    """A confirmation or removal the hold forbids; the message is plain words safe to show."""

    status = 403


@dataclass(frozen=True)
class Notice:
    credential_id: int
    nickname: str
    added_at: datetime


def _held(credential: Credential | None, now: datetime) -> bool:
    return bool(credential and credential.hold_until and now < credential.hold_until)


def visible_since(user_session: UserSession | None, now: datetime) -> datetime | None:
    """The earliest moment this session may see recorded data, or None when it may see everything.

    The one rule every read path of history, exports and named data applies.
    """
    credential = user_session.credential if user_session is not None else None
    return credential.recovered_at if _held(credential, now) else None


def begin_hold(credential: Credential, user: User, *, now: datetime) -> None:
    """Mark a passkey as added through a recovery link, held for the practice's hold hours."""
    credential.recovered_at = now
    credential.hold_until = now + timedelta(hours=user.practice.recovery_hold_hours)


def inherit_hold(
    credential: Credential, user_session: UserSession | None, *, now: datetime
) -> None:
    """A passkey added from a held session is held too, or a second passkey would escape the hold."""
    source = user_session.credential if user_session is not None else None
    if _held(source, now):
        credential.recovered_at = source.recovered_at
        credential.hold_until = source.hold_until


def notices(user: User, user_session: UserSession | None, *, now: datetime) -> list[Notice]:
    """Recovery passkeys the account's other devices should hear about: unconfirmed and recent.

    A held session is shown nothing: it may be the one taking over.
    """
    if user_session is None or visible_since(user_session, now) is not None:
        return []
    return [
        Notice(c.id, c.nickname, c.recovered_at)
        for c in user.credentials
        if c.recovered_at is not None
        and c.recovered_at > now - NOTICE_FOR
        and c.hold_until is not None
        and c.id != user_session.credential_id
    ]


def may_confirm(user_session: UserSession, *, now: datetime) -> bool:
    """Only a session proven by a passkey older than every pending recovery, re-confirmed recently."""
    own = user_session.credential
    if own is None or own.recovered_at is not None or own.user_id != user_session.user_id:
        return False
    return sessions.recently_authenticated(user_session, now=now)


def confirm(user: User, user_session: UserSession, *, now: datetime) -> int:
    """Lift the hold of every recovered passkey of `user` added after the confirming passkey."""
    if not may_confirm(user_session, now=now):
        raise RecoveryError(
            _l("Please confirm with one of your earlier passkeys (sign in again) first.")
        )
    since = user_session.credential.created_at
    lifted = 0
    for credential in user.credentials:
        if credential.hold_until is not None and (credential.recovered_at or since) > since:
            credential.hold_until = None
            lifted += 1
    if lifted:
        record(user, "recovery_confirmed", target_type="user", target_id=user.id, detail=lifted)
    return lifted


def check_removal(credential: Credential, user_session: UserSession, *, now: datetime) -> None:
    """A held session cannot remove the passkeys that existed before its recovery."""
    cutoff = visible_since(user_session, now)
    if cutoff is not None and credential.recovered_at is None:
        raise RecoveryError(
            _l(
                "During the recovery hold, earlier passkeys can only be removed from a device that has one."
            )
        )
