"""Nothing shown may change by one person (DESIGN 4, issue 9.1): anonymous cells and comments over time.

The plain tests replay the reported attacks (an erasure, a late check-in, a new k). The state machine
drives random histories through the domain functions with an explicit clock and records every cell and
comment each therapist and the admin could see; it checks, against its own ledger of what was sent and
erased, that no two of those views differ by the contributions of 1 to k-1 clients.
"""

import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from app.checkins import service
from app.dashboard import anonymity
from app.extensions import db
from app.models import CareLink
from app.privacy.service import erase
from tests import factories
from tests.conftest import empty_tables

from .helpers import NOW

ANON = ("anonymous",)
ALL = ("named", "anonymous")


def send(client, scores, *, now, created_at=None, visibility="anonymous", comment=""):
    """A check-in through the same domain function as POST /api/check-ins (no appointment)."""
    body = {
        "idempotency_key": secrets.token_hex(8),
        "phase": "after",
        "safe": scores[0],
        "heard": scores[1],
        "understood": scores[2],
        "comment": comment,
        "visibility": visibility,
        "created_at": (created_at or now).isoformat(),
    }
    row, _ = service.submit(client, service.parse(body, now=now), now=now)
    return row


def scan(practice, now):
    anonymity.refresh(practice, now=now)
    db.session.commit()


def therapist_view(therapist, now):
    """What one therapist's dashboard shows of anonymous data: own cells and comments."""
    months, _, shown = anonymity.practice_cells(
        therapist.practice_id, now=now, therapist_id=therapist.id
    )
    mine = {c: s for c, s in shown.items() if c.scope == therapist.id}
    shown_months = [c.index for c in mine if c.kind == "m"]
    return mine, anonymity.comments(therapist.id, months, shown_months)


def anonymous_section(page: str) -> str:
    return page.split('id="anon-h"')[1]


def last_month_day(day: int) -> datetime:
    first = anonymity.months_window(NOW)[-1]
    return datetime(first.year, first.month, day, 12, tzinfo=UTC)


def test_erasing_one_of_six_clients_changes_nothing_already_shown(ctx, client):
    """The reported case: 6 anonymous clients, a scan, one erasure, another scan."""
    p = factories.practice()
    t = factories.user(p, "therapist", display_name="Theo")
    people = [factories.user(p, "client", therapist=t) for _ in range(6)]
    for i, person in enumerate(people):
        at = last_month_day(3 + i)
        send(person, (9 - i, 8, 7 + i % 3), now=at, comment=f"words of client {i}")
    db.session.commit()
    scan(p, NOW)
    factories.sign_in(client, t)
    before = anonymous_section(client.get("/dashboard").get_data(as_text=True))
    assert all(f"words of client {i}" in before for i in range(6))
    cells, texts = therapist_view(t, NOW)
    assert {s.clients for c, s in cells.items() if c.kind == "m"} == {6}

    erase(people[2])
    db.session.commit()
    scan(p, NOW + timedelta(minutes=5))
    after = anonymous_section(client.get("/dashboard").get_data(as_text=True))
    assert after == before  # same means, same count band, same six comments in the same order
    assert therapist_view(t, NOW + timedelta(minutes=5)) == (cells, texts)


def test_a_late_check_in_dated_into_a_published_month_counts_where_it_was_received(ctx):
    p = factories.practice()
    t = factories.user(p, "therapist")
    people = [factories.user(p, "client", therapist=t) for _ in range(6)]
    for i, person in enumerate(people[:5]):
        send(person, (8, 8, 8), now=last_month_day(5 + i), comment=f"on time {i}")
    db.session.commit()
    scan(p, NOW)
    cells, texts = therapist_view(t, NOW)
    month = anonymity.Cell(t.id, "m", len(anonymity.months_window(NOW)) - 1)
    assert cells[month].n == 5 and len(texts[month.index]) == 5

    late = send(people[5], (0, 0, 0), now=NOW, created_at=last_month_day(20), comment="LATE")
    db.session.commit()
    assert late.received_at == NOW
    scan(p, NOW + timedelta(minutes=5))
    assert therapist_view(t, NOW + timedelta(minutes=5)) == (cells, texts)
    # It counts in the month it was received, published only once that month has ended.
    next_month = (NOW.replace(day=1) + timedelta(days=32)).replace(day=1, hour=1)
    scan(p, next_month)
    later, later_texts = therapist_view(t, next_month)
    same = anonymity.Cell(t.id, "m", month.index - 1)  # the window moved on by one month
    assert (later[same].n, later[same].totals) == (cells[month].n, cells[month].totals)
    assert later_texts[same.index] == texts[month.index]
    assert not any("LATE" in batch for batch in later_texts.values())  # 1 client < k: not shown


def test_a_new_k_applies_only_to_periods_not_yet_published(ctx):
    p = factories.practice(k_anonymity=5)
    t = factories.user(p, "therapist")
    people = [factories.user(p, "client", therapist=t) for _ in range(5)]
    for i, person in enumerate(people):
        send(person, (7, 7, 7), now=last_month_day(4 + i))
    db.session.commit()
    scan(p, NOW)
    cells, _ = therapist_view(t, NOW)
    assert cells
    p.k_anonymity = 6
    db.session.commit()
    scan(p, NOW + timedelta(minutes=5))
    assert therapist_view(t, NOW + timedelta(minutes=5))[0] == cells


def test_an_open_month_is_never_shown(ctx):
    p = factories.practice(k_anonymity=5)
    t = factories.user(p, "therapist")
    for _ in range(6):
        send(factories.user(p, "client", therapist=t), (6, 6, 6), now=NOW)
    db.session.commit()
    scan(p, NOW)
    assert therapist_view(t, NOW) == ({}, {})


def test_a_quarter_after_an_erasure_shows_nothing_that_isolates_the_erased(ctx):
    """Months published, a contributor erased, then the quarter closes: the quarter minus its published
    months would be minus that person, so the quarter stays hidden."""
    p = factories.practice(k_anonymity=5)
    t = factories.user(p, "therapist")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    people = [factories.user(p, "client", therapist=t) for _ in range(6)]
    for month in range(3):
        for person in people[1:] if month == 2 else people:
            send(person, (5 + month, 5, 5), now=start + timedelta(days=31 * month + 3))
        db.session.commit()
        scan(p, datetime(2026, month + 2, 1, 1, tzinfo=UTC))
        if month == 1:
            erase(people[0])
            db.session.commit()
    end = datetime(2026, 4, 1, 1, tzinfo=UTC)
    cells, _ = therapist_view(t, end)
    assert {c.kind for c in cells} == {"m"}  # months shown, the quarter is not


# The state machine -------------------------------------------------------------------------------

K_CHOICES = (5, 6)  # settings.K_MIN and one above
START = datetime(2026, 1, 20, 9, tzinfo=UTC)


class Ledger:
    """What really happened: every after-check-in sent, and when its sender was erased."""

    def __init__(self):
        self.rows = []  # dicts: id, client, therapist, received, visibility, scores, erased

    def contents(self, cell_def, published_at):
        """Check-in ids a cell published at `published_at` must hold."""
        scope, start, end, visibilities = cell_def
        return frozenset(
            r["id"]
            for r in self.rows
            if r["visibility"] in visibilities
            and start <= r["received"] < end
            and scope in (None, r["therapist"])
            and (r["erased"] is None or r["erased"] > published_at)
        )


def nested(inner, outer) -> bool:
    """Cell definitions (audience, scope, kind, start, end): `outer` covers all of `inner`."""
    return (
        inner[0] == outer[0]
        and outer[1] in (None, inner[1])
        and outer[3] <= inner[3]
        and inner[4] <= outer[4]
    )


def period_of(months, quarters, cell):
    bounds = anonymity._bounds(months)
    idx = cell.months(quarters)
    return bounds[idx[0]], bounds[idx[-1] + 1]


SEEN_VIEWS = Counter()  # how many distinct cells each audience showed, over all runs


class AnonymityOverTime(RuleBasedStateMachine):
    @initialize()
    def world(self):
        db.session.rollback()
        empty_tables()
        self.now = START
        self.k_now = 5
        self.practice = factories.practice(k_anonymity=self.k_now)
        self.therapists = [factories.user(self.practice, "therapist") for _ in range(2)]
        self.admin = factories.user(self.practice, "admin")
        self.clients = []
        for i in range(11):
            self.clients.append(
                factories.user(self.practice, "client", therapist=self.therapists[i % 2])
            )
        db.session.commit()
        self.ledger = Ledger()
        self.scans = []  # (time, k) of every scan
        # (audience, scope, kind, period start) -> (values, contents, k, first seen)
        self.views = {}
        self.seen_comments = {}  # (therapist, month start) -> Counter of texts
        for who in range(len(self.clients)):  # a first month with enough answers to publish
            self.check_in(who, True, 0, who, comment=True)
            self.check_in(who, False, 0, 10 - who, comment=False)

    # --- actions --------------------------------------------------------------------------------

    @rule(
        who=st.integers(0, 10),
        anon=st.booleans(),
        late_days=st.sampled_from((0, 0, 1, 20, 59)),
        score=st.integers(0, 10),
        comment=st.booleans(),
    )
    def check_in(self, who, anon, late_days, score, comment):
        person = self.clients[who]
        row = send(
            person,
            (score, 10 - score, score // 2),
            now=self.now,
            created_at=self.now - timedelta(days=late_days),
            visibility="anonymous" if anon else "named",
            comment=f"c{len(self.ledger.rows)}" if comment else "",
        )
        db.session.commit()
        self.ledger.rows.append(
            {
                "id": len(self.ledger.rows),
                "client": person.id,
                "therapist": row.therapist_id,
                "received": self.now,
                "visibility": row.visibility,
                "erased": None,
            }
        )

    @rule(
        whos=st.lists(st.integers(0, 10), min_size=3, max_size=9, unique=True),
        anon=st.sampled_from((True, True, False)),
        late_days=st.sampled_from((0, 30)),
    )
    def several_check_in(self, whos, anon, late_days):
        """Several clients answer on the same day (so cells reach k often enough to matter)."""
        for who in whos:
            self.check_in(who, anon, late_days, (3 + who) % 11, comment=who % 2 == 0)

    @rule(who=st.integers(0, 10))
    def erase_one(self, who):
        person = self.clients[who]
        for r in self.ledger.rows:
            if r["client"] == person.id and r["erased"] is None:
                r["erased"] = self.now
        erase(person)
        db.session.commit()
        newcomer = factories.user(self.practice, "client", therapist=self.therapists[who % 2])
        db.session.commit()
        self.clients[who] = newcomer

    @rule(k=st.sampled_from(K_CHOICES))
    def change_k(self, k):
        self.practice.k_anonymity = k
        db.session.commit()

    @rule(who=st.integers(0, 10))
    def move(self, who):
        """The client now sees the other therapist (CareLink ends and starts)."""
        person = self.clients[who]
        links = db.session.scalars(select(CareLink).where(CareLink.client_id == person.id)).all()
        current = next(link for link in links if link.ended_at is None)
        current.ended_at = self.now
        other = next(t for t in self.therapists if t.id != current.therapist_id)
        again = next((link for link in links if link.therapist_id == other.id), None)
        if again is None:
            db.session.add(
                CareLink(therapist_id=other.id, client_id=person.id, started_at=self.now)
            )
        else:
            again.ended_at, again.started_at = None, self.now
        db.session.commit()

    @rule(days=st.sampled_from((1, 9, 16, 31, 40)), then_scan=st.booleans())
    def time_passes(self, days, then_scan):
        """Days go by; the periodic pass usually runs soon after (it runs every few minutes)."""
        self.now += timedelta(days=days)
        if then_scan:
            self.scan()

    @rule(second=st.sampled_from((-1, 0)))
    def to_month_edge(self, second):
        """To the last second of this month, or the first of the next."""
        first_next = (self.now.replace(day=28) + timedelta(days=4)).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        self.now = max(self.now, first_next + timedelta(seconds=second))

    @rule()
    def scan(self):
        self.practice = db.session.get(type(self.practice), self.practice.id)
        self.scans.append((self.now, self.practice.k_anonymity))
        scan(self.practice, self.now)

    # --- what everyone sees, and the invariant ---------------------------------------------------

    @invariant()
    def every_view_is_k_anonymous_alone_over_time_and_against_every_other(self):
        if not hasattr(self, "ledger"):
            return
        if not self.scans:
            return
        published_at, _ = self.scans[-1]
        months = anonymity.months_window(self.now)
        quarters = anonymity.quarters_of(months)
        seen = []
        for t in self.therapists:
            cells, texts = therapist_view(t, self.now)
            seen += [("anonymous", c, s) for c, s in cells.items()]
            for m, batch in texts.items():
                key = (t.id, months[m])
                got = Counter(batch)
                assert self.seen_comments.setdefault(key, got) == got, "a comment came or went"
        admin_cells = anonymity.practice_cells(self.practice.id, now=self.now, visibilities=ALL)[2]
        seen += [("all", c, s) for c, s in admin_cells.items()]
        for which, cell, s in seen:
            start, end = period_of(months, quarters, cell)
            key = (which, cell.scope, cell.kind, start)
            values = (s.clients, s.n, s.totals)
            if key in self.views:
                assert self.views[key][0] == values, f"published cell changed: {key}"
                continue
            vis = ANON if which == "anonymous" else ALL
            ids = self.ledger.contents((cell.scope, start, end, vis), published_at)
            rows = [r for r in self.ledger.rows if r["id"] in ids]
            k = self.scans[-1][1]  # a new cell appears right after the scan that published it
            assert len({r["client"] for r in rows}) == s.clients >= k and len(rows) == s.n >= k
            self.views[key] = (values, ids, k, end)
            SEEN_VIEWS[which] += 1
        self._no_two_views_isolate_fewer_than_k()

    def _no_container_minus_its_parts_isolates_fewer_than_k(self, by_id):
        """A quarter minus its shown months, a practice cell minus its shown therapists' cells."""
        for key, (_, ids, k, end) in self.views.items():
            which, scope, kind, start = key
            parts = [
                (v[1], v[2])
                for other, v in self.views.items()
                if other != key
                and nested((*other, v[3]), (*key, end))
                and (
                    (other[1] == scope and other[2] == "m" and kind == "q")
                    or (scope is None and other[1] is not None and other[2:] == (kind, start))
                )
            ]
            if len(parts) >= 2:
                union = frozenset().union(*(p[0] for p in parts))
                people = len({by_id[x] for x in ids ^ union})
                smallest = min([k, *(p[1] for p in parts)])
                assert people == 0 or people >= smallest, (key, people)

    def _no_two_views_isolate_fewer_than_k(self):
        by_id = {r["id"]: r["client"] for r in self.ledger.rows}
        self._no_container_minus_its_parts_isolates_fewer_than_k(by_id)
        items = list(self.views.items())
        for i, (key_a, (_, ids_a, k_a, end_a)) in enumerate(items):
            for key_b, (_, ids_b, k_b, end_b) in items[i + 1 :]:
                if not (
                    nested((*key_a, end_a), (*key_b, end_b))
                    or nested((*key_b, end_b), (*key_a, end_a))
                ):
                    continue  # disjoint periods, or admins' and therapists' different audiences
                # What one holds and the other not, either way (an erasure between two publications
                # leaves rows only in the older one).
                diff = ids_a ^ ids_b
                people = len({by_id[x] for x in diff})
                assert people == 0 or people >= min(k_a, k_b), (key_a, key_b, people)


def test_no_two_views_over_time_single_anyone_out(ctx):
    run_state_machine_as_test(
        AnonymityOverTime,
        settings=settings(
            max_examples=12,
            stateful_step_count=35,
            deadline=None,
            derandomize=True,  # the same few hundred steps on every run and in CI
            suppress_health_check=list(HealthCheck),
        ),
    )
    db.session.rollback()
    assert SEEN_VIEWS["anonymous"] >= 3 and SEEN_VIEWS["all"] >= 3, (
        SEEN_VIEWS
    )  # cells were published
