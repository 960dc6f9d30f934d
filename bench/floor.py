"""The durable-write floor: a bare Flask + Flask-SQLAlchemy endpoint that stores the same check-in row
with a unique (client, key), flush then commit, on the same database settings as Attune (issue 12).

    gunicorn --workers 2 'bench.floor:create_app()'     # DATABASE_URL names the database

No session, CSRF, validation or alert rules: what is left is the cost of one durable ORM insert through
the same stack, the most a check-in could ever do per second here.
"""

import os
from datetime import UTC, datetime

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class FloorCheckIn(db.Model):
    __tablename__ = "floor_check_in"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(Integer)
    therapist_id: Mapped[int | None] = mapped_column(Integer)
    appointment_id: Mapped[int | None] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(8))
    safe: Mapped[int] = mapped_column(Integer)
    heard: Mapped[int] = mapped_column(Integer)
    understood: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(12), default="named")
    idempotency_key: Mapped[str] = mapped_column(String(64))
    body_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("client_id", "idempotency_key"),)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """The same pragmas as app/__init__.py: WAL, synchronous=FULL, a busy timeout."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=5000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    db.init_app(app)

    @app.get("/healthz")
    def healthz():  # what live_server.Server polls before it hands the server over
        return "ok"

    @app.post("/floor")
    def store():
        body = request.get_json()
        now = datetime.now(UTC).replace(tzinfo=None)
        row = FloorCheckIn(
            client_id=int(request.headers.get("X-Client", "1")),
            phase=body["phase"],
            safe=body["safe"],
            heard=body["heard"],
            understood=body["understood"],
            comment=body.get("comment", ""),
            visibility=body.get("visibility", "named"),
            idempotency_key=body["idempotency_key"],
            body_hash="0" * 64,
            created_at=datetime.fromisoformat(body["created_at"]).replace(tzinfo=None),
            received_at=now,
        )
        db.session.add(row)
        db.session.flush()
        stored = row.id
        db.session.commit()
        return jsonify(id=stored), 201

    return app


def create_tables(url: str) -> None:
    os.environ.setdefault("DATABASE_URL", url)
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)
    with app.app_context():
        db.create_all()
        db.engine.dispose()
