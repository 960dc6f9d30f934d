import os
import re

from flask import current_app, g, redirect, render_template, request, send_file, url_for
from flask_babel import lazy_gettext as _l

from ..extensions import db
from . import assets, bp, onboarding

STATIC_URL = re.compile(r'"(/static/[^"]+)"')
HOME_BY_ROLE = {
    "client": "checkins.home",
    "therapist": "dashboard.index",
    "admin": "dashboard.admin",
}


def _home_endpoint(user) -> str:
    endpoint = HOME_BY_ROLE[user.role]
    return endpoint if endpoint in current_app.view_functions else "core.index"


@bp.get("/")
def index():
    """Send each person to their first screen; visitors see the welcome page.

    Sign-up lands here with `welcome=1`: the two optional steps (install, reminders) come first.
    """
    if g.user is None:
        return render_template("core/welcome.html")
    home = _home_endpoint(g.user)
    if request.args.get("welcome"):
        return render_template("core/next_steps.html", home=url_for(home))
    if home != "core.index":
        return redirect(url_for(home))
    return render_template("core/home.html")


@bp.get("/manifest.json")
def manifest():
    path = os.path.join(current_app.root_path, "..", "manifest.json")
    g.shell_page = True
    response = send_file(os.path.abspath(path), mimetype="application/manifest+json", max_age=3600)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/sw.js")
def service_worker():
    """Served from the root so its scope is `/`; no-cache so updates arrive on the next visit."""
    g.shell_page = True
    with open(os.path.join(current_app.static_folder, "sw.js"), encoding="utf-8") as fh:
        source = fh.read()
    # Precache and importScripts the content-hashed names the pages use (app/core/assets.py); a new deploy
    # changes these bytes, so browsers install the new worker and it fetches the new shell.
    body = STATIC_URL.sub(lambda m: f'"{assets.hashed_url(current_app, m.group(1))}"', source)
    response = current_app.response_class(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/offline")
def offline():
    """The page the service worker shows when a navigation fails; it holds no personal data."""
    g.shell_page = True
    response = current_app.make_response(render_template("core/offline.html", shell=True))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/healthz")
def health():
    db.session.execute(db.text("SELECT 1"))
    return {"status": "ok"}


NAV = {
    "client": [
        ("checkins.home", _l("Check in")),
        ("checkins.history", _l("My check-ins")),
        ("auth.account", _l("Settings")),
    ],
    "therapist": [
        ("dashboard.index", _l("Dashboard")),
        ("appointments.index", _l("Appointments")),
        ("auth.invite_people", _l("Invite")),
        ("auth.account", _l("Account")),
    ],
    "admin": [
        ("dashboard.admin", _l("Practice")),
        ("auth.invite_people", _l("Invite")),
        ("auth.account", _l("Account")),
    ],
}


@bp.app_context_processor
def navigation():
    def nav_links():
        if g.get("user") is None:
            return []
        known = current_app.view_functions
        return [(e, str(label)) for e, label in NAV[g.user.role] if e in known]

    def offer_again():
        """On a person's home page: whether the later offer of skipped steps may come now."""
        user = g.get("user")
        if user is None or request.endpoint != _home_endpoint(user):
            return None
        return {"ready": onboarding.offer_again_ready(user)}

    return {"nav_links": nav_links, "offer_again": offer_again}
