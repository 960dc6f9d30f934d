"""SECURITY.md check 37 by number: a queued check-in survives an expired CSRF token, an expired session
and a server error: it stays on the phone (to be sent again, or shown as unsent), and goes only after a
2xx. The full table, page and service worker alike, is tests/e2e/test_outbox_rules.py."""

from tests.e2e.test_outbox_rules import rig, run_case  # noqa: F401 - `rig` is a fixture used below


def test_security_37_a_queued_item_survives_csrf_and_session_expiry_and_5xx(rig):  # noqa: F811
    for answer, kept in ((400, "park"), (401, "keep"), (500, "keep"), ("network error", "keep")):
        state, posts, _ = run_case(rig, answer, "page")
        assert (state, posts >= 1) == (kept, True), answer
    state, posts, _ = run_case(rig, 201, "page")
    assert (state, posts) == ("drop", 1)
