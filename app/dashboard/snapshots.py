"""Published anonymous cells kept in the database, so a render reads them instead of re-running the
practice-wide suppression pass (DESIGN 4, and DESIGN 6: the web tier keeps no state of its own).

`flask alerts scan` rebuilds them (`anonymity.refresh`). A snapshot is used only for the window and k it
was built for, and only while every client counted in it still exists: erasing an account deletes its
`AggregateClient` rows (ON DELETE CASCADE), the stored count no longer matches, and the next render falls
back to the live pass, so an erased client's contribution is gone at once.
"""

from datetime import UTC, date, datetime

from sqlalchemy import and_, delete, func, insert, or_, select

from ..extensions import db
from ..models import AggregateCell, AggregateClient, AggregateSnapshot, Practice
from .suppression import Cell, Shown


def audience(visibilities) -> str:
    """Admin cells count every after-check-in ("all"); therapists see anonymous ones only."""
    return "all" if "named" in visibilities else "anonymous"


def _month(first: date) -> datetime:
    return datetime(first.year, first.month, 1, tzinfo=UTC)


def wanted(therapist_id: int | None, periods: list[tuple[str, int]] | None):
    """Which stored cells a page needs (see `anonymity.practice_cells`), or None for all of them."""
    if therapist_id is not None:
        return or_(AggregateCell.therapist_id.is_(None), AggregateCell.therapist_id == therapist_id)
    if periods is not None:
        chosen = [
            and_(AggregateCell.kind == kind, AggregateCell.period == i) for kind, i in periods
        ]
        return or_(AggregateCell.therapist_id.is_(None), *chosen)
    return None


def load(
    practice_id: int, visibilities, months: list[date], cells=None
) -> tuple[int, dict[Cell, Shown] | None]:
    """(the practice's k, its stored cells matching the condition `cells`, or None when no valid
    snapshot exists), in one statement: the practice left-joined to its valid snapshot and its cells."""
    counted = (
        select(func.count())
        .where(AggregateClient.snapshot_id == AggregateSnapshot.id)
        .scalar_subquery()
    )
    valid = and_(
        AggregateSnapshot.practice_id == Practice.id,
        AggregateSnapshot.audience == audience(visibilities),
        AggregateSnapshot.last_month == _month(months[-1]),
        AggregateSnapshot.k == Practice.k_anonymity,
        AggregateSnapshot.clients == counted,
    )
    rows = db.session.execute(
        select(
            Practice.k_anonymity,
            AggregateSnapshot.id,
            AggregateCell.therapist_id,
            AggregateCell.kind,
            AggregateCell.period,
            AggregateCell.clients,
            AggregateCell.n,
            AggregateCell.safe,
            AggregateCell.heard,
            AggregateCell.understood,
        )
        .select_from(Practice)
        .outerjoin(AggregateSnapshot, valid)
        .outerjoin(
            AggregateCell,
            and_(
                AggregateCell.snapshot_id == AggregateSnapshot.id,
                *([] if cells is None else [cells]),
            ),
        )
        .where(Practice.id == practice_id)
    ).all()
    if not rows:
        raise LookupError(f"no practice {practice_id}")
    if rows[0][1] is None:
        return rows[0][0], None
    out = {}
    for _k, _id, t, kind, period, clients, n, safe, heard, understood in rows:
        if kind is not None:
            cell = Cell(t, kind, period)
            out[cell] = Shown(cell, clients, n, safe / 10, heard / 10, understood / 10)
    return rows[0][0], out


def store(practice, visibilities, months, shown: dict[Cell, Shown], clients, *, now) -> None:
    """Replace the practice's snapshot for this audience (the caller commits)."""
    which = audience(visibilities)
    db.session.execute(
        delete(AggregateSnapshot).where(
            AggregateSnapshot.practice_id == practice.id, AggregateSnapshot.audience == which
        )
    )
    snapshot = AggregateSnapshot(
        practice_id=practice.id,
        audience=which,
        last_month=_month(months[-1]),
        k=practice.k_anonymity,
        clients=len(clients),
        computed_at=now,
    )
    db.session.add(snapshot)
    db.session.flush()
    if shown:
        db.session.execute(
            insert(AggregateCell), [_cell_row(snapshot.id, s) for s in shown.values()]
        )
    if clients:
        db.session.execute(
            insert(AggregateClient),
            [{"snapshot_id": snapshot.id, "client_id": c} for c in sorted(clients)],
        )


def _cell_row(snapshot_id: int, s: Shown) -> dict:
    return {
        "snapshot_id": snapshot_id,
        "therapist_id": s.cell.scope,
        "kind": s.cell.kind,
        "period": s.cell.index,
        "clients": s.clients,
        "n": s.n,
        "safe": round(s.safe * 10),
        "heard": round(s.heard * 10),
        "understood": round(s.understood * 10),
    }
