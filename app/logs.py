"""Logs an operator can use (issue 10.4, SECURITY 19): one line per event on stderr.

Each line: UTC ISO time, level, logger, the request id, the message. The request id comes from a sane
`X-Request-ID` (a proxy's) or is made here, and is echoed in the response, so a complaint, a proxy log
and these lines can be matched. CR, LF and other control characters are escaped, so no input can forge a
line. What is logged are events (sign-ins, audited admin actions, dispatcher batches, errors), never a
check-in's scores or comment or a push payload.
"""

import logging
import re
import secrets
import sys
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request
from sqlalchemy import event

from .models import AuditEvent

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HANDLER = "attune-stderr"

audit_log = logging.getLogger("app.audit")


class LineFormatter(logging.Formatter):
    """UTC timestamps and one physical line per record, tracebacks included."""

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def format(self, record) -> str:
        return escape(super().format(record))


def escape(text: str) -> str:
    """CR as \\r, LF as \\n, other control characters as \\xNN."""
    named = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
    return CONTROL.sub(lambda m: named.get(m[0], f"\\x{ord(m[0]):02x}"), text)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (test runners and servers swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        """Ignored: the stream is always the current stderr."""


class RequestIdFilter(logging.Filter):
    def filter(self, record) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure(level: str) -> None:
    """Install the one stderr handler on the root logger (again on each app: tests make many)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER]:
        root.removeHandler(old)
    handler = StderrHandler()
    handler.set_name(HANDLER)
    handler.setFormatter(LineFormatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask) -> None:
    """Configure logging before anything logs (Flask adds its own handler otherwise)."""
    configure(app.config.get("LOG_LEVEL", "INFO"))
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)


def assign_request_id() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.fullmatch(given) else secrets.token_hex(8)


def echo_request_id(response):
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    return response


@event.listens_for(AuditEvent, "after_insert")
def _log_audit(mapper, connection, target) -> None:
    """Audited actions (admin changes, exports, deletions) also reach the log: who, what, on what."""
    audit_log.info(
        "audit %s actor=%s %s=%s",
        target.action,
        target.actor_id,
        target.target_type or "target",
        target.target_id,
    )
