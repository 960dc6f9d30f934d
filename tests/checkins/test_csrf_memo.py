"""CSRF tokens whose signature checked out are remembered per process (security.HeaderFirstCSRF, issue
12: a serializer and an HMAC per check-in otherwise); what the check refuses stays refused."""

import itsdangerous
import pytest

from tests.checkins.helpers import body
from tests.checkins.test_fast_session import signed_in, stored


@pytest.fixture
def strict(make_app):
    return make_app(WTF_CSRF_ENABLED=True)


def token_of(client) -> str:
    return client.get("/api/session").get_json()["csrf_token"]


def send(client, token):
    return client.post("/api/check-ins", json=body(), headers={"X-CSRFToken": token})


def test_a_token_is_verified_once_and_then_remembered(strict, monkeypatch):
    client = strict.test_client()
    signed_in(strict, client)
    token = token_of(client)
    calls = []
    real = itsdangerous.URLSafeTimedSerializer.loads

    def counting(self, value, *args, **kwargs):
        calls.append(value)
        return real(self, value, *args, **kwargs)

    monkeypatch.setattr(itsdangerous.URLSafeTimedSerializer, "loads", counting)
    for _ in range(3):
        assert send(client, token).status_code == 201
    assert calls.count(token) == 1, calls
    assert stored(strict) == 3


def test_a_remembered_token_never_counts_for_another_session(strict):
    mine, theirs = strict.test_client(), strict.test_client()
    signed_in(strict, mine)
    signed_in(strict, theirs)
    token = token_of(mine)
    assert send(mine, token).status_code == 201  # remembered now
    token_of(theirs)  # their session has a CSRF secret of its own
    assert send(theirs, token).status_code == 400
    assert stored(strict) == 1


def test_a_remembered_token_counts_only_under_the_key_that_signed_it(strict, make_app):
    client = strict.test_client()
    signed_in(strict, client)
    token = token_of(client)
    assert send(client, token).status_code == 201
    rekeyed = make_app(WTF_CSRF_ENABLED=True, SECRET_KEY="another-secret")
    other = rekeyed.test_client()
    signed_in(rekeyed, other)
    token_of(other)
    assert send(other, token).status_code == 400
    assert stored(strict) == 1


def test_tampered_missing_and_form_tokens_are_still_checked(strict):
    client = strict.test_client()
    signed_in(strict, client)
    token = token_of(client)
    assert send(client, token).status_code == 201
    assert send(client, token[:-2] + ("AA" if token[-2:] != "AA" else "BB")).status_code == 400
    assert client.post("/api/check-ins", json=body()).status_code == 400
    assert client.post("/signout", data={"csrf_token": token + "x"}).status_code == 400
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    assert send(client, token).status_code in (400, 401)  # signed out: no session to match
    assert stored(strict) == 1
