"""Client home, history and the app-shell check-in page (server side)."""

from datetime import timedelta

from app.extensions import db
from app.models import CheckIn, utcnow
from tests import factories
from tests.checkins.helpers import appointment, body, people


def test_core_index_sends_clients_home(ctx, client):
    _, _, me = people()
    factories.sign_in(client, me)
    res = client.get("/")
    assert res.status_code == 302 and res.location.endswith("/home")


def test_home_shows_due_after_check_in_then_unscheduled_link(ctx, client):
    _, therapist, me = people()
    appt = appointment(therapist, me, utcnow() - timedelta(hours=2))
    appointment(therapist, me, utcnow() + timedelta(days=7))
    factories.sign_in(client, me)
    html = client.get("/home").get_data(as_text=True)
    assert f"/check-in?appointment={appt.id}&amp;phase=after" in html
    assert client.post("/api/check-ins", json=body(appointment_id=appt.id)).status_code == 201
    html = client.get("/home").get_data(as_text=True)
    assert "phase=after" not in html and 'id="unscheduled"' in html
    assert 'id="next-appointment"' in html


def test_check_in_page_is_a_cacheable_shell_without_personal_data(ctx, client):
    _, _, me = people(factories.practice())
    me.display_name = "Zebedee Secret"
    factories.sign_in(client, me)
    res = client.get("/check-in?appointment=5&phase=before")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "no-store" not in res.headers.get("Cache-Control", "")
    assert "Zebedee" not in html and "csrf-token" not in html and "data-role" not in html
    assert "Right now, how safe do you feel to talk openly in therapy?" in html
    assert "In today’s session, how safe did you feel?" in html  # both wordings, JS picks by URL
    assert client.get("/check-in").status_code == 200


def test_history_has_chart_table_and_list_of_only_my_check_ins(ctx, client):
    _, therapist, me = people()
    other = factories.user(me.practice, "client", therapist=therapist)
    now = utcnow()
    for i, who in enumerate([me, me, other]):
        db.session.add(
            CheckIn(
                client_id=who.id,
                therapist_id=therapist.id,
                phase="after",
                safe=3 + i,
                heard=9,
                understood=8,
                comment=f"note-{who.id}-{i}",
                visibility="named",
                idempotency_key=f"key-{i}-abcdef",
                body_hash="x",
                created_at=now - timedelta(days=i),
                received_at=now,
            )
        )
    factories.sign_in(client, me)
    html = client.get("/my-check-ins").get_data(as_text=True)
    assert "<svg" in html and "<polyline" in html and "<table>" in html
    assert f"note-{me.id}-0" in html and f"note-{other.id}-2" not in html


def test_pages_need_a_client(ctx, client):
    _, therapist, _ = people()
    assert client.get("/home").status_code == 302
    factories.sign_in(client, therapist)
    assert client.get("/home").status_code == 403
    assert client.get("/my-check-ins").status_code == 403
