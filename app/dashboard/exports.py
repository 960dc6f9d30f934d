"""CSV exports of a therapist's named check-ins and weekly aggregates (audited by the view)."""

import csv
import io
from decimal import Decimal

from sqlalchemy import select

from ..extensions import db
from ..models import CheckIn, User

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """Neutralise spreadsheet formulas in text (CSV injection); numbers stay numbers, so -0.7 is -0.7."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv(header: list[str], rows) -> str:
    """Every text cell quoted, so a `;`-separated spreadsheet cannot split one at its semicolons."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def named_check_ins(therapist_id: int) -> str:
    """Every named check-in given to this therapist; anonymous ones never appear."""
    rows = db.session.execute(
        select(
            CheckIn.created_at,
            User.display_name,
            CheckIn.client_id,
            CheckIn.appointment_id,
            CheckIn.phase,
            CheckIn.safe,
            CheckIn.heard,
            CheckIn.understood,
            CheckIn.comment,
        )
        .join(User, User.id == CheckIn.client_id)
        .where(CheckIn.therapist_id == therapist_id, CheckIn.visibility == "named")
        .order_by(CheckIn.created_at)
        .execution_options(yield_per=1000)
    )
    header = [
        "created_at",
        "client",
        "client_id",
        "appointment_id",
        "phase",
        "safe",
        "heard",
        "understood",
        "comment",
    ]
    return _csv(header, ([r[0].isoformat(), *r[1:]] for r in rows))


def aggregates(weeks) -> str:
    header = [
        "week_start",
        "after_checkins",
        "mean_safe",
        "mean_heard",
        "mean_understood",
        "mean_prepost_change",
        "appointments",
        "answered",
        "response_rate_pct",
    ]
    return _csv(
        header,
        (
            [
                w.start.date().isoformat(),
                w.after_count,
                w.safe,
                w.heard,
                w.understood,
                w.prepost,
                w.appointments,
                w.answered,
                w.response_rate,
            ]
            for w in weeks
        ),
    )
