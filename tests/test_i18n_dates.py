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
