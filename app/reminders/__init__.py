"""Web Push reminders: subscriptions, the outbox of reminders, the dispatcher and its CLI."""

import os

from flask import Blueprint

bp = Blueprint("reminders", __name__, cli_group="reminders")

# Dispatcher tuning, read from the environment unless the app's config already sets it.
ENV_SETTINGS = {
    "PUSH_BATCH": int,
    "PUSH_LEASE_SECONDS": float,
    "PUSH_MAX_ATTEMPTS": int,
    "PUSH_BACKOFF_SECONDS": float,
}


@bp.record_once
def _config_from_env(state) -> None:
    for name, kind in ENV_SETTINGS.items():
        if name not in state.app.config and os.environ.get(name):
            state.app.config[name] = kind(os.environ[name])


from . import cli, notices, views  # noqa: E402,F401
