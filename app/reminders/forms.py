"""The reminder settings form: kinds on/off and quiet hours (DESIGN 1, Client 6)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, TimeField
from wtforms.validators import Optional


class ReminderSettingsForm(FlaskForm):
    remind_before = BooleanField(_l("Before each session"))
    remind_after = BooleanField(_l("After each session"))
    remind_nudge = BooleanField(_l("One more nudge the next day if I have not checked in"))
    quiet = BooleanField(_l("Quiet hours (no reminders at night)"))
    quiet_start = TimeField(_l("Quiet from"), validators=[Optional()])
    quiet_end = TimeField(_l("Quiet until"), validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if self.quiet.data and (self.quiet_start.data is None or self.quiet_end.data is None):
            self.quiet_start.errors.append(_l("Give both times, or turn quiet hours off."))
            return False
        if self.quiet.data and self.quiet_start.data == self.quiet_end.data:
            self.quiet_end.errors.append(_l("Quiet hours must end at a different time."))
            return False
        return True


def minutes(moment) -> int:
    return moment.hour * 60 + moment.minute


def apply(form: ReminderSettingsForm, user) -> None:
    """Copy the form onto `user`; quiet hours off is stored as start == end == 0."""
    user.remind_before = form.remind_before.data
    user.remind_after = form.remind_after.data
    user.remind_nudge = form.remind_nudge.data
    if form.quiet.data:
        user.quiet_start_minute = minutes(form.quiet_start.data)
        user.quiet_end_minute = minutes(form.quiet_end.data)
    else:
        user.quiet_start_minute = user.quiet_end_minute = 0
