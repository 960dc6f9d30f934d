"""Published anonymous cells and comments: written once per closed period, never changed (DESIGN 4).

A period (calendar month or quarter, UTC) is published by `anonymity.refresh` after it has ended: one
`PublishedPeriod` row (with the k it was decided under), one `PublishedCell` per shown cell and, for a
therapist's shown month, its anonymous comments in a shuffled batch. Later check-ins, erasures and a new
k never touch these rows, so no one can learn one person's answers by watching a cell change. Renders read
them in one indexed statement and never read a check-in: a period not decided yet reads "not published
yet" until the periodic pass publishes it.
"""

from datetime import UTC, date, datetime
from types import MappingProxyType

from flask import current_app
from sqlalchemy import and_, bindparam, func, insert, or_, select

from ..extensions import db
from ..models import PublishedCell, PublishedComment, PublishedPeriod
from . import stats
from .suppression import Cell, Shown


def audience(visibilities) -> str:
    """Admin cells count every after-check-in ("all"); therapists see anonymous ones only."""
    return "all" if "named" in visibilities else "anonymous"


def instant(first: date) -> datetime:
    """A period's first instant (UTC), its key in the published tables."""
    return datetime(first.year, first.month, 1, tzinfo=UTC)


def keys(months: list[date], quarters: list[list[int]]) -> dict[tuple[str, datetime], tuple]:
    """(kind, first instant) -> (kind, index) for the periods of a window."""
    out = {("m", instant(m)): ("m", i) for i, m in enumerate(months)}
    out.update({("q", instant(months[q[0]])): ("q", i) for i, q in enumerate(quarters)})
    return out


def published(practice_id: int, which: str, since: datetime) -> set[tuple[str, datetime]]:
    """(kind, first instant) of the periods already decided for this audience."""
    rows = db.session.execute(
        select(PublishedPeriod.kind, PublishedPeriod.starts_at).where(
            PublishedPeriod.practice_id == practice_id,
            PublishedPeriod.audience == which,
            PublishedPeriod.starts_at >= since,
        )
    )
    return {(kind, at) for kind, at in rows}


# Entries of one app's cache of published rows (at issue 12's size: 200 therapists' windows and
# comments, a few admin windows); past it the cache starts again empty rather than growing.
CACHE_LIMIT = 2048


def _cache() -> dict:
    """This app's cache of published windows and comments (per app, so a test's fresh database or a
    second app in the same process never sees another's rows)."""
    return current_app.extensions.setdefault("attune_published", {})


def _remember(key, value) -> None:
    cache = _cache()
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value


# Built once (a statement built per render cost more than the database took to answer it).
_STAMP = select(func.max(PublishedPeriod.id), func.count(PublishedPeriod.id)).where(
    PublishedPeriod.practice_id == bindparam("practice"),
    PublishedPeriod.audience == bindparam("which"),
    PublishedPeriod.starts_at >= bindparam("since"),
)


def stamp(practice_id: int, which: str, since: datetime) -> tuple[int | None, int]:
    """(highest id, count) of the audience's periods from `since`: published rows are never updated and
    only ever added (or removed with the practice), so an equal stamp means the same published rows."""
    params = {"practice": practice_id, "which": which, "since": since}
    found = stats.read(_STAMP, params).one()
    return found[0], found[1]


def cached_window(
    practice_id: int,
    which: str,
    months: list[date],
    quarters: list[list[int]],
    *,
    therapist_id: int | None = None,
    periods: list[tuple[str, int]] | None = None,
):
    """`_load_window`'s cells and decided periods, read-only, from this app's cache when the published rows are the same as when it
    was loaded (one indexed statement, `stamp`): a render then builds no cell. A first read or a new
    publication loads once more (the load itself yields the stamp, so a first read is one statement)."""
    key = _window_key(practice_id, which, months, therapist_id, periods)
    entry = _cache().get(key)
    if entry is not None and entry[0] == stamp(practice_id, which, instant(months[0])):
        return entry[1], entry[2]
    shown, decided, now_stamp = _load_window(
        practice_id, which, months, quarters, therapist_id=therapist_id, periods=periods
    )
    shown, decided = MappingProxyType(shown), frozenset(decided)
    _remember(key, (now_stamp, shown, decided))
    return shown, decided


def _window_key(practice_id, which, months, therapist_id=None, periods=None) -> tuple:
    return ("window", practice_id, which, months[0], therapist_id, tuple(periods or ()) or None)


def load(
    practice_id: int,
    which: str,
    months: list[date],
    quarters: list[list[int]],
    *,
    therapist_id: int | None = None,
    periods: list[tuple[str, int]] | None = None,
) -> dict[Cell, Shown]:
    """The published cells of the window: the practice's, plus one therapist's (`therapist_id`) or every
    therapist's cells of `periods`; all of them when neither is given."""
    return _load_window(
        practice_id, which, months, quarters, therapist_id=therapist_id, periods=periods
    )[0]


def _load_window(practice_id, which, months, quarters, *, therapist_id=None, periods=None):
    """(cells as `load` gives them, the (kind, index) of every period of the window already decided,
    the `stamp` of the rows it read).

    One statement: the window's period rows (unique index on practice, audience, kind, start), each
    joined to its chosen cells by (period, therapist); a decided period without a chosen cell still
    comes back once, so a page can tell "not published yet" from "not enough responses"."""
    index = keys(months, quarters)
    chosen = [PublishedCell.period_id == PublishedPeriod.id]
    if therapist_id is not None:
        chosen.append(
            or_(PublishedCell.therapist_id.is_(None), PublishedCell.therapist_id == therapist_id)
        )
    elif periods is not None:
        starts = {v: k for k, v in index.items()}
        picked = [
            and_(PublishedPeriod.kind == kind, PublishedPeriod.starts_at == starts[(kind, i)][1])
            for kind, i in periods
        ]
        chosen.append(or_(PublishedCell.therapist_id.is_(None), *picked))
    rows = db.session.execute(
        select(
            PublishedPeriod.id,
            PublishedPeriod.kind,
            PublishedPeriod.starts_at,
            PublishedCell.id,
            PublishedCell.therapist_id,
            PublishedCell.clients,
            PublishedCell.n,
            PublishedCell.safe,
            PublishedCell.heard,
            PublishedCell.understood,
        )
        .outerjoin(PublishedCell, and_(*chosen))
        .where(
            PublishedPeriod.practice_id == practice_id,
            PublishedPeriod.audience == which,
            PublishedPeriod.starts_at >= instant(months[0]),
        )
    )
    out, decided, seen = {}, set(), set()
    for period_id, kind, at, cell_id, scope, clients, n, safe, heard, understood in rows:
        seen.add(period_id)
        where = index.get((kind, at))
        if where is None:
            continue
        decided.add(where)
        if cell_id is not None:
            cell = Cell(scope, *where)
            out[cell] = Shown.of(cell, clients, n, (safe, heard, understood))
    return out, decided, (max(seen, default=None), len(seen))


def store(
    practice,
    which: str,
    periods: list[tuple[str, datetime]],
    shown: dict[Cell, Shown],
    comments: dict[tuple[int, int], list[str]],
    months: list[date],
    quarters: list[list[int]],
    *,
    now: datetime,
) -> None:
    """Record `periods` as decided with their new `shown` cells and `comments` ((therapist, month index)
    -> texts, already shuffled). The caller commits; a concurrent publisher meets the unique constraint."""
    ids = {}
    for kind, at in periods:
        row = PublishedPeriod(
            practice_id=practice.id,
            audience=which,
            kind=kind,
            starts_at=at,
            k=practice.k_anonymity,
            published_at=now,
        )
        db.session.add(row)
        db.session.flush()
        ids[(kind, at)] = row.id
    by_index = {v: k for k, v in keys(months, quarters).items()}
    cells = [
        {
            "period_id": ids[by_index[(s.cell.kind, s.cell.index)]],
            "therapist_id": s.cell.scope,
            "clients": s.clients,
            "n": s.n,
            "safe": s.totals[0],
            "heard": s.totals[1],
            "understood": s.totals[2],
        }
        for s in shown.values()
    ]
    if cells:
        db.session.execute(insert(PublishedCell), cells)
    texts = [
        {
            "period_id": ids[by_index[("m", month)]],
            "therapist_id": therapist,
            "position": i,
            "text": text,
        }
        for (therapist, month), batch in comments.items()
        for i, text in enumerate(batch)
    ]
    if texts:
        db.session.execute(insert(PublishedComment), texts)


def shown_months(shown, therapist_id: int) -> list[int]:
    """The months of a therapist's window whose own cell is shown: those whose comments a page shows."""
    return [c.index for c in shown if c.scope == therapist_id and c.kind == "m"]


def preload_therapists(practice_id: int, therapist_ids: list[int], months, quarters) -> int:
    """Put every listed therapist's published window and comments into this app's cache, read for the
    whole practice in two statements, exactly as each therapist's first render would read them one by
    one (`cached_window`, `load_comments`); returns the cache entries written. A new process then
    renders a therapist's first dashboard as it renders the next ones (issue 12)."""
    which = audience(("anonymous",))
    shown, decided, now_stamp = _load_window(practice_id, which, months, quarters)  # every cell
    practice_cells = {c: v for c, v in shown.items() if c.scope is None}
    own: dict[int, dict] = {}
    for cell, value in shown.items():
        if cell.scope is not None:
            own.setdefault(cell.scope, {})[cell] = value
    texts = _comments(PublishedPeriod.practice_id == practice_id, [instant(m) for m in months])
    decided, written = frozenset(decided), 0
    for therapist in therapist_ids:
        window = MappingProxyType({**practice_cells, **own.get(therapist, {})})
        _remember(_window_key(practice_id, which, months, therapist), (now_stamp, window, decided))
        written += 1
        starts = _starts(months, shown_months(window, therapist))
        if starts:
            found = _by_month(texts.get(therapist, {}), starts)
            _remember(_comments_key(therapist, starts), MappingProxyType(found))
            written += 1
    return written


def _starts(months: list[date], shown_months: list[int]) -> dict[datetime, int]:
    """{first instant: month index} of the shown months, the keys comments are stored under."""
    return {instant(months[m]): m for m in shown_months}


def _comments_key(therapist_id: int, starts: dict[datetime, int]) -> tuple:
    return ("comments", therapist_id, tuple(sorted(starts.items())))


def _comments(where, starts: list[datetime]) -> dict[int, dict[datetime, list[str]]]:
    """{therapist: {month's first instant: texts in their stored order}} of the published monthly
    comments that match `where`, in the months starting at `starts`."""
    rows = db.session.execute(
        select(PublishedComment.therapist_id, PublishedPeriod.starts_at, PublishedComment.text)
        .join(PublishedComment, PublishedComment.period_id == PublishedPeriod.id)
        .where(where, PublishedPeriod.kind == "m", PublishedPeriod.starts_at.in_(starts))
        .order_by(PublishedPeriod.starts_at, PublishedComment.position)
    )
    out: dict[int, dict[datetime, list[str]]] = {}
    for therapist, at, text in rows:
        out.setdefault(therapist, {}).setdefault(at, []).append(text)
    return out


def _by_month(texts: dict[datetime, list[str]], starts: dict[datetime, int]) -> dict[int, tuple]:
    return {starts[at]: tuple(batch) for at, batch in texts.items() if at in starts}


def load_comments(therapist_id: int, months: list[date], shown_months: list[int]):
    """A therapist's published comments of some months, keyed by month index, in their stored order.

    A shown month's comments were stored with its cell, in the same transaction, and are never changed
    (not even by an erasure), so once read they are kept in this app's cache."""
    starts = _starts(months, shown_months)
    if not starts:
        return {}
    key = _comments_key(therapist_id, starts)
    found = _cache().get(key)
    if found is None:
        texts = _comments(PublishedComment.therapist_id == therapist_id, list(starts))
        found = MappingProxyType(_by_month(texts.get(therapist_id, {}), starts))
        _remember(key, found)
    return found
