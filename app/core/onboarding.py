"""When the home page may offer again what a person skipped after sign-up (issue 11.1)."""

from sqlalchemy import select

from ..extensions import db
from ..models import CheckIn, User


def offer_again_ready(user: User) -> bool:
    """A client is asked again only after their first check-in, when Attune has shown its worth.

    Staff have no check-ins: the page waits a day after the skip instead (static/js/onboarding.js).
    """
    if user.role != "client":
        return False
    found = db.session.scalar(select(CheckIn.id).where(CheckIn.client_id == user.id).limit(1))
    return found is not None
