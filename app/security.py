"""Response headers that every answer carries (SECURITY.md checks 1 to 4), and log escaping (check 19)."""

import hmac
import logging

from flask import Flask, current_app, g, request, session
from flask_wtf import CSRFProtect
from flask_wtf.csrf import same_origin

from .inputs import FORM_TYPES

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=(), "
    "publickey-credentials-get=(self), publickey-credentials-create=(self)"
)


class HeaderFirstCSRF(CSRFProtect):
    """Flask-WTF's CSRF protection, unchanged but for two things done once (issue 12: CPU per check-in).

    Where it looks first: a JSON request's token can only be in a header (its `request.form` is always
    empty), so its body is not run through the form parser just to find nothing there.

    Tokens whose signature checked out are remembered per process, with the session secret they sign,
    under the key that signed them: a phone sends the same token with every check-in, and checking its
    HMAC again proves nothing new. The token must still match this request's session, by
    `hmac.compare_digest` as Flask-WTF does, and the https referrer rule still applies. Only with no
    time limit (WTF_CSRF_TIME_LIMIT None, our config): a token that can expire takes Flask-WTF's path.
    """

    VERIFIED_MAX = 4096  # tokens remembered per process; emptied when full

    def __init__(self, app=None):
        self._verified: dict[tuple[str, str], str] = {}
        super().__init__(app)

    def protect(self, apply_exemptions=False):
        config = current_app.config
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return None  # as Flask-WTF's before_request hook asks (`@csrf.exempt` views)
        if (
            config["WTF_CSRF_TIME_LIMIT"] is not None
            or request.method not in config["WTF_CSRF_METHODS"]
        ):
            return super().protect()
        token = self._get_csrf_token()
        key = (config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key, token)
        signed = self._verified.get(key) if token else None
        secret = session.get(config["WTF_CSRF_FIELD_NAME"])
        if signed is None or not isinstance(secret, str) or not hmac.compare_digest(secret, signed):
            super().protect()  # Flask-WTF's whole check: refuses, or proves the token signs `secret`
            self._remember(key, secret)
            return None
        self._check_referrer()
        g.csrf_valid = True
        return None

    def _remember(self, key: tuple[str, str], secret) -> None:
        if key[1] and isinstance(secret, str):
            if len(self._verified) >= self.VERIFIED_MAX:
                self._verified.clear()
            self._verified[key] = secret

    def _check_referrer(self) -> None:
        """Flask-WTF's https rule (WTF_CSRF_SSL_STRICT): a same-origin Referer, as `protect` checks it."""
        if request.is_secure and current_app.config["WTF_CSRF_SSL_STRICT"]:
            if not request.referrer:
                self._error_response("The referrer header is missing.")
            if not same_origin(request.referrer, f"https://{request.host}/"):
                self._error_response("The referrer does not match the host.")

    def _get_csrf_token(self):
        if request.mimetype in FORM_TYPES:
            return super()._get_csrf_token()
        for header_name in current_app.config["WTF_CSRF_HEADERS"]:
            token = request.headers.get(header_name)
            if token:
                return token
        return None


def init_app(app: Flask) -> None:
    app.after_request(apply_headers)
    escape_log_lines()


class EscapeNewlines(logging.Filter):
    """Write CR and LF in a log message as \\r and \\n, so a request path or a name cannot forge
    a second log line (ASVS 16.4.1)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\n" in message or "\r" in message:
            record.msg = message.replace("\r", "\\r").replace("\n", "\\n")
            record.args = None
        return True


def escape_log_lines() -> None:
    """Attach the filter to our loggers; a logger filter does not reach child loggers, so each gets one."""
    names = ["attune", "app"] + [
        n for n in logging.root.manager.loggerDict if n.startswith("attune.")
    ]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, EscapeNewlines) for f in logger.filters):
            logger.addFilter(EscapeNewlines())


FIXED_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
HSTS = "max-age=63072000; includeSubDomains"


def apply_headers(response):
    h = response.headers
    present = {key.lower() for key, _ in h.items()}
    if "content-security-policy" not in present:
        h.add("Content-Security-Policy", CSP)
    for key, value in FIXED_HEADERS:
        if key.lower() in present:
            h[key] = value  # replaces what the view set
        else:
            h.add(key, value)  # no scan for an old value (issue 12: CPU per request)
    # ORIGIN too: behind a TLS proxy without TRUST_PROXY the request itself looks like http.
    if request.is_secure or current_app.config.get("ORIGIN", "").startswith("https://"):
        h["Strict-Transport-Security"] = HSTS
    if _private(response):
        h["Cache-Control"] = "no-store"
        h["Vary"] = "Cookie"
    return response


def _private(response) -> bool:
    """Signed-in pages and every API answer must never be stored by a cache (ASVS 14.3.2)."""
    if request.endpoint == "static" or g.get("shell_page"):
        return False
    if response.headers.get("Cache-Control", "").startswith("public"):
        return False
    return (
        g.get("user") is not None or request.path.startswith("/api/") or response.status_code >= 400
    )
