"""Friendly error pages and JSON errors; never a traceback (ASVS 16.5.1)."""

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("attune")


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str):
    if wants_json():
        return jsonify(error=message), status
    return render_template("error.html", status=status, message=message), status


def messages() -> dict[int, str]:
    return {
        400: _("Something in that request was not right. Please try again."),
        401: _("Please sign in to continue."),
        403: _("You do not have access to this page."),
        404: _("We could not find that page."),
        405: _("That action is not allowed here."),
        409: _("That conflicts with something already saved."),
        413: _("That was too large to send."),
        422: _("Some of that information is not valid."),
        429: _("Too many attempts. Please wait a minute and try again."),
    }


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(err):
        return error_response(
            400, _("This page had expired or came from elsewhere. Reload it and try again.")
        )

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        generic = messages().get(err.code or 500)
        message = err.description if _custom(err) else generic or err.description
        response = error_response(err.code or 500, message)
        if err.code == 429 and getattr(err, "retry_after", None):
            response[0].headers["Retry-After"] = str(err.retry_after)
        return response

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        if isinstance(err, HTTPException):
            return http_error(err)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, _("Sorry, something went wrong on our side. Please try again."))


def _custom(err: HTTPException) -> bool:
    """True when a view gave its own message with abort(code, message).

    Flask-Limiter puts its limit ("20 per 1 minute") in the description: people get our words instead.
    """
    if isinstance(err, InternalServerError | RateLimitExceeded):
        return False
    return type(err).description != err.description
