"""The check-in POST's session fast path (issue 12) keeps every session rule of the ORM path.

`POST /api/check-ins` reads the session and its user as plain columns (web_session.columns_only): these
tests make sure that shortcut still refuses revoked, timed-out and deactivated sessions, still counts the
request as activity, and does not drift back to loading the user's ORM graph with its passkeys.
"""

import json
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, CareLink, CheckIn, UserSession
from app.web_session import TOUCH_EVERY
from tests import factories
from tests.checkins.helpers import body, people
from tests.checkins.test_statement_budget import traffic, writes

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def signed_in(app, client):
    with app.app_context():
        _practice, _therapist, person = people()
        factories.sign_in(client, person)
        return person.id


def stored(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(CheckIn.id)))


def session_row(app) -> UserSession:
    with app.app_context():
        row = db.session.scalar(select(UserSession))
        db.session.expunge(row)
        return row


def test_the_check_in_post_reads_no_passkeys_and_no_whole_user_row(app, client):
    signed_in(app, client)
    assert client.post("/api/check-ins", json=body()).status_code == 201  # warm
    with traffic(app) as seen:
        res = client.post("/api/check-ins", json=body())
    assert res.status_code == 201, res.get_json()
    text = "\n".join(seen.statements).lower()
    # The ORM user load reads every column (webauthn_user_id among them) and joined the passkeys.
    assert "credential" not in text.replace("credential_id", ""), text
    assert "webauthn_user_id" not in text, text


def test_a_revoked_session_cannot_check_in(app, client):
    signed_in(app, client)
    with app.app_context():
        db.session.scalar(select(UserSession)).revoked_at = START
        db.session.commit()
    res = client.post("/api/check-ins", json=body())
    assert res.status_code == 401
    assert stored(app) == 0


def test_a_deactivated_client_cannot_check_in(app, client):
    user_id = signed_in(app, client)
    with app.app_context():
        db.session.get(factories.User, user_id).active = False
        db.session.commit()
    assert client.post("/api/check-ins", json=body()).status_code == 401
    assert stored(app) == 0


def test_an_idle_session_times_out_on_the_check_in_post_and_stays_dead(app, client):
    with time_machine.travel(START, tick=False) as clock:
        signed_in(app, client)
        clock.shift(timedelta(days=30, minutes=1))
        assert client.post("/api/check-ins", json=body()).status_code == 401
        assert session_row(app).revoked_at is not None
        clock.shift(timedelta(minutes=1))
        assert client.post("/api/check-ins", json=body()).status_code == 401
    assert stored(app) == 0


def resign_cookie(client) -> None:
    """Sign the cookie again now, as a page load does: the cookie's own 180-day lifetime would
    otherwise end the session before the server-side rule is reached."""
    with client.session_transaction() as s:
        s["sid"] = s["sid"]


def test_the_absolute_timeout_holds_on_the_check_in_post_even_when_active(app, client):
    with time_machine.travel(START, tick=False) as clock:
        signed_in(app, client)
        for _ in range(6):  # active every 29 days: never idle, yet 180 days after sign-in it ends
            clock.shift(timedelta(days=29))
            resign_cookie(client)
            assert client.post("/api/check-ins", json=body()).status_code == 201
        clock.shift(timedelta(days=180 - 6 * 29, minutes=1))
        assert client.post("/api/check-ins", json=body()).status_code == 401
        assert session_row(app).revoked_at == START + timedelta(days=180, minutes=1)
    assert stored(app) == 6


def test_a_fresh_session_is_not_written_and_a_stale_one_is_touched(app, client):
    with time_machine.travel(START, tick=False) as clock:
        signed_in(app, client)
        clock.shift(TOUCH_EVERY / 2)
        assert client.post("/api/check-ins", json=body()).status_code == 201
        assert session_row(app).last_seen_at == START  # within TOUCH_EVERY: no write
        clock.shift(TOUCH_EVERY)
        assert client.post("/api/check-ins", json=body()).status_code == 201
        assert session_row(app).last_seen_at == START + TOUCH_EVERY * 3 / 2


def test_an_error_on_the_fast_path_speaks_the_practices_language(app, client):
    """Locale selection reads `user.practice`, which the columns do not hold: it must still be found."""
    with app.app_context():
        practice = factories.practice(locale="de")
        _practice, _therapist, person = people(practice)
        factories.sign_in(client, person)
    res = client.post("/api/check-ins", json=body(safe=11))
    assert res.status_code == 422
    assert res.get_json()["field"] == "safe"
    assert "ganze Zahl" in res.get_json()["error"], res.get_json()


def test_the_body_is_parsed_once_per_check_in(app, client, monkeypatch):
    """The input guard parses the JSON body; the view reuses that parse instead of reading it again."""
    signed_in(app, client)
    sent = json.dumps(body()).encode()
    parsed = []
    real = json.loads

    def counting(s, *args, **kwargs):
        if s == sent or s == sent.decode():
            parsed.append(s)
        return real(s, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    res = client.post("/api/check-ins", data=sent, content_type="application/json")
    assert res.status_code == 201, res.get_json()
    assert len(parsed) == 1


def cookie_of(app, client) -> str:
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


def test_a_remembered_cookie_still_expires_and_a_forged_one_is_still_refused(make_app):
    """Cookies whose signature checked out are remembered per process (web_session.SignedCookieSessions);
    the cookie's age is checked on every request all the same, and any other string is verified."""
    app = make_app(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=1)
    )  # shorter than the server's limits
    client, name = app.test_client(), app.config["SESSION_COOKIE_NAME"]
    with time_machine.travel(START, tick=False) as clock:
        signed_in(app, client)
        genuine = cookie_of(app, client)
        assert client.post("/api/check-ins", json=body()).status_code == 201  # now remembered
        forged = app.test_client()
        forged.set_cookie(name, genuine[:-2] + ("AA" if genuine[-2:] != "AA" else "BB"))
        assert forged.post("/api/check-ins", json=body()).status_code == 401
        clock.shift(timedelta(hours=1, seconds=1))
        replay = app.test_client()
        replay.set_cookie(name, genuine)
        assert replay.post("/api/check-ins", json=body()).status_code == 401
        assert session_row(app).revoked_at is None  # the server-side session itself is still live
    assert stored(app) == 1


def test_a_remembered_cookie_gives_each_request_its_own_session(app, client):
    """A request that changes its session (sign-out pops the token) leaves the next request with the
    same cookie unchanged: the remembered values are copied, never shared."""
    signed_in(app, client)
    header = f"{app.config['SESSION_COOKIE_NAME']}={cookie_of(app, client)}"
    with app.test_request_context("/", headers={"Cookie": header}) as ctx:
        first = app.session_interface.open_session(app, ctx.request)
        first.pop("sid")
        second = app.session_interface.open_session(app, ctx.request)
    assert "sid" in second
    assert client.get("/api/session").get_json()["signed_in"] is True


def test_csrf_still_reads_form_tokens_and_only_header_tokens_for_json(make_app):
    """The CSRF check skips parsing a JSON body as a form (security.HeaderFirstCSRF): a JSON request's
    token counts only in the header, another session's token never counts, and HTML forms still send
    theirs as a field."""
    app = make_app(WTF_CSRF_ENABLED=True)
    client, stranger = app.test_client(), app.test_client()
    signed_in(app, client)
    signed_in(app, stranger)
    token = client.get("/api/session").get_json()["csrf_token"]
    theirs = stranger.get("/api/session").get_json()["csrf_token"]
    in_body = client.post("/api/check-ins", json={**body(), "csrf_token": token})
    assert in_body.status_code == 400
    as_text = client.post(
        "/api/check-ins", data=json.dumps(body()), headers={"X-CSRFToken": theirs}
    )
    assert as_text.status_code == 400
    assert stored(app) == 0
    sent = client.post("/api/check-ins", json=body(), headers={"X-CSRFToken": token})
    assert sent.status_code == 201
    assert client.post("/signout", data={"csrf_token": theirs}).status_code == 400
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/session").get_json() == {"signed_in": False}


def test_the_care_link_read_with_the_session_is_the_current_one_with_its_thresholds(app, client):
    """The check-in route reads the client's care link in the session's statement
    (checkins.service.link_columns): the current therapist, never an ended link, and the thresholds of
    that therapist's practice (8 here: a score of 8 is 'low' there, not under the default 6)."""
    with app.app_context():
        old_practice, new_practice = factories.practice(), factories.practice(low_threshold=8)
        before = factories.user(old_practice, "therapist")
        now_ = factories.user(new_practice, "therapist")
        person = factories.user(old_practice, "client", therapist=now_)
        db.session.add(
            CareLink(therapist_id=before.id, client_id=person.id, ended_at=datetime.now(UTC))
        )
        db.session.commit()
        factories.sign_in(client, person)
        ids = before.id, now_.id
    res = client.post("/api/check-ins", json=body(safe=8, heard=9, understood=9))
    assert res.status_code == 201, res.get_json()
    with app.app_context():
        row = db.session.get(CheckIn, res.get_json()["id"])
        assert row.therapist_id == ids[1]
        alerts = db.session.execute(select(Alert.therapist_id, Alert.rule)).all()
        assert [tuple(a) for a in alerts] == [(ids[1], "low_item")]


def test_a_client_without_a_care_link_checks_in_to_nobody(app, client):
    with app.app_context():
        person = factories.user(factories.practice(), "client")
        factories.sign_in(client, person)
    res = client.post("/api/check-ins", json=body(safe=1))
    assert res.status_code == 201, res.get_json()
    with app.app_context():
        assert db.session.get(CheckIn, res.get_json()["id"]).therapist_id is None
        assert db.session.scalar(select(func.count(Alert.id))) == 0


def written_table(statement: str) -> str:
    """'INSERT check_in' or 'UPDATE user_session', also for an insert inside a WITH (PostgreSQL)."""
    words = statement.replace("(", " ").split()
    verb = next(w for w in words if w.upper() in ("INSERT", "UPDATE"))
    at = words.index(verb)
    return f"{verb.upper()} {words[at + 1] if verb.upper() == 'UPDATE' else words[at + 2]}"


def test_a_stale_sessions_touch_is_written_last_in_the_check_ins_transaction(app, client):
    """On SQLite the first write takes the database's write lock until commit: the touch goes out
    just before the commit, after the check-in's insert, so it never holds the lock for the whole view."""
    with time_machine.travel(START, tick=False) as clock:
        signed_in(app, client)
        clock.shift(TOUCH_EVERY * 2)
        with traffic(app) as seen:
            assert client.post("/api/check-ins", json=body()).status_code == 201
    (transaction,) = seen.commits
    changed = [written_table(s) for s in transaction if writes(s)]
    assert changed == ["INSERT check_in", "UPDATE user_session"], transaction
    assert session_row(app).last_seen_at == START + TOUCH_EVERY * 2
