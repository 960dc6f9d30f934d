"""HTTP views (thin: parse, authorise, render)."""

import json

from flask import Response, g, redirect, render_template, request, session, url_for

from ..audit import record
from ..auth.recovery import visible_since
from ..auth.sessions import CLEAR_SITE_DATA
from ..extensions import db
from ..models import utcnow
from ..web_session import login_required
from . import bp, service


@bp.get("/account/export")
@login_required()
def export():
    """A JSON download of everything stored about the signed-in user; the export is audit-logged."""
    now = utcnow()
    data = service.export(g.user, now=now, since=visible_since(g.user_session))
    record(g.user, "export_own_data", target_type="user", target_id=g.user.id)
    db.session.commit()
    body = json.dumps(data, indent=2, ensure_ascii=False)
    filename = f"attune-export-{now:%Y-%m-%d}.json"
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.post("/account/delete")
@login_required("client")
def delete_account():
    """Step one shows what will go and asks again; step two (confirm=yes) erases and signs out.
    (A session whose past is locked by a recovery never gets here: app/auth/gate.py.)"""
    if request.form.get("confirm") != "yes":
        return render_template("privacy/confirm_delete.html")
    service.erase(g.user)
    db.session.commit()
    session.clear()
    response = redirect(url_for("core.index", deleted=1))
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response
