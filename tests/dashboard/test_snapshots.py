"""Stored anonymous cells: same numbers as the live pass, used only while valid (DESIGN 4 and 6)."""

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select

from app.dashboard import anonymity, snapshots
from app.extensions import db
from app.models import AggregateCell, AggregateClient, AggregateSnapshot
from app.privacy.service import erase
from tests import factories

from .helpers import NOW, check_in, team

ADMIN = ("named", "anonymous")


def month_day(back: int, day: int = 10) -> datetime:
    first = anonymity.months_window(NOW)[-1 - back]
    return datetime(first.year, first.month, day, 12, tzinfo=UTC)


def busy_practice(seed: int = 7):
    """Three therapists, a dozen clients, mixed check-ins over five months (some cells under k)."""
    rng = random.Random(seed)
    p, t1, t2, *_ = team()
    t3 = factories.user(p, "therapist")
    therapists = [t1, t2, t3]
    people = [factories.user(p, "client", therapist=t1) for _ in range(12)]
    for _ in range(160):
        check_in(
            rng.choice(people),
            rng.choice(therapists),
            (rng.randint(0, 10), rng.randint(0, 10), rng.randint(0, 10)),
            at=month_day(rng.randint(0, 4), rng.randint(1, 25)),
            visibility=rng.choice(("named", "anonymous")),
            raise_alerts=False,
        )
    db.session.commit()
    return p, people


def live(practice, visibilities):
    months = anonymity.months_window(NOW)
    return anonymity._live(
        practice.id, practice.k_anonymity, months, anonymity.quarters_of(months), visibilities
    )[0]


def test_stored_cells_equal_the_live_pass_for_both_audiences(ctx):
    p, _ = busy_practice()
    expected = {v: live(p, v) for v in (("anonymous",), ADMIN)}
    assert expected[ADMIN] and expected[ADMIN] != expected[("anonymous",)]
    months = anonymity.months_window(NOW)
    assert snapshots.load(p.id, ADMIN, months) == (p.k_anonymity, None)
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    for visibilities, cells in expected.items():
        assert snapshots.load(p.id, visibilities, months) == (p.k_anonymity, cells)
        assert anonymity.practice_cells(p.id, now=NOW, visibilities=visibilities)[2] == cells
    anonymity.refresh(p, now=NOW)  # rebuilding replaces, never duplicates
    db.session.commit()
    assert db.session.scalar(select(func.count(AggregateSnapshot.id))) == 2
    stored = db.session.scalar(select(func.sum(AggregateSnapshot.clients)))
    assert db.session.scalar(select(func.count()).select_from(AggregateClient)) == stored
    assert db.session.scalar(select(func.count(AggregateCell.id))) == sum(
        map(len, expected.values())
    )


def test_a_stored_render_reads_no_check_ins(ctx):
    p, _ = busy_practice()
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    practice_id, seen, engine = p.id, [], db.engine

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        anonymity.practice_cells(practice_id, now=NOW, visibilities=ADMIN)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert len(seen) == 1 and "check_in" not in seen[0]


def test_erasure_removes_the_clients_contribution_on_the_next_render(ctx):
    p, t1, *_ = team()
    people = [factories.user(p, "client", therapist=t1) for _ in range(5)]
    for person in people:
        check_in(person, t1, (8, 8, 8), at=month_day(0), visibility="anonymous")
    db.session.commit()
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    cell = anonymity.Cell(t1.id, "m", len(anonymity.months_window(NOW)) - 1)
    assert anonymity.practice_cells(p.id, now=NOW)[2][cell].clients == 5
    erase(people[0])
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(AggregateClient)) == 4 + 4
    assert snapshots.load(p.id, ("anonymous",), anonymity.months_window(NOW))[1] is None
    assert cell not in anonymity.practice_cells(p.id, now=NOW)[2]  # 4 clients < k


def test_snapshot_is_ignored_for_another_k_or_window(ctx):
    p, _ = busy_practice()
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    months = anonymity.months_window(NOW)
    later = anonymity.months_window(NOW + timedelta(days=40))
    assert snapshots.load(p.id, ADMIN, months)[1] is not None
    assert snapshots.load(p.id, ADMIN, later)[1] is None
    p.k_anonymity = 6
    db.session.commit()
    assert snapshots.load(p.id, ADMIN, months) == (6, None)
    assert anonymity.practice_cells(p.id, now=NOW, visibilities=ADMIN)[2] == live(p, ADMIN)


def test_scan_command_rebuilds_every_practice(ctx):
    p, _ = busy_practice()
    other, _ = busy_practice(seed=8)
    result = ctx.test_cli_runner().invoke(args=["alerts", "scan"])
    assert result.exit_code == 0 and "2 practice aggregate snapshot(s) rebuilt" in result.output
    db.session.expire_all()
    months = anonymity.months_window(datetime.now(UTC))
    for practice in (p, other):
        assert snapshots.load(practice.id, ADMIN, months) == (5, live(practice, ADMIN))
