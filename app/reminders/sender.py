"""One Web Push request, with the headers DESIGN 2 and SECURITY 30-33 ask for.

A `Sender` lives as long as a dispatcher: it keeps one `requests.Session` per push-service origin (connection
reuse is most of the cost of a push) and one signed VAPID Authorization header per origin (its audience),
reused until shortly before it expires: RFC 8292 lets a token serve many pushes to its audience for up to
24 hours, and signing per push was a JWT and an ECDSA signature each time. Each token is signed from a
fresh claims dict holding only `sub`, `aud` and `exp`, so no origin's `aud` can leak into another's
(SECURITY 33). Endpoint checks are remembered per endpoint for the sender's life (the rule and the
allow-list do not change while it lives).

`send` never raises: whatever one subscription does (an endpoint that is not a push service, keys that do
not decode, a VAPID or encryption error, a broken connection, a bug in a library) becomes an `Outcome`
with a reason, so one client's device can never stop the batch or the worker (issue 10.2).
"""

import logging
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from flask_babel import force_locale
from py_vapid import Vapid02, VapidException
from pywebpush import WebPusher, WebPushException

from ..models import utcnow
from . import endpoints, keys
from .keys import VapidKeys

log = logging.getLogger(__name__)
# A VAPID token lives 12 hours (as pywebpush signs them) and is replaced an hour before it expires, so
# a push never carries one about to run out on a push service whose clock runs a little ahead.
VAPID_LIFETIME = 12 * 60 * 60
VAPID_RENEW_BEFORE = 60 * 60
CHECKED_MAX = 100_000  # endpoints whose check is remembered; beyond that the memo starts afresh


@dataclass(frozen=True)
class Outcome:
    """What happened to one push. `kind`: ok, gone, retry, refused, or retire (this subscription can
    never work: its endpoint is not a push service or its keys are unusable)."""

    kind: str
    status: int | None = None
    retry_after: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class Push:
    endpoint: str
    p256dh: str
    auth: str
    data: str
    ttl: int
    topic: str
    urgency: str


class NoRedirects(requests.Session):
    """Push services answer; they never redirect. Following one would let an allowed endpoint send
    the server anywhere, so a 3xx comes back as the answer (and is refused)."""

    def request(self, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)


class Sender:
    def __init__(self, keys: VapidKeys, *, timeout: float, allowed=()):
        self.keys = keys
        self.vapid = Vapid02(private_key=keys.private)
        self.timeout = timeout
        self.allowed = endpoints.extras(allowed)
        self.sessions: dict[str, requests.Session] = {}
        self.tokens: dict[str, tuple[dict, float]] = {}  # origin: (VAPID headers, renew at)
        self.checked: dict[str, str | None] = {}  # endpoint: why it is refused, or None
        self.clock = time.time

    def session_for(self, endpoint: str) -> requests.Session:
        origin = origin_of(endpoint)
        if origin not in self.sessions:
            session = NoRedirects()
            # Read proxy settings from the environment once, not on every request (~3 ms each).
            session.proxies = requests.utils.get_environ_proxies(endpoint)
            session.trust_env = False
            self.sessions[origin] = session
        return self.sessions[origin]

    def vapid_headers(self, origin: str) -> dict:
        """The Authorization header for `origin`, signed once and reused until shortly before `exp`."""
        now = self.clock()
        cached = self.tokens.get(origin)
        if cached is None or now >= cached[1]:
            exp = int(now) + VAPID_LIFETIME
            headers = self.vapid.sign({"sub": self.keys.subject, "aud": origin, "exp": exp})
            cached = self.tokens[origin] = (headers, exp - VAPID_RENEW_BEFORE)
        return cached[0]

    def refused(self, endpoint: str) -> str | None:
        """Why the server must not push to `endpoint` (checked again: rows may predate the check)."""
        if endpoint not in self.checked:
            if len(self.checked) >= CHECKED_MAX:
                self.checked.clear()
            try:
                endpoints.check(endpoint, allowed=self.allowed)
                self.checked[endpoint] = None
            except endpoints.Refused as err:
                with force_locale("en"):  # for the operator's log and the row, not for a person
                    self.checked[endpoint] = f"endpoint refused: {err}"
        return self.checked[endpoint]

    def send(self, push: Push) -> Outcome:
        """Send one push and classify the answer; never raises."""
        refusal = self.refused(push.endpoint)
        if refusal:
            return Outcome("retire", reason=refusal)
        try:
            response = self.post(push)
        except WebPushException:  # pywebpush refused the stored keys before any request
            return Outcome("retire", reason="bad subscription keys")
        except requests.Timeout:
            return Outcome("retry", reason="timeout")
        except requests.RequestException as exc:
            return Outcome("retry", reason=f"network: {type(exc).__name__}")
        except VapidException as exc:
            return Outcome("retire", reason=f"VAPID: {exc}"[:120])
        except (ValueError, TypeError) as exc:  # undecodable keys stored for this subscription
            return Outcome("retire", reason=f"bad subscription keys: {type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001 - anything else: record it, the batch goes on
            log.exception("push failed unexpectedly")
            return Outcome("retry", reason=f"error: {type(exc).__name__}")
        if response.status_code > 202:
            return classify(response)
        return Outcome("ok", status=response.status_code)

    def post(self, push: Push):
        """What `pywebpush.webpush` does, with the origin's VAPID header instead of a new signature."""
        headers = {
            **self.vapid_headers(origin_of(push.endpoint)),
            "Topic": push.topic,
            "Urgency": push.urgency,
        }
        pusher = WebPusher(
            {"endpoint": push.endpoint, "keys": {"p256dh": push.p256dh, "auth": push.auth}},
            requests_session=self.session_for(push.endpoint),
        )
        return pusher.send(push.data, headers, ttl=push.ttl, timeout=self.timeout)

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()
        self.tokens.clear()


def origin_of(endpoint: str) -> str:
    """The push service's origin: the VAPID audience and the key of its session."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def classify(response) -> Outcome:
    """RFC 8030 answers: 404/410 gone, 429 and 5xx retry later, other 4xx are not retried blindly."""
    if response is None:
        return Outcome("retry", reason="no response")
    status = response.status_code
    if status in (404, 410):
        return Outcome("gone", status, reason=f"HTTP {status}")
    if 300 <= status < 400:
        return Outcome("refused", status, reason=f"HTTP {status} (redirects are not followed)")
    if status == 429 or status >= 500:
        wait = retry_after(response.headers.get("Retry-After"))
        return Outcome("retry", status, wait, reason=f"HTTP {status}")
    return Outcome("refused", status, reason=f"HTTP {status}")


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


def for_app(app) -> Sender:
    """The sender the app's configuration describes: its VAPID key, timeout and extra push hosts."""
    return Sender(
        keys.current(app),
        timeout=float(app.config["PUSH_TIMEOUT_SECONDS"]),
        allowed=app.config["PUSH_EXTRA_HOSTS"],
    )
