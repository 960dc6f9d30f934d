"""Every practice setting is written once (issue 8 item 3): the database, the form and the pages agree."""

import pathlib
import re

import pytest
from sqlalchemy.exc import IntegrityError
from wtforms.validators import NumberRange

from app import settings
from app.alerts.rules import Thresholds
from app.dashboard.forms import SettingsForm, field_name
from app.dashboard.suppression import Shown
from app.extensions import db
from app.reminders.rules import Timing
from tests import factories

TEMPLATES = pathlib.Path(__file__).resolve().parent.parent / "templates"
# A number next to the words that describe the anonymity threshold: it must come from the practice's k.
LITERAL_K = re.compile(
    r"(fewer than|at least|or more than)\s+\d+"
    r"|\d+\s+or more"
    r"|\d+\s+(different |distinct )?(clients|people|responses)",
    re.IGNORECASE,
)


def test_no_template_prints_a_literal_anonymity_threshold():
    found = [
        f"{path.relative_to(TEMPLATES)}:{n}: {line.strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if LITERAL_K.search(line)
    ]
    assert found == []


@pytest.mark.parametrize("setting", settings.PRACTICE, ids=lambda s: s.name)
def test_database_refuses_what_the_form_refuses(ctx, setting):
    """Each bound is checked by the database too; k's minimum is 5 in both (SECURITY 39)."""
    for bad in (setting.lo - 1, setting.hi + 1):
        with pytest.raises(IntegrityError), db.session.begin_nested():
            factories.practice(**{setting.name: bad})
    for good in (setting.lo, setting.hi):
        factories.practice(**{setting.name: good})


def test_k_minimum_is_five_everywhere():
    assert settings.BY_NAME["k_anonymity"].lo == settings.K_MIN == 5


def test_form_bounds_are_the_settings_bounds(app):
    with app.test_request_context():
        form = SettingsForm(languages=["en"], meta={"csrf": False})
        for setting in settings.PRACTICE:
            if setting.minute_of_day:
                continue
            (bounds,) = [v for v in form[field_name(setting)].validators if type(v) is NumberRange]
            assert (bounds.min, bounds.max) == (setting.lo, setting.hi), setting.name


def test_defaults_come_from_one_place(ctx):
    practice = factories.practice()
    assert {s.name: getattr(practice, s.name) for s in settings.PRACTICE} == {
        s.name: s.default for s in settings.PRACTICE
    }
    assert Thresholds() == Thresholds.of(practice)
    timing = Timing()
    assert (timing.before_minutes, timing.nudge_hours, timing.quiet_start) == (
        practice.before_reminder_minutes,
        practice.nudge_hours,
        practice.quiet_start_minute,
    )


def test_pages_print_the_practices_k(ctx, client):
    """With k = 7 the check-in page says 7."""
    practice = factories.practice(k_anonymity=7)
    person = factories.user(practice, "client")
    db.session.commit()
    factories.sign_in(client, person)
    page = client.get("/check-in").get_data(as_text=True)
    assert "totals of 7 or more clients" in page


def test_signed_out_check_in_shell_names_no_number(client):
    """Signed out, the practice (and so its k) is unknown: the wording promises no number."""
    page = client.get("/check-in").get_data(as_text=True)
    assert "totals of several clients" in page and "never on their own" in page


def test_a_shown_count_never_rounds_to_zero():
    """The dashboard prints 'about n' with no 'fewer than' case: a shown cell has at least K_MIN answers."""
    assert Shown(None, settings.K_MIN, settings.K_MIN, 0, 0, 0).n_rounded > 0
