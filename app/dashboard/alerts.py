"""'Needs attention' rules over a client's check-in history (DESIGN 3)."""


def on_check_in(check_in, *, now) -> list:
    """Evaluate the alert rules for a just-stored check-in and add Alert rows to the session.

    Called inside the check-in's transaction, after flush, before commit.
    """
    return []
