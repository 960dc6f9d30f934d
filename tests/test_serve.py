"""bin/serve as the README runs it (issue 10.5, 10.6): limits that hold, and Ctrl-C that stops everything.

Each test starts the real script on a free port with its own SQLite database and instance folder, in
its own process group (killed at the end whatever happens), then drives it over HTTP and by signals.
"""

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

from tests.support import live_server as live

pytestmark = pytest.mark.slow

ROOT = live.ROOT
AUTH_LIMIT = 20  # app/auth/views.py: sign-in options, per minute and address


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry))
    return found


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Serve:
    """`bin/serve` in its own session; `stop()` kills whatever is left of its group."""

    def __init__(self, tmp_path, *args, **env):
        self.port = live.free_port()
        self.log = tmp_path / "serve.log"
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RATELIMIT_", "FLASK_"))},
            "PORT": str(self.port),
            "DATABASE_URL": "sqlite:///" + str(tmp_path / "serve.db"),
            "ATTUNE_INSTANCE": str(tmp_path / "instance"),
            "SECRET_KEY": "serve-test-secret",
            "RATELIMIT_KEY_PREFIX": f"attune-test-{uuid.uuid4().hex}",
            **env,
        }
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [os.path.join(ROOT, "bin", "serve"), *args],
                cwd=ROOT,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ready(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        try:
            return live.request(self.port, "GET", "/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    def gunicorn_workers(self) -> int:
        masters = [p for p in children(self.proc.pid) if "gunicorn" in cmdline(p)]
        return sum(len(children(m)) for m in masters)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def sign_in_options(port: int, tries: int) -> list[int]:
    """Ask for sign-in options `tries` times (each a new connection, so any worker may answer)."""
    status, headers, page = live.request(port, "GET", "/signin")
    assert status == 200
    token = re.search(rb'name="csrf-token" content="([^"]+)"', page)[1].decode()
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    answers = []
    for _ in range(tries):
        status, _, _ = live.request(
            port,
            "POST",
            "/api/auth/signin/options",
            body={},
            headers={"Cookie": cookie, "X-CSRFToken": token},
        )
        answers.append(status)
    return answers


def burst_within_one_window(port: int, tries: int) -> list[int]:
    """The limits are a moving window (config.py), so a burst of any speed meets the same limit."""
    return sign_in_options(port, tries)


@pytest.mark.parametrize("shape", ["redis", "no-redis"])
def test_limits_hold_across_workers_and_ctrl_c_stops_everything(tmp_path, shape):
    env = {} if shape == "redis" else {"REDIS_URL": "redis://127.0.0.1:1/0"}
    if shape == "redis":
        redis = pytest.importorskip("redis")
        try:
            redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping()
        except redis.RedisError:
            pytest.skip("no Redis on 127.0.0.1:6379")
    serve = Serve(tmp_path, **env)
    try:
        wait_for(serve.ready, 300, "bin/serve to answer /healthz")
        expected_workers = 2 if shape == "redis" else 1
        assert wait_for(serve.gunicorn_workers, 30, "gunicorn workers") == expected_workers
        answers = burst_within_one_window(serve.port, 2 * AUTH_LIMIT + 5)
        assert answers.count(200) == AUTH_LIMIT, answers
        assert set(answers[AUTH_LIMIT:]) == {429}, answers

        # The periodic pass is between its scan and its sleep for a moment: wait until one of them runs.
        def periodic_running():
            found = descendants(serve.proc.pid)
            periodic = any("sleep" in cmdline(p) or "alerts" in cmdline(p) for p in found)
            return found if periodic else None

        started = wait_for(periodic_running, 60, "the periodic pass's scan or sleep")
        assert any("reminders run" in cmdline(p) for p in started)
        serve.proc.send_signal(signal.SIGINT)  # what Ctrl-C delivers to the script
        serve.proc.wait(timeout=90)
        survivors = {p: cmdline(p) for p in started if alive(p)}
        assert not survivors, survivors
    finally:
        serve.stop()


def test_demo_prints_its_links_last(tmp_path):
    """Issue 11.7: after the demo's links, nothing of the script's own that contradicts them."""
    serve = Serve(tmp_path, "--demo", REDIS_URL="redis://127.0.0.1:1/0")
    try:
        wait_for(serve.ready, 300, "bin/serve --demo to answer /healthz")
        ours = [
            line
            for line in serve.log.read_text().splitlines()
            if line.strip()
            and not line.startswith(("[", "127.0.0.1", "No Redis"))
            and " INFO " not in line
            and " WARNING " not in line
        ]
        links = [i for i, line in enumerate(ours) if "/invite/" in line]
        assert len(links) == 3 and links[-1] == len(ours) - 1, ours
        assert ours[links[0] - 1].startswith("One-time sign-in links"), ours
        assert not any("Accounts exist" in line or line.strip() == "Check-ins" for line in ours)
        assert any(line.startswith("Attune starts at") for line in ours[: links[0]])
    finally:
        serve.stop()
