"""Every push payload the dispatcher produced in this test run, scanned again for private data.

Runs last in this folder (by name). Each reminder test's receiver already checked its own pushes against
the names and comments in the database; this pass checks the whole collection once more for the fixed
shape, and proves the scanner itself catches a leak.
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from .helpers import SEEN, appointment, check_in, device, leaks

START = datetime(2026, 3, 10, 14, tzinfo=UTC)


def as_message(seen: dict):
    return SimpleNamespace(payload=seen["payload"], json=seen["json"], headers=seen["headers"])


def test_every_payload_in_the_suite_is_generic(receiver, people, run_at):
    _, therapist, client = people
    appt = appointment(client, therapist, START, now=START - timedelta(days=1))
    device(client, receiver.new_subscription())
    check_in(appt, "before", comment="worried about Ottoline's job", score=2)
    for moment in (START + timedelta(hours=1), START + timedelta(hours=21)):
        run_at(moment)
    assert len(receiver.messages) == 2
    forbidden = ["Ottoline", "Brackenbury", "Winifred", "Quill", "worried", "job"]
    for message in receiver.messages:
        assert leaks(message, forbidden) == []
    scanned = [as_message(s) for s in SEEN]
    assert all(leaks(m, forbidden) == [] for m in scanned), [
        leaks(m, forbidden) for m in scanned if leaks(m, forbidden)
    ]


def test_the_scanner_catches_names_scores_and_extra_fields():
    good = b'{"title":"Attune","body":"Time for a quick check-in","url":"/check-in?appointment=4&phase=after","tag":"checkin-4-after"}'
    import json

    def msg(raw: bytes):
        return SimpleNamespace(payload=raw, json=json.loads(raw), headers={"topic": "abc"})

    assert leaks(msg(good), ["Ottoline"]) == []
    named = good.replace(b"a quick check-in", b"Ottoline, a quick check-in")
    assert leaks(msg(named), ["Ottoline"])
    scored = good.replace(b'"tag"', b'"safe":3,"tag"')
    assert leaks(msg(scored), [])
    clinical = good.replace(b"a quick check-in", b"how did the session feel")
    assert leaks(msg(clinical), [])
    elsewhere = good.replace(b"/check-in?", b"https://evil.example/check-in?")
    assert leaks(msg(elsewhere), [])
