"""Therapists schedule, move and cancel appointments (and weekly series) for their clients."""

from flask import Blueprint

bp = Blueprint("appointments", __name__)

from . import views  # noqa: E402,F401
