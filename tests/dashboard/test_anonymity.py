"""Anonymous aggregates: k distinct clients, fixed periods, complementary suppression (DESIGN 4, SECURITY 39)."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.dashboard import anonymity
from app.dashboard.anonymity import Atom, Cell
from app.extensions import db

from .helpers import check_in, team

QUARTERS = [[0, 1, 2], [3, 4, 5]]
MONTHS = 6

check_ins = st.lists(
    st.tuples(
        st.integers(1, 3),  # therapist
        st.integers(1, 12),  # client (a client may see several therapists)
        st.integers(0, MONTHS - 1),  # month
        st.tuples(st.integers(0, 10), st.integers(0, 10), st.integers(0, 10)),
    ),
    max_size=120,
)


def to_atoms(raw) -> list[Atom]:
    groups = defaultdict(lambda: [0, 0, 0, 0])
    for t, c, m, (s, h, u) in raw:
        g = groups[(t, m, c)]
        g[0] += 1
        g[1] += s
        g[2] += h
        g[3] += u
    return [Atom(t, m, c, *v) for (t, m, c), v in groups.items()]


def raw_in(cell: Cell, raw):
    months = set(cell.months(QUARTERS))
    return [r for r in raw if r[2] in months and cell.scope in (None, r[0])]


def clients(rows) -> int:
    return len({r[1] for r in rows})


def nested(outer: Cell, inner: Cell) -> bool:
    """Containment from first principles: same or whole-practice scope, and months a superset."""
    return (
        outer != inner
        and outer.scope in (None, inner.scope)
        and set(inner.months(QUARTERS)) <= set(outer.months(QUARTERS))
    )


@settings(max_examples=300, deadline=None)
@given(raw=check_ins, k=st.integers(2, 6))
def test_every_shown_cell_is_k_anonymous_and_no_difference_reveals_fewer_than_k(raw, k):
    shown = anonymity.publish(to_atoms(raw), k=k, month_count=MONTHS, quarters=QUARTERS)
    for cell, stats in shown.items():
        rows = raw_in(cell, raw)
        assert clients(rows) >= k and len(rows) >= k
        assert stats.n == len(rows) and stats.clients == clients(rows)
        assert abs(stats.safe - sum(r[3][0] for r in rows) / len(rows)) < 0.051
    for outer in shown:
        for inner in shown:
            if nested(outer, inner):
                inner_ids = {id(r) for r in raw_in(inner, raw)}
                rest = [r for r in raw_in(outer, raw) if id(r) not in inner_ids]
                assert clients(rest) == 0 or clients(rest) >= k, (outer, inner)
    for outer in shown:  # a container minus all its shown children of one family
        for family in ("therapists", "months"):
            kids = [c for c in shown if nested(outer, c) and family_of(outer, c) == family]
            if len(kids) > 1:
                covered = {id(r) for kid in kids for r in raw_in(kid, raw)}
                rest = [r for r in raw_in(outer, raw) if id(r) not in covered]
                assert clients(rest) == 0 or clients(rest) >= k, (outer, kids)


def family_of(outer: Cell, inner: Cell) -> str:
    if (
        outer.scope is None
        and inner.scope is not None
        and (outer.kind, outer.index) == (inner.kind, inner.index)
    ):
        return "therapists"
    return "months" if outer.scope == inner.scope and (outer.kind, inner.kind) == ("q", "m") else ""


def test_identical_nested_cells_are_both_shown():
    raw = [(1, c, 0, (9, 9, 9)) for c in range(1, 6)]
    shown = anonymity.publish(to_atoms(raw), k=5, month_count=MONTHS, quarters=QUARTERS)
    assert set(shown) == {Cell(None, "m", 0), Cell(1, "m", 0), Cell(None, "q", 0), Cell(1, "q", 0)}


def test_one_extra_client_elsewhere_suppresses_the_inner_cell():
    # Therapist 1 has 5 clients in month 0; therapist 2 has 1 client: the practice month minus
    # therapist 1's month would single that client out, so therapist 1's month (and quarter) hide.
    raw = [(1, c, 0, (9, 9, 9)) for c in range(1, 6)] + [(2, 99, 0, (1, 1, 1))]
    shown = anonymity.publish(to_atoms(raw), k=5, month_count=MONTHS, quarters=QUARTERS)
    assert Cell(None, "m", 0) in shown
    assert Cell(1, "m", 0) not in shown and Cell(2, "m", 0) not in shown


def test_under_k_is_not_shown():
    raw = [(1, c, 0, (9, 9, 9)) for c in range(1, 5)] * 3  # 4 clients, 12 check-ins
    assert anonymity.publish(to_atoms(raw), k=5, month_count=MONTHS, quarters=QUARTERS) == {}


def test_months_are_ended_calendar_months_and_quarters_whole():
    months = anonymity.months_window(datetime(2026, 11, 5, tzinfo=UTC))
    # Periods count check-ins by when the server received them, so a month is final once it ends.
    assert months[-1] == date(2026, 10, 1) and months[0] == date(2025, 11, 1)
    assert anonymity.months_window(datetime(2026, 11, 1, tzinfo=UTC))[-1] == date(2026, 10, 1)
    assert anonymity.months_window(datetime(2026, 10, 31, 23, 59, tzinfo=UTC))[-1] == date(
        2026, 9, 1
    )
    quarters = anonymity.quarters_of(months)
    assert [months[q[0]] for q in quarters] == [
        date(2026, 1, 1),
        date(2026, 4, 1),
        date(2026, 7, 1),
    ]


# Against the database ---------------------------------------------------------------------------


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 2), st.booleans()),
        max_size=40,
    )
)
def test_database_cells_match_the_rows(ctx, raw):
    """The SQL atoms (anonymous after-check-ins only, fixed UTC months) agree with the rows stored."""
    from tests.conftest import empty_tables

    db.session.rollback()
    empty_tables()
    practice, t1, t2, c1, c2, _ = team()
    from tests import factories

    people = [factories.user(practice, "client", therapist=t1) for _ in range(7)]
    now = datetime(2026, 11, 20, tzinfo=UTC)
    months = anonymity.months_window(now)
    for t, c, m, anon in raw:
        at = datetime(months[-3 + m].year, months[-3 + m].month, 1, tzinfo=UTC) + timedelta(days=3)
        check_in(
            people[c],
            (t1, t2)[t],
            (5, 6, 7),
            at=at,
            visibility="anonymous" if anon else "named",
            raise_alerts=False,
        )
    got = anonymity.atoms(practice.id, months)
    expected = defaultdict(int)
    for t, c, m, anon in raw:
        if anon:
            expected[((t1, t2)[t].id, len(months) - 3 + m, people[c].id)] += 1
    assert {(a.therapist_id, a.month, a.client_id): a.n for a in got} == dict(expected)
    db.session.rollback()
