"""The reminder outbox: rows written in the same transaction as their appointment (DESIGN 2)."""


def sync_appointment(appointment, *, now) -> None:
    """Create, move or cancel `appointment`'s reminders inside the caller's transaction.

    Call after any create, move or cancel of an appointment, before the caller commits.
    """
