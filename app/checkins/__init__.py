"""The client's before/after check-in, its offline outbox API, and the client's own history."""

from flask import Blueprint

bp = Blueprint("checkins", __name__)

from . import views  # noqa: E402,F401
