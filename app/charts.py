"""Server-rendered inline SVG charts for the dashboard and the client's history: no chart library, no
script, no `style=` (strict CSP).

The SVG scales to its container through `viewBox`, so it reads on a 360 px phone; colours come from CSS
classes in app.css and each series also has its own dash pattern, so colour is never the only cue. Every
chart has `role="img"` and an `aria-label`; the page puts a table next to it.

In a right-to-left language the time axis runs from the right (the first point on the right, the value
scale on the right edge). The SVG itself is drawn with `direction="ltr"` so `text-anchor` keeps its
geometric meaning; the mirroring is done here, in the coordinates.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from markupsafe import Markup, escape

from .i18n import decimal_writer, text_direction

W, H = 320, 180
LEFT, RIGHT, TOP, BOTTOM = 30, 8, 10, 26


ITEMS = ("safe", "heard", "understood")
ITEM_CSS = {"safe": "s1", "heard": "s2", "understood": "s3"}


@dataclass
class Series:
    name: str
    css: str  # s1, s2, s3: colour and dash in app.css
    values: list  # float | None per label


def item_chart(labels: list[str], rows: Sequence, label: str) -> Markup:
    """Safe, heard and understood from 0 to 10, one point per row; a row of None leaves a gap."""
    names = {"safe": _("Safe"), "heard": _("Heard"), "understood": _("Understood")}
    series = [
        Series(names[item], ITEM_CSS[item], [getattr(r, item, None) for r in rows])
        for item in ITEMS
    ]
    return line_chart(labels, series, lo=0, hi=10, label=label)


def line_chart(
    labels: list[str], series: list[Series], *, lo: float, hi: float, label: str
) -> Markup:
    """A line chart with one point per label; gaps where a value is None."""
    n = max(len(labels), 1)
    step = (W - LEFT - RIGHT) / max(n - 1, 1)
    rtl = text_direction() == "rtl"

    def x(i):
        return W - LEFT - i * step if rtl else LEFT + i * step

    def y(v):
        return TOP + (hi - v) / (hi - lo or 1) * (H - TOP - BOTTOM)

    parts = [
        f'<svg class="chart-svg" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg" focusable="false" direction="ltr">'
    ]
    number = decimal_writer()
    parts += _axes(labels, lo, hi, x, y, number, rtl=rtl)
    for s in series:
        parts += _series(s, x, y, number)
    parts.append("</svg>")
    return Markup("".join(parts))


def _axes(labels, lo, hi, x, y, number, *, rtl: bool = False) -> list[str]:
    out = []
    start, end = ("end", "start") if rtl else ("start", "end")
    x1, x2 = (RIGHT, W - LEFT) if rtl else (LEFT, W - RIGHT)
    scale_x = W - LEFT + 4 if rtl else LEFT - 4
    for v in (lo, (lo + hi) / 2, hi):
        yy = y(v)
        out.append(f'<line class="grid" x1="{x1}" x2="{x2}" y1="{yy:.1f}" y2="{yy:.1f}"/>')
        out.append(
            f'<text class="tick" x="{scale_x}" y="{yy + 3:.1f}" text-anchor="{end}">'
            f"{number(v)}</text>"
        )
    every = max(1, len(labels) // 4)
    last = len(labels) - 1
    for i, text in enumerate(labels):
        if i % every == 0 or i == last:
            anchor = start if i == 0 else end if i == last else "middle"
            out.append(
                f'<text class="tick" x="{x(i):.1f}" y="{H - 8}" text-anchor="{anchor}">{escape(text)}</text>'
            )
    return out


def _series(s: Series, x, y, number) -> list[str]:
    out = []
    runs, run = [], []
    for i, v in enumerate(s.values):
        if v is None:
            runs.append(run)
            run = []
        else:
            run.append((x(i), y(v), v, i))
    runs.append(run)
    for r in runs:
        if len(r) > 1:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py, _v, _i in r)
            out.append(f'<polyline class="line {s.css}" points="{points}" fill="none"/>')
    name = escape(s.name)
    for r in runs:
        for px, py, v, _i in r:
            out.append(
                f'<circle class="pt {s.css}" cx="{px:.1f}" cy="{py:.1f}" r="3.5">'
                f"<title>{name}: {number(v)}</title></circle>"
            )
    return out
