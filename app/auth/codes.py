"""Recovery codes (DESIGN 4b; SECURITY 29, 42): what a person saves to get back in, with everything they
recorded, without asking anyone, and the one proof besides an older passkey that unlocks a device a
staff member's recovery link added (app/auth/recovery.py).

A code is 24 characters of Crockford's base32, shown in six groups of four. The first eight are its
public `lookup` (found by a unique index); the other sixteen (80 random bits) are its secret, stored only
as an Argon2id hash by argon2-cffi with RFC 9106's low-memory parameters, so a stolen database does not
give the codes away. One code per person at a time: making one revokes the one before. Single use:
spending it is a conditional UPDATE, so two requests racing with one code cannot both succeed. The
routes that take a code are rate-limited (Flask-Limiter, app/auth/code_views.py), and every code made,
used, or guessed wrong (for a lookup that exists) is written to the practice's audit log.

A code made from a locked session unlocks only what that session could see (`sees_from`).
"""

import secrets
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..audit import record
from ..extensions import db
from ..models import CheckIn, RecoveryCode, User
from .errors import AuthError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O or U to misread
READS_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
LOOKUP_LENGTH, SECRET_LENGTH, GROUP = 8, 16, 4
HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
USABLE = (RecoveryCode.used_at.is_(None), RecoveryCode.revoked_at.is_(None))


class CodeError(AuthError):
    """A code that is not valid (unknown, wrong, used, replaced, or its account deactivated): one
    answer for all, so a guess learns nothing about which."""

    status = 400
    field = "code"

    def __init__(self):
        super().__init__(_l("That recovery code is not valid, or it was used already."))


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def written(code: str) -> str:
    """The code in groups of four, as the person writes it down."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalized(text) -> str | None:
    """What the person typed, without spaces or dashes, upper case, look-alikes read as digits; None
    when it cannot be a code."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    code = "".join(text.split()).replace("-", "").upper().translate(READS_AS)
    if len(code) != LOOKUP_LENGTH + SECRET_LENGTH or set(code) - set(ALPHABET):
        return None
    return code


@cache
def _decoy() -> str:
    """A hash to check an unknown lookup against, so answering it takes as long as a real one."""
    return HASHER.hash(_random(SECRET_LENGTH))


def current(user: User) -> RecoveryCode | None:
    """The person's code that can still be used, if any."""
    return db.session.scalar(select(RecoveryCode).where(RecoveryCode.user_id == user.id, *USABLE))


def offer_due(user: User) -> bool:
    """Whether to offer a code now: the person has checked in and has no code."""
    if current(user) is not None:
        return False
    return (
        db.session.scalar(select(CheckIn.id).where(CheckIn.client_id == user.id).limit(1))
        is not None
    )


def make(user: User, *, now: datetime, sees_from: datetime | None) -> str:
    """A new code for `user` (the one before is revoked), written in groups; shown once, never stored."""
    db.session.execute(
        update(RecoveryCode).where(RecoveryCode.user_id == user.id, *USABLE).values(revoked_at=now)
    )
    lookup = _random(LOOKUP_LENGTH)
    while db.session.scalar(select(RecoveryCode.id).where(RecoveryCode.lookup == lookup)):
        lookup = _random(LOOKUP_LENGTH)
    secret = _random(SECRET_LENGTH)
    row = RecoveryCode(
        user_id=user.id,
        lookup=lookup,
        secret_hash=HASHER.hash(secret),
        sees_from=sees_from,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    record(user, "recovery_code_made", target_type="user", target_id=user.id)
    return written(lookup + secret)


def find(text) -> RecoveryCode:
    """The usable code `text` names, else CodeError. A wrong secret for a lookup that exists is audited
    (the caller commits it with the refusal)."""
    code = normalized(text)
    row = None
    if code is not None:
        row = db.session.scalar(
            select(RecoveryCode).where(RecoveryCode.lookup == code[:LOOKUP_LENGTH])
        )
    try:
        HASHER.verify(row.secret_hash if row else _decoy(), (code or "")[LOOKUP_LENGTH:])
    except (VerificationError, InvalidHashError):
        if row is not None:
            owner = db.session.get(User, row.user_id)
            record(owner, "recovery_code_failed", target_type="user", target_id=owner.id)
        raise CodeError() from None
    if row is None or row.used_at or row.revoked_at or not db.session.get(User, row.user_id).active:
        raise CodeError()
    return row


def spend(row: RecoveryCode, *, now: datetime, action: str) -> None:
    """Use the code once (CodeError if another request used it first) and audit `action`."""
    spent = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == row.id, *USABLE)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent != 1:
        raise CodeError()
    owner = db.session.get(User, row.user_id)
    record(owner, action, target_type="user", target_id=owner.id)
