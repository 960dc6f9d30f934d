"""Each kind of input is read one way (app/inputs.py) and each failure answers cleanly (app/errors.py):
the 56 server errors of issue 10.1, one test per cause, on SQLite and PostgreSQL."""

import threading
from datetime import timedelta

import pytest
from flask import jsonify
from sqlalchemy import func, select, text

from app.extensions import db
from app.inputs import ID_MAX, MAX_JSON_DEPTH, depth, loads
from app.models import Appointment, Credential, Invite, User, utcnow
from tests import factories
from tests.auth.flows import make_invite
from tests.auth.softkey import SoftKey

DEEP = b"[" * 5000 + b"]" * 5000
PUSH_KEY = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"


def signed_in(client, role: str):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    me = {
        "therapist": therapist,
        "admin": factories.user(practice, "admin"),
        "client": factories.user(practice, "client", therapist=therapist),
    }[role]
    factories.sign_in(client, me)
    return me, therapist


def int_rules(app):
    return sorted(
        (rule.rule, sorted(rule.methods - {"HEAD", "OPTIONS"})[0])
        for rule in app.url_map.iter_rules()
        if any(type(c).__name__ == "DatabaseId" for c in rule._converters.values())
    )


# Path ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("big", [ID_MAX + 1, 2**63, 10**30, 0])
def test_ids_outside_the_column_range_are_404_on_every_route(ctx, client, big):
    signed_in(client, "admin")
    rules = int_rules(ctx)
    assert len(rules) >= 8, rules
    for rule, method in rules:
        path = "/".join(str(big) if "<" in part else part for part in rule.split("/"))
        for role in ("admin", "therapist"):
            signed_in(client, role)
            res = client.open(path, method=method)
            assert res.status_code == 404, (path, method, role, res.status_code)


def test_largest_id_still_reaches_the_view(ctx, client):
    signed_in(client, "therapist")
    assert client.get(f"/appointments/{ID_MAX}/edit").status_code == 404  # the view's own 404
    assert client.get(f"/clients/{ID_MAX}").status_code == 404


@pytest.mark.parametrize("before", [str(ID_MAX + 1), str(2**63), "-1", "abc", "1e9"])
def test_audit_before_is_a_bounded_whole_number(ctx, client, before):
    signed_in(client, "admin")
    res = client.get(f"/admin/audit?before={before}")
    assert res.status_code == 400
    assert "before must be a whole number" in res.get_data(as_text=True)


def test_audit_before_in_range_pages(ctx, client):
    signed_in(client, "admin")
    assert client.get(f"/admin/audit?before={ID_MAX}").status_code == 200
    assert client.get("/admin/audit?before=").status_code == 200


# JSON ----------------------------------------------------------------------------------------------


def test_loads_limits_depth_and_constants():
    assert loads(b"[" * 20 + b"]" * 20) == loads("[" * 20 + "]" * 20)
    for bad in (
        DEEP,
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
        b"NaN",
        b"[Infinity]",
    ):
        with pytest.raises(ValueError):
            loads(bad)
    assert depth({"a": [1, {"b": []}]}) == 4 and depth(5) == 0


def test_depth_counts_the_deepest_branch_of_lists_and_objects_only():
    assert depth("text") == depth(None) == depth(1.5) == 0
    assert depth([]) == depth({}) == depth([1, "a", None]) == depth({"a": 1, "b": "x"}) == 1
    assert depth([1, [2, [3]], {"a": {"b": {}}}]) == 4  # the deepest branch, not the first
    assert depth({"k": "[[[[not nested]]]]"}) == 1  # brackets inside a string are text
    nested = []
    for _ in range(MAX_JSON_DEPTH - 1):
        nested = [nested, {"x": 1}]
    assert depth(nested) == MAX_JSON_DEPTH


@pytest.mark.parametrize(
    "path", ["/api/auth/signin/verify", "/api/invite/TOKEN/options", "/api/invite/TOKEN/verify"]
)
def test_deep_json_on_public_endpoints_is_400_naming_it(ctx, client, path):
    path = path.replace("TOKEN", make_invite())
    res = client.post(path, data=DEEP, content_type="application/json")
    assert res.status_code == 400
    assert "nested" in res.get_json()["error"]


@pytest.mark.parametrize(
    "path,role",
    [
        ("/api/account/passkeys/verify", "client"),
        ("/api/account/time-zone", "client"),
        ("/api/push/subscriptions", "client"),
        ("/api/check-ins", "client"),
    ],
)
def test_deep_json_on_signed_in_endpoints_is_400(ctx, client, path, role):
    signed_in(client, role)
    res = client.post(path, data=DEEP, content_type="application/json")
    assert res.status_code == 400 and res.get_json()["error"]
    res = client.delete("/api/push/subscriptions", data=DEEP, content_type="application/json")
    assert res.status_code == 400 and res.get_json()["error"]


def test_too_large_body_is_413_with_a_message(ctx, client):
    signed_in(client, "client")
    res = client.post("/api/check-ins", data=b" " * 70_000, content_type="application/json")
    assert res.status_code == 413 and res.get_json()["error"]


# Text ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "x\x1by", "x\x7fy", "\x85"])
def test_control_characters_in_a_passkey_name_are_refused(ctx, client, bad):
    me, _ = signed_in(client, "client")
    cred = factories.credential(me)
    db.session.commit()
    res = client.post(f"/account/passkeys/{cred.id}/rename", data={"nickname": bad})
    assert res.status_code == 400
    assert "nickname" in res.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Credential, cred.id).nickname == "Test phone"


@pytest.mark.parametrize("bad", ["Sam\x00", "\udc80Sam"])
def test_invite_names_with_nul_or_surrogates_are_refused(ctx, client, bad):
    signed_in(client, "therapist")
    form = {"role": "client", "display_name": bad.encode("utf-8", "surrogatepass")}
    res = client.post("/invites", data=form)
    if "\x00" in bad:  # a form cannot carry a surrogate: its UTF-8 bytes decode to U+FFFD
        assert res.status_code == 400
        assert db.session.scalar(select(func.count(Invite.id))) == 0
    else:
        assert res.status_code == 200
    token = make_invite()
    res = client.post(f"/api/invite/{token}/options", json={"display_name": bad})
    assert res.status_code == 400 and res.get_json()["field"] == "display_name"


def test_json_strings_and_keys_are_checked_at_any_depth(ctx, client):
    signed_in(client, "client")
    body = {
        "endpoint": "https://push.example.test/x\x00",
        "keys": {"p256dh": PUSH_KEY, "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
    }
    res = client.post("/api/push/subscriptions", json=body)
    assert res.status_code == 400 and res.get_json()["field"] == "endpoint"
    body = {"endpoint": "https://push.example.test/x", "keys": {"p256dh\x00": PUSH_KEY}}
    res = client.post("/api/push/subscriptions", json=body)
    assert res.status_code == 400 and res.get_json()["field"].startswith("keys.p256dh")


def test_free_text_keeps_tabs_and_line_breaks(ctx, client):
    me, _ = signed_in(client, "client")
    cred = factories.credential(me)
    db.session.commit()
    res = client.post(f"/account/passkeys/{cred.id}/rename", data={"nickname": "my\tphone"})
    assert res.status_code == 302


HOSTILE_NEXT = ["/x\r\nSet-Cookie: a=b", "/x\ny", "/\x00"]


@pytest.mark.parametrize("next_", HOSTILE_NEXT)
def test_line_breaks_in_a_query_string_are_refused(ctx, client, next_):
    res = client.get("/signin", query_string={"next": next_})
    assert res.status_code == 400 and "next" in res.get_data(as_text=True)


def test_bad_characters_in_a_path_string_are_refused(ctx, client):
    res = client.get("/invite/abc%00def")
    assert res.status_code == 400
    res = client.post("/api/invite/a%1Bb/options", json={})
    assert res.status_code == 400 and res.get_json()["error"]


# Dates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1970-01-01", "2999-01-01"])
def test_appointment_dates_out_of_range_are_422(ctx, client, day):
    me, _ = signed_in(client, "therapist")
    me.time_zone = "Pacific/Kiritimati"  # UTC+14: 9999-12-31 23:30 here is still a date, UTC is not
    person = factories.user(me.practice, "client", therapist=me)
    appt = factories.appointment(me, person, utcnow() + timedelta(days=2))
    db.session.commit()
    form = {"client_id": person.id, "date": day, "time": "23:30", "duration": 50, "weeks": 52}
    res = client.post("/appointments", data=form)
    assert res.status_code == 422, res.status_code
    assert "within a year back" in res.get_data(as_text=True)
    form = {"date": day, "time": "23:30", "duration": 50, "scope": "this"}
    res = client.post(f"/appointments/{appt.id}/edit", data=form)
    assert res.status_code == 422
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Appointment.id))) == 1
    assert db.session.get(Appointment, appt.id).starts_at == appt.starts_at


# Errors --------------------------------------------------------------------------------------------


@pytest.fixture
def failing_app(make_app):
    """The app plus routes that fail inside the database the ways views can."""
    app = make_app()

    @app.get("/test/bad-sql")
    def bad_sql():
        db.session.execute(text("SELECT * FROM no_such_table"))

    @app.post("/test/duplicate")
    def duplicate():
        db.session.execute(text('INSERT INTO "user" SELECT * FROM "user" LIMIT 1'))

    @app.get("/api/test/crash")
    def crash():
        raise RuntimeError("secret detail")

    @app.get("/test/json")
    def ok():
        return jsonify(ok=True)

    return app


def test_database_error_rolls_back_and_answers_a_page(failing_app):
    client = failing_app.test_client()
    with failing_app.app_context():
        me, _ = signed_in(client, "therapist")
    res = client.get("/test/bad-sql")
    body = res.get_data(as_text=True)
    assert res.status_code == 500 and "Sorry" in body and "Attune" in body
    assert "Traceback" not in body and "no_such_table" not in body
    assert client.get("/dashboard").status_code == 200  # the next request is fine


def test_integrity_error_is_409_and_nothing_is_written(failing_app):
    client = failing_app.test_client()
    with failing_app.app_context():
        signed_in(client, "therapist")
        users = db.session.scalar(select(func.count(User.id)))
    res = client.post("/test/duplicate", headers={"Accept": "application/json"})
    assert res.status_code == 409 and res.get_json()["error"]
    with failing_app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == users


def test_any_exception_is_a_json_error_without_detail(failing_app):
    res = failing_app.test_client().get("/api/test/crash")
    assert res.status_code == 500 and res.get_json() == {
        "error": "Sorry, something went wrong on our side. Please try again."
    }


def test_wrong_method_and_unknown_page_have_our_words(ctx, client):
    res = client.put("/api/check-ins", json={})
    assert res.status_code == 405 and res.get_json()["error"]
    res = client.get("/nowhere")
    assert res.status_code == 404 and "We could not find that page." in res.get_data(as_text=True)


# Invite race ---------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_two_simultaneous_redemptions_of_one_invite_one_wins_one_is_refused(app, ctx):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    token = make_invite("client", practice=practice, created_by=therapist, therapist=therapist)
    clients = [app.test_client() for _ in range(2)]
    keys = [SoftKey() for _ in clients]
    bodies = []
    for c, key in zip(clients, keys, strict=True):
        opts = c.post(f"/api/invite/{token}/options", json={"display_name": "Sam"})
        assert opts.status_code == 200
        bodies.append({"display_name": "Sam", "credential": key.register(opts.get_json())})
    gate, results = threading.Barrier(2), [None, None]

    def redeem(i):
        gate.wait()
        results[i] = clients[i].post(f"/api/invite/{token}/verify", json=bodies[i])

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status_code for r in results)
    assert statuses[0] == 200 and 400 <= statuses[1] < 500, statuses
    loser = next(r for r in results if r.status_code != 200)
    assert loser.get_json()["error"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(User.id)).where(User.role == "client")) == 1


@pytest.mark.parametrize("body", [b'"text"', b"7", b'{"role": {"a": 1}, "display_name": [1]}'])
def test_json_to_a_form_route_is_400(ctx, client, body):
    signed_in(client, "therapist")
    res = client.post("/invites", data=body, content_type="application/json")
    assert res.status_code == 400 and "form, not JSON" in res.get_json()["error"]
    assert db.session.scalar(select(func.count(Invite.id))) == 0
