"""Dates and times are written the way each language writes them (issue 13 item 4), not in one fixed order."""

from datetime import UTC, datetime

import pytest
from flask_babel import force_locale

from app.i18n import format_when

MOMENT = datetime(2026, 11, 9, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("locale", "day", "with_clock"),
    [
        ("en", "Nov 9, 2026", "Mon, Nov 9, 2:05\u202fPM"),
        ("de", "9. Nov. 2026", "Mo., 9. Nov., 14:05"),
        ("fr", "9 nov. 2026", "lun. 9 nov., 14:05"),
        ("es", "9 nov 2026", "lun, 9 nov, 14:05"),
        ("ar", "9 نوفمبر 2026", "الاثنين، 9 نوفمبر، 2:05 م"),
    ],
)
def test_each_language_orders_its_own_dates(in_request, locale, day, with_clock):
    with force_locale(locale):
        assert format_when(MOMENT, "yMMMd") == day
        assert format_when(MOMENT, "MMMEd", clock=True) == with_clock


@pytest.mark.parametrize("locale", ["en", "de", "fr", "es", "ar"])
def test_the_charts_numbers_are_written_as_format_decimal_writes_them(in_request, locale):
    """The charts write their numbers with i18n.decimal_writer (the pattern looked up once per
    chart): the same text as Flask-Babel's format_decimal, including grouping and rounding."""
    from flask_babel import format_decimal

    from app.i18n import decimal_writer

    values = [0, 5, 10, -10, 7.3, 7.25, 2.0, 1234.5, 0.1234, 100]
    with force_locale(locale):
        number = decimal_writer()
        assert [number(v) for v in values] == [format_decimal(v) for v in values]
        assert number(1234.5) != "1234.5" or locale == "ar"


def test_templates_follow_a_language_forced_mid_request(in_request):
    """Templates look the catalogue up once per language object (i18n.catalogue), not per message: a
    push or notice rendered in its reader's language inside a page's request (force_locale) must still
    come out in that language, and the page's own language must come back after it."""
    from flask import render_template_string
    from flask_babel import gettext

    page = "{{ _('Needs attention') }}|{{ ngettext('%(num)d day', '%(num)d days', 3) }}"
    english = render_template_string(page)
    with force_locale("de"):
        german = render_template_string(page)
        assert german == f"{gettext('Needs attention')}|{gettext('%(num)d days', num=3)}"
    assert german != english and english == "Needs attention|3 days"
    assert render_template_string(page) == english
