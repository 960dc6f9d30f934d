"""One wording for anonymous (issue 11.5, DESIGN 4): the invite page, the check-in choice and Settings
say the same sentences about what the therapist sees, with the practice's own k."""

import html
import re
from pathlib import Path

import pytest
from flask import render_template_string

from app.auth import invites
from app.extensions import db
from app.models import utcnow
from tests import factories

K = 7
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def sentences(app, k) -> dict[str, str]:
    """The partial's sentences as a page shows them (HTML-escaped, like any Jinja output)."""
    with app.test_request_context():
        source = (
            '{% import "_anonymity.html" as a %}{{ a.named() }}|{{ a.anonymous(k) }}|{{ a.kept() }}'
        )
        named, anonymous, kept = render_template_string(source, k=k).split("|")
    return {"named": named, "anonymous": anonymous, "kept": kept}


def text(response) -> str:
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@pytest.fixture
def pages(app, ctx):
    practice = factories.practice(k_anonymity=K)
    therapist = factories.user(practice, "therapist", display_name="Theo")
    person = factories.user(practice, "client", therapist=therapist)
    _, token = invites.create(
        practice=practice, role="client", now=utcnow(), created_by=therapist, therapist=therapist
    )
    db.session.commit()
    signed_in = app.test_client()
    factories.sign_in(signed_in, person)
    return {
        "invite": text(app.test_client().get(f"/invite/{token}")),
        "check-in": text(signed_in.get("/check-in")),
        "settings": text(signed_in.get("/account")),
    }


def test_the_three_pages_say_the_same_sentences_with_the_practices_k(app, pages):
    said = sentences(app, K)
    assert f"totals of {K} or more clients" in html.unescape(said["anonymous"])
    for page, body in pages.items():
        for name in ("named", "anonymous"):
            assert said[name] in body, (page, name)
    for page in ("invite", "settings"):
        assert said["kept"] in pages[page], page
    assert "totals of 5 or more" not in "".join(
        pages.values()
    )  # the default k is not the practice's


def test_the_signed_out_check_in_shell_promises_no_number(app, client):
    said = sentences(app, None)
    body = text(client.get("/check-in"))
    assert said["anonymous"] in body and "totals of several clients" in html.unescape(body)


def test_the_wording_is_in_one_place():
    """No page spells the anonymous promise itself: each imports templates/_anonymity.html."""
    for path in ("auth/invite.html", "checkins/check_in.html", "privacy/_settings.html"):
        with open(TEMPLATES / path, encoding="utf-8") as fh:
            source = fh.read()
        assert '{% import "_anonymity.html" as anonymity %}' in source, path
        assert "totals of" not in source, path
