"""Friendly error pages and JSON errors for every failure; never a traceback (ASVS 16.5.1).

Every error first rolls back the request's transaction: a failed statement leaves the session unusable, and
the error page itself reads the signed-in user. An exception no view handled is logged, reported through
Flask's `got_request_exception` signal (the route fuzz listens to it) and answered by its class: a unique or
foreign-key clash (two requests racing to write one row) is a 409, a value the database refused a 400, a lost
database connection a 503, anything else a 500.
"""

import logging

from flask import Flask, current_app, got_request_exception, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import db

log = logging.getLogger("attune")
# What the last-resort page says when even the error template cannot be rendered (the database is gone).
BARE_PAGE = (
    '<!doctype html><html lang="en"><meta charset="utf-8"><title>Sorry · Attune</title>'
    "<main><h1>Sorry</h1><p>{message}</p><p><a href='/'>Go to the start</a></p></main></html>"
)


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str, *, field: str | None = None):
    if wants_json():
        body = {"error": message} if field is None else {"error": message, "field": field}
        return jsonify(body), status
    try:
        return render_template("error.html", status=status, message=message), status
    except Exception:
        log.exception("error page failed to render")
        _rollback()
        return BARE_PAGE.format(message=escape(message)), status, {"Content-Type": "text/html"}


def messages() -> dict[int, str]:
    return {
        400: _("Something in that request was not right. Please try again."),
        401: _("Please sign in to continue."),
        403: _("You do not have access to this page."),
        404: _("We could not find that page."),
        405: _("That action is not allowed here."),
        409: _("That conflicts with something already saved."),
        413: _("That was too large to send."),
        415: _("That kind of content is not accepted here."),
        422: _("Some of that information is not valid."),
        429: _("Too many attempts. Please wait a minute and try again."),
        503: _("The service is busy or restarting. Please try again in a minute."),
    }


def unhandled_status(err: Exception) -> tuple[int, str]:
    """The answer to an exception no view handled."""
    if isinstance(err, IntegrityError):
        return 409, _("That changed at the same moment somewhere else. Reload and try again.")
    if isinstance(err, DataError):
        return 400, _("A value in that request is out of range or not allowed.")
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return 503, messages()[503]
    return 500, _("Sorry, something went wrong on our side. Please try again.")


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection itself is gone: drop the session, a new one reconnects
        log.exception("rollback failed")
        db.session.remove()


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(err):
        _rollback()
        return error_response(
            400, _("This page had expired or came from elsewhere. Reload it and try again.")
        )

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        _rollback()
        generic = messages().get(err.code or 500)
        message = err.description if _custom(err) else generic or err.description
        response = error_response(err.code or 500, message, field=getattr(err, "field", None))
        if err.code == 429 and getattr(err, "retry_after", None):
            response[0].headers["Retry-After"] = str(err.retry_after)
        return response

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        if isinstance(err, HTTPException):
            return http_error(err)
        _rollback()
        status, message = unhandled_status(err)
        log.exception("unhandled %s on %s %s", type(err).__name__, request.method, request.path)
        got_request_exception.send(current_app._get_current_object(), exception=err)
        return error_response(status, message)


def _custom(err: HTTPException) -> bool:
    """True when a view gave its own message with abort(code, message).

    Flask-Limiter puts its limit ("20 per 1 minute") in the description: people get our words instead.
    """
    if isinstance(err, InternalServerError | RateLimitExceeded):
        return False
    return type(err).description != err.description
