"""Request glue: find the signed-in user from the cookie's session token, guard views by role, and
keep every `next` redirect on our own origin.

The session-row lookup lives here, in the kernel, so no feature package is needed to load a request's
user; starting and revoking sessions are auth's business (app/auth/sessions.py).

Routes marked `@columns_only` get the session and user as plain columns from one Core statement instead
of ORM objects with the user's passkeys: the same revocation, timeout and activity rules, a fraction of
the CPU. A session that timed out takes the ORM path, which revokes it; one due a touch gets an UPDATE
that the request's own commit carries. A route marked `@session_in_view` (the check-in POST, issue 12)
runs that statement inside its own (`columns_query`, filtered by `needs_nothing`) and calls
`load_deferred` for the usual lookup when its statement found no session that needs nothing done.
"""

import hashlib
import logging
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, wraps
from urllib.parse import unquote, urlsplit, urlunsplit

from flask import (
    Flask,
    abort,
    current_app,
    g,
    has_app_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from sqlalchemy import and_, bindparam, event, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload

from .extensions import db
from .models import User, UserSession, utcnow

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
NEXT_MAX = 2000
# A read holds no write lock while it renders: its touch is committed before the view runs.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("attune")


@dataclass
class Touch:
    """A session's new last-seen time that a writing request's own commit is to carry (issue 12: one
    write transaction per check-in). `lost` once the request rolled back: its commit no longer holds it.
    `by_statement`: no ORM object carries it, so the UPDATE is sent just before that commit (not
    earlier: on SQLite it would take the write lock for the whole request)."""

    session_id: int
    at: datetime
    lost: bool = False
    by_statement: bool = False


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with what is the same on every request done once per process
    (issue 12): one serializer per secret key, and the cookies whose signature already checked out.
    A client sends the same cookie on every request; checking its HMAC again proves nothing new. The
    cookie's age is still checked on every request, and only cookies holding plain values (the session
    token, the CSRF secret) are kept, so each request still gets a session of its own."""

    VERIFIED_MAX = 4096  # cookies remembered per process; emptied when full

    def __init__(self):
        self._serializers: dict = {}
        self._verified: dict = {}

    def get_signing_serializer(self, app: Flask):
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = self._serializers[key] = super().get_signing_serializer(app)
        return serializer

    def open_session(self, app: Flask, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        known = self._verified.get((serializer, cookie))
        if known is not None and 0 <= time.time() - known[1] <= max_age:
            return self.session_class(known[0])
        try:
            data, signed = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(type(v) in PLAIN for v in data.values()):
            if len(self._verified) >= self.VERIFIED_MAX:
                self._verified.clear()
            self._verified[(serializer, cookie)] = (data, signed.timestamp())
        return self.session_class(data)


PLAIN = frozenset({str, int, float, bool, type(None)})  # immutable: a shallow copy is a copy


def init_app(app: Flask) -> None:
    app.session_interface = SignedCookieSessions()
    app.before_request(load_user)
    app.after_request(keep_touch)
    for name, listener in (
        ("before_commit", _carry_touch),
        ("after_commit", _committed),
        ("after_soft_rollback", _rolled_back),
    ):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@cache
def _session_query():
    """The session with its user, the user's passkeys (the recovery notice and hold read them on
    every page) and practice (its language and settings: every page without the person's own language
    reads it), in one statement built once per process."""
    user = joinedload(UserSession.user)
    return (
        select(UserSession)
        .where(UserSession.token_hash == bindparam("token_hash"))
        .options(user.joinedload(User.credentials), user.joinedload(User.practice))
    )


class Columns:
    """One row's columns, read without the ORM. Any other attribute (a relationship, a column the fast
    statement does not read) comes from the ORM object, loaded on first use: a route that turns out to
    need more still works, only slower."""

    def __init__(self, model, values: dict):
        self.__dict__.update(values)
        self.__dict__["_model"] = model

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.orm(), name)

    def orm(self):
        """The ORM object of the same row (from the session's identity map when already loaded)."""
        return db.session.get(self.__dict__["_model"], self.__dict__["id"])


# What the fast path reads: timeouts and revocation, the role, and the locale an error is written in. Each
# column is a little work per request (PostgreSQL's driver describes every one); any other attribute
# still works, through Columns' ORM fallback.
USER_COLUMNS = ("id", "role", "active", "locale")
SESSION_COLUMNS = ("id", "created_at", "last_seen_at", "revoked_at", "sees_from")


@cache
def _columns_query(also=None):
    """The session and its user's columns (no passkeys, no ORM objects), and whatever `also` adds,
    built once per process."""
    session_table, user_table = UserSession.__table__, User.__table__
    query = (
        select(
            *(session_table.c[name].label(f"s_{name}") for name in SESSION_COLUMNS),
            *(user_table.c[name].label(f"u_{name}") for name in USER_COLUMNS),
        )
        .join_from(session_table, user_table, session_table.c.user_id == user_table.c.id)
        .where(session_table.c.token_hash == bindparam("token_hash"))
    )
    return also(query, user_table.c.id) if also else query


def resume_columns(token: str, *, now: datetime, also=None):
    """(session, user, row) as columns for a live session, `row` holding what `also` added; None when
    revoked, timed out (revoked now, by `resume`) or the user is inactive. The caller touches it."""
    query, values = _columns_query(also), {"token_hash": token_hash(token)}
    row = db.session.connection().execute(query, values).first()
    if row is None or row.s_revoked_at is not None or not row.u_active:
        return None
    if timed_out(row.u_role, row.s_created_at, row.s_last_seen_at, now=now):
        resume(token, now=now)  # the ORM path revokes it (and commits that)
        return None
    mapping = row._mapping
    user = Columns(User, {name: mapping[f"u_{name}"] for name in USER_COLUMNS})
    session_row = Columns(UserSession, {name: mapping[f"s_{name}"] for name in SESSION_COLUMNS})
    return session_row, user, row


def columns_query(also=None):
    """The statement `resume_columns` runs (bound: `token_hash`), for a route that runs it inside its
    own statement (issue 12: the check-in's insert) and filters its row with `needs_nothing`."""
    return _columns_query(also)


def needs_nothing(row, role: str):
    """The condition, on `row` (the columns of `columns_query`), that its session needs nothing done
    this request: live (not revoked, user active, within the idle and absolute lifetimes), of `role`,
    touched recently enough that no touch is due, and not locked by a recovery (app/auth/recovery.py:
    the usual way applies its rule). Bound: those of `needs_nothing_values`. When a
    route's statement finds no such row, `load_deferred` takes the usual way, which revokes, touches or
    refuses as each case needs. Same rules as `timed_out` and the touch: a session exactly at a limit
    is still live."""
    return and_(
        row.s_revoked_at.is_(None),
        row.s_sees_from.is_(None),
        row.u_active.is_(True),
        row.u_role == role,
        row.s_last_seen_at >= bindparam("fresh_since"),
        row.s_created_at >= bindparam("born_since"),
    )


def needs_nothing_values(token: str, *, role: str, now: datetime) -> dict:
    """The values `columns_query` and `needs_nothing` take for the session of cookie token `token`."""
    return {
        "token_hash": token_hash(token),
        "fresh_since": now - min(TOUCH_EVERY, IDLE[role]),
        "born_since": now - ABSOLUTE[role],
    }


def columns_only(view=None, *, also=None):
    """Mark a view that reads only `g.user`'s and `g.user_session`'s plain columns (USER_COLUMNS,
    SESSION_COLUMNS): its requests load them without the ORM (issue 12's check-in fast path); any
    other attribute still works, a statement slower.

    `also(query, user_id)` may add columns (and outer joins) to that one statement for the view to
    read as `g.session_extra` (the row; None when not signed in): a feature's own lookup without a
    statement of its own."""

    def mark(view):
        view.session_columns_only = True
        view.session_columns_also = also
        return view

    return mark(view) if view is not None else mark


def session_in_view(view):
    """Mark a view that checks the session inside its own statement (`columns_query`, `needs_nothing`):
    `load_user` only
    reads the cookie's token into `g.session_token`, and the view calls `load_deferred` when its
    statement found no session that needs nothing. `g.user` is None until one of the two sets it."""
    view.session_in_view = True
    return view


def signed_in_as(session_id: int, user_id: int, role: str) -> None:
    """Set `g.user_session` and `g.user` for a `session_in_view` route whose statement found its live
    session: the ids and role only; any other attribute loads the row (`Columns`)."""
    g.user_session = Columns(UserSession, {"id": session_id, "revoked_at": None})
    g.user = Columns(User, {"id": user_id, "role": role, "active": True})


def load_deferred(also=None) -> None:
    """The usual columns lookup for a `session_in_view` route, after its own statement found nothing:
    revokes a timed-out session, carries a due touch, and leaves `g.user` None when signed out."""
    token = g.get("session_token")
    if token:
        _load_columns(token, also)


def timed_out(role: str, created_at: datetime, last_seen_at: datetime, *, now: datetime) -> bool:
    """Past the role's idle or absolute lifetime: the one rule both lookups (ORM and columns) apply."""
    return now - last_seen_at > IDLE[role] or now - created_at > ABSOLUTE[role]


def resume(token: str, *, now: datetime) -> UserSession | None:
    """The live session for `token`, or None when revoked, timed out or the user is inactive."""
    query, values = _session_query(), {"token_hash": token_hash(token)}
    row = db.session.scalars(query, values).unique().first()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    if timed_out(row.user.role, row.created_at, row.last_seen_at, now=now):
        row.revoked_at = now
        db.session.commit()
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now  # saved by the caller's next commit
    return row


def load_user() -> None:
    g.user = None
    g.user_session = None
    g.session_extra = None
    if request.endpoint == "static":
        return
    token = session.get("sid")
    if not token:
        return
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "session_in_view", False):
        g.session_token = token
        return
    if getattr(view, "session_columns_only", False):
        _load_columns(token, view.session_columns_also)
        return
    row = resume(token, now=utcnow())
    if row is None:
        session.pop("sid", None)
        return
    g.user_session = row
    g.user = row.user
    if db.session.is_modified(row):
        _save_touch(row.id, row.last_seen_at, by_statement=False)


def _save_touch(session_id: int, at: datetime, *, by_statement: bool) -> None:
    """A read commits the new last-seen time now; a write's own commit carries it (`keep_touch`).
    `by_statement`: no ORM object holds the new time, so an UPDATE carries it."""
    if request.method not in READ_METHODS:
        g.touch = Touch(session_id, at, by_statement=by_statement)  # see _carry_touch
        return
    if by_statement:
        db.session.execute(_touch_statement(session_id, at))
    db.session.commit()


def _load_columns(token: str, also) -> None:
    now = utcnow()
    found = resume_columns(token, now=now, also=also)
    if found is None:
        session.pop("sid", None)
        return
    g.user_session, g.user, row = found
    g.session_extra = row if also is not None else None
    if now - g.user_session.last_seen_at > TOUCH_EVERY:
        g.user_session.last_seen_at = now
        _save_touch(g.user_session.id, now, by_statement=True)


def _carry_touch(_session) -> None:
    """Send a columns-path touch inside the commit that is about to happen (the request's own)."""
    touch = has_app_context() and g.get("touch")
    if touch and touch.by_statement:
        _session.execute(_touch_statement(touch.session_id, touch.at))
        touch.lost = False


def _touch_statement(session_id: int, at: datetime):
    """Move a session's last-seen time forward to `at` (never back: a slower request may come later)."""
    return (
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.last_seen_at < at)
        .values(last_seen_at=at)
        .execution_options(synchronize_session=False)
    )


def _committed(_session) -> None:
    touch = has_app_context() and g.get("touch")
    if touch and not touch.lost:
        g.touch = None


def _rolled_back(_session, _previous) -> None:
    touch = has_app_context() and g.get("touch")
    if touch:
        touch.lost = True


def keep_touch(response):
    """Save the last-seen time when the writing request did not commit it (it failed, or wrote nothing),
    so idle timeouts count every request. Whatever the view left unsaved is dropped, not committed."""
    touch = g.get("touch")
    if touch is None:
        return response
    g.touch = None
    try:
        db.session.rollback()
        db.session.execute(_touch_statement(touch.session_id, touch.at))
        db.session.commit()
    except SQLAlchemyError:  # a lost touch only shortens one idle window; never fail the answer
        log.exception("could not save the session's last-seen time")
        db.session.rollback()
    return response


def login_required(*roles: str):
    """Let only signed-in users with one of `roles` (any role when empty) through."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if g.get("user") is None:
                if request.path.startswith("/api/") or request.is_json:
                    abort(401)
                return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
            if roles and g.user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _suspicious(text: str) -> bool:
    """Anything a browser might read as another host: control or non-ASCII characters (look-alike
    slashes), backslashes, whitespace, an empty path segment (`//`) or a dot segment."""
    if any(ord(c) > 126 or unicodedata.category(c).startswith("C") for c in text):
        return True
    path = text.split("?", 1)[0].split("#", 1)[0]
    return (
        "\\" in text
        or " " in text
        or not path.startswith("/")
        or "//" in path
        or any(s in (".", "..") for s in path.split("/"))
    )


def safe_next(target, default: str) -> str:
    """`target` as a same-origin path (rebuilt from its parsed parts), else `default`.

    Browsers strip tabs and newlines and read backslashes as slashes, so `/\\t/evil.example` would
    leave the site: every decoding of the value must look like a plain absolute path.
    """
    if not isinstance(target, str) or not target or len(target) > NEXT_MAX:
        return default
    decoded, seen = target, set()
    while decoded not in seen:
        seen.add(decoded)
        if _suspicious(decoded):
            return default
        decoded = unquote(decoded)
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return urlunsplit(("", "", parts.path, parts.query, parts.fragment))
