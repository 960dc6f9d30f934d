"""Published anonymous cells: the suppression pass's numbers, written once, read in one statement
(DESIGN 4 and 6)."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from app.dashboard import anonymity, snapshots
from app.extensions import db
from app.models import PublishedCell, PublishedComment, PublishedPeriod
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
            comment=rng.choice(("", "a word")),
        )
    db.session.commit()
    return p, people


def one_pass(practice, visibilities):
    """The suppression pass over the whole window at once, as a first publication does it."""
    months = anonymity.months_window(NOW)
    quarters = anonymity.quarters_of(months)
    found = anonymity.atoms(practice.id, months, visibilities=visibilities)
    return anonymity.publish(
        found, k=practice.k_anonymity, month_count=len(months), quarters=quarters
    )


def test_published_cells_equal_the_suppression_pass_for_both_audiences(ctx):
    p, _ = busy_practice()
    expected = {v: one_pass(p, v) for v in (("anonymous",), ADMIN)}
    assert expected[ADMIN] and expected[ADMIN] != expected[("anonymous",)]
    assert anonymity.practice_cells(p.id, now=NOW, visibilities=ADMIN)[2] == {}
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    for visibilities, cells in expected.items():
        assert anonymity.practice_cells(p.id, now=NOW, visibilities=visibilities)[2] == cells
    periods = db.session.scalar(select(func.count(PublishedPeriod.id)))
    assert periods == 2 * (12 + len(anonymity.quarters_of(anonymity.months_window(NOW))))
    anonymity.refresh(p, now=NOW + timedelta(minutes=5))  # nothing new to publish: nothing written
    db.session.commit()
    assert db.session.scalar(select(func.count(PublishedPeriod.id))) == periods
    assert db.session.scalar(select(func.count(PublishedCell.id))) == sum(
        map(len, expected.values())
    )


def test_a_published_render_reads_no_check_ins(ctx):
    p, _ = busy_practice()
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    practice_id, seen, engine = p.id, [], db.engine

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        first = anonymity.practice_cells(practice_id, now=NOW, visibilities=ADMIN)[2]
        assert len(seen) == 1 and "check_in" not in seen[0]
        again = anonymity.practice_cells(practice_id, now=NOW, visibilities=ADMIN)[2]
    finally:
        event.remove(engine, "before_cursor_execute", before)
    # From the app's cache: one statement (the published rows' stamp), still no check-in read.
    assert again == first and len(seen) == 2 and "check_in" not in seen[1]
    assert "published_cell" not in seen[1]


def test_a_newly_published_period_shows_on_the_next_read_of_the_same_app(ctx):
    p, _ = busy_practice()
    expected = one_pass(p, ("anonymous",))
    assert expected
    window = anonymity.published_window(p.id, now=NOW)
    assert window.shown == {} and window.decided == set()  # cached: nothing published yet
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    window = anonymity.published_window(p.id, now=NOW)
    assert window.shown == expected and len(window.decided) == 12 + len(window.quarters)


def test_the_cache_never_shows_one_practice_the_cells_of_another(ctx):
    p1, _ = busy_practice(seed=7)
    p2, _ = busy_practice(seed=8)
    expected = {p.id: one_pass(p, ADMIN) for p in (p1, p2)}
    assert expected[p1.id] and expected[p1.id] != expected[p2.id]
    anonymity.refresh(p1, now=NOW)
    db.session.commit()
    assert anonymity.practice_cells(p1.id, now=NOW, visibilities=ADMIN)[2] == expected[p1.id]
    assert anonymity.practice_cells(p2.id, now=NOW, visibilities=ADMIN)[2] == {}
    anonymity.refresh(p2, now=NOW)
    db.session.commit()
    for p in (p1, p2):
        assert anonymity.practice_cells(p.id, now=NOW, visibilities=ADMIN)[2] == expected[p.id]


def test_cached_cells_and_comments_are_read_only(ctx):
    p, _ = busy_practice()
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    window = anonymity.published_window(p.id, now=NOW)
    cell = next(iter(window.shown))
    with pytest.raises(TypeError):
        window.shown[cell] = None
    with pytest.raises(AttributeError):
        window.decided.add(("m", 0))
    therapist = next(c.scope for c in window.shown if c.scope is not None and c.kind == "m")
    months = anonymity.months_window(NOW)
    shown = [c.index for c in window.shown if c.scope == therapist and c.kind == "m"]
    texts = anonymity.comments(therapist, months, shown)
    assert texts and texts == anonymity.comments(therapist, months, shown)
    with pytest.raises(TypeError):
        texts[shown[0]] = ("changed",)


def test_erasure_keeps_published_cells_and_comments(ctx):
    p, people = busy_practice()
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    counts = [
        db.session.scalar(select(func.count(m.id)))
        for m in (PublishedPeriod, PublishedCell, PublishedComment)
    ]
    assert counts[2] > 0
    shown = anonymity.practice_cells(p.id, now=NOW)[2]
    for person in people[:6]:
        erase(person)
    db.session.commit()
    anonymity.refresh(p, now=NOW + timedelta(minutes=5))
    db.session.commit()
    assert counts == [
        db.session.scalar(select(func.count(m.id)))
        for m in (PublishedPeriod, PublishedCell, PublishedComment)
    ]
    assert anonymity.practice_cells(p.id, now=NOW)[2] == shown


def test_a_period_is_published_once_even_by_two_concurrent_passes(ctx):
    p, _ = busy_practice()
    months = anonymity.months_window(NOW)
    quarters = anonymity.quarters_of(months)
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    again = [("m", snapshots.instant(months[-1]))]
    with pytest.raises(IntegrityError):
        snapshots.store(p, "anonymous", again, {}, {}, months, quarters, now=NOW)
        db.session.flush()
    db.session.rollback()


def test_scan_command_publishes_every_practice(ctx):
    p, _ = busy_practice()
    other, _ = busy_practice(seed=8)
    result = ctx.test_cli_runner().invoke(args=["alerts", "scan"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    now = datetime.now(UTC)
    for practice in (p, other):
        done = snapshots.published(
            practice.id, "all", snapshots.instant(anonymity.months_window(now)[0])
        )
        assert ("m", snapshots.instant(anonymity.months_window(now)[-1])) in done


def test_a_practice_preload_caches_what_each_therapists_first_render_would_read(ctx):
    """`preload_therapists` (the warm-up) writes each therapist's window and comments as
    `cached_window` and `load_comments` read them one therapist at a time: the same cells, decided
    periods, stamp and comment batches, under the same keys."""
    from flask import current_app

    from app.models import User

    p, people = busy_practice()
    therapists = sorted(
        db.session.scalars(
            select(User.id).where(User.practice_id == p.id, User.role == "therapist")
        )
    )
    rng = random.Random(3)
    for i in range(80):  # distinct texts, so their order within a month counts too
        check_in(
            rng.choice(people),
            db.session.get(User, rng.choice(therapists[:2])),
            (5, 5, 5),
            at=month_day(rng.randint(0, 4), rng.randint(1, 25)),
            visibility="anonymous",
            raise_alerts=False,
            comment=f"note {i}",
        )
    db.session.commit()
    anonymity.refresh(p, now=NOW)
    db.session.commit()
    months = anonymity.months_window(NOW)
    cache = current_app.extensions.setdefault("attune_published", {})
    cache.clear()
    written = snapshots.preload_therapists(p.id, therapists, months, anonymity.quarters_of(months))
    preloaded = dict(cache)
    cache.clear()
    for therapist in therapists:
        window = anonymity.published_window(p.id, now=NOW, therapist_id=therapist)
        anonymity.comments(therapist, months, snapshots.shown_months(window.shown, therapist))
    assert preloaded == cache and written == len(preloaded)
    assert [k for k in preloaded if k[0] == "comments"], "no comments: nothing compared"
    assert len({k[4] for k in preloaded if k[0] == "window"}) == len(therapists)
    for key, entry in preloaded.items():  # a therapist's window never holds a colleague's cells
        if key[0] == "window":
            assert {c.scope for c in entry[1]} <= {None, key[4]}
            assert any(c.scope == key[4] for c in entry[1]) or key[4] == therapists[-1]
