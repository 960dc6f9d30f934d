"""Passkeys, invites, sign-in and sign-out, sessions and account settings."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import account_views, invite_views, views  # noqa: E402,F401
