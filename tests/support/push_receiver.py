"""A real Web Push service for tests: RFC 8030 delivery, RFC 8291 decryption, RFC 8292 VAPID.

Why: mocking ``pywebpush.webpush`` only proves that we called a function. This receiver
listens on a real socket, checks the VAPID JWT the way push services do, and decrypts the
aes128gcm body with the subscription's private key, so a test sees exactly what a browser
would get. Per-subscription scripts (410, 429, 500, hangs) let tests drive the sender's
error handling (pruning gone subscriptions, retries, timeouts) without any network mocks.

Two kinds of slow answer: ``hang:S`` waits S seconds and then accepts (a push service that was slow:
a sender that timed out meanwhile may resend, and the second copy is a real duplicate), while
``stall:S`` waits S seconds and drops the connection without accepting (a timeout that delivered
nothing: a resend is the only copy). ``Faults`` injects a share of failures into unscripted requests
(429, 500, stall, 410) for the reminder bench and its test; an injected 410 is for good, like a
real service's: the subscription is gone from then on.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_BODY = 4096  # RFC 8291 section 4: services need only accept 4096 octets of body.
MAX_VAPID_LIFETIME = 24 * 60 * 60  # RFC 8292 section 2: exp no more than 24 h ahead.
URGENCIES = {"very-low", "low", "normal", "high"}  # RFC 8030 section 5.3.
Behaviour = int | tuple[int, dict[str, str]] | str


class Rejected(Exception):
    """Raised inside the handler to answer an error status and log why."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Strict base64url decode: the stdlib silently drops characters outside the alphabet."""
    text = text.rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Message:
    subscription_id: str
    payload: bytes
    json: Any
    headers: dict[str, str]
    vapid_claims: dict[str, Any]
    vapid_key: str
    received_at: float


@dataclass
class Attempt:
    subscription_id: str
    status: int | None  # None: the receiver closed while the request was hanging.
    at: float
    reason: str | None = None


@dataclass
class Faults:
    """Fail `rate` of the unscripted requests (seeded), cycling through `kinds` so each occurs."""

    rate: float
    seed: int = 12
    kinds: tuple = ((429, {"Retry-After": "1"}), 500, "stall:1.5", "gone")
    injected: list = field(default_factory=list)  # (subscription id, kind), in order

    def __post_init__(self):
        self.random = random.Random(self.seed)

    def draw(self, sub_id: str) -> Behaviour | None:
        """The failure for this request, or None to answer normally (call under the lock)."""
        if self.random.random() >= self.rate:
            return None
        kind = self.kinds[len(self.injected) % len(self.kinds)]
        self.injected.append((sub_id, kind))
        return kind


@dataclass(eq=False)
class Subscription:
    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)
    behaviour: list[Behaviour] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    gone: bool = False

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def as_dict(self) -> dict[str, Any]:
        """The JSON a browser's ``PushSubscription.toJSON()`` gives the app server."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class PushReceiver:
    """Threaded HTTP push service on 127.0.0.1; use as a context manager."""

    def __init__(self, expected_vapid_key: str | None = None, faults: Faults | None = None):
        self.expected_vapid_key = expected_vapid_key
        self.faults = faults
        self.subscriptions: dict[str, Subscription] = {}
        self.messages: list[Message] = []
        self.attempts: list[Attempt] = []
        self.rejections: list[str] = []
        self.errors: list[str] = []  # handler crashes: tests should assert this stays empty
        self.lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.receiver = self  # type: ignore[attr-defined]
        self._server.handle_error = self._record_error  # type: ignore[method-assign]
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> PushReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wake hanging handlers first, so closing never waits out a ``hang:`` script."""
        self._closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def new_subscription(self, behaviour: list[Behaviour] | None = None) -> Subscription:
        sub_id = b64url(os.urandom(12))
        sub = Subscription(
            id=sub_id,
            endpoint=f"{self.origin}/push/{sub_id}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
            behaviour=list(behaviour or []),
        )
        with self.lock:
            self.subscriptions[sub_id] = sub
        return sub

    def gone(self, sub: Subscription) -> None:
        """Answer 410 Gone for this subscription from now on, like an unsubscribed browser."""
        sub.gone = True

    def _record_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a sender went away (timeout, SIGKILL) on a kept-alive connection: not our bug
        with self.lock:
            self.errors.append(traceback.format_exc())

    def next_behaviour(self, sub: Subscription) -> Behaviour | None:
        with self.lock:
            if sub.gone:
                return 410
            if sub.behaviour:
                return sub.behaviour.pop(0)
            fault = self.faults.draw(sub.id) if self.faults else None
            if fault == "gone":
                sub.gone = True
                return 410
            return fault

    def verify_vapid(self, headers: Any) -> tuple[dict[str, Any], str]:
        """Check the RFC 8292 token (or the older ``WebPush`` + ``Crypto-Key`` draft form)."""
        scheme, _, rest = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "vapid":
            params = dict(p.strip().partition("=")[::2] for p in rest.split(","))
            token, key = params.get("t", ""), params.get("k", "")
        elif scheme.lower() == "webpush":
            crypto = re.split(r"[;,]", headers.get("Crypto-Key", ""))
            keys = [c.strip()[10:] for c in crypto if c.strip().startswith("p256ecdsa=")]
            token, key = rest.strip(), (keys[0] if keys else "")
        else:
            raise Rejected(401, "missing VAPID Authorization header")
        try:
            head_b64, claims_b64, sig_b64 = token.split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(claims_b64))
            raw_key, sig = b64url_decode(key), b64url_decode(sig_b64)
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_key)
        except ValueError as exc:
            raise Rejected(401, f"malformed VAPID token or key: {exc}") from None
        if header.get("alg") != "ES256" or len(sig) != 64 or not isinstance(claims, dict):
            raise Rejected(401, "VAPID token is not an ES256 JWS with a JSON claims object")
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        try:
            signed = f"{head_b64}.{claims_b64}".encode()
            public.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Rejected(401, "VAPID signature does not verify with key k") from None
        if claims.get("aud") != self.origin:
            raise Rejected(401, f"VAPID aud {claims.get('aud')!r} is not {self.origin!r}")
        exp, now = claims.get("exp"), time.time()
        if type(exp) is not int or not now < exp <= now + MAX_VAPID_LIFETIME:
            raise Rejected(401, f"VAPID exp {exp!r} is not within the next 24 h")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
            raise Rejected(401, f"VAPID sub {sub!r} is not a mailto: or https: URI")
        pinned = self.expected_vapid_key
        if pinned is not None and b64url_decode(pinned) != raw_key:
            raise Rejected(403, "VAPID key differs from the subscription's applicationServerKey")
        return claims, b64url(raw_key)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, like real push services: senders that reuse a session pay for one TCP connect.
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest output clean; ``receiver.attempts`` is the log."""

    def do_POST(self) -> None:
        receiver: PushReceiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:
            return  # the sender died mid-body (SIGKILL): a push service never accepts a torn request
        match = re.fullmatch(r"/push/([A-Za-z0-9_-]+)", self.path)
        sub = receiver.subscriptions.get(match.group(1)) if match else None
        sub_id = match.group(1) if match else self.path
        status, extra, reason = 201, {}, None
        behaviour = receiver.next_behaviour(sub) if sub else 404
        if isinstance(behaviour, str) and behaviour.startswith("stall:"):
            receiver._closing.wait(float(behaviour[6:]))
            with receiver.lock:
                receiver.attempts.append(Attempt(sub_id, None, time.monotonic(), "stalled"))
            self.close_connection = True
            return  # no answer and nothing accepted: the sender's timeout delivered nothing
        if isinstance(behaviour, str) and behaviour.startswith("hang:"):
            if receiver._closing.wait(float(behaviour[5:])):
                with receiver.lock:
                    receiver.attempts.append(Attempt(sub_id, None, time.monotonic(), "closed"))
                return  # drop the connection, like a service going away mid-request
        elif isinstance(behaviour, int):
            status = behaviour
        elif isinstance(behaviour, tuple):
            status, extra = behaviour
        message = None
        if status == 201:
            try:
                message = self._accept(receiver, sub, body)
            except Rejected as exc:
                status, reason = exc.status, exc.reason
        with receiver.lock:
            receiver.attempts.append(Attempt(sub_id, status, time.monotonic(), reason))
            if reason:
                receiver.rejections.append(reason)
            if message:
                receiver.messages.append(message)
                sub.messages.append(message)
        if message:
            extra = {"Location": f"{receiver.origin}/message/{b64url(os.urandom(9))}"}
        try:
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the client gave up (timeout); the push was still accepted or refused

    def _accept(self, receiver: PushReceiver, sub: Subscription, body: bytes) -> Message:
        """Validate like a real push service, then decrypt. Raises Rejected."""
        claims, key = receiver.verify_vapid(self.headers)
        ttl, topic = self.headers.get("TTL"), self.headers.get("Topic")
        if ttl is None or not re.fullmatch(r"\d+", ttl):
            raise Rejected(400, f"TTL header missing or not an integer: {ttl!r}")
        if topic is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", topic):
            raise Rejected(400, f"Topic {topic!r} is not 1-32 base64url characters")
        if self.headers.get("Urgency", "normal") not in URGENCIES:
            raise Rejected(400, f"Urgency {self.headers.get('Urgency')!r} is not RFC 8030")
        if len(body) > MAX_BODY:
            raise Rejected(413, f"body of {len(body)} bytes exceeds {MAX_BODY}")
        payload = b""
        if body:  # RFC 8030 allows a push without payload (and so without encoding)
            encoding = self.headers.get("Content-Encoding")
            if encoding != "aes128gcm":
                raise Rejected(415, f"Content-Encoding {encoding!r} is not aes128gcm")
            try:
                payload = http_ece.decrypt(
                    body,
                    private_key=sub.private_key,
                    auth_secret=sub.auth_secret,
                    version="aes128gcm",
                )
            except Exception as exc:  # http_ece raises several types for bad input
                raise Rejected(400, f"aes128gcm decryption failed: {exc!r}") from None
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = None
        return Message(
            subscription_id=sub.id,
            payload=payload,
            json=parsed,
            headers={k.lower(): v for k, v in self.headers.items()},
            vapid_claims=claims,
            vapid_key=key,
            received_at=time.monotonic(),
        )
