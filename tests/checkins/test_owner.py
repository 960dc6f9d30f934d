"""The offline queue belongs to one person (issue 9.4), a closed check-in schema (issue 10.1), and a form that
never carries a note anywhere without its script (issue 9.5): the server's half."""

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CheckIn
from tests import factories
from tests.checkins.helpers import body, people

OWNER_META = re.compile(r'<meta name="attune-owner" content="([^"]+)"')


def count() -> int:
    return db.session.scalar(select(func.count(CheckIn.id)))


def owner_of(client) -> str:
    res = client.get("/api/check-ins/owner")
    assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
    return res.json["owner"]


@pytest.fixture
def two_clients(ctx):
    _, _, alice = people()
    _, _, bob = people()  # another practice
    return alice, bob


def test_owner_is_opaque_stable_per_person_and_matches_the_pages(two_clients, client):
    alice, bob = two_clients
    factories.sign_in(client, alice)
    mine = owner_of(client)
    assert mine == owner_of(client) and re.fullmatch(r"[A-Za-z0-9_-]{16,64}", mine)
    assert str(alice.id) not in mine
    assert OWNER_META.search(client.get("/home").get_data(as_text=True))[1] == mine
    factories.sign_in(client, bob)
    assert owner_of(client) != mine


def test_owner_needs_a_session(ctx, client):
    assert client.get("/api/check-ins/owner").status_code == 401


def test_the_shared_shell_page_names_no_owner(two_clients, client):
    factories.sign_in(client, two_clients[0])
    assert "attune-owner" not in client.get("/check-in").get_data(as_text=True)


def test_another_persons_item_is_refused_and_nothing_is_stored(two_clients, client):
    alice, bob = two_clients
    factories.sign_in(client, alice)
    alices = owner_of(client)
    factories.sign_in(client, bob)
    res = client.post("/api/check-ins", json=body(phase="before", owner=alices, comment="private"))
    assert res.status_code == 409 and res.json["field"] == "owner"
    assert "private" not in res.get_data(as_text=True)
    assert count() == 0
    ok = client.post("/api/check-ins", json=body(phase="before", owner=owner_of(client)))
    assert ok.status_code == 201 and count() == 1


def test_a_replayed_key_of_another_person_is_refused_too(two_clients, client):
    alice, bob = two_clients
    factories.sign_in(client, alice)
    item = body(phase="before", owner=owner_of(client))
    assert client.post("/api/check-ins", json=item).status_code == 201
    factories.sign_in(client, bob)
    assert client.post("/api/check-ins", json=item).status_code == 409
    assert db.session.scalar(select(func.count()).where(CheckIn.client_id == bob.id)) == 0


@pytest.mark.parametrize("owner", ["", "x" * 65, 12, ["a"], "bad owner!"])
def test_a_malformed_owner_is_named(two_clients, client, owner):
    factories.sign_in(client, two_clients[0])
    res = client.post("/api/check-ins", json=body(owner=owner))
    assert res.status_code == 422 and res.json["field"] == "owner"
    assert count() == 0


def test_unknown_fields_are_refused_and_named(two_clients, client):
    factories.sign_in(client, two_clients[0])
    res = client.post("/api/check-ins", json=body(client_id=99, therapist_id=1))
    assert res.status_code == 422
    assert "client_id" in res.json["error"] and "therapist_id" in res.json["error"]
    assert res.json["field"] == "client_id"
    assert count() == 0


def test_unknown_field_names_are_cut_short_in_the_answer(two_clients, client):
    factories.sign_in(client, two_clients[0])
    noise = {f"{'z' * 500}{i}": 1 for i in range(30)}
    res = client.post("/api/check-ins", json=body(**noise))
    assert res.status_code == 422 and len(res.json["error"]) < 400
    assert count() == 0


def test_check_in_form_posts_to_a_refusal_that_echoes_nothing(two_clients, client):
    factories.sign_in(client, two_clients[0])
    html = client.get("/check-in").get_data(as_text=True)
    form = re.search(r"<form id=\"checkin\"[^>]*>", html)[0]
    assert 'method="post"' in form and 'action="/check-in"' in form
    assert re.search(r'<button[^>]*id="send"[^>]*disabled', html)
    note = "my-secret-note-7781"
    res = client.post("/check-in", data={"comment": note, "safe": "5", "visibility": "named"})
    assert res.status_code == 400
    assert note not in res.get_data(as_text=True) and "JavaScript" in res.get_data(as_text=True)
    assert "Location" not in res.headers
    assert count() == 0


def test_no_form_in_any_template_submits_by_get():
    """Every form names its method: a form without one submits its fields in the URL."""
    forms = []
    for path in (Path(__file__).parents[2] / "templates").rglob("*.html"):
        forms += [(path, tag) for tag in re.findall(r"<form\b[^>]*>", path.read_text(), re.S)]
    assert forms
    bad = [(str(p), t) for p, t in forms if 'method="post"' not in t]
    assert not bad, bad
