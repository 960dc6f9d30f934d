"""Account recovery that cannot become a silent takeover (DESIGN 4b; SECURITY 28, 29, 42; issue 21).

A therapist or admin who makes a recovery link (a re-invite) could redeem it themselves, so the passkey it
creates must not be able to read or change what the real person has. The rules, as decided for issue 21:

- **Time alone never unlocks the past.** The passkey a staff-made recovery link creates is *locked*: its
  `sees_from` is the moment of the recovery, and it, every session it starts and every passkey added from
  such a session see nothing recorded before then. Only proof the staff member does not hold unlocks
  it: one of the account's older passkeys confirming ("It was me", `confirm`), or a recovery code the
  person saved themselves (app/auth/codes.py). Without either, the recovered account starts fresh from
  the recovery on, forever: it checks in and reads what was recorded since.
- **The practice's hold governs account changes.** For `recovery_hold_hours` (at least 72) after the
  recovery, the locked passkey is also *held*: it may only check in for sessions after the recovery,
  read what was recorded since and see the hold page. After the hold it may manage the account too
  (sign out other devices, reminders, passkeys, language) while the past stays locked. A change of the
  setting applies only to recoveries started 24 hours after the change (`settings.hold_hours`), so an
  admin cannot shorten it just before making a link.
- A recovery with the person's own code needs no staff link and starts no hold.
- The account's other devices see a banner and get a push while a recovery passkey is locked; the
  recovery passkey has a fixed, dated name no held session chose, and a locked session renames nothing
  that existed before it.

Which routes a locked session may use is decided in one place, app/auth/gate.py.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from babel.dates import format_skeleton
from blinker import Namespace
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from .. import settings
from ..audit import record
from ..extensions import db
from ..i18n import local
from ..models import Credential, Practice, User, UserSession
from . import sessions
from .errors import AuthError

NOTICE_FOR = timedelta(days=30)
# Sent after a passkey is added (through a recovery link or code, or in Settings) or removed and the change
# has committed, with `user_id` and `at`. Reminders (a layer above auth) listens and pushes a generic
# notice to the devices subscribed before `at` (SECURITY 28), so auth never imports reminders.
passkeys_changed = Namespace().signal("passkeys-changed")
EARLIER_SESSION = _l(
    "This device was added through a recovery link: it can check in only for sessions after that."
)


class RecoveryError(AuthError):
    """A confirmation or change the lock forbids; the message is plain words safe to show."""

    status = 403


@dataclass(frozen=True)
class Notice:
    credential_id: int
    nickname: str
    added_at: datetime


def visible_since(user_session: UserSession | None) -> datetime | None:
    """The earliest moment this session may see recorded data, or None when it may see everything:
    what the routes a locked session may read (its history, its export) filter by."""
    return user_session.sees_from if user_session is not None else None


def held(credential: Credential | None, now: datetime) -> bool:
    """Locked and still inside the practice's hold: no account changes yet."""
    return bool(
        credential is not None
        and credential.sees_from is not None
        and credential.hold_until is not None
        and now < credential.hold_until
    )


def may_check_in(appointment_starts_at: datetime | None, cutoff: datetime | None) -> bool:
    """Whether a session that sees from `cutoff` may check in for an appointment starting then: only
    for sessions after the recovery. Decided before anything that depends on whether the appointment
    was answered (anonymously or not), so a refusal looks the same either way (issue 20.3)."""
    return cutoff is None or appointment_starts_at is None or appointment_starts_at >= cutoff


def hold_hours(practice: Practice, *, at: datetime) -> int:
    """The practice's recovery hold for a recovery started at `at`."""
    return settings.hold_hours(
        practice.recovery_hold_hours,
        practice.recovery_hold_previous_hours,
        practice.recovery_hold_changed_at,
        at=at,
    )


def fixed_name(user: User, at: datetime, *, by_code: bool = False) -> str:
    """ "Added through a recovery link, Dec 7" (or "with a recovery code"), in the person's language and
    time zone: the name their own devices show, which nobody holding the new passkey chose."""
    language = user.locale or user.practice.locale or settings.DEFAULT_LOCALE
    day = format_skeleton("MMMd", local(at, user.time_zone), locale=language)
    with force_locale(language):
        if by_code:
            return gettext("Added with a recovery code, %(date)s", date=day)[:60]
        return gettext("Added through a recovery link, %(date)s", date=day)[:60]


def begin_hold(credential: Credential, user: User, *, now: datetime) -> None:
    """Lock a passkey a staff member's recovery link made, hold it, and give it its fixed name."""
    credential.recovered_at = now
    credential.sees_from = now
    credential.hold_until = now + timedelta(hours=hold_hours(user.practice, at=now))
    credential.nickname = fixed_name(user, now)


def inherit_hold(
    credential: Credential, user_session: UserSession | None, *, now: datetime
) -> None:
    """A passkey added from a locked session is locked (and held) as that session is, or a second
    passkey would escape the lock."""
    if visible_since(user_session) is None:
        return
    credential.sees_from = user_session.sees_from
    source = user_session.credential
    if source is not None and held(source, now):
        credential.hold_until = source.hold_until


def notices(user: User, user_session: UserSession | None, *, now: datetime) -> list[Notice]:
    """Locked passkeys the account's other devices should hear about: recent ones.

    A locked session is shown nothing: it may be the one taking over.
    """
    if user_session is None or visible_since(user_session) is not None:
        return []
    return [
        Notice(c.id, c.nickname, c.created_at)
        for c in user.credentials
        if c.sees_from is not None
        and c.created_at > now - NOTICE_FOR
        and c.id != user_session.credential_id
    ]


def may_confirm(user_session: UserSession, *, now: datetime) -> bool:
    """Only a session proven by an unlocked passkey that no recovery link made, re-confirmed recently."""
    own = user_session.credential
    if own is None or own.user_id != user_session.user_id:
        return False
    if own.recovered_at is not None or own.sees_from is not None:
        return False
    return sessions.recently_authenticated(user_session, now=now)


def unlock(credentials: list[Credential], *, sees_from: datetime | None = None) -> None:
    """Let `credentials` (and the sessions they started) see from `sees_from` on (None: everything);
    never later than they already do. Unlocked fully, they are no longer held either."""
    for credential in credentials:
        if credential.sees_from is None:
            continue
        if sees_from is None:
            credential.sees_from = credential.hold_until = None
        elif sees_from < credential.sees_from:
            credential.sees_from = sees_from
        else:
            continue
        db.session.execute(
            update(UserSession)
            .where(UserSession.credential_id == credential.id)
            .values(sees_from=credential.sees_from)
            .execution_options(synchronize_session="fetch")
        )


def confirm(user: User, user_session: UserSession, *, now: datetime) -> int:
    """'It was me': unlock every locked passkey of `user` added after the confirming passkey."""
    if not may_confirm(user_session, now=now):
        raise RecoveryError(
            _l("Please confirm with one of your earlier passkeys (sign in again) first.")
        )
    since = user_session.credential.created_at
    locked = [c for c in user.credentials if c.sees_from is not None and c.created_at > since]
    unlock(locked)
    if locked:
        record(
            user, "recovery_confirmed", target_type="user", target_id=user.id, detail=len(locked)
        )
    return len(locked)


def may_rename(credential: Credential, user_session: UserSession) -> bool:
    """A locked session renames no passkey that existed before it and no recovery passkey: their names
    are what the person's own devices show them (and the recovery banner quotes)."""
    cutoff = visible_since(user_session)
    return cutoff is None or (credential.recovered_at is None and credential.created_at >= cutoff)


def check_rename(credential: Credential, user_session: UserSession) -> None:
    if not may_rename(credential, user_session):
        raise RecoveryError(
            _l("This device was added through a recovery link, so it cannot rename this passkey.")
        )
