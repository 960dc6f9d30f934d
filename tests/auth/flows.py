"""Passkey ceremonies driven through the HTTP API with a SoftKey (what the browser JS does)."""

from app.auth import invites
from app.extensions import db
from app.models import utcnow
from tests import factories

from .softkey import SoftKey


def make_invite(role="admin", *, practice=None, created_by=None, therapist=None, now=None):
    """A fresh invite token; commits so the app's own requests see it."""
    practice = practice or factories.practice()
    _, token = invites.create(
        practice=practice,
        role=role,
        now=now or utcnow(),
        created_by=created_by,
        therapist=therapist,
    )
    db.session.commit()
    return token


def register(client, token, key: SoftKey, *, name="Sam"):
    """Run options + verify for an invite; return (options response, verify response)."""
    details = {"display_name": name, "time_zone": "Europe/Berlin"}
    opts = client.post(f"/api/invite/{token}/options", json=details)
    if opts.status_code != 200:
        return opts, None
    credential = key.register(opts.get_json())
    res = client.post(f"/api/invite/{token}/verify", json={**details, "credential": credential})
    return opts, res


def sign_in(client, key: SoftKey, **sign_kw):
    """Discoverable sign-in: options with no username, then the assertion; return the verify response."""
    opts = client.post("/api/auth/signin/options", json={})
    assert opts.status_code == 200, opts.data
    assert opts.get_json().get("allowCredentials", []) == []
    credential = key.sign(opts.get_json(), **sign_kw)
    return client.post("/api/auth/signin/verify", json={"credential": credential, "next": "/"})


def signed_in_role(client):
    res = client.get("/api/session")
    return res.get_json().get("role") if res.status_code == 200 else None
