"""The log an operator reads (issue 10.4): the real server's stderr, not caplog.

gunicorn serves the app on a fresh SQLite database; the test signs out, posts a check-in with a comment no
log may carry, and reads what the process wrote to stderr: one line per event, UTC ISO time, level,
logger, request id (the proxy's when sane, else a new one, echoed in the response).
"""

import json
import logging
import os
import re
import signal
import subprocess
import time
from http.cookies import SimpleCookie

import pytest

from app import logs
from tests.support import live_server as live

pytestmark = pytest.mark.slow

LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+ "
    r"\[[A-Za-z0-9._:-]+\] \S.*"
)
GUNICORN_LINE = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[[A-Z]+\] .*")
SECRET_COMMENT = "quokka-marmalade-7731"


def serve(tmp_path, port: int, url: str, secret: str, origin: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ORIGIN": origin,
        "SECRET_KEY": secret,
        "ATTUNE_INSTANCE": str(tmp_path),
        "RATELIMIT_ENABLED": "0",
    }
    stderr = open(tmp_path / "stderr.log", "wb")  # noqa: SIM115 - the child owns it until it exits
    args = [live.GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1", *live._quiet_flags()]
    proc = subprocess.Popen(
        [*args, "app:create_app()"],
        cwd=live.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    stderr.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "stderr.log").read_text()
        try:
            if live.request(port, "GET", "/healthz", timeout=2)[0] == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the server did not start")


def failed_ceremony(port: int) -> None:
    """An anonymous browser asks for sign-in options, then answers with a credential nobody has."""
    jar = SimpleCookie()

    def call(method, path, body=None, token=""):
        headers = {"Cookie": "; ".join(f"{k}={v.value}" for k, v in jar.items())}
        if token:
            headers["X-CSRFToken"] = token
        status, answer_headers, answer = live.request(
            port, method, path, body=body, headers=headers
        )
        for raw in answer_headers.get_all("Set-Cookie") or []:
            jar.load(raw)
        return status, answer

    _, page = call("GET", "/signin")
    token = re.search(rb'name="csrf-token" content="([^"]+)"', page)[1].decode()
    assert call("POST", "/api/auth/signin/options", {}, token)[0] == 200
    forged = {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"userHandle": "AA"}}
    assert call("POST", "/api/auth/signin/verify", {"credential": forged}, token)[0] >= 400


def test_the_real_server_writes_lines_an_operator_can_use(tmp_path):
    url = "sqlite:///" + str(tmp_path / "attune.db")
    live.migrate(url)
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    secret = "log-test-secret"
    client = live.signed_in_client(url, secret, origin)
    proc = serve(tmp_path, port, url, secret, origin)
    try:
        status, headers, _ = live.request(
            port, "GET", "/healthz", headers={"X-Request-ID": "proxy-req-0001"}
        )
        assert status == 200 and headers["X-Request-ID"] == "proxy-req-0001"
        _, headers, _ = live.request(port, "GET", "/healthz", headers={"X-Request-ID": "a b;<>"})
        assert re.fullmatch(r"[0-9a-f]{16}", headers["X-Request-ID"])  # insane: replaced

        token = live.csrf(port, client)
        body = {**live.check_in_body("log-test-1"), "comment": SECRET_COMMENT, "safe": 3}
        status, _, answer = live.post_check_in(port, client, token, body)
        assert status in (200, 201), answer

        failed_ceremony(port)
        status, _, _ = live.request(
            port,
            "POST",
            "/signout",
            headers={
                "Cookie": client.header(),
                "X-CSRFToken": token,
                "X-Request-ID": "proxy-signout-42",
            },
        )
        assert status == 302
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    text = (tmp_path / "stderr.log").read_text()
    lines = text.splitlines()
    ours = [line for line in lines if not GUNICORN_LINE.fullmatch(line)]
    assert ours, text
    assert all(LINE.fullmatch(line) for line in ours), [x for x in ours if not LINE.fullmatch(x)]
    signed_out = [line for line in ours if f"signed out user={client.user_id}" in line]
    assert len(signed_out) == 1, text
    assert " INFO attune.auth " in signed_out[0] and "[proxy-signout-42]" in signed_out[0]
    assert any("sign-in refused" in line for line in ours), text
    assert SECRET_COMMENT not in text
    assert not re.search(r"\b(safe|heard|understood)=", text)
    assert json.dumps(body)[:40] not in text


def test_a_line_can_never_be_forged():
    """CR/LF (and every other control character) in a message stays on its own line, escaped."""
    record = logging.LogRecord("app.test", logging.INFO, __file__, 1, "user said %s", None, None)
    record.args = ("x\r\n2026-01-01T00:00:00.000Z INFO app.auth [-] signed in user=1\x1b[2J",)
    record.request_id = "-"
    line = logs.LineFormatter(logs.FORMAT).format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "x\\r\\n2026" in line and "\\x1b[2J" in line
