"""The practice settings form, built from `settings.PRACTICE`: every bound is the one the database checks,
so bad input is a 400 and nothing changes."""

from datetime import time

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TimeField
from wtforms.validators import InputRequired, Length, NumberRange, StopValidation, ValidationError

from .. import settings
from ..auth.forms import plain
from ..i18n import language_choices
from ..reminders.forms import minutes

LANGUAGE_NAMES = dict(language_choices())


def field_name(setting: settings.Setting) -> str:
    """A time-of-day setting is a time field named without the `_minute` its column carries."""
    return setting.name.removesuffix("_minute") if setting.minute_of_day else setting.name


def sent(form, field) -> None:
    """A name not sent at all keeps the current one; one sent empty (or only spaces) is refused."""
    if not field.raw_data:
        raise StopValidation()
    if not field.data or not field.data.split():
        raise ValidationError(_l("Please give the practice a name."))


class SettingsForm(FlaskForm):
    """The practice's name, one field per practice setting (in `settings.PRACTICE` order), the language.

    Everyone invited reads the name on their invite ("Join ..."), so it is never empty nor hides characters.
    """

    name = StringField(_l("Practice name"), validators=[sent, Length(max=120), plain])

    def __init__(self, *args, languages: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = [(code, LANGUAGE_NAMES.get(code, code)) for code in languages]

    def values(self) -> dict:
        data = {s.name: _stored(s, self[field_name(s)].data) for s in settings.PRACTICE}
        data["locale"] = self.locale.data
        if self.name.raw_data:
            data["name"] = " ".join(self.name.data.split())
        return data


def _field(setting: settings.Setting):
    if setting.minute_of_day:
        return TimeField(setting.label, validators=[InputRequired()])
    bounds = NumberRange(min=setting.lo, max=setting.hi)
    return IntegerField(setting.label, validators=[InputRequired(), bounds])


for _setting in settings.PRACTICE:
    setattr(SettingsForm, field_name(_setting), _field(_setting))
SettingsForm.locale = SelectField(_l("Language"))


def _stored(setting: settings.Setting, value):
    return minutes(value) if setting.minute_of_day else value


def initial(practice) -> dict:
    """The form's data for the practice's current settings."""
    data = {field_name(s): _shown(s, getattr(practice, s.name)) for s in settings.PRACTICE}
    data["locale"] = practice.locale
    data["name"] = practice.name
    return data


def _shown(setting: settings.Setting, value):
    return time(*divmod(value, 60)) if setting.minute_of_day else value
