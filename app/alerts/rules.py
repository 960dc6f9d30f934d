"""The 'needs attention' rules of DESIGN 3 as plain functions over scores.

Alliance ratings bunch at the ceiling, so most rules compare a client with their own earlier answers rather
than with a fixed line. Each rule takes the new after-session scores and the history it needs, and returns a
`Finding` (which rule fired, every item it saw and the baseline it compared with) or None. Nothing here
touches the database: tests call the rules directly at the edges of each threshold.
"""

from dataclasses import dataclass, field

from .. import settings

ITEMS = ("safe", "heard", "understood")
Scores = tuple[int, int, int]  # (safe, heard, understood), each 0..10
PERFECT = 10
STREAK = 3  # perfect after-check-ins in a row before a crack counts
MEAN_HISTORY = 3  # earlier after-check-ins needed before "below their usual" applies


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
    """A rule that fired and what it saw, as JSON-ready facts stored on the alert.

    Keys, by rule: `scores` (every item of the judged answer), `items` (those that fired), and the baseline:
    `usual` ([lowest, highest] item of recent answers) for low_item, `previous` for drop_previous, `mean` and
    `count` for below_mean, `streak` for streak_crack, `before` for worse_after and missing_after, whose
    `reason` says which of its two cases applies.
    """

    rule: str
    facts: dict = field(default_factory=dict)


def by_item(scores: Scores) -> dict[str, int]:
    return dict(zip(ITEMS, scores, strict=True))


def usual_range(recent: list[Scores]) -> list[int] | None:
    """[lowest, highest] item value over the client's recent answers, or None without any."""
    values = [v for scores in recent for v in scores]
    return [min(values), max(values)] if values else None


def low_item(now: Scores, *, low: int, usual: list[int] | None = None) -> Finding | None:
    """Items at or below the practice's low threshold (default 6)."""
    items = [i for i, v in zip(ITEMS, now, strict=True) if v <= low]
    if items:
        return Finding("low_item", {"scores": by_item(now), "items": items, "usual": usual})
    return None


def drop_from_previous(now: Scores, previous: Scores | None, *, drop: int) -> Finding | None:
    """Items at least `drop` points below the client's previous after-session answer."""
    if previous is None:
        return None
    items = [i for i, n, p in zip(ITEMS, now, previous, strict=True) if p - n >= drop]
    if items:
        facts = {"scores": by_item(now), "items": items, "previous": by_item(previous)}
        return Finding("drop_previous", facts)
    return None


def below_personal_mean(
    now: Scores, earlier_mean: float | None, earlier_count: int, *, mean_drop: int
) -> Finding | None:
    """Total at least `mean_drop` below the mean total of the client's earlier afters (needs >= 3)."""
    if earlier_count < MEAN_HISTORY or earlier_mean is None:
        return None
    if earlier_mean - sum(now) >= mean_drop:
        facts = {"scores": by_item(now), "mean": round(earlier_mean, 1), "count": earlier_count}
        return Finding("below_mean", facts)
    return None


def perfect_streak_crack(now: Scores, last_three: list[Scores]) -> Finding | None:
    """The last 3 afters were all 10s and now an item is below 10: a polite client's only signal."""
    streak = last_three[:STREAK]
    if len(streak) < STREAK or any(s != (PERFECT,) * 3 for s in streak):
        return None
    items = [i for i, v in zip(ITEMS, now, strict=True) if v < PERFECT]
    if items:
        return Finding("streak_crack", {"scores": by_item(now), "items": items, "streak": STREAK})
    return None


def worse_than_before(now: Scores, before: Scores | None, *, prepost_drop: int) -> Finding | None:
    """The after total is at least `prepost_drop` below the same appointment's before total."""
    if before is None:
        return None
    if sum(before) - sum(now) >= prepost_drop:
        return Finding("worse_after", {"scores": by_item(now), "before": by_item(before)})
    return None


def missing_after(before: Scores | None, previous_alerted: bool, *, low: int) -> Finding | None:
    """A closed window with no after-check-in is a softer signal when the before was low or the
    previous appointment raised an alert: withdrawal is a common form of rupture."""
    if before is not None and min(before) <= low:
        items = [i for i, v in zip(ITEMS, before, strict=True) if v <= low]
        facts = {"reason": "low_before", "before": by_item(before), "items": items}
        return Finding("missing_after", facts)
    if previous_alerted:
        return Finding("missing_after", {"reason": "previous_alert"})
    return None


def evaluate(
    now: Scores,
    *,
    thresholds: Thresholds,
    recent: list[Scores],
    earlier_mean: float | None,
    earlier_count: int,
    before: Scores | None,
) -> list[Finding]:
    """Every rule that fires for one named after-session check-in.

    `recent` is the client's latest earlier named after-check-ins, newest first.
    """
    found = [
        low_item(now, low=thresholds.low, usual=usual_range(recent)),
        drop_from_previous(now, recent[0] if recent else None, drop=thresholds.drop),
        below_personal_mean(now, earlier_mean, earlier_count, mean_drop=thresholds.mean_drop),
        perfect_streak_crack(now, recent),
        worse_than_before(now, before, prepost_drop=thresholds.prepost_drop),
    ]
    return [f for f in found if f is not None]
