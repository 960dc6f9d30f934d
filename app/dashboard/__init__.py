"""Therapist and admin views: aggregates, alerts, client pages, audit log, CSV exports."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import views  # noqa: E402,F401
