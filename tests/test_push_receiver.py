"""Tests for the Web Push test receiver, driven by the real pywebpush client.

If these pass, the receiver accepts exactly what a spec-following sender produces and
refuses what real push services refuse, so app tests built on it mean something.
"""

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid01, Vapid02, VapidException
from pywebpush import WebPusher, WebPushException, webpush

from tests.support.push_receiver import Faults, PushReceiver, b64url, b64url_decode

SUB = "mailto:test@example.org"


def make_vapid(cls=Vapid01, **kwargs):
    vapid = cls(**kwargs)
    vapid.generate_keys()
    return vapid


def public_key(vapid) -> str:
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)


def raw_private_key(vapid) -> str:
    return b64url(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))


def send(sub, key, claims=None, data=None, **kwargs):
    """pywebpush as the app would call it; a fresh claims dict because webpush mutates it."""
    kwargs.setdefault("headers", {"Topic": "abc", "Urgency": "normal"})
    return webpush(
        subscription_info=sub.as_dict(),
        data=json.dumps(data or {"title": "Check-in", "n": 1}),
        vapid_private_key=key,
        vapid_claims=dict(claims or {"sub": SUB}),
        ttl=kwargs.pop("ttl", 60),
        timeout=kwargs.pop("timeout", 5),
        **kwargs,
    )


def raw_post(sub, headers, body=b""):
    """A hand-built request, for malformations pywebpush will not produce."""
    return requests.post(sub.endpoint, data=body, headers=headers, timeout=5)


@pytest.fixture
def receiver():
    with PushReceiver() as rx:
        yield rx
    assert rx.errors == []


@pytest.fixture
def vapid():
    return make_vapid()


def test_subscription_has_browser_shape(receiver):
    sub = receiver.new_subscription()
    info = sub.as_dict()
    assert info == {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
    assert sub.endpoint.startswith(f"{receiver.origin}/push/")
    assert receiver.origin.startswith("http://127.0.0.1:")
    point = b64url_decode(sub.p256dh)
    assert len(point) == 65 and point[0] == 4
    assert len(b64url_decode(sub.auth)) == 16
    assert "=" not in sub.p256dh + sub.auth
    assert receiver.new_subscription().p256dh != sub.p256dh


@pytest.mark.parametrize("key_form", ["vapid01", "vapid02", "raw-string"])
def test_delivers_decrypted_payload_with_headers_and_claims(receiver, key_form):
    vapid = make_vapid(Vapid02 if key_form == "vapid02" else Vapid01)
    key = raw_private_key(vapid) if key_form == "raw-string" else vapid
    sub = receiver.new_subscription()
    data = {"title": "Session check-in", "url": "/checkin/42", "ünï": "çødé"}

    response = send(sub, key, data=data)

    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{receiver.origin}/message/")
    [message] = sub.messages
    assert receiver.messages == [message]
    assert message.subscription_id == sub.id
    assert message.payload == json.dumps(data).encode()
    assert message.json == data
    assert message.headers["ttl"] == "60"
    assert message.headers["topic"] == "abc"
    assert message.headers["urgency"] == "normal"
    assert message.headers["content-encoding"] == "aes128gcm"
    # Vapid01 speaks the draft "WebPush <jwt>" + Crypto-Key form, Vapid02/raw keys RFC 8292.
    scheme = "WebPush " if key_form == "vapid01" else "vapid t="
    assert message.headers["authorization"].startswith(scheme)
    assert message.vapid_claims["aud"] == receiver.origin
    assert message.vapid_claims["sub"] == SUB
    assert 0 < message.vapid_claims["exp"] - time.time() <= 24 * 3600
    assert message.vapid_key == public_key(vapid)
    assert [a.status for a in receiver.attempts] == [201]
    assert receiver.rejections == []


def test_non_json_payload_and_empty_push(receiver, vapid):
    sub = receiver.new_subscription()
    webpush(
        sub.as_dict(),
        data="plain text",
        vapid_private_key=vapid,
        vapid_claims={"sub": SUB},
        ttl=0,
        timeout=5,
    )
    webpush(
        sub.as_dict(),
        data=None,
        vapid_private_key=vapid,
        vapid_claims={"sub": SUB},
        ttl=0,
        timeout=5,
    )
    assert [(m.payload, m.json) for m in sub.messages] == [(b"plain text", None), (b"", None)]
    assert sub.messages[0].headers["ttl"] == "0"


def test_bad_sub_claim_rejected(receiver):
    sub = receiver.new_subscription()
    # py_vapid refuses to sign such claims by default, so the receiver never sees them...
    with pytest.raises(VapidException):
        send(sub, make_vapid(), claims={"sub": "nobody"})
    # ...unless the sender turns off py_vapid's own check.
    with pytest.raises(WebPushException) as exc:
        send(sub, make_vapid(conf={"no-strict": True}), claims={"sub": "nobody"})
    assert exc.value.response.status_code == 401
    assert "sub" in receiver.rejections[-1]
    assert sub.messages == []


def test_jwt_for_another_origin_rejected(receiver, vapid):
    sub = receiver.new_subscription()
    with pytest.raises(WebPushException) as exc:
        send(sub, vapid, claims={"sub": SUB, "aud": "https://fcm.googleapis.com"})
    assert exc.value.response.status_code == 401
    assert "aud" in receiver.rejections[-1]
    assert receiver.messages == []


def test_exp_more_than_24h_ahead_rejected(receiver, vapid):
    sub = receiver.new_subscription()
    with pytest.raises(WebPushException) as exc:
        send(sub, vapid, claims={"sub": SUB, "exp": int(time.time()) + 48 * 3600})
    assert exc.value.response.status_code == 401
    assert "exp" in receiver.rejections[-1]


def test_expired_and_tampered_tokens_rejected(receiver, vapid):
    sub = receiver.new_subscription()
    body = WebPusher(sub.as_dict()).encode(b"hi")["body"]
    base = {"TTL": "60", "Content-Encoding": "aes128gcm"}
    expired = vapid.sign({"sub": SUB, "aud": receiver.origin, "exp": int(time.time()) - 10})
    assert raw_post(sub, base | expired, body).status_code == 401
    good = vapid.sign({"sub": SUB, "aud": receiver.origin})
    assert raw_post(sub, base | good, body).status_code == 201
    other = make_vapid().sign({"sub": SUB, "aud": receiver.origin})
    swapped = good | {"Crypto-Key": other["Crypto-Key"]}  # right token, wrong key
    assert raw_post(sub, base | swapped, body).status_code == 401
    assert raw_post(sub, base, body).status_code == 401  # no VAPID at all
    assert len(receiver.rejections) == 3
    [message] = sub.messages
    assert message.headers["ttl"] == "60"  # sent as "TTL": header names are lowercased


def test_request_validation_like_a_real_service(receiver, vapid):
    sub = receiver.new_subscription()
    auth = vapid.sign({"sub": SUB, "aud": receiver.origin})
    body = WebPusher(sub.as_dict()).encode(b"hi")["body"]
    enc = {"Content-Encoding": "aes128gcm"}
    assert raw_post(sub, auth | enc, body).status_code == 400  # no TTL
    assert raw_post(sub, auth | enc | {"TTL": "soon"}, body).status_code == 400
    legacy = auth | {"TTL": "60", "Content-Encoding": "aesgcm"}
    assert raw_post(sub, legacy, body).status_code == 415
    garbled = body[:-1] + bytes([body[-1] ^ 1])
    assert raw_post(sub, auth | enc | {"TTL": "60"}, garbled).status_code == 400
    with pytest.raises(WebPushException) as exc:
        send(sub, vapid, headers={"Topic": "not a valid topic!"})
    assert exc.value.response.status_code == 400
    with pytest.raises(WebPushException) as exc:
        send(sub, vapid, headers={"Topic": "a" * 33})
    assert exc.value.response.status_code == 400
    with pytest.raises(WebPushException) as exc:
        send(sub, vapid, data={"blob": "x" * 4000})  # encrypted body grows past 4096
    assert exc.value.response.status_code == 413
    assert len(receiver.rejections) == 7
    assert sub.messages == []


def test_wrong_signing_key_vs_expected_vapid_key():
    app_key, intruder = make_vapid(), make_vapid()
    with PushReceiver(expected_vapid_key=public_key(app_key)) as receiver:
        sub = receiver.new_subscription()
        with pytest.raises(WebPushException) as exc:
            send(sub, intruder)
        assert exc.value.response.status_code == 403
        assert "applicationServerKey" in receiver.rejections[-1]
        assert send(sub, app_key).status_code == 201
        assert len(sub.messages) == 1
    assert receiver.errors == []


def test_gone_subscription_answers_410_forever(receiver, vapid):
    sub = receiver.new_subscription()
    receiver.gone(sub)
    for _ in range(2):
        with pytest.raises(WebPushException) as exc:
            send(sub, vapid)
        assert exc.value.response.status_code == 410
    assert [a.status for a in receiver.attempts] == [410, 410]
    assert sub.messages == []


def test_scripted_behaviour_is_consumed_in_order(receiver, vapid):
    sub = receiver.new_subscription(behaviour=[410, (429, {"Retry-After": "2"}), 404])
    with pytest.raises(WebPushException) as exc:
        send(sub, vapid)
    assert exc.value.response.status_code == 410
    with pytest.raises(WebPushException) as exc:
        send(sub, vapid)
    assert exc.value.response.status_code == 429
    assert exc.value.retry_after == "2"
    with pytest.raises(WebPushException) as exc:
        send(sub, vapid)
    assert exc.value.response.status_code == 404
    assert send(sub, vapid).status_code == 201
    assert [a.status for a in receiver.attempts] == [410, 429, 404, 201]
    assert receiver.rejections == []


def test_500_then_201_records_two_attempts_one_message(receiver, vapid):
    sub = receiver.new_subscription()
    sub.behaviour = [500]
    with pytest.raises(WebPushException) as exc:
        send(sub, vapid)
    assert exc.value.response.status_code == 500
    assert send(sub, vapid).status_code == 201
    assert [(a.subscription_id, a.status) for a in receiver.attempts] == [
        (sub.id, 500),
        (sub.id, 201),
    ]
    assert receiver.attempts[0].at < receiver.attempts[1].at
    assert len(sub.messages) == 1 and receiver.messages == sub.messages


def test_unknown_endpoint_is_404(receiver, vapid):
    sub = receiver.new_subscription()
    info = sub.as_dict() | {"endpoint": f"{receiver.origin}/push/nope"}
    with pytest.raises(WebPushException) as exc:
        webpush(info, data="x", vapid_private_key=vapid, vapid_claims={"sub": SUB}, timeout=5)
    assert exc.value.response.status_code == 404


def test_hang_times_out_client_and_receiver_closes_promptly(vapid):
    receiver = PushReceiver().__enter__()
    try:
        sub = receiver.new_subscription(behaviour=["hang:30"])
        started = time.monotonic()
        with pytest.raises(requests.exceptions.Timeout):
            send(sub, vapid, timeout=0.5)
        assert time.monotonic() - started < 3
    finally:
        closing = time.monotonic()
        receiver.close()
    assert time.monotonic() - closing < 2
    deadline = time.monotonic() + 2
    while not receiver.attempts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [a.status for a in receiver.attempts] == [None]
    assert receiver.messages == [] and receiver.errors == []


def test_message_accepted_after_client_timed_out(receiver, vapid):
    """The service may accept a push the sender thinks failed: retries can duplicate."""
    sub = receiver.new_subscription(behaviour=["hang:1"])
    with pytest.raises(requests.exceptions.Timeout):
        send(sub, vapid, timeout=0.3)
    deadline = time.monotonic() + 5
    while not sub.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sub.messages) == 1
    assert [a.status for a in receiver.attempts] == [201]


def test_concurrent_pushes_are_all_recorded(receiver, vapid):
    subs = [receiver.new_subscription() for _ in range(4)]
    jobs = [(sub, n) for n in range(5) for sub in subs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda job: send(job[0], vapid, data={"n": job[1]}), jobs))
    assert len(receiver.messages) == 20
    for sub in subs:
        assert sorted(m.json["n"] for m in sub.messages) == list(range(5))


def test_a_request_torn_mid_body_is_not_a_message(receiver):
    """A sender killed after its headers but before its body (SIGKILL) delivered nothing."""
    sub = receiver.new_subscription()
    host, port = receiver.origin.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        path = sub.endpoint.split(receiver.origin)[1]
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTTL: 60\r\nContent-Length: 100\r\n\r\n"
        conn.sendall(head.encode() + b"x" * 10)
    time.sleep(1)  # the handler reads to EOF at once; give a busy machine a moment
    assert receiver.messages == [] and sub.messages == []


def test_a_stall_times_out_the_client_and_delivers_nothing(receiver, vapid):
    """Unlike hang:, a stalled push is never accepted, even after the client gave up."""
    sub = receiver.new_subscription(behaviour=["stall:0.6"])
    with pytest.raises(requests.exceptions.Timeout):
        send(sub, vapid, timeout=0.2)
    deadline = time.monotonic() + 5
    while not receiver.attempts and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    assert [(a.status, a.reason) for a in receiver.attempts] == [(None, "stalled")]
    assert sub.messages == [] and receiver.messages == []
    assert send(sub, vapid).status_code == 201  # the resend is the only copy
    assert len(sub.messages) == 1


def test_injected_faults_cycle_through_each_kind_and_410_is_for_good(vapid):
    faults = Faults(rate=0.5, seed=3, kinds=(500, (429, {"Retry-After": "1"}), "stall:0.3", "gone"))
    with PushReceiver(faults=faults) as rx:
        subs = [rx.new_subscription() for _ in range(8)]
        answers = []
        for n in range(40):
            sub = subs[n % 8]
            try:
                answers.append((sub.id, send(sub, vapid, timeout=0.15).status_code))
            except WebPushException as exc:
                answers.append((sub.id, exc.response.status_code))
            except requests.exceptions.Timeout:
                answers.append((sub.id, None))
        assert rx.errors == []
    kinds = [kind for _, kind in faults.injected]
    assert len(kinds) >= 8 and all(kinds.count(k) >= 2 for k in faults.kinds)
    assert kinds[:4] == list(faults.kinds)  # in turn, so a short run still sees every kind
    gone = {sub_id for sub_id, kind in faults.injected if kind == "gone"}
    for sub_id in gone:  # after its injected 410, that subscription answers 410 forever
        first = next(i for i, (s, code) in enumerate(answers) if s == sub_id and code == 410)
        assert {code for s, code in answers[first:] if s == sub_id} == {410}
    assert len(rx.messages) == sum(code == 201 for _, code in answers)
