"""CSV exports open safely in any spreadsheet (issue 10.6): numbers stay numbers, text never runs."""

import csv
import io
from datetime import UTC, datetime

from app.dashboard.exports import aggregates, cell
from app.dashboard.stats import Week


def test_negative_and_decimal_numbers_stay_numbers():
    week = Week(start=datetime(2026, 3, 2, tzinfo=UTC), safe=-0.7, prepost=-1.25, heard=None)
    week.after_count, week.appointments, week.answered = 3, 4, 3
    body = aggregates([week])
    header, row = body.splitlines()
    assert "'" not in body
    assert row == '"2026-03-02",3,-0.7,"","",-1.25,4,3,75'
    parsed = list(csv.reader(io.StringIO(body), quoting=csv.QUOTE_NONNUMERIC))
    assert parsed[1][2] == -0.7 and parsed[1][5] == -1.25


def test_text_is_quoted_and_formulas_are_neutralised():
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert cell(text) == "'" + text
    assert cell("plain; with semicolon") == "plain; with semicolon"
    assert cell(-3) == -3 and cell(2.5) == 2.5 and cell(None) == ""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_NONNUMERIC).writerow([cell("a;b"), cell(-0.7)])
    semicolon_reader = csv.reader(io.StringIO(out.getvalue()), delimiter=";")
    assert next(semicolon_reader) == ["a;b,-0.7"]  # the quoted text stays one cell under `;`
