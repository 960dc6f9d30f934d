"""Right-to-left (issue 13.4): charts whose time axis runs from the right, CSS in logical properties,
numbers formatted for the page's language."""

import json
import re
from pathlib import Path

from flask_babel import force_locale

from app.charts import Series, line_chart

ROOT = Path(__file__).resolve().parents[1]
PHYSICAL = re.compile(
    r"(?<![-\w])(margin|padding|border)-(left|right)\b|(?<![-\w])(left|right)\s*:|text-align:\s*(left|right)"
)


def point_xs(svg: str) -> list[float]:
    return [float(x) for x in re.findall(r'<circle [^>]*cx="([\d.]+)"', svg)]


def chart(lang: str) -> str:
    with force_locale(lang):
        return str(
            line_chart(
                ["1", "2", "3"], [Series("s", "s1", [1.0, 2.5, 3.0])], lo=0, hi=10, label="x"
            )
        )


def test_time_axis_runs_from_the_right_in_arabic(in_request):
    ltr, rtl = point_xs(chart("en")), point_xs(chart("ar"))
    assert ltr == sorted(ltr) and rtl == sorted(rtl, reverse=True)
    assert rtl == [320 - x for x in ltr]  # a mirror image, same margins
    assert 'direction="ltr"' in chart("ar")  # anchors keep their geometric meaning


def test_chart_numbers_use_the_locale(in_request):
    assert "s: 2,5</title>" in chart("de")
    assert "s: 2.5</title>" in chart("en")


def test_stylesheets_use_logical_properties():
    offenders = [
        f"{css.name}:{n}: {line.strip()}"
        for css in sorted((ROOT / "static" / "css").glob("*.css"))
        for n, line in enumerate(css.read_text().splitlines(), 1)
        if PHYSICAL.search(line.split("/*")[0])
    ]
    assert offenders == []


def test_manifest_is_language_neutral():
    """One manifest serves every language: the name is the brand, with no English description."""
    manifest = json.loads((ROOT / "manifest.json").read_text())
    assert manifest["name"] == manifest["short_name"] == "Attune"
    assert "description" not in manifest and manifest.get("dir") == "auto"
