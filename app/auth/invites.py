"""Invites: random tokens shown once, stored as hashes, single use, expiring, bound to a role."""

import hashlib
import secrets
from datetime import datetime, timedelta

import segno
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..extensions import db
from ..models import CareLink, Invite, Practice, User
from .errors import AuthError

WHO_MAY_INVITE = {"admin": {"therapist", "admin"}, "therapist": {"client"}}


class InviteError(AuthError):
    """An invite that cannot be used; the message is safe to show."""

    status = 410


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    *,
    practice: Practice,
    role: str,
    now: datetime,
    created_by: User | None = None,
    therapist: User | None = None,
    user: User | None = None,
    display_name: str = "",
    days: int = 7,
) -> tuple[Invite, str]:
    """Create an invite and return it with its token; the token is never stored."""
    if created_by is not None and role not in WHO_MAY_INVITE.get(created_by.role, set()):
        raise InviteError(_l("You cannot invite that kind of account."))
    token = secrets.token_urlsafe(32)
    invite = Invite(
        token_hash=hash_token(token),
        role=role,
        practice_id=practice.id,
        created_by_id=created_by.id if created_by else None,
        therapist_id=therapist.id if therapist else None,
        user_id=user.id if user else None,
        display_name=display_name[:80],
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(invite)
    db.session.flush()
    return invite, token


def find_usable(token: str, *, now: datetime) -> Invite:
    """The invite for `token`, or InviteError saying in plain words why it cannot be used."""
    invite = db.session.scalar(select(Invite).where(Invite.token_hash == hash_token(token)))
    if invite is None or invite.revoked_at is not None:
        raise InviteError(_l("This invite link is not valid. Ask for a new one."))
    if invite.used_at is not None:
        raise InviteError(_l("This invite link has already been used. Ask for a new one."))
    if invite.expires_at <= now:
        raise InviteError(_l("This invite link has expired. Ask for a new one."))
    return invite


def redeem(invite: Invite, *, display_name: str, time_zone: str, now: datetime) -> User:
    """Mark the invite used and return the account it creates (or the re-invited one).

    The conditional UPDATE makes redemption single use even when two requests race.
    """
    claimed = db.session.execute(
        update(Invite).where(Invite.id == invite.id, Invite.used_at.is_(None)).values(used_at=now)
    ).rowcount
    if claimed != 1:
        raise InviteError(_l("This invite link has already been used. Ask for a new one."))
    if invite.user is not None:
        return invite.user
    user = User(
        practice_id=invite.practice_id,
        role=invite.role,
        display_name=(display_name or invite.display_name or "").strip()[:80] or "Someone",
        time_zone=time_zone,
        created_at=now,
    )
    db.session.add(user)
    db.session.flush()
    # Linked to the account it made, so erasing the account also removes the invite and its name.
    invite.user_id = user.id
    if invite.role == "client" and invite.therapist_id:
        db.session.add(
            CareLink(therapist_id=invite.therapist_id, client_id=user.id, started_at=now)
        )
    return user


def may_reinvite(actor: User, person: User) -> bool:
    """Therapists re-invite their own active clients; admins the staff of their practice."""
    if person.practice_id != actor.practice_id or not person.active or person.id == actor.id:
        return False
    if actor.role == "admin":
        return person.role in WHO_MAY_INVITE["admin"]
    if actor.role == "therapist" and person.role == "client":
        link = db.session.scalar(
            select(CareLink.id).where(
                CareLink.therapist_id == actor.id,
                CareLink.client_id == person.id,
                CareLink.ended_at.is_(None),
            )
        )
        return link is not None
    return False


def revoke_issued_by(creator_id: int, *, now: datetime) -> int:
    """Revoke every unused invite a person issued (their account is being deactivated)."""
    stmt = update(Invite).where(
        Invite.created_by_id == creator_id, Invite.used_at.is_(None), Invite.revoked_at.is_(None)
    )
    return db.session.execute(stmt.values(revoked_at=now)).rowcount


def pending_for(creator: User, *, now: datetime) -> list[Invite]:
    return list(
        db.session.scalars(
            select(Invite)
            .where(
                Invite.created_by_id == creator.id,
                Invite.used_at.is_(None),
                Invite.revoked_at.is_(None),
                Invite.expires_at > now,
            )
            .order_by(Invite.created_at.desc())
        )
    )


def qr_svg(url: str) -> str:
    """An inline SVG QR code of `url`, sized to scan from a screen."""
    return segno.make(url, error="m").svg_inline(scale=5, dark="#1d2a3a", light="#ffffff")
