"""Passkeys, invites, sign-in and sign-out, sessions, account settings, recovery codes and the recovery
lock's gate (gate.py)."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import account_views, code_views, invite_views, views  # noqa: E402,F401
