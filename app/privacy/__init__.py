"""The client's data rights: export everything as JSON, delete the account; the audit log writer."""

from flask import Blueprint

bp = Blueprint("privacy", __name__)

from . import views  # noqa: E402,F401
