"""An alert in words (DESIGN 3): every item that fired, and the baseline it was judged against.

Built at display time from the alert's stored facts, in the reader's language: each sentence is one literal
message with named placeholders, so translators see whole sentences.
"""

from functools import reduce

from flask_babel import format_decimal
from flask_babel import gettext as _

from ..models import Alert
from .rules import ITEMS


def item_word(item: str) -> str:
    return {"safe": _("safe"), "heard": _("heard"), "understood": _("understood")}[item]


def _listing(parts: list[str]) -> str:
    """'a, b, c' in the reader's language."""
    return reduce(lambda head, part: _("%(head)s, %(part)s", head=head, part=part), parts)


def _scores(values: dict, items: list[str]) -> str:
    """'3/10 safe, 2/10 heard' for the named items, in the questionnaire's order."""
    return _listing(
        [
            _("%(value)s/10 %(item)s", value=values[i], item=item_word(i))
            for i in ITEMS
            if i in items
        ]
    )


def _usual(span: list[int]) -> str:
    low, high = span
    return str(low) if low == high else _("%(low)s-%(high)s", low=low, high=high)


def _low_item(f: dict) -> str:
    scores = _scores(f["scores"], f["items"])
    if f.get("usual"):
        return _("felt %(scores)s (usually %(usual)s)", scores=scores, usual=_usual(f["usual"]))
    return _("felt %(scores)s", scores=scores)


def _drop_previous(f: dict) -> str:
    items = [i for i in ITEMS if i in f["items"]]
    before, now = f["previous"], f["scores"]
    if len(items) == 1:
        return _(
            "felt less %(item)s than last time (%(before)s → %(value)s)",
            item=item_word(items[0]),
            before=before[items[0]],
            value=now[items[0]],
        )
    changes = [
        _("%(item)s %(before)s → %(value)s", item=item_word(i), before=before[i], value=now[i])
        for i in items
    ]
    return _(
        "felt less %(items)s than last time (%(changes)s)",
        items=_listing([item_word(i) for i in items]),
        changes=_listing(changes),
    )


def _below_mean(f: dict) -> str:
    return _(
        "rated this session well below their usual (total %(value)s/30, usually %(mean)s)",
        value=sum(f["scores"].values()),
        mean=format_decimal(f["mean"], format="#,##0.#"),
    )


def _streak_crack(f: dict) -> str:
    return _(
        "first rating below 10 after %(streak)s perfect check-ins (%(scores)s)",
        streak=f["streak"],
        scores=_scores(f["scores"], f["items"]),
    )


def _worse_after(f: dict) -> str:
    return _(
        "felt worse after the session than before it (total %(before)s → %(value)s)",
        before=sum(f["before"].values()),
        value=sum(f["scores"].values()),
    )


def _missing_after(f: dict) -> str:
    if f["reason"] == "low_before":
        return _(
            "no named after-session check-in, and the before-check-in was low (%(scores)s)",
            scores=_scores(f["before"], f["items"]),
        )
    return _("no named after-session check-in, after an alert at the previous session")


TEXTS = {
    "low_item": _low_item,
    "drop_previous": _drop_previous,
    "below_mean": _below_mean,
    "streak_crack": _streak_crack,
    "worse_after": _worse_after,
    "missing_after": _missing_after,
}


def describe(alert: Alert) -> str:
    """Which rule fired, in words ('felt less heard than last time (9 → 6)')."""
    return TEXTS[alert.rule](alert.facts)
