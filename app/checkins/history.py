"""The client's history by session (issue 11.4).

A before-answer and an after-answer of one appointment belong together, and a before-answer is about the
weeks since the last session while an after-answer is about the session itself. Drawn as one line in time
order, 3/2/2 after a session followed by 9/9/10 before the next looks like improvement, so the chart has
one panel per phase over the session's date, and every answer is shown with the session it belongs to.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from markupsafe import Markup

from ..charts import item_chart
from ..i18n import format_when
from ..models import CheckIn

CHART_SESSIONS = 20


@dataclass(frozen=True)
class Session:
    """One column of the history: an appointment, or an unscheduled check-in standing on its own."""

    starts_at: datetime | None  # None: the check-in was not for a scheduled appointment
    before: CheckIn | None
    after: CheckIn | None

    @property
    def when(self) -> datetime:
        """Where the session stands on the x axis: the appointment's start, else the answer's time."""
        return self.starts_at or (self.before or self.after).created_at

    @property
    def answers(self) -> list[CheckIn]:
        return [c for c in (self.before, self.after) if c is not None]


def by_session(check_ins: Iterable[CheckIn]) -> list[Session]:
    """Group check-ins by appointment, oldest session first (ties: the answers' own order)."""
    scheduled: dict[int, dict[str, CheckIn]] = {}
    sessions = []
    for c in check_ins:
        if c.appointment_id is None or c.appointment is None:
            alone = {c.phase: c}
            sessions.append(Session(None, alone.get("before"), alone.get("after")))
        else:
            scheduled.setdefault(c.appointment_id, {})[c.phase] = c
    for phases in scheduled.values():
        starts_at = next(iter(phases.values())).appointment.starts_at
        sessions.append(Session(starts_at, phases.get("before"), phases.get("after")))
    return sorted(sessions, key=lambda s: (s.when, min(c.created_at for c in s.answers)))


def panels(sessions: list[Session], *, last: int = CHART_SESSIONS) -> list[tuple[str, Markup]]:
    """(title, SVG) for the before and the after answers of the `last` sessions on one x axis; a phase
    with no answer among them has no panel."""
    shown = sessions[-last:]
    labels = [format_when(s.when, "MMMd") for s in shown]
    before = [s.before for s in shown]
    after = [s.after for s in shown]
    out = []
    if any(before):
        label = _("Before-session answers by session date")
        out.append((_("Before the session"), item_chart(labels, before, label)))
    if any(after):
        label = _("After-session answers by session date")
        out.append((_("After the session"), item_chart(labels, after, label)))
    return out
