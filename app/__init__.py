"""Attune: session-by-session alliance check-ins for therapy."""

import os
import secrets

from flask import Flask
from flask_babel import get_locale
from flask_compress import Compress
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_module
from . import errors, inputs, logs, security, web_session
from .alerts import cli as alerts_cli
from .appointments import bp as appointments_bp
from .auth import bp as auth_bp
from .auth import gate
from .checkins import bp as checkins_bp
from .cli import attune_cli
from .core import assets
from .core import bp as core_bp
from .dashboard import bp as dashboard_bp
from .dashboard import warm
from .dashboard.cli import refresh_aggregates
from .demo import demo_cli
from .extensions import babel, csrf, db, limiter, migrate
from .i18n import (
    format_when,
    install_template_gettext,
    js_catalogue,
    language_choices,
    select_locale,
    select_timezone,
    text_direction,
)
from .privacy import bp as privacy_bp
from .reminders import bp as reminders_bp


def create_app(config: dict | None = None) -> Flask:
    """Create and configure an Attune app; `config` overrides the environment (tests use it)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(
        __name__,
        instance_path=os.environ.get("ATTUNE_INSTANCE", os.path.join(root, "instance")),
        static_folder=os.path.join(root, "static"),
        template_folder=os.path.join(root, "templates"),
    )
    app.config.from_mapping(config_module.from_env(app.instance_path))
    app.config.from_mapping(config or {})
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    logs.init_app(app)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app.instance_path)

    if app.config.get("TRUST_PROXY"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    _warn_on_unsafe_production(app)
    register_extensions(app)
    inputs.init_app(app)  # after CSRF's check, before the blueprints (their rules take its `int`)
    register_blueprints(app)
    security.init_app(app)
    web_session.init_app(app)
    gate.init_app(app)  # after the session is loaded: the recovery lock's one enforcement point
    errors.init_app(app)
    register_commands(app)
    assets.init_app(app)  # static files: hashed names, precompressed, served by WhiteNoise
    warm.init_app(app)  # last: the first render after start costs about what a warm one does
    return app


# Flask-Compress: pages and scripts only. API answers are small, and leaving JSON (which carries the CSRF
# token) uncompressed keeps it out of reach of compression side channels (BREACH).
COMPRESSED_TYPES = ["text/html", "text/javascript", "application/manifest+json"]


def _warn_on_unsafe_production(app: Flask) -> None:
    """Rate limits in process memory do not hold across gunicorn workers (Flask-Limiter's own warning)."""
    public = app.config["ORIGIN"].startswith("https://")
    shared = public or app.config["WEB_CONCURRENCY"] > 1
    if shared and app.config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        app.logger.warning(
            "RATELIMIT_STORAGE_URI is memory://: set it to a Redis URL so limits are shared by workers"
        )


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(app.root_path, "..", "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    # HTML and the service worker, per response (COMPRESSED_TYPES says why not JSON). Before
    # security.init_app: after_request runs last-registered first, so its Vary gets Accept-Encoding added.
    Compress(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    install_template_gettext(app.jinja_env)
    app.jinja_env.globals.update(
        get_locale=get_locale,
        format_when=format_when,
        text_direction=text_direction,
        js_catalogue=js_catalogue,
        language_choices=language_choices,
    )


def register_blueprints(app: Flask) -> None:
    for blueprint in (
        core_bp,
        auth_bp,
        checkins_bp,
        appointments_bp,
        dashboard_bp,
        reminders_bp,
        privacy_bp,
    ):
        app.register_blueprint(blueprint)


def register_commands(app: Flask) -> None:
    app.cli.add_command(attune_cli)
    app.cli.add_command(demo_cli)
    alerts_cli.init_app(app, then=(refresh_aggregates,))


def _instance_secret(instance_path: str) -> str:
    """Read, or create once, a random secret key in the instance folder for local use."""
    path = os.path.join(instance_path, "secret_key")
    if os.path.exists(path):
        with open(path) as fh:
            return fh.read().strip()
    os.makedirs(instance_path, exist_ok=True)
    key = secrets.token_hex(32)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(key)
    return key


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL + synchronous=FULL: an acknowledged check-in survives kill -9 and power loss."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
