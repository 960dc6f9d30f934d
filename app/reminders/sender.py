"""One Web Push request, with the headers DESIGN 2 and SECURITY 30-33 ask for.

A `Sender` lives as long as a dispatcher: it keeps one `requests.Session` per push-service origin (connection
reuse is most of the cost of a push) and builds a fresh VAPID claims dict per send, because pywebpush writes
`aud` and `exp` into the dict it is given.

`send` never raises: whatever one subscription does (an endpoint that is not a push service, keys that do
not decode, a VAPID or encryption error, a broken connection, a bug in a library) becomes an `Outcome`
with a reason, so one client's device can never stop the batch or the worker (issue 10.2).
"""

import logging
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from flask_babel import force_locale
from py_vapid import Vapid02, VapidException
from pywebpush import WebPushException, webpush

from ..models import utcnow
from . import endpoints, keys
from .keys import VapidKeys

log = logging.getLogger(__name__)


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

    def session_for(self, endpoint: str) -> requests.Session:
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self.sessions:
            session = NoRedirects()
            # Read proxy settings from the environment once, not on every request (~3 ms each).
            session.proxies = requests.utils.get_environ_proxies(endpoint)
            session.trust_env = False
            self.sessions[origin] = session
        return self.sessions[origin]

    def send(self, push: Push) -> Outcome:
        """Send one push and classify the answer; never raises."""
        try:
            endpoints.check(
                push.endpoint, allowed=self.allowed
            )  # again: rows may predate the check
        except endpoints.Refused as err:
            with force_locale("en"):  # for the operator's log and the row, not for a person
                return Outcome("retire", reason=f"endpoint refused: {err}")
        try:
            self.post(push)
        except WebPushException as exc:
            if exc.response is None:  # pywebpush refused the stored keys before any request
                return Outcome("retire", reason="bad subscription keys")
            return classify(exc.response)
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
        return Outcome("ok", status=201)

    def post(self, push: Push) -> None:
        webpush(
            subscription_info={
                "endpoint": push.endpoint,
                "keys": {"p256dh": push.p256dh, "auth": push.auth},
            },
            data=push.data,
            vapid_private_key=self.vapid,
            vapid_claims={"sub": self.keys.subject},
            ttl=push.ttl,
            headers={"Topic": push.topic, "Urgency": push.urgency},
            timeout=self.timeout,
            requests_session=self.session_for(push.endpoint),
        )

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()


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
