"""A small server-rendered line chart (inline SVG) of the client's three scores over time."""

from dataclasses import dataclass

WIDTH, HEIGHT = 320, 160
LEFT, RIGHT, TOP, BOTTOM = 26, 8, 8, 22
SERIES = (("safe", "series-safe"), ("heard", "series-heard"), ("understood", "series-understood"))


@dataclass(frozen=True)
class Line:
    name: str
    css: str
    points: str
    dots: list[tuple[float, float]]


def _x(i: int, n: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return round(LEFT + (span * i / (n - 1) if n > 1 else span / 2), 1)


def _y(score: int) -> float:
    return round(TOP + (HEIGHT - TOP - BOTTOM) * (10 - score) / 10, 1)


def lines(check_ins, *, last: int = 20) -> list[Line]:
    """One polyline per score over the `last` check-ins, oldest left."""
    rows = list(check_ins)[:last][::-1]
    out = []
    for name, css in SERIES:
        dots = [(_x(i, len(rows)), _y(getattr(r, name))) for i, r in enumerate(rows)]
        out.append(Line(name, css, " ".join(f"{x},{y}" for x, y in dots), dots))
    return out


def grid() -> list[tuple[int, float]]:
    return [(score, _y(score)) for score in (0, 5, 10)]
