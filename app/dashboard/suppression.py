"""Complementary cell suppression for anonymous aggregates (DESIGN 4, SECURITY check 39).

Pure functions over per-(therapist, month, client) sums, so property tests can drive them directly.
A cell is shown only with >= k distinct clients and >= k check-ins; then, for every two shown cells where
one contains the other, the check-ins in the bigger one but not the smaller must cover 0 or >= k distinct
clients, and so must a container minus all its shown children of one family; otherwise the smaller cell
is hidden, pass after pass, until nothing changes.

Cells already published (`fixed`) are never hidden again (DESIGN 4: nothing shown may change): when one
takes part in a conflict, the new cell gives way, whichever of the two is the smaller.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple


class Atom(NamedTuple):
    """Sums of one client's after-check-ins with one therapist in one month."""

    therapist_id: int
    month: int  # index into the months list
    client_id: int
    n: int
    safe: int
    heard: int
    understood: int


class Cell(NamedTuple):
    """A named tuple rather than a dataclass: hashed in C, and publish hashes cells a lot."""

    scope: int | None  # therapist id, or None for the practice
    kind: str  # "m" or "q"
    index: int  # month index, or quarter index into quarters

    def months(self, quarters: list[list[int]]) -> list[int]:
        return [self.index] if self.kind == "m" else quarters[self.index]


@dataclass
class Shown:
    cell: Cell
    clients: int
    n: int
    safe: float
    heard: float
    understood: float
    totals: tuple = ()  # exact sums of safe, heard, understood (stored, never shown)

    @classmethod
    def of(cls, cell: Cell, clients: int, n: int, totals) -> "Shown":
        """A cell from its exact sums: means to one decimal, as shown."""
        return cls(cell, clients, n, *(round(v / n, 1) for v in totals), totals=tuple(totals))

    @property
    def n_rounded(self) -> int:
        """Counts are shown rounded down to a multiple of 5 (SECURITY 39); 0 reads 'fewer than 5'."""
        return self.n - self.n % 5


def publish(
    all_atoms: list[Atom],
    *,
    k: int,
    month_count: int,
    quarters: list[list[int]],
    fixed: frozenset = frozenset(),
    periods=None,
) -> dict[Cell, Shown]:
    """The cells that may be shown, with their numbers; every other cell reads 'not enough responses'.

    `fixed` cells are already shown and stay so; only cells of `periods` ((kind, index) pairs; every
    period when None) may be added.
    """
    groups = _groups(all_atoms, month_count, quarters)
    pairs = [(outer, inner) for inner in groups for outer in _containers(inner, quarters)]
    shown = {c for c in fixed if c in groups} | {
        c
        for c, g in groups.items()
        if (periods is None or (c.kind, c.index) in periods) and len(g.per_client) >= k and g.n >= k
    }
    while _suppress_pairs(shown, pairs, groups, k, fixed) | _suppress_residues(
        shown, pairs, groups, k, fixed
    ):
        pass
    return {c: groups[c].stats(c) for c in groups if c in shown}


@dataclass
class _Group:
    """One cell's check-ins, summed per client: enough to count and to take differences."""

    per_client: dict = field(default_factory=lambda: defaultdict(int))  # client -> check-ins
    n: int = 0
    sums: list = field(default_factory=lambda: [0, 0, 0])

    def add(self, a: Atom) -> None:
        self.per_client[a.client_id] += a.n
        self.n += a.n
        self.sums[0] += a.safe
        self.sums[1] += a.heard
        self.sums[2] += a.understood

    def stats(self, cell: Cell) -> Shown:
        return Shown.of(cell, len(self.per_client), self.n, self.sums)


def _groups(all_atoms, month_count, quarters) -> dict[Cell, _Group]:
    quarter_of = {m: qi for qi, q in enumerate(quarters) for m in q}
    groups = {}
    for a in all_atoms:
        cells = [Cell(None, "m", a.month), Cell(a.therapist_id, "m", a.month)]
        if a.month in quarter_of:
            q = quarter_of[a.month]
            cells += [Cell(None, "q", q), Cell(a.therapist_id, "q", q)]
        for c in cells:
            group = groups.get(c)
            if group is None:
                group = groups[c] = _Group()
            group.add(a)
    return groups


def _containers(cell: Cell, quarters) -> list[Cell]:
    """Every other cell that holds all of `cell`'s check-ins."""
    out = [Cell(None, cell.kind, cell.index)] if cell.scope is not None else []
    if cell.kind == "m":
        for qi, q in enumerate(quarters):
            if cell.index in q:
                out.append(Cell(cell.scope, "q", qi))
                if cell.scope is not None:
                    out.append(Cell(None, "q", qi))
    return out


def _gap(outer: _Group, inner_counts: dict) -> int:
    """Distinct clients with check-ins in `outer` but outside the inner part (inner is a subset)."""
    whole = outer.per_client
    covered = sum(1 for c, n in inner_counts.items() if whole.get(c) == n)
    return len(whole) - covered


def _suppress_pairs(shown, pairs, groups, k, fixed) -> bool:
    changed = False
    for outer, inner in pairs:
        if (
            outer in shown
            and inner in shown
            and 0 < _gap(groups[outer], groups[inner].per_client) < k
        ):
            loser = inner if inner not in fixed else outer
            if loser not in fixed:
                shown.discard(loser)
                changed = True
    return changed


def _suppress_residues(shown, pairs, groups, k, fixed) -> bool:
    """A container minus the union of its shown children must not isolate 1..k-1 clients."""
    children = defaultdict(list)
    for outer, inner in pairs:
        family = _family(outer, inner)
        if outer in shown and inner in shown and family:
            children[(outer, family)].append(inner)
    changed = False
    for (outer, _name), kids in sorted(children.items(), key=lambda it: _order(it[0][0])):
        if len(kids) < 2 or not all(c in shown for c in kids):
            continue
        union = defaultdict(int)  # children of one family are disjoint: counts add up
        for kid in kids:
            for client, n in groups[kid].per_client.items():
                union[client] += n
        if 0 < _gap(groups[outer], union) < k:
            movable = [c for c in kids if c not in fixed]
            if movable:
                shown.discard(min(movable, key=lambda c: (groups[c].n, _order(c))))
                changed = True
            elif outer not in fixed:
                shown.discard(outer)
                changed = True
    return changed


def _family(outer: Cell, inner: Cell) -> str:
    """Direct children come in two families: the therapists of one period, or the months of a quarter."""
    if (
        outer.scope is None
        and inner.scope is not None
        and (outer.kind, outer.index)
        == (
            inner.kind,
            inner.index,
        )
    ):
        return "therapists"
    if outer.scope == inner.scope and outer.kind == "q" and inner.kind == "m":
        return "months"
    return ""


def _order(c: Cell):
    return (c.scope is not None, c.scope or 0, c.kind, c.index)
