"""The 'needs attention' rules of DESIGN 3 as plain functions over scores.

Alliance ratings bunch at the ceiling, so most rules compare a client with their own earlier answers rather
than with a fixed line. Each rule takes the new after-session scores and the history it needs, and returns a
`Finding` (which rule fired and the numbers behind it) or None. Nothing here touches the database: tests call
the rules directly at the edges of each threshold.
"""

from dataclasses import dataclass, field

from .. import settings

ITEMS = ("safe", "heard", "understood")
Scores = tuple[int, int, int]  # (safe, heard, understood), each 0..10


@dataclass(frozen=True)
class Thresholds:
    """The practice's alert thresholds (defaults from `settings.PRACTICE`)."""

    low: int = settings.default("low_threshold")
    drop: int = settings.default("drop_threshold")
    mean_drop: int = settings.default("mean_drop_threshold")
    prepost_drop: int = settings.default("prepost_drop_threshold")

    @classmethod
    def of(cls, practice) -> "Thresholds":
        return cls(
            low=practice.low_threshold,
            drop=practice.drop_threshold,
            mean_drop=practice.mean_drop_threshold,
            prepost_drop=practice.prepost_drop_threshold,
        )


@dataclass(frozen=True)
class Finding:
    rule: str
    facts: dict = field(default_factory=dict)

    def detail(self) -> str:
        """A compact, language-neutral record; `describe` turns it into words when shown."""
        return ";".join(f"{k}={v}" for k, v in self.facts.items())[:300]


def low_item(now: Scores, *, low: int) -> Finding | None:
    """Any item at or below the practice's low threshold (default 6)."""
    value, item = min(zip(now, ITEMS, strict=True))
    if value <= low:
        return Finding("low_item", {"item": item, "value": value})
    return None


def drop_from_previous(now: Scores, previous: Scores | None, *, drop: int) -> Finding | None:
    """Any item at least `drop` points below the client's previous after-session answer."""
    if previous is None:
        return None
    gap, item, before, after = max(
        (p - n, i, p, n) for n, p, i in zip(now, previous, ITEMS, strict=True)
    )
    if gap >= drop:
        return Finding("drop_previous", {"item": item, "before": before, "value": after})
    return None


def below_personal_mean(
    now: Scores, earlier_mean: float | None, earlier_count: int, *, mean_drop: int
) -> Finding | None:
    """Total at least `mean_drop` below the mean total of the client's earlier afters (needs >= 3)."""
    if earlier_count < 3 or earlier_mean is None:
        return None
    total = sum(now)
    if earlier_mean - total >= mean_drop:
        return Finding("below_mean", {"value": total, "mean": round(earlier_mean, 1)})
    return None


def perfect_streak_crack(now: Scores, last_three: list[Scores]) -> Finding | None:
    """The last 3 afters were all 10s and now an item is below 10: a polite client's only signal."""
    if len(last_three) < 3 or any(s != (10, 10, 10) for s in last_three[:3]):
        return None
    if min(now) < 10:
        value, item = min(zip(now, ITEMS, strict=True))
        return Finding("streak_crack", {"item": item, "value": value})
    return None


def worse_than_before(now: Scores, before: Scores | None, *, prepost_drop: int) -> Finding | None:
    """The after total is at least `prepost_drop` below the same appointment's before total."""
    if before is None:
        return None
    if sum(before) - sum(now) >= prepost_drop:
        return Finding("worse_after", {"before": sum(before), "value": sum(now)})
    return None


def missing_after(before: Scores | None, previous_alerted: bool, *, low: int) -> Finding | None:
    """A closed window with no after-check-in is a softer signal when the before was low or the
    previous appointment raised an alert: withdrawal is a common form of rupture."""
    if before is not None and min(before) <= low:
        return Finding("missing_after", {"reason": "low_before", "value": min(before)})
    if previous_alerted:
        return Finding("missing_after", {"reason": "previous_alert"})
    return None


def evaluate(
    now: Scores,
    *,
    thresholds: Thresholds,
    previous: Scores | None,
    earlier_mean: float | None,
    earlier_count: int,
    last_three: list[Scores],
    before: Scores | None,
) -> list[Finding]:
    """Every rule that fires for one named after-session check-in."""
    found = [
        low_item(now, low=thresholds.low),
        drop_from_previous(now, previous, drop=thresholds.drop),
        below_personal_mean(now, earlier_mean, earlier_count, mean_drop=thresholds.mean_drop),
        perfect_streak_crack(now, last_three),
        worse_than_before(now, before, prepost_drop=thresholds.prepost_drop),
    ]
    return [f for f in found if f is not None]
