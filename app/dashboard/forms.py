"""The practice settings form: every bound checked here, so bad input is a 400 and nothing changes."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, TimeField
from wtforms.validators import InputRequired, NumberRange, Optional

LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}


def _int(label, lo, hi):
    return IntegerField(label, validators=[InputRequired(), NumberRange(min=lo, max=hi)])


class SettingsForm(FlaskForm):
    low_threshold = _int(_l("Low item: alert at or below"), 0, 10)
    drop_threshold = _int(_l("Drop from last time: alert at this many points"), 1, 10)
    mean_drop_threshold = _int(_l("Below their usual total: alert at this many points"), 1, 30)
    prepost_drop_threshold = _int(_l("Worse after than before: alert at this many points"), 1, 30)
    # SECURITY 39: k of at least 5.
    k_anonymity = _int(_l("Anonymity: smallest group of distinct clients (k)"), 5, 50)
    before_reminder_minutes = _int(_l("Before-session reminder (minutes before)"), 5, 24 * 60)
    after_reminder_minutes = _int(_l("After-session reminder (minutes after)"), 0, 24 * 60)
    nudge_hours = _int(_l("Nudge if still missing (hours after)"), 1, 71)
    quiet_start = TimeField(_l("Quiet hours start"), validators=[InputRequired()])
    quiet_end = TimeField(_l("Quiet hours end"), validators=[InputRequired()])
    locale = SelectField(_l("Language"))
    # DESIGN 4b: how long a passkey added through a recovery link sees nothing older (1 h to 30 days);
    # left out of a post, it stays as it is.
    recovery_hold_hours = IntegerField(
        _l("Recovery hold (hours)"), validators=[Optional(), NumberRange(min=1, max=720)]
    )

    def __init__(self, *args, languages: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = [(code, LANGUAGE_NAMES.get(code, code)) for code in languages]

    def values(self) -> dict:
        data = {name: self[name].data for name in self._fields if name not in ("csrf_token",)}
        data["quiet_start_minute"] = _minutes(data.pop("quiet_start"))
        data["quiet_end_minute"] = _minutes(data.pop("quiet_end"))
        if data["recovery_hold_hours"] is None:
            del data["recovery_hold_hours"]
        return data


def _minutes(t) -> int:
    return t.hour * 60 + t.minute


def initial(practice) -> dict:
    from datetime import time

    from .admin import SETTINGS

    minutes = ("quiet_start_minute", "quiet_end_minute")
    data = {name: getattr(practice, name) for name in SETTINGS if name not in minutes}
    data["quiet_start"] = time(*divmod(practice.quiet_start_minute, 60))
    data["quiet_end"] = time(*divmod(practice.quiet_end_minute, 60))
    return data
