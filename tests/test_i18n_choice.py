"""Whose language a page is in (issue 13.3): the person's choice, then the practice's, then the browser.

Requests run outside a test-wide app context: Flask-Babel caches the locale on `g`, which such a context
would share between requests."""

import json

import pytest
from sqlalchemy import select

from app.auth import invites
from app.extensions import db
from app.models import User, utcnow
from app.reminders.payload import payload
from tests import factories


@pytest.fixture
def person(app, client):
    """A client of a German-speaking practice, signed in on `client`; returns their id."""
    with app.app_context():
        practice = factories.practice(locale="de")
        therapist = factories.user(practice, "therapist")
        row = factories.user(practice, "client", therapist=therapist)
        db.session.commit()
        factories.sign_in(client, row)
        return row.id


def stored_locale(app, user_id):
    with app.app_context():
        return db.session.scalar(select(User.locale).where(User.id == user_id))


def html_tag(res) -> str:
    return res.get_data(as_text=True).split(">", 2)[1]


def test_browser_language_before_sign_in(client):
    res = client.get("/signin", headers={"Accept-Language": "ar,en;q=0.5"})
    assert 'lang="ar" dir="rtl"' in html_tag(res)
    res = client.get("/signin", headers={"Accept-Language": "fr-CH, fr;q=0.9"})
    assert 'lang="fr" dir="ltr"' in html_tag(res)


def test_practice_default_then_own_choice(app, client, person):
    res = client.get("/account", headers={"Accept-Language": "es"})
    assert 'lang="de"' in html_tag(res)  # the practice's language beats the browser's
    assert client.post("/account/language", data={"locale": "ar"}).status_code == 302
    assert stored_locale(app, person) == "ar"
    res = client.get("/account", headers={"Accept-Language": "es"})
    assert 'lang="ar" dir="rtl"' in html_tag(res)
    assert "الإعدادات" in res.get_data(as_text=True)  # "Settings"
    client.post("/account/language", data={"locale": ""})
    assert 'lang="de"' in html_tag(client.get("/account"))


def test_unknown_language_is_refused_and_nothing_changes(app, client, person):
    assert client.post("/account/language", data={"locale": "xx"}).status_code == 400
    assert stored_locale(app, person) is None


def test_invite_page_speaks_its_practice_language(app, client):
    with app.app_context():
        practice = factories.practice(locale="fr")
        therapist = factories.user(practice, "therapist")
        _, token = invites.create(
            practice=practice, role="client", therapist=therapist, now=utcnow()
        )
        db.session.commit()
    res = client.get(f"/invite/{token}", headers={"Accept-Language": "es"})
    assert res.status_code == 200
    assert 'lang="fr" dir="ltr"' in html_tag(res)
    assert "Votre thérapeute" in res.get_data(as_text=True) or "vous a invité" in res.get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("lang", "body"),
    [("es", "Es momento de un breve check-in"), ("ar", "حان وقت تسجيل سريع"), ("de", "Zeit für")],
)
def test_push_text_is_in_the_clients_language_and_still_generic(ctx, lang, body):
    data = json.loads(payload(7, "before", locale=lang))
    assert data["body"].startswith(body) and data["title"] == "Attune"
    assert set(data) == {"title", "body", "url", "tag"}  # no name, no score
