"""Revocable server-side sessions: the cookie holds a random token, the database its hash.

Looking a session up on each request is the kernel's job (app/web_session.py); starting, re-confirming
and revoking them is auth's.
"""

import secrets
from datetime import datetime, timedelta

from sqlalchemy import update

from ..extensions import db
from ..models import Credential, User, UserSession
from ..web_session import token_hash

RECENT_AUTH = timedelta(minutes=10)
# What a sign-out (or an erasure) asks the browser to clear: its HTTP cache. Not "storage": on a shared
# phone that would also wipe other people's unsent check-ins (issue 21.3). The page's script removes the
# signed-out person's own queued items first (static/js/outbox-ui.js), after a warning.
CLEAR_SITE_DATA = '"cache"'


def start(
    user: User, *, now: datetime, user_agent: str = "", credential: Credential | None = None
) -> str:
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
            credential_id=credential.id if credential is not None else None,
            sees_from=credential.sees_from if credential is not None else None,
        )
    )
    return token


def reauthenticated(row: UserSession, credential: Credential, *, now: datetime) -> None:
    """A fresh passkey assertion inside a live session: recent again, and bound to that passkey (and to
    what it may see: app/auth/recovery.py)."""
    row.reauthenticated_at = now
    row.credential_id = credential.id
    row.sees_from = credential.sees_from


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


def revoke_for_credential(credential_id: int, *, now: datetime) -> int:
    """Revoke the sessions a passkey started, so removing it also signs that device out."""
    stmt = update(UserSession).where(
        UserSession.credential_id == credential_id, UserSession.revoked_at.is_(None)
    )
    return db.session.execute(stmt.values(revoked_at=now)).rowcount


def recently_authenticated(row: UserSession, *, now: datetime) -> bool:
    return now - row.reauthenticated_at <= RECENT_AUTH
