from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..i18n import language_choices
from .ceremonies import InputError, plain_text

ROLE_LABELS = {"client": _l("Client"), "therapist": _l("Therapist"), "admin": _l("Practice admin")}


def plain(form, field) -> None:
    """The same character rules as the JSON ceremonies (no NUL, control or lone surrogate)."""
    try:
        plain_text(field.data, field=field.name, limit=10_000)
    except InputError as err:
        raise ValidationError(str(err)) from err


class InviteForm(FlaskForm):
    role = SelectField(_l("Account type"))
    display_name = StringField(
        _l("Name or nickname (optional)"), validators=[Optional(), Length(max=80), plain]
    )

    def __init__(self, *args, roles: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        roles = sorted(roles, key=list(ROLE_LABELS).index)  # the usual one first: Therapist
        self.role.choices = [(r, ROLE_LABELS[r]) for r in roles]
        if self.role.data is None and (len(roles) == 1 or not self.is_submitted()):
            self.role.data = roles[0]  # an admin invites therapists far more often than admins


class RenameForm(FlaskForm):
    nickname = StringField(
        _l("Passkey name"), validators=[DataRequired(), Length(min=1, max=60), plain]
    )


class LanguageForm(FlaskForm):
    """The person's own language; empty follows the practice default."""

    locale = SelectField(_l("Language"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = [("", _l("Practice default")), *language_choices()]
