"""The people every bench seeds: one practice, one therapist and their clients, linked by care links."""

from app.extensions import db
from app.models import CareLink, Practice, User


def caseload(count: int) -> tuple[User, list[User]]:
    """(therapist, clients) added and flushed in the current app context; the caller commits."""
    practice = Practice(name="Bench practice")
    db.session.add(practice)
    db.session.flush()
    therapist = User(practice_id=practice.id, role="therapist", display_name="Therapist")
    people = [
        User(practice_id=practice.id, role="client", display_name=f"Client {i}")
        for i in range(count)
    ]
    db.session.add_all([therapist, *people])
    db.session.flush()
    db.session.add_all(CareLink(therapist_id=therapist.id, client_id=p.id) for p in people)
    return therapist, people
