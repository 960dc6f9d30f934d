"""Practice admin views: overview, therapists, settings, audit log."""

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..inputs import int_arg
from ..models import AuditEvent, User, utcnow
from ..web_session import login_required
from . import admin, anonymity, bp, pages
from .forms import SettingsForm, initial

AUDIT_PAGE = 100


@bp.get("/admin", endpoint="admin")
@login_required("admin")
def admin_home():
    """Practice-wide aggregates (k-anonymous across therapists) and links to the admin pages."""
    return render_template(
        "dashboard/admin.html", **pages.admin_overview(g.user.practice, now=utcnow())
    )


@bp.get("/admin/therapists")
@login_required("admin")
def therapists():
    return render_template("dashboard/therapists.html", people=admin.staff(g.user.practice_id))


@bp.post("/admin/users/<int:user_id>/deactivate")
@login_required("admin")
def deactivate(user_id):
    person = db.session.get(User, user_id)
    if person is None or person.practice_id != g.user.practice_id or person.role == "client":
        abort(404, _("We could not find that account."))
    if person.id == g.user.id:
        abort(400, _("You cannot deactivate your own account."))
    admin.deactivate(person, by=g.user, now=utcnow())
    db.session.commit()
    flash(_("%(name)s can no longer sign in.", name=person.display_name))
    return redirect(url_for("dashboard.therapists"))


@bp.route("/admin/settings", methods=["GET", "POST"])
@login_required("admin")
def settings():
    practice = g.user.practice
    form = SettingsForm(
        data=None if request.method == "POST" else initial(practice),
        languages=current_app.config["LANGUAGES"],
    )
    if form.validate_on_submit():
        changed = admin.update_settings(practice, form.values(), by=g.user)
        db.session.commit()
        if "k_anonymity" in changed:  # the stored cells were published under the old k
            anonymity.refresh(practice, now=utcnow())
            db.session.commit()
        flash(_("Practice settings saved."))
        return redirect(url_for("dashboard.settings"))
    status = 400 if form.is_submitted() else 200
    return render_template("dashboard/settings.html", form=form), status


@bp.get("/admin/audit")
@login_required("admin")
def audit_log():
    before = int_arg("before")
    query = select(AuditEvent, User.display_name).outerjoin(User, User.id == AuditEvent.actor_id)
    query = query.where(AuditEvent.practice_id == g.user.practice_id)
    if before:
        query = query.where(AuditEvent.id < before)
    rows = db.session.execute(query.order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE)).all()
    more = rows[-1][0].id if len(rows) == AUDIT_PAGE else None
    return render_template("dashboard/audit.html", rows=rows, more=more)
