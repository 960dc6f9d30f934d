"""Open redirects (issue 9.6): every `next` field accepts only a same-origin path, rebuilt from a parsed URL."""

from urllib.parse import urljoin, urlsplit

import pytest

from app.extensions import db
from app.models import Alert
from app.web_session import safe_next
from tests import factories

DEFAULT = "/home"
BAD = [
    "/\t/evil.example/x",
    "/%09/evil.example/x",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\r\n/evil.example",
    "/ /evil.example",
    "//evil.example",
    "///evil.example",
    "////evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "http://evil.example/home",
    "https:evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/%2fevil.example",
    "/%2Fevil.example",
    "%2f%2fevil.example",
    "/%5cevil.example",
    "/%5Cevil.example",
    "%5c%5cevil.example",
    "/%252f/evil.example",
    "\uff0f\uff0fevil.example",
    "/\uff0fevil.example",
    "\u2215\u2215evil.example",
    "/\u2044evil.example",
    " //evil.example",
    "  /home",
    "\t/home",
    "/home\x00",
    "/ho\x7fme",
    "/home\x1b",
    "/home\u2028",
    "/\x0b/evil.example",
    "/\x0c/evil.example",
    "evil.example",
    "home",
    "./home",
    "../home",
    "",
    "/" + "a" * 3000,
    "/.//evil.example",
    "/..//evil.example",
    "/home/../../evil.example",
    "http:\\\\evil.example",
    "@evil.example",
    "%0a/evil.example",
    "/%0d%0a/evil.example",
]
GOOD = [
    "/",
    "/home",
    "/my-check-ins",
    "/clients/12",
    "/check-in?phase=after&appointment=5",
    "/dashboard?week=2026-W48",
    "/account#passkeys",
]


@pytest.mark.parametrize("target", BAD)
def test_bypass_forms_fall_back_to_the_default(target):
    result = safe_next(target, DEFAULT)
    assert result == DEFAULT
    # And whatever we return stays on our origin when a browser resolves it.
    assert urlsplit(urljoin("http://localhost:5000/signin", result)).netloc == "localhost:5000"


@pytest.mark.parametrize("target", [None, 12, ["/home"], {"a": 1}])
def test_non_strings_fall_back(target):
    assert safe_next(target, DEFAULT) == DEFAULT


@pytest.mark.parametrize("target", GOOD)
def test_good_paths_survive(target):
    assert safe_next(target, DEFAULT) == target


@pytest.mark.parametrize("target", ["/%09/evil.example/x", "/\t/evil.example/x", "//evil.example"])
def test_sign_in_page_never_carries_an_off_site_next(ctx, client, target):
    page = client.get("/signin", query_string={"next": target}).get_data(as_text=True)
    assert "evil.example" not in page


@pytest.mark.parametrize("target", ["/\n/evil.example", "//evil.example", "https://evil.example"])
def test_talked_about_with_a_hostile_next_redirects_home_not_500(ctx, client, target):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    person = factories.user(practice, "client", therapist=therapist)
    alert = Alert(therapist_id=therapist.id, client_id=person.id, rule="low")
    db.session.add(alert)
    db.session.commit()
    factories.sign_in(client, therapist)
    res = client.post(f"/alerts/{alert.id}/talked", data={"next": target})
    assert res.status_code == 302
    location = urlsplit(urljoin("http://localhost/", res.headers["Location"]))
    assert location.netloc == "localhost" and "evil" not in res.headers["Location"]
