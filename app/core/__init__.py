"""The app shell: home routing, manifest, service worker, offline page."""

from flask import Blueprint

bp = Blueprint("core", __name__)

from . import views  # noqa: E402,F401
