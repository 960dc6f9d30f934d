"""A check-in's fingerprint (`body_hash`) never changes for the same answers.

Replays compare a new body's fingerprint with the one stored when the check-in was first sent: if the
way it is computed drifted (a faster encoding, a field renamed), every phone's queued replay of an
already stored check-in would become a 409 instead of a 200. These digests were computed by the
original `asdict` + `json.dumps(sort_keys=True)` implementation and are pinned.
"""

from dataclasses import replace
from datetime import UTC, datetime

from app.checkins.service import CheckInData

NAMED = CheckInData(
    idempotency_key="key-12345678",
    appointment_id=42,
    phase="after",
    safe=7,
    heard=8,
    understood=9,
    comment='Thanks — ünïcode "q"',
    visibility="named",
    created_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    owner="abc",
)
ANONYMOUS = CheckInData(
    idempotency_key="key-12345678",
    appointment_id=None,
    phase="before",
    safe=0,
    heard=10,
    understood=5,
    comment="",
    visibility="anonymous",
    created_at=datetime(2026, 3, 2, 9, 0, 30, 123456, tzinfo=UTC),
    owner=None,
)


def test_fingerprints_match_those_already_stored():
    assert NAMED.body_hash() == "9e9581df3859ca1de485438eea64ff6cb14f1eafee4656989dc185c2a3bdea0c"
    assert ANONYMOUS.body_hash() == (
        "8a301e23a3bc779765cc33853d53b25d7bbe1ba450403b61a96e216b640d96ca"
    )


def test_the_owner_is_not_part_of_the_fingerprint_but_every_answer_is():
    assert replace(NAMED, owner=None).body_hash() == NAMED.body_hash()
    for change in ({"safe": 6}, {"comment": "Thanks"}, {"appointment_id": 43}, {"phase": "before"}):
        assert replace(NAMED, **change).body_hash() != NAMED.body_hash()
