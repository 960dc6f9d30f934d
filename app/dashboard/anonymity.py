"""Anonymous aggregates that clients can trust (DESIGN 4, SECURITY check 39).

A cell is (scope, period): scope is the whole practice (None) or one therapist; period is a fixed calendar
month or quarter (UTC, so every viewer sees the same boundaries), and only completed ones, so a cell never
changes while someone watches it grow. Which cells may be shown is decided in `suppression.py`.

The database returns one row per (therapist, month, client) with counts and sums: aggregates over the
covering index, never check-ins. That pass is practice-wide (seconds at 1M check-ins), so `refresh`, run by
`flask alerts scan`, stores its result (`snapshots.py`) and renders read that; nothing is kept in memory.
"""

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, or_, select

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
    "refresh",
    "comments",
    "months_window",
]

MONTHS = 12
# A month is closed a week after it ends, so late offline check-ins land before anyone sees it.
SETTLE = timedelta(days=7)


def months_window(now: datetime, count: int = MONTHS) -> list[date]:
    """First days of the last `count` completed (and settled) calendar months, oldest first."""
    settled = (now - SETTLE).astimezone(UTC).date()
    first = settled.replace(day=1)
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


def atoms(practice_id: int, months: list[date], *, visibilities=("anonymous",)) -> list[Atom]:
    """Per (therapist, month, client) counts and sums of after-session check-ins (one query)."""
    bounds = _bounds(months)
    b = bucket(CheckIn.created_at, bounds).label("b")
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
            CheckIn.created_at >= bounds[0],
            CheckIn.created_at < bounds[-1],
            CheckIn.phase == "after",
            CheckIn.visibility.in_(visibilities),
        )
        .group_by(CheckIn.therapist_id, b, CheckIn.client_id)
    )
    return [
        Atom(t, m, c, n, int(s), int(h), int(u)) for t, m, c, n, s, h, u in rows if m is not None
    ]


def practice_cells(
    practice_id: int,
    *,
    now: datetime,
    visibilities=("anonymous",),
    therapist_id: int | None = None,
    periods: list[tuple[str, int]] | None = None,
):
    """(months, quarters, shown cells) for a practice: the practice's own cells, plus one therapist's
    (`therapist_id`) or every therapist's cells of some `periods` ((kind, index) pairs); all when neither.

    Read from the snapshot that `flask alerts scan` keeps (one indexed statement); when there is none for
    this window and k, or a counted client has been erased since, computed live (correct, but it reads
    every after-check-in of the window, so slow for big practices until the next scan).
    """
    months = months_window(now)
    quarters = quarters_of(months)
    wanted = snapshots.wanted(therapist_id, periods)
    k, shown = snapshots.load(practice_id, visibilities, months, wanted)
    if shown is None:
        shown = _live(practice_id, k, months, quarters, visibilities)[0]
    return months, quarters, shown


def _live(practice_id, k, months, quarters, visibilities) -> tuple[dict[Cell, Shown], set[int]]:
    """The suppression pass over the database's atoms, and the clients they count."""
    found = atoms(practice_id, months, visibilities=visibilities)
    shown = publish(found, k=k, month_count=len(months), quarters=quarters)
    return shown, {a.client_id for a in found}


AUDIENCES = (("anonymous",), ("named", "anonymous"))


def refresh(practice, *, now: datetime) -> None:
    """Rebuild the practice's snapshots for the current window (the caller commits).

    Every read comes before the first write, so SQLite's write lock is held only for the inserts."""
    months = months_window(now)
    quarters = quarters_of(months)
    built = [
        (visibilities, *_live(practice.id, practice.k_anonymity, months, quarters, visibilities))
        for visibilities in AUDIENCES
    ]
    for visibilities, shown, clients in built:
        snapshots.store(practice, visibilities, months, shown, clients, now=now)


def comments(
    therapist_id: int, months: list[date], shown_months: list[int], *, per_month: int = 30
) -> dict[int, list[str]]:
    """Anonymous comments of the shown therapist months only, in random order, keyed by month (no
    dates); at most `per_month` of each, picked at random by the database."""
    if not shown_months:
        return {}
    bounds = _bounds(months)
    b = bucket(CheckIn.created_at, bounds).label("b")
    windows = [
        CheckIn.created_at.between(bounds[m], bounds[m + 1] - timedelta(microseconds=1))
        for m in shown_months
    ]
    rows = db.session.execute(
        select(b, CheckIn.comment)
        .where(
            CheckIn.therapist_id == therapist_id,
            or_(*windows),
            CheckIn.phase == "after",
            CheckIn.visibility == "anonymous",
            CheckIn.comment != "",
        )
        .order_by(func.random())
        .limit(per_month * len(shown_months))
    )
    out = defaultdict(list)
    for month, text in rows:
        if month in shown_months and len(out[month]) < per_month:
            out[month].append(text)
    shuffle = random.SystemRandom().shuffle
    for texts in out.values():
        shuffle(texts)
    return dict(out)
