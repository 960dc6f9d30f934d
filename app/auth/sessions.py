"""Revocable server-side sessions: the cookie holds a random token, the database its hash."""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..extensions import db
from ..models import User, UserSession

IDLE = {
    "client": timedelta(days=30),
    "therapist": timedelta(minutes=30),
    "admin": timedelta(minutes=30),
}
ABSOLUTE = {
    "client": timedelta(days=180),
    "therapist": timedelta(hours=12),
    "admin": timedelta(hours=12),
}
TOUCH_EVERY = timedelta(seconds=60)
RECENT_AUTH = timedelta(minutes=10)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: User, *, now: datetime, user_agent: str = "") -> str:
    """Create a session row for a fresh sign-in and return the cookie token."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            user_id=user.id,
            token_hash=token_hash(token),
            created_at=now,
            last_seen_at=now,
            reauthenticated_at=now,
            user_agent=user_agent[:200],
        )
    )
    return token


def resume(token: str, *, now: datetime) -> UserSession | None:
    """The live session for `token`, or None when revoked, timed out or the user is inactive."""
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    role = row.user.role
    if now - row.last_seen_at > IDLE[role] or now - row.created_at > ABSOLUTE[role]:
        row.revoked_at = now
        db.session.commit()
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return row


def revoke(row: UserSession, *, now: datetime) -> None:
    row.revoked_at = now


def revoke_all(user_id: int, *, now: datetime, keep: int | None = None) -> int:
    """Revoke every live session of a user (deactivation, 'sign out everywhere')."""
    stmt = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    return db.session.execute(stmt.values(revoked_at=now)).rowcount


def recently_authenticated(row: UserSession, *, now: datetime) -> bool:
    return now - row.reauthenticated_at <= RECENT_AUTH
