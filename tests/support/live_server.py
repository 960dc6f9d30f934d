"""A real Attune under gunicorn, for the crash-durability test and the check-in benchmark.

Both need the same things: a migrated database, a signed-in client (a `UserSession` row and the signed
cookie, so no passkey ceremony), a gunicorn process group that can be started, SIGKILLed and restarted, and
plain HTTP with `http.client` (gunicorn's sync workers close every connection, so there is nothing to pool).
"""

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie

from gunicorn.config import KNOWN_SETTINGS

from app import create_app
from app.auth import sessions
from app.extensions import db
from app.models import CareLink, Practice, User, utcnow

from .databases import upgrade_to_head

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUNICORN = os.path.join(ROOT, ".venv", "bin", "gunicorn")


def _quiet_flags() -> list[str]:
    """Recent gunicorn opens a control socket at one fixed path per user: two servers at once would
    fight over it, so turn it off where the option exists (older versions have no such socket)."""
    known = {flag for setting in KNOWN_SETTINGS for flag in setting.cli or []}
    return ["--no-control-socket"] if "--no-control-socket" in known else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _app(url: str, secret: str, origin: str):
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret, "ORIGIN": origin})


def migrate(url: str) -> None:
    """Bring an empty database to head the way production does (never `create_all`)."""
    upgrade_to_head(_app(url, "migrate", "http://localhost"))


@dataclass
class Client:
    """A signed-in client as the server sees it: its id and the session cookie to send."""

    user_id: int
    cookie_name: str
    cookie: str

    def header(self) -> str:
        return f"{self.cookie_name}={self.cookie}"


def signed_in_client(url: str, secret: str, origin: str) -> Client:
    """A practice, a therapist and a linked client, with a live session row and its signed cookie."""
    app = _app(url, secret, origin)
    with app.app_context():
        practice = Practice(name="Durability practice")
        db.session.add(practice)
        db.session.flush()
        therapist = User(practice_id=practice.id, role="therapist", display_name="Therapist")
        client = User(practice_id=practice.id, role="client", display_name="Client")
        db.session.add_all([therapist, client])
        db.session.flush()
        db.session.add(CareLink(therapist_id=therapist.id, client_id=client.id))
        token = sessions.start(client, now=utcnow())
        db.session.commit()
        cookie = app.session_interface.get_signing_serializer(app).dumps({"sid": token})
        result = Client(client.id, app.config["SESSION_COOKIE_NAME"], cookie)
        db.session.remove()
        db.engine.dispose()
    return result


def request(port: int, method: str, path: str, *, body=None, headers=None, timeout=15.0):
    """One HTTP exchange: (status, headers, body bytes). Connection errors propagate as OSError."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        sent = dict(headers or {})
        if data is not None:
            sent["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def csrf(port: int, client: Client) -> str:
    """GET /api/session for a CSRF token; the answer also updates the cookie (the token's session half)."""
    status, headers, body = request(
        port, "GET", "/api/session", headers={"Cookie": client.header()}
    )
    if status != 200:
        raise RuntimeError(f"/api/session answered {status}: {body[:200]!r}")
    for raw in headers.get_all("Set-Cookie") or []:
        jar = SimpleCookie(raw)
        if client.cookie_name in jar:
            client.cookie = jar[client.cookie_name].value
    return json.loads(body)["csrf_token"]


def check_in_body(key: str) -> dict:
    """An unscheduled check-in; keep the dict to replay it byte for byte (same body hash)."""
    return {
        "idempotency_key": key,
        "appointment_id": None,
        "phase": "after",
        "safe": 7,
        "heard": 8,
        "understood": 9,
        "comment": "durability",
        "visibility": "named",
        "created_at": (utcnow() - timedelta(minutes=1)).isoformat(),
    }


def post_check_in(port: int, client: Client, token: str, body: dict, timeout=15.0):
    headers = {"Cookie": client.header(), "X-CSRFToken": token}
    return request(port, "POST", "/api/check-ins", body=body, headers=headers, timeout=timeout)


class Server:
    """gunicorn in its own process group, so one killpg takes the master and every worker."""

    def __init__(
        self,
        env: dict,
        port: int,
        *,
        workers: int = 2,
        log_path: str | None = None,
        app: str = "app:create_app()",
    ):
        self.env = {**os.environ, **env}
        self.app = app  # the WSGI app gunicorn loads (the benchmark's floor app is another)
        self.port = port
        self.workers = workers
        self.log_path = log_path or os.devnull
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        args = [GUNICORN, "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        args += _quiet_flags()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*args, self.app],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.proc.returncode}; see {self.log_path}"
                )
            try:
                if request(self.port, "GET", "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz within {timeout} s")

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group: no worker gets to finish a request or flush anything."""
        if self.proc is not None:
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._signal(signal.SIGKILL)  # workers orphaned by a dead master
        self.proc = None
