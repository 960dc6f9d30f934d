"""Whether a client's reminders are set up, for the therapist's client page (DESIGN 1, Therapist 4).

Built only from the client's own choices: the reminder kinds turned on in their settings, and whether
they last turned reminders on or off on a device (`User.push_chosen`). Never from the subscription rows
or the outbox: a reminder is skipped once its check-in is done, named or anonymous, and only a reminder
actually sent finds out that a device is gone (404/410) and retires it, so a device count or a delivery
time would tell the therapist who answered anonymously (DESIGN 4, issue 9.2). Delivery details stay in
the outbox rows and the dispatcher's logs.
"""

from ..models import User


def reminder_status(client: User) -> dict:
    """`push_on`: the client turned reminders on for a device; `kinds_on`: reminder kinds enabled."""
    kinds = (client.remind_before, client.remind_after, client.remind_nudge)
    return {"push_on": client.push_chosen and any(kinds), "kinds_on": sum(kinds)}
