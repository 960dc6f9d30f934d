"""Request glue: find the signed-in user from the cookie's session token, and guard views by role."""

from functools import wraps

from flask import Flask, abort, g, redirect, request, session, url_for
from flask_wtf.csrf import generate_csrf

from .models import utcnow


def init_app(app: Flask) -> None:
    app.before_request(load_user)


def load_user() -> None:
    g.user = None
    g.user_session = None
    if request.endpoint == "static":
        return
    token = session.get("sid")
    if not token:
        return
    from .auth import sessions  # here, not at the top: auth.views imports this module

    row = sessions.resume(token, now=utcnow())
    if row is None:
        session.pop("sid", None)
        return
    g.user_session = row
    g.user = row.user


def sign_in(user, *, now) -> None:
    """Start a fresh session: a new cookie, so a pre-sign-in cookie is useless afterwards."""
    from .auth import sessions

    token = sessions.start(user, now=now, user_agent=request.user_agent.string)
    session.clear()
    session.permanent = True
    session["sid"] = token
    generate_csrf()  # made now, so later pages never have to change the cookie


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


def safe_next(target: str | None, default: str) -> str:
    """Only follow a same-site relative path, never `//host` or an absolute URL."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
