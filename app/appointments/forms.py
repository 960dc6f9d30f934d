from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, RadioField, SelectField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, NumberRange

SCOPES = [
    SelectChoice("this", _l("Only this one")),
    SelectChoice("following", _l("This and the following ones")),
]


class ScheduleForm(FlaskForm):
    client_id = SelectField(_l("Client"), coerce=int, validators=[InputRequired()])
    date = DateField(_l("Date"), validators=[DataRequired()])
    time = TimeField(_l("Start time"), validators=[DataRequired()])
    duration = IntegerField(
        _l("Duration (minutes)"), default=50, validators=[InputRequired(), NumberRange(5, 600)]
    )
    weeks = IntegerField(
        _l("Weekly, for how many weeks"),
        default=1,
        validators=[InputRequired(), NumberRange(1, 52)],
    )


class EditForm(FlaskForm):
    date = DateField(_l("Date"), validators=[DataRequired()])
    time = TimeField(_l("Start time"), validators=[DataRequired()])
    duration = IntegerField(
        _l("Duration (minutes)"), validators=[InputRequired(), NumberRange(5, 600)]
    )
    scope = RadioField(_l("Change"), choices=SCOPES, default="this")


class CancelForm(FlaskForm):
    scope = RadioField(_l("Cancel"), choices=SCOPES, default="this")
