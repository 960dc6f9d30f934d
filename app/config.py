"""Configuration read from the environment (12-factor), with safe defaults for local use.

Nothing here touches the disk or the network: reading happens when `Config.from_env()` is called.
"""

import os
from datetime import timedelta

from .i18n import LANGUAGES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _float_or_none(value: str | None) -> float | None:
    return float(value) if value and value.strip() else None


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def database_url(raw: str | None, instance_path: str) -> str:
    """Normalise DATABASE_URL so `postgres://` URLs use the psycopg 3 driver."""
    if not raw:
        return "sqlite:///" + os.path.join(instance_path, "attune.db")
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    if raw.startswith("postgresql://"):
        raw = "postgresql+psycopg://" + raw[len("postgresql://") :]
    return raw


def from_env(instance_path: str) -> dict:
    """Build the config mapping from environment variables."""
    origin = os.environ.get("ORIGIN", "http://localhost:5000").rstrip("/")
    secure = origin.startswith("https://")
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": database_url(os.environ.get("DATABASE_URL"), instance_path),
        # No ping per checkout (a round trip per request, issue 12): the pool pings only a connection
        # idle longer than this, which a restart or an idle cut may have killed (app/extensions.py).
        "DATABASE_PING_IDLE_SECONDS": float(os.environ.get("DATABASE_PING_IDLE_SECONDS", "5")),
        "ORIGIN": origin,
        "RP_ID": os.environ.get("RP_ID", origin.split("://", 1)[1].split(":")[0]),
        "RP_NAME": os.environ.get("RP_NAME", "Attune"),
        "PREFERRED_URL_SCHEME": "https" if secure else "http",
        "SESSION_COOKIE_NAME": "__Host-attune" if secure else "attune",
        "SESSION_COOKIE_SECURE": secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # The server-side UserSession enforces idle and absolute limits per role; the cookie only has to
        # outlive the longest (a client's). Not refreshed per request, so concurrent requests (the
        # service worker precaching while a page loads) never overwrite each other's cookie.
        "PERMANENT_SESSION_LIFETIME": timedelta(days=180),
        "SESSION_REFRESH_EACH_REQUEST": False,
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": secure,
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "attune"),
        # A moving window: "20/minute" holds over any 60 s, with no double burst across a clock minute.
        "RATELIMIT_STRATEGY": "moving-window",
        # How many processes serve requests (gunicorn reads the same variable): memory:// limits
        # hold only with one.
        "WEB_CONCURRENCY": int(os.environ.get("WEB_CONCURRENCY") or "1"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        "RATELIMIT_HEADERS_ENABLED": True,
        "VAPID_PRIVATE_KEY": os.environ.get("VAPID_PRIVATE_KEY"),
        "VAPID_PUBLIC_KEY": os.environ.get("VAPID_PUBLIC_KEY"),
        "VAPID_SUBJECT": os.environ.get("VAPID_SUBJECT", "mailto:admin@attune.invalid"),
        "PUSH_TIMEOUT_SECONDS": float(os.environ.get("PUSH_TIMEOUT_SECONDS", "10")),
        # Dispatcher policy (app/reminders/dispatch.py reads these and nothing else).
        "PUSH_BATCH": int(os.environ.get("PUSH_BATCH", "50")),
        "PUSH_MAX_ATTEMPTS": int(os.environ.get("PUSH_MAX_ATTEMPTS", "5")),
        "PUSH_BACKOFF_SECONDS": float(os.environ.get("PUSH_BACKOFF_SECONDS", "30")),
        "PUSH_BACKOFF_CAP_SECONDS": float(os.environ.get("PUSH_BACKOFF_CAP_SECONDS", "3600")),
        # Empty: long enough for a whole batch of timed-out pushes (computed by the dispatcher).
        "PUSH_LEASE_SECONDS": _float_or_none(os.environ.get("PUSH_LEASE_SECONDS")),
        # Push services besides the browsers' own (app/reminders/endpoints.py): `host`, `host:port`
        # or `host:*`, comma separated. Only these may be plain http or an IP address (a test receiver).
        "PUSH_EXTRA_HOSTS": _list(os.environ.get("PUSH_EXTRA_HOSTS", "")),
        "INVITE_DAYS": int(os.environ.get("INVITE_DAYS", "7")),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "LANGUAGES": list(LANGUAGES),
        "BABEL_TRANSLATION_DIRECTORIES": os.path.join(ROOT, "translations"),
        "TRUST_PROXY": _bool("TRUST_PROXY", False),
    }
