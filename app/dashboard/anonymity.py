"""Anonymous aggregates that clients can trust (DESIGN 4, SECURITY check 39).

A cell is (scope, period): scope is the whole practice (None) or one therapist; period is a fixed calendar
month or quarter (UTC, so every viewer sees the same boundaries). Nothing shown may change by one person:

- a check-in counts in the period in which the server *received* it, so a late one (dated weeks back on
  the phone) never lands in a period already shown;
- a period is published only after it has ended, once, by `refresh` (run by `flask alerts scan`): its
  shown cells, the k it used and its comments are stored (`snapshots.py`) and never change, whatever is
  erased or whichever k is set later;
- when a quarter is published after some of its months, those months' cells are fixed: the suppression
  pass (`suppression.py`) hides new cells rather than them, and if an erasure has changed any of their
  data since, the quarter shows nothing (its difference from the months would be the erased person).

Periods of different calendar quarters hold disjoint check-ins, so each quarter is decided on its own.
"""

import random
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, select

from ..extensions import db
from ..models import CheckIn, User
from . import snapshots
from .stats import bucket
from .suppression import Atom, Cell, Shown, publish

__all__ = [
    "Atom",
    "Cell",
    "Shown",
    "publish",
    "practice_cells",
    "published_window",
    "Window",
    "refresh",
    "comments",
    "months_window",
]

MONTHS = 12
COMMENTS_PER_MONTH = 30
AUDIENCES = (("anonymous",), ("named", "anonymous"))


def months_window(now: datetime, count: int = MONTHS) -> list[date]:
    """First days of the last `count` calendar months that have ended (UTC), oldest first."""
    first = now.astimezone(UTC).date().replace(day=1)
    out = []
    for _ in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
        out.append(first)
    return out[::-1]


def quarters_of(months: list[date]) -> list[list[int]]:
    """Calendar quarters wholly inside the window, as lists of month indexes."""
    out = []
    for i, m in enumerate(months):
        if m.month in (1, 4, 7, 10) and i + 2 < len(months):
            out.append([i, i + 1, i + 2])
    return out


def quarter_label(months: list[date], quarter: list[int]) -> str:
    first = months[quarter[0]]
    return f"{first.year} Q{(first.month - 1) // 3 + 1}"


def _bounds(months: list[date]) -> list[datetime]:
    last = months[-1]
    after = (last.replace(day=28) + timedelta(days=4)).replace(day=1)
    return [datetime(m.year, m.month, 1, tzinfo=UTC) for m in [*months, after]]


def atoms(
    practice_id: int, months: list[date], *, visibilities=("anonymous",), only=None
) -> list[Atom]:
    """Per (therapist, month, client) counts and sums of after-session check-ins, by the month the
    server received them (one query); `only` limits it to a contiguous run of month indexes."""
    first, last = (0, len(months) - 1) if only is None else (min(only), max(only))
    bounds = _bounds(months)
    b = bucket(CheckIn.received_at, bounds).label("b")
    therapists = select(User.id).where(User.practice_id == practice_id, User.role == "therapist")
    rows = db.session.execute(
        select(
            CheckIn.therapist_id,
            b,
            CheckIn.client_id,
            func.count(CheckIn.id),
            func.sum(CheckIn.safe),
            func.sum(CheckIn.heard),
            func.sum(CheckIn.understood),
        )
        .where(
            CheckIn.therapist_id.in_(therapists),
            CheckIn.received_at >= bounds[first],
            CheckIn.received_at < bounds[last + 1],
            CheckIn.phase == "after",
            CheckIn.visibility.in_(visibilities),
        )
        .group_by(CheckIn.therapist_id, b, CheckIn.client_id)
    )
    return [
        Atom(t, m, c, n, int(s), int(h), int(u)) for t, m, c, n, s, h, u in rows if m is not None
    ]


class Window(NamedTuple):
    """What a page shows of the anonymous aggregates: the window's periods, the published cells, and
    which periods are decided (published, with or without a shown cell); the others are pending."""

    months: list[date]
    quarters: list[list[int]]
    shown: dict[Cell, Shown]
    decided: set[tuple[str, int]]


def published_window(
    practice_id: int,
    *,
    now: datetime,
    visibilities=("anonymous",),
    therapist_id: int | None = None,
    periods: list[tuple[str, int]] | None = None,
) -> Window:
    """The practice's own cells, plus one therapist's (`therapist_id`) or every therapist's cells of some
    `periods` ((kind, index) pairs); all when neither. One indexed statement over the published rows
    (kept in the app's cache while nothing new is published; the cells are read-only); nothing is
    computed here: a period not yet published is pending until the periodic pass."""
    months = months_window(now)
    quarters = quarters_of(months)
    shown, decided = snapshots.cached_window(
        practice_id,
        snapshots.audience(visibilities),
        months,
        quarters,
        therapist_id=therapist_id,
        periods=periods,
    )
    return Window(months, quarters, shown, decided)


def practice_cells(practice_id: int, *, now: datetime, **kw):
    """(months, quarters, published cells): `published_window` without the decided periods."""
    return published_window(practice_id, now=now, **kw)[:3]


def refresh(practice, *, now: datetime) -> None:
    """Publish every period of the window that has ended and is not yet published (the caller commits).

    Every read of a calendar quarter comes before its writes, so SQLite's write lock is held briefly."""
    months = months_window(now)
    quarters = quarters_of(months)
    for visibilities in AUDIENCES:
        which = snapshots.audience(visibilities)
        done = snapshots.published(practice.id, which, snapshots.instant(months[0]))
        for group in _calendar_quarters(months):
            _publish_quarter(practice, visibilities, which, done, months, quarters, group, now)


def _calendar_quarters(months: list[date]) -> list[list[int]]:
    """The window's month indexes grouped by calendar quarter (the oldest group may be partial)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, m in enumerate(months):
        groups.setdefault((m.year, (m.month - 1) // 3), []).append(i)
    return list(groups.values())


def _publish_quarter(practice, visibilities, which, done, months, quarters, group, now) -> None:
    """Decide the unpublished periods of one calendar quarter, with its published cells held fixed."""
    new = [("m", i) for i in group if ("m", snapshots.instant(months[i])) not in done]
    whole = [qi for qi, q in enumerate(quarters) if q == group]
    if whole and ("q", snapshots.instant(months[group[0]])) not in done:
        new.append(("q", whole[0]))
    if not new:
        return
    mine = {("m", i) for i in group} | {("q", qi) for qi in whole}
    fixed = {
        c: s
        for c, s in snapshots.load(practice.id, which, months, quarters).items()
        if (c.kind, c.index) in mine
    }
    found = atoms(practice.id, months, visibilities=visibilities, only=group)
    result = publish(
        found,
        k=practice.k_anonymity,
        month_count=len(months),
        quarters=quarters,
        fixed=frozenset(fixed),
        periods=set(new),
    )
    changed = any(
        c not in result or (result[c].n, result[c].totals) != (s.n, s.totals)
        for c, s in fixed.items()
    )
    # If an erasure touched a published cell, any new cell over it could isolate that person.
    shown = {} if changed else {c: s for c, s in result.items() if c not in fixed}
    texts = {}
    if which == "anonymous":
        texts = {
            (c.scope, c.index): _comments(c.scope, months, c.index)
            for c in shown
            if c.scope is not None and c.kind == "m"
        }
    keys = {v: k for k, v in snapshots.keys(months, quarters).items()}
    snapshots.store(
        practice, which, [keys[p] for p in new], shown, texts, months, quarters, now=now
    )


def _comments(therapist_id: int, months: list[date], month: int) -> list[str]:
    """The anonymous comments of one therapist month, at most COMMENTS_PER_MONTH, shuffled."""
    bounds = _bounds(months)
    texts = db.session.scalars(
        select(CheckIn.comment).where(
            CheckIn.therapist_id == therapist_id,
            CheckIn.received_at >= bounds[month],
            CheckIn.received_at < bounds[month + 1],
            CheckIn.phase == "after",
            CheckIn.visibility == "anonymous",
            CheckIn.comment != "",
        )
    ).all()
    rng = random.SystemRandom()
    texts = rng.sample(texts, min(len(texts), COMMENTS_PER_MONTH))
    rng.shuffle(texts)
    return texts


def comments(
    therapist_id: int, months: list[date], shown_months: list[int]
) -> dict[int, list[str]]:
    """The published anonymous comments of a therapist's shown months, keyed by month (no dates)."""
    return snapshots.load_comments(therapist_id, months, shown_months)
