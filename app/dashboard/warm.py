"""Once per process, before the first request: what the first render of a page would otherwise pay for.

A new process (gunicorn starts one per worker, and recycles them after `max_requests`) used to spend
on its first dashboard render about 110 ms compiling templates, 60 ms reading the scripts' messages for
the page's JS catalogue and loading each language's catalogue and CLDR data, and 30 ms compiling the
render's SQL: 3 to 8 times a warm render (issue 12 wants the first render after start within 2x of a
warm one). So when the app is created in a server process (not under the `flask` command: its
`db upgrade` may run before any table exists, and its other commands render no page):

- every template is compiled and every language's messages, date formats and plural forms loaded;
- the dashboard, client page and admin page gather their data once for nobody (ids that
  match no row), which compiles and caches their statements on the engine and opens a connection;
  then two requests go through the whole stack (an HTML page, compressed; a dashboard request with
  a session token that matches no session, which is sent to sign in), so the request hooks, the
  session lookup and the compressor are ready too. It reads only; if the database cannot answer
  yet, the first request compiles what is left instead;
- if nothing is published yet (a first start, a fresh restore), the periodic pass's publishing runs
  once, so the pages do not say "not published yet" until the first pass (`PUBLISH_ON_START`);
- the admin overview's published cells (every therapist's: the largest set a page reads) of the
  newest practices are loaded into the app's cache, and so are each active therapist's own window
  and comments of the newest of them (two statements a practice, at most half the cache); the
  statement that checks they are still current (`snapshots.stamp`) is compiled.

Tests create an app per test and skip all this (`WARM_UP`, default: on unless TESTING); the bench
turns it on, as a server has it.
"""

import logging
from datetime import UTC, datetime

import click
from flask import Flask
from flask_babel import force_locale, get_translations
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from ..i18n import format_many, format_when, js_messages, plural_samples
from ..models import Practice, PublishedPeriod, User, utcnow
from . import anonymity, pages, snapshots
from .cli import refresh_all

log = logging.getLogger(__name__)
NOBODY = 0  # no row has id 0: the warm-up's queries match nothing
WARM_PRACTICES = 50  # practices whose admin cells a new process loads before its first request


def init_app(app: Flask) -> None:
    on = app.config.get("WARM_UP", not app.config.get("TESTING"))
    if on and click.get_current_context(silent=True) is None:  # a server, not a `flask` command
        warm(app)
        if warm_statements(app):
            if app.config.get("PUBLISH_ON_START", True):
                publish_if_nothing_is(app)
            warm_admin_cells(app)


def warm(app: Flask) -> None:
    """Compile every template and load every language's messages and date formats."""
    for name in app.jinja_env.list_templates(extensions=["html"]):
        app.jinja_env.get_template(name)
    js_messages(app.static_folder)
    moment = datetime(2000, 1, 3, 9, tzinfo=UTC)
    with app.test_request_context():
        for language in app.config["LANGUAGES"]:
            with force_locale(language):
                get_translations()
                format_when(moment, "MMMEd", clock=True)
                format_many([moment], "MMMEd", clock=True)  # the pages' tables and charts
                format_many([moment], "MMMd")
                plural_samples(language)  # every signed-in page's unsent-check-ins warning


def warm_statements(app: Flask) -> bool:
    """Run the pages' reads for ids that match nothing (transient objects, never added or written);
    False when the database could not answer them."""
    therapist = User(id=NOBODY, practice_id=NOBODY, role="therapist", time_zone="UTC")
    client = User(id=NOBODY, practice_id=NOBODY, role="client", push_chosen=False)
    client.remind_before = client.remind_after = client.remind_nudge = False
    practice = Practice(id=NOBODY)
    with app.test_request_context():
        now = utcnow()
        try:
            pages.my_client(therapist, NOBODY)
            pages.dashboard(therapist, now=now)
            # Nobody has a shown month, so the dashboard read no comments: read them for one. A
            # therapist's comments are read once per process (then cached), by their first render.
            snapshots.load_comments(NOBODY, anonymity.months_window(now), [0])
            pages.client_page(therapist, client, now=now)
            pages.admin_overview(practice, now=now)
            # A first read of published cells loads them (which yields their stamp); every later
            # render asks for the stamp alone, so compile that statement too.
            snapshots.stamp(NOBODY, "anonymous", now)
        except DBAPIError as error:  # no schema yet, or the database is not up: nothing to warm
            log.info("dashboard statements not warmed: %s", type(error.orig).__name__)
            return False
        finally:
            db.session.rollback()
            db.session.remove()
    visitor = app.test_client()
    visitor.get("/offline", headers={"Accept-Encoding": "br, gzip"})
    with visitor.session_transaction() as cookie:
        cookie["sid"] = "warm-up: matches no session"
    visitor.get("/dashboard", headers={"Accept-Encoding": "br, gzip"})
    return True


def warm_admin_cells(app: Flask) -> int:
    """Load the admin overview's published cells of the WARM_PRACTICES newest practices into this
    app's cache (snapshots.cached_window) and return how many. They are every therapist's cells, the
    most a first render reads: without them the first /admin of a process took about 2x a warm one
    at a million check-ins (issue 12). The therapists' own windows and comments of the newest of them
    too, as long as they fill at most half the cache (`warm_therapist_cells`). Reads only; a database
    that cannot answer is left for later."""
    with app.test_request_context():
        try:
            practices = db.session.scalars(
                select(Practice).order_by(Practice.id.desc()).limit(WARM_PRACTICES)
            ).all()
            now = utcnow()
            for practice in practices:
                pages.admin_overview(practice, now=now)
            warm_therapist_cells([p.id for p in practices], now=now)
            return len(practices)
        except DBAPIError as error:
            log.info("admin cells not warmed: %s", type(error.orig).__name__)
            return 0
        finally:
            db.session.rollback()
            db.session.remove()


def warm_therapist_cells(practice_ids: list[int], *, now: datetime) -> int:
    """Every active therapist's published window and comments of the first practices listed, two
    statements a practice, while they fill at most half of the cache (snapshots.CACHE_LIMIT): a
    therapist's first render after start otherwise read them itself, about a third of the time it
    took over a warm one (issue 12). Returns the cache entries written."""
    months = anonymity.months_window(now)
    quarters = anonymity.quarters_of(months)
    room, written = snapshots.CACHE_LIMIT // 2, 0
    for practice_id in practice_ids:
        therapists = db.session.scalars(
            select(User.id).where(
                User.practice_id == practice_id, User.role == "therapist", User.active.is_(True)
            )
        ).all()
        if written + 2 * len(therapists) > room:
            break
        written += snapshots.preload_therapists(practice_id, therapists, months, quarters)
    return written


def publish_if_nothing_is(app: Flask) -> int:
    """When no period is published at all, publish every practice's ended periods now (the periodic
    pass's own function; returns how many practices). Workers starting together race harmlessly: one
    publishes, the others meet the unique constraint and roll back (`refresh_all`)."""
    with app.app_context():
        try:
            if db.session.scalar(select(PublishedPeriod.id).limit(1)) is not None:
                return 0
            return refresh_all()
        except DBAPIError as error:  # the server starts anyway; the next periodic pass publishes
            log.warning("nothing published at start: %s", type(error.orig).__name__)
            db.session.rollback()
            return 0
        finally:
            db.session.remove()
