"""The one kind of refusal auth's ceremonies raise: the views turn it into a JSON or form answer."""


class AuthError(Exception):
    """A refusal whose message is plain words safe to show; `status` and `field` shape the answer."""

    status = 400
    field: str | None = None
