"""What each auth view does, as plain functions with explicit arguments: the views only parse the request,
authorise, call one of these and render. They never read `request` or `session`; the caller commits.
"""

import unicodedata
from datetime import datetime
from zoneinfo import available_timezones

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..audit import record
from ..extensions import db
from ..models import Credential, Invite, RecoveryCode, User, UserSession, new_user_handle
from . import codes, invites, passkeys, recovery, sessions
from .errors import AuthError
from .passkeys import RelyingParty

# The tz database's names; `localtime` (the server's own zone file) and `Factory` are not places.
IANA_ZONES = frozenset(available_timezones()) - {"localtime", "Factory", "posixrules"}
# Zero-width joiner: part of many emoji, the one format character a name may carry.
ALLOWED_FORMAT = {"\u200d"}


class InputError(AuthError):
    """A field the person can correct; `field` names it for the form."""

    def __init__(self, message, *, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.field = field
        self.status = status


AUTH_ERRORS = AuthError  # what the views catch: every refusal below is one


def plain_text(value, *, field: str, limit: int) -> str:
    """A short name as typed, whitespace collapsed; control characters, NUL and lone surrogates refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(_l("Please type plain text."), field=field)
    for char in value:
        kind = unicodedata.category(char)
        control = kind in ("Cc", "Cs", "Co") and char not in "\t\n\r"
        if control or (kind == "Cf" and char not in ALLOWED_FORMAT):
            raise InputError(_l("Please remove control or invisible characters."), field=field)
    return " ".join(value.split())[:limit]


def time_zone(value) -> str:
    """An IANA zone name, else InputError (no `localtime`, no file paths)."""
    if not isinstance(value, str) or value not in IANA_ZONES:
        raise InputError(_l("Unknown time zone."), field="time_zone", status=422)
    return value


def usable_invite(token: str, *, now: datetime, current_user: User | None) -> Invite:
    """The invite, unless the browser opening it belongs to its creator or to another account."""
    invite = invites.find_usable(token, now=now)
    if current_user is not None and invite.created_by_id == current_user.id:
        raise InputError(
            _l("You created this link: it only works on the other person's own device."), status=403
        )
    if current_user is not None and invite.user_id not in (None, current_user.id):
        raise InputError(
            _l("This link is for another account. Sign out first, on the person's own device."),
            status=403,
        )
    return invite


def invite_options(rp: RelyingParty, token: str, body: dict, *, now: datetime, current_user):
    """Registration options for an invite, and the handle of the stored challenge."""
    invite = usable_invite(token, now=now, current_user=current_user)
    name = plain_text(body.get("display_name"), field="display_name", limit=80)
    user = invite.user or User(
        role=invite.role,
        display_name=name or invite.display_name or "Attune user",
        webauthn_user_id=new_user_handle(),
    )
    return passkeys.registration_options(rp, user, now=now, invite_id=invite.id)


def redeem_invite(
    rp: RelyingParty, token: str, handle, body: dict, *, now: datetime, current_user
) -> Credential:
    """Verify the new passkey, redeem the invite and store the passkey; a re-invite locks it, holds it
    and names it (app/auth/recovery.py): whatever name the body asks for is not used then."""
    invite = usable_invite(token, now=now, current_user=current_user)
    name = plain_text(body.get("display_name"), field="display_name", limit=80)
    nickname = plain_text(body.get("nickname"), field="nickname", limit=60)
    challenge = passkeys.take_challenge(handle, "register", now=now)
    if challenge.invite_id != invite.id:
        raise passkeys.PasskeyError(
            _l("This sign-up attempt is no longer valid. Please try again.")
        )
    credential = body.get("credential") or {}
    verified = passkeys.verify_registration(rp, challenge, credential)
    # The passkey exists on the device by now: an odd zone falls back to UTC rather than strand it.
    zone = body.get("time_zone") if body.get("time_zone") in IANA_ZONES else "UTC"
    recovering = invite.user_id is not None
    user = invites.redeem(invite, display_name=name, time_zone=zone, now=now)
    if challenge.user_handle is not None:
        user.webauthn_user_id = challenge.user_handle
    row = _store(user, verified, credential, now=now, nickname=nickname or _("My device"))
    if recovering:
        recovery.begin_hold(row, user, now=now)
        record(
            user,
            "recovery_signup",
            target_type="credential",
            target_id=row.id,
            detail=f"invite {invite.id} from user {invite.created_by_id}",
        )
    return row


def recover_options(rp: RelyingParty, body: dict, *, now: datetime):
    """Registration options for a new passkey of the account whose recovery code `body` holds."""
    row = codes.find(body.get("code"))
    user = db.session.get(User, row.user_id)
    return passkeys.registration_options(rp, user, now=now, recovery_code_id=row.id)


def recover_with_code(rp: RelyingParty, handle, body: dict, *, now: datetime) -> Credential:
    """Verify the new passkey and spend the code it was asked with: no staff link, so no hold. The
    passkey sees what the code's maker could (everything, unless it was made from a locked session)."""
    challenge = passkeys.take_challenge(handle, "recover", now=now)
    row = db.session.get(RecoveryCode, challenge.recovery_code_id or 0)
    if row is None:
        raise codes.CodeError()
    verified = passkeys.verify_registration(rp, challenge, body.get("credential") or {})
    user = db.session.get(User, row.user_id)
    if not user.active:  # deactivated since the options were given
        raise codes.CodeError()
    codes.spend(row, now=now, action="recovery_code_used")
    name = recovery.fixed_name(user, now, by_code=True)
    credential = _store(user, verified, body.get("credential") or {}, now=now, nickname=name)
    credential.sees_from = row.sees_from
    return credential


def unlock_with_code(user: User, user_session: UserSession, text, *, now: datetime) -> None:
    """A locked session shows the person's own recovery code: its passkey sees what the code's maker
    could (everything, for a code made on a device that saw everything)."""
    row = codes.find(text)
    if row.user_id != user.id or user_session.credential is None:
        raise codes.CodeError()
    codes.spend(row, now=now, action="recovery_code_unlocked")
    recovery.unlock([user_session.credential], sees_from=row.sees_from)


def add_passkey(
    rp: RelyingParty, user: User, user_session: UserSession, handle, body: dict, *, now: datetime
) -> Credential:
    """Another passkey for a signed-in account; one added from a locked session is locked too."""
    nickname = plain_text(body.get("nickname"), field="nickname", limit=60)
    challenge = passkeys.take_challenge(handle, "register", now=now)
    if challenge.user_id != user.id:
        raise passkeys.PasskeyError(_l("This attempt is no longer valid. Please try again."))
    credential = body.get("credential") or {}
    verified = passkeys.verify_registration(rp, challenge, credential)
    row = _store(user, verified, credential, now=now, nickname=nickname or _("Another device"))
    recovery.inherit_hold(row, user_session, now=now)
    return row


def _store(user: User, verified, credential: dict, *, now: datetime, nickname: str) -> Credential:
    row = passkeys.store_credential(user, verified, credential, now=now, nickname=nickname)
    record(user, "passkey_added", target_type="credential", target_id=row.id)
    return row


def sign_in(rp: RelyingParty, handle, credential, *, now: datetime) -> Credential:
    """The passkey a discoverable sign-in proves."""
    challenge = passkeys.take_challenge(handle, "signin", now=now)
    return passkeys.verify_authentication(rp, challenge, credential or {}, now=now)


def remove_passkey(user: User, row: Credential, *, now: datetime, confirm_last: bool) -> bool:
    """Remove a passkey and sign out the sessions it started; False while the last one needs a yes.
    (A held session never gets here: app/auth/gate.py.)"""
    if len(user.credentials) == 1 and not confirm_last:
        return False
    sessions.revoke_for_credential(row.id, now=now)
    record(user, "passkey_removed", target_type="credential", target_id=row.id)
    user.credentials.remove(row)
    return True


def reinvite(actor: User, person: User, *, now: datetime, days: int) -> tuple[Invite, str]:
    """A one-time link that adds a passkey to `person`'s account; audited for the practice's admins."""
    invite, token = invites.create(
        practice=actor.practice,
        role=person.role,
        now=now,
        created_by=actor,
        therapist=actor if person.role == "client" else None,
        user=person,
        display_name=person.display_name,
        days=days,
    )
    record(actor, "reinvite", target_type="user", target_id=person.id, detail=f"invite {invite.id}")
    return invite, token
