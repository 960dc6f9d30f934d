"""Web Push reminders: subscriptions, the outbox of reminders, the dispatcher and its CLI."""

from flask import Blueprint

bp = Blueprint("reminders", __name__, cli_group="reminders")

from . import cli, notices, views  # noqa: E402,F401
