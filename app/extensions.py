"""Extension objects, created once and bound to an app in `create_app`."""

import time

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase

from .security import HeaderFirstCSRF

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def render_item(type_, obj, autogen_context):
    """Write our UTCDateTime columns as plain DateTime in migrations, so they import nothing."""
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime()"
    return False


IDLE_SINCE = "attune_idle_since"  # key in a pool record's `info`: when the connection came back


def ping_when_idle(engine, idle_seconds: float, *, listen=event.listen) -> None:
    """Ping a pooled connection on checkout only when it sat idle longer than `idle_seconds`.

    `pool_pre_ping` pings on every checkout: one more round trip per request on PostgreSQL (issue 12).
    A connection back from a request a moment ago is almost surely alive; one idle for a while may
    have been cut by a restart or an idle timeout. A failed ping raises InvalidatePoolError: the pool
    drops this connection and every older one (a restart killed them all) and connects afresh, so the
    request or the reminder pass never sees the dead one (SQLAlchemy's "Dealing with Disconnects").
    """

    def returned(_dbapi_connection, record) -> None:
        if record is not None:  # None: detached or invalidated, so never checked out again
            record.info[IDLE_SINCE] = time.monotonic()

    def taken(dbapi_connection, record, _proxy) -> None:
        since = record.info.pop(IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as err:  # noqa: BLE001 - whatever broke it, a fresh connection is the answer
            raise InvalidatePoolError(f"idle connection failed its ping: {err}") from err

    listen(engine, "checkin", returned)
    listen(engine, "checkout", taken)


PLAN_EACH_TIME = "attune_plan_each_time"  # a statement's execution option: see plan_each_time


def plan_each_time(engine, *, listen=event.listen) -> None:
    """Let a statement marked `execution_options(attune_plan_each_time=True)` be planned by PostgreSQL
    for its own values every time, never from a cached generic plan.

    psycopg prepares a statement after its 5th run, and PostgreSQL then soon switches to a generic plan
    made without the values. For a range over bound timestamps it guesses 0.5 % of the rows: 6 where a
    therapist's 12 weeks hold 1,000, so it probes an index once per row (a nested loop) where a hash
    join is 2-3x faster (the dashboard's weekly figures, issue 12). Planning each time costs ~0.7 ms.
    """

    def execute(cursor, statement, parameters, context):
        if context.execution_options.get(PLAN_EACH_TIME):
            cursor.execute(statement, parameters, prepare=False)
            return True
        return None

    listen(engine, "do_execute", execute)


class PingingSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose PostgreSQL engines ping only connections idle past
    DATABASE_PING_IDLE_SECONDS (`ping_when_idle`) and plan marked statements each time
    (`plan_each_time`); SQLite has no server to lose and no plan cache, so its engines get neither."""

    def init_app(self, app) -> None:
        super().init_app(app)
        idle = app.config.get("DATABASE_PING_IDLE_SECONDS")
        with app.app_context():
            for engine in self.engines.values():
                if engine.dialect.name == "sqlite":
                    continue
                if idle is not None:
                    ping_when_idle(engine, float(idle))
                if engine.dialect.driver == "psycopg":
                    plan_each_time(engine)


db = PingingSQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True, render_item=render_item)
csrf = HeaderFirstCSRF()  # Flask-WTF's, without parsing a JSON body as a form (app/security.py)
limiter = Limiter(key_func=get_remote_address, default_limits=[])
babel = Babel()
