"""app/charts.py, the one chart module of the dashboard and the client's history: accessible, CSP-safe,
one point per value, gaps where a value is missing."""

from types import SimpleNamespace

from app.charts import Series, item_chart, line_chart


def test_chart_has_role_label_points_and_no_inline_style():
    svg = str(
        line_chart(
            ["a", "b", "c", "d"],
            [Series("Safe", "s1", [9.0, None, 8.5, 7.0]), Series("Heard", "s2", [None] * 4)],
            lo=0,
            hi=10,
            label='Weekly "means"',
        )
    )
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert 'aria-label="Weekly &#34;means&#34;"' in svg
    assert svg.count("<circle") == 3 and "<title>Safe: 8.5</title>" in svg
    assert svg.count("<polyline") == 1  # the gap splits the line; a lone point has no line
    assert "style=" not in svg and "<script" not in svg


def test_chart_escapes_labels():
    svg = str(line_chart(["<b>"], [Series("<i>", "s1", [1])], lo=0, hi=10, label="x"))
    assert "<b>" not in svg and "<i>" not in svg


def test_item_chart_draws_safe_heard_understood_with_a_gap_for_a_missing_row(in_request):
    rows = [SimpleNamespace(safe=3, heard=2, understood=2), None]
    svg = str(item_chart(["1 Dec", "8 Dec"], rows, "x"))
    assert svg.count("<circle") == 3 and svg.count("<polyline") == 0
    assert "<title>Safe: 3</title>" in svg and "<title>Understood: 2</title>" in svg
    assert 'class="pt s1"' in svg and 'class="pt s3"' in svg
