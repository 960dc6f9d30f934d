"""Keys, VAPID claims, per-origin sessions and how push-service answers are classified."""

import os
import stat
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from py_vapid import Vapid02
from sqlalchemy import select

from app.extensions import db
from app.models import PushSubscription, Reminder, utcnow
from app.reminders import keys
from app.reminders.dispatch import policy_from, run_once
from app.reminders.sender import VAPID_LIFETIME, VAPID_RENEW_BEFORE, Push, Sender, retry_after
from tests.support.push_receiver import PushReceiver

from .helpers import TEST_HOSTS, appointment, device

START = datetime(2026, 3, 10, 14, tzinfo=UTC)


def test_keys_are_made_once_in_the_instance_folder(tmp_path):
    first = keys.load_private_key({}, str(tmp_path))
    path = tmp_path / keys.PRIVATE_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = keys.load_private_key({}, str(tmp_path))
    assert keys.public_key_b64(first) == keys.public_key_b64(again)
    assert os.listdir(tmp_path) == [keys.PRIVATE_FILE]


def test_keys_from_the_environment_win(tmp_path):
    from .conftest import VAPID_RAW

    key = keys.load_private_key({"VAPID_PRIVATE_KEY": VAPID_RAW}, str(tmp_path))
    assert keys.b64url(key.private_numbers().private_value.to_bytes(32, "big")) == VAPID_RAW
    assert not (tmp_path / keys.PRIVATE_FILE).exists()


def test_a_subject_apple_would_refuse_is_an_error(make_app):
    app = make_app(VAPID_SUBJECT="admin@example.org")
    with pytest.raises(ValueError, match="mailto"):
        keys.current(app)


def test_each_push_service_gets_its_own_aud_and_session(rapp, rctx, people, run_at):
    _, therapist, client = people
    appointment(client, therapist, START, now=START - timedelta(days=1))
    with PushReceiver() as one, PushReceiver() as two:
        a, b = one.new_subscription(), two.new_subscription()
        device(client, a)
        device(client, b)
        sender = Sender(keys.current(rapp), timeout=2, allowed=TEST_HOSTS)
        run_once(sender, now=START - timedelta(hours=1), policy=policy_from(rapp.config))
        assert set(sender.sessions) == {one.origin, two.origin}
        sender.close()
        assert one.rejections == two.rejections == []  # each JWT's aud matched its own origin
        assert a.messages[0].vapid_claims["aud"] == one.origin
        assert b.messages[0].vapid_claims["aud"] == two.origin


def test_refused_pushes_are_not_retried_blindly(rapp, rctx, people, run_at):
    _, therapist, client = people
    appointment(client, therapist, START, now=START - timedelta(days=1))
    with PushReceiver() as rx:
        sub = rx.new_subscription([403, 403, 403])
        device(client, sub)
        run_at(START - timedelta(hours=1))
        run_at(START - timedelta(minutes=30))
        assert [a.status for a in rx.attempts] == [403]
    row = db.session.scalar(select(Reminder).where(Reminder.kind == "before"))
    assert (row.status, row.last_error) == ("failed", "HTTP 403")
    assert db.session.scalar(select(PushSubscription.failure_count)) == 1


def test_timeout_comes_from_config(make_app, people):
    from .conftest import VAPID_RAW

    app = make_app(VAPID_PRIVATE_KEY=VAPID_RAW, PUSH_TIMEOUT_SECONDS=0.3)
    with app.app_context(), PushReceiver() as rx:
        sub = rx.new_subscription(["hang:5"])
        sender = Sender(
            keys.current(app), timeout=app.config["PUSH_TIMEOUT_SECONDS"], allowed=TEST_HOSTS
        )
        push = Push(sub.endpoint, sub.p256dh, sub.auth, "{}", 60, "abc", "normal")
        started = utcnow()
        outcome = sender.send(push)
        assert outcome.kind == "retry" and outcome.reason == "timeout"
        assert utcnow() - started < timedelta(seconds=2)


def test_retry_after_reads_seconds_and_dates():
    assert retry_after("120") == 120
    assert retry_after(None) is None and retry_after("soon") is None
    later = format_datetime(utcnow() + timedelta(seconds=90), usegmt=True)
    assert 80 <= retry_after(later) <= 90


def test_redirects_are_never_followed(rapp, rctx, people, run_at):
    _, therapist, client = people
    appointment(client, therapist, START, now=START - timedelta(days=1))
    with PushReceiver() as rx, PushReceiver() as elsewhere:
        target = elsewhere.new_subscription()
        sub = rx.new_subscription([(307, {"Location": target.endpoint})] * 3)
        device(client, sub)
        run_at(START - timedelta(hours=1))
        assert [a.status for a in rx.attempts] == [307]
        assert elsewhere.attempts == []  # the server never went where the answer pointed
    row = db.session.scalar(select(Reminder).where(Reminder.kind == "before"))
    assert row.status == "failed" and "redirects are not followed" in row.last_error


def test_send_time_check_refuses_what_slipped_past_subscription(rapp, rctx, people):
    """Defence in depth: a row written around the API (or before the allow-list) is never contacted."""
    with PushReceiver() as rx:
        sub = rx.new_subscription()
        strict = Sender(keys.current(rapp), timeout=2)  # no extra hosts: 127.0.0.1 is not allowed
        outcome = strict.send(Push(sub.endpoint, sub.p256dh, sub.auth, "{}", 60, "abc", "normal"))
        strict.close()
        assert outcome.kind == "retire" and "IP address" in outcome.reason
        assert rx.attempts == []


def test_one_vapid_token_per_push_service_until_it_nears_expiry(rapp, rctx, monkeypatch):
    """Signing per push was waste; a token reused too long would be refused once `exp` passes."""
    signed = []
    original = Vapid02.sign

    def counting(self, claims, *args, **kwargs):
        signed.append(dict(claims))
        return original(self, claims, *args, **kwargs)

    monkeypatch.setattr(Vapid02, "sign", counting)
    with PushReceiver() as one, PushReceiver() as two:
        a, b = one.new_subscription(), two.new_subscription()
        sender = Sender(keys.current(rapp), timeout=2, allowed=TEST_HOSTS)
        clock = [time.time()]
        sender.clock = lambda: clock[0]

        def push(sub):
            return sender.send(Push(sub.endpoint, sub.p256dh, sub.auth, "{}", 60, "abc", "high"))

        assert [push(s).kind for s in (a, b, a, b, a)] == ["ok"] * 5
        assert [c["aud"] for c in signed] == [one.origin, two.origin]  # once per audience
        tokens = {m.headers["authorization"] for m in a.messages}
        assert len(tokens) == 1 and a.messages[0].vapid_claims["aud"] == one.origin
        clock[0] += VAPID_LIFETIME - VAPID_RENEW_BEFORE  # the token would soon run out: a new one
        assert push(a).kind == "ok"
        assert len(signed) == 3 and signed[-1]["exp"] > signed[0]["exp"]
        assert set(signed[-1]) == {"sub", "aud", "exp"}  # a fresh dict: nothing of another origin
        assert one.rejections == two.rejections == []
        sender.close()


def test_a_push_service_error_status_is_classified_without_raising(rapp, rctx):
    with PushReceiver() as rx:
        sub = rx.new_subscription([404, (429, {"Retry-After": "7"}), 400])
        sender = Sender(keys.current(rapp), timeout=2, allowed=TEST_HOSTS)
        push = Push(sub.endpoint, sub.p256dh, sub.auth, "{}", 60, "abc", "high")
        outcomes = [sender.send(push) for _ in range(4)]
        sender.close()
    assert [(o.kind, o.status) for o in outcomes] == [
        ("gone", 404),
        ("retry", 429),
        ("refused", 400),
        ("ok", 201),
    ]
    assert outcomes[1].retry_after == 7
