"""WebAuthn ceremonies with py_webauthn, plus what the library leaves to us (SECURITY.md 21-27).

py_webauthn verifies signatures; storing challenges server-side, making them single use, requiring
user verification and checking that the credential belongs to the user it names are done here.
"""

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..extensions import db
from ..models import Credential, User, WebAuthnChallenge
from .errors import AuthError

log = logging.getLogger("attune.auth")
CHALLENGE_TTL = timedelta(minutes=5)
TIMEOUT_MS = 120_000
# The credential id column's size, and WebAuthn's own bound (Level 3, credential id of at most 1023 bytes).
MAX_CREDENTIAL_ID = 1023


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origin: str


class PasskeyError(AuthError):
    """A ceremony that failed; the message is plain words safe to show the person."""


def _issue(
    purpose: str,
    challenge: bytes,
    *,
    now: datetime,
    user_id=None,
    invite_id=None,
    user_handle=None,
    recovery_code_id=None,
) -> str:
    db.session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at < now))
    handle = secrets.token_urlsafe(24)
    db.session.add(
        WebAuthnChallenge(
            id=handle,
            purpose=purpose,
            challenge=challenge,
            user_id=user_id,
            invite_id=invite_id,
            user_handle=user_handle,
            recovery_code_id=recovery_code_id,
            expires_at=now + CHALLENGE_TTL,
        )
    )
    db.session.commit()
    return handle


def take_challenge(handle: str | None, purpose: str, *, now: datetime) -> WebAuthnChallenge:
    """Delete and return the stored challenge: single use even if verification then fails."""
    row = db.session.get(WebAuthnChallenge, handle) if handle else None
    if row is None or row.purpose != purpose:
        raise PasskeyError(_l("This sign-in attempt is no longer valid. Please try again."))
    # A conditional DELETE, not session.delete(): of two requests racing with one challenge, only
    # the one whose DELETE removed the row may go on (the ORM would raise StaleDataError, a 500).
    db.session.expunge(row)
    claimed = db.session.execute(
        delete(WebAuthnChallenge).where(WebAuthnChallenge.id == row.id)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        raise PasskeyError(_l("This sign-in attempt is no longer valid. Please try again."))
    if row.expires_at < now:
        raise PasskeyError(_l("That took too long. Please try again."))
    return row


def registration_options(
    rp: RelyingParty, user: User, *, now: datetime, invite_id=None, recovery_code_id=None
):
    """Options for navigator.credentials.create(), and the handle of the stored challenge (a
    "recover" one when asked with a recovery code)."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user.webauthn_user_id,
        user_name=user.display_name,
        user_display_name=user.display_name,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=c.credential_id) for c in user.credentials
        ],
    )
    handle = _issue(
        "recover" if recovery_code_id else "register",
        options.challenge,
        now=now,
        user_id=user.id,
        invite_id=invite_id,
        user_handle=None if user.id else user.webauthn_user_id,
        recovery_code_id=recovery_code_id,
    )
    return json.loads(options_to_json(options)), handle


def verify_registration(rp: RelyingParty, challenge: WebAuthnChallenge, credential: dict):
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as err:
        log.info("passkey registration refused: %s", type(err).__name__)
        raise PasskeyError(
            _l(
                "Your device could not create a passkey. Please try again, or open this link in "
                "your phone's own browser."
            )
        ) from err
    if len(verified.credential_id) > MAX_CREDENTIAL_ID:
        raise PasskeyError(
            _l(
                "This passkey's id is longer than 1,023 bytes, so it cannot be stored. Try another device."
            )
        )
    if db.session.scalar(
        select(Credential.id).where(Credential.credential_id == verified.credential_id)
    ):
        raise PasskeyError(_l("This passkey is already registered."))
    return verified


def store_credential(
    user: User, verified, credential: dict, *, now: datetime, nickname: str
) -> Credential:
    transports = credential.get("response", {}).get("transports") or []
    known = {t.value for t in AuthenticatorTransport}
    row = Credential(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=",".join(t for t in transports if t in known),
        backed_up=bool(verified.credential_backed_up),
        device_type=str(getattr(verified.credential_device_type, "value", "")),
        nickname=nickname[:60],
        created_at=now,
        last_used_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row


def authentication_options(rp: RelyingParty, *, now: datetime):
    """Options for a discoverable-credential sign-in: no username, empty allowCredentials."""
    options = generate_authentication_options(
        rp_id=rp.id,
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    handle = _issue("signin", options.challenge, now=now)
    return json.loads(options_to_json(options)), handle


def verify_authentication(
    rp: RelyingParty, challenge: WebAuthnChallenge, credential: dict, *, now
) -> Credential:
    """Return the stored passkey the assertion proves, after checking it belongs to the claimed userHandle."""
    try:
        raw_id = base64url_to_bytes(credential["rawId"])
        handle = credential["response"].get("userHandle")
        user_handle = base64url_to_bytes(handle) if handle else None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise PasskeyError(_l("That sign-in response was not valid. Please try again.")) from err
    row = db.session.scalar(select(Credential).where(Credential.credential_id == raw_id))
    if row is None or user_handle is None or row.user.webauthn_user_id != user_handle:
        log.info("sign-in refused: unknown credential or user handle mismatch")
        raise PasskeyError(_l("This passkey is not registered with Attune. Ask for a new invite."))
    if not row.user.active:
        raise PasskeyError(_l("This account has been deactivated."))
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as err:
        log.warning("sign-in refused for user %s: %s", row.user_id, type(err).__name__)
        raise PasskeyError(_l("Your passkey could not be verified. Please try again.")) from err
    row.sign_count = verified.new_sign_count
    row.backed_up = bool(verified.credential_backed_up)
    row.last_used_at = now
    return row
