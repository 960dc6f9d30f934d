"""The demo seed: realistic shape, exact target size, sign-in links that add a passkey to real users."""

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select

from app.appointments import service
from app.demo import seed
from app.extensions import db
from app.models import Appointment, CareLink, CheckIn, Invite, Reminder, User, utcnow
from tests import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_seed_makes_a_realistic_practice(ctx):
    seeded = seed(therapists=2, clients=6, weeks=10, now=NOW)
    db.session.commit()
    assert db.session.scalar(select(func.count(User.id)).where(User.role == "client")) == 6
    assert db.session.scalar(select(func.count(CareLink.id))) == 6
    assert db.session.scalar(select(func.count(Appointment.id))) == 6 * 14
    rows = list(db.session.scalars(select(CheckIn)))
    assert len(rows) == seeded.check_ins and 0.75 * 120 < len(rows) <= 120
    scores = [r.safe for r in rows]
    assert sum(s >= 8 for s in scores) / len(scores) > 0.6 and min(scores) <= 6
    assert {r.phase for r in rows} == {"before", "after"}
    assert all(r.created_at < NOW for r in rows)
    assert db.session.scalar(select(func.count(Reminder.id))) > 0  # coming appointments are wired
    for r in rows[:20]:
        appt = db.session.get(Appointment, r.appointment_id)
        assert appt.client_id == r.client_id and appt.therapist_id == r.therapist_id


def test_target_size_is_exact(ctx):
    seeded = seed(therapists=1, clients=1, weeks=8, check_ins=500, now=NOW)
    assert seeded.check_ins == 500
    assert db.session.scalar(select(func.count(CheckIn.id))) == 500


def test_cli_prints_one_time_links_for_three_roles(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["demo", "seed", "--therapists", "1", "--clients", "2", "--weeks", "3"]
    )
    assert result.exit_code == 0, result.output
    links = [line.split()[-1] for line in result.output.splitlines() if "/invite/" in line]
    assert len(links) == 3 and all(
        link.startswith("http://localhost:5000/invite/") for link in links
    )
    with app.app_context():
        invites = list(db.session.scalars(select(Invite)))
        assert len(invites) == 3 and all(i.user_id for i in invites)


def test_if_empty_seeds_once_then_only_prints_fresh_links(app):
    from app.models import CheckIn, Practice

    runner = app.test_cli_runner()
    args = ["demo", "seed", "--if-empty", "--therapists", "1", "--clients", "2", "--weeks", "3"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    with app.app_context():
        check_ins = db.session.query(CheckIn).count()
    second = runner.invoke(args=args)
    assert second.exit_code == 0, second.output
    assert "Demo practice:" not in second.output
    assert len([line for line in second.output.splitlines() if "/invite/" in line]) == 3
    with app.app_context():
        assert db.session.query(Practice).count() == 1
        assert db.session.query(CheckIn).count() == check_ins


def test_the_app_inserts_users_and_appointments_after_a_seed(ctx):
    """Seeding writes explicit ids; on PostgreSQL the sequences must move past them."""
    now = utcnow()
    seeded = seed(therapists=1, clients=2, weeks=2, now=now)
    db.session.commit()
    therapist = seeded.therapists[0]
    person = factories.user(seeded.practice, "client", therapist=therapist)
    made = service.schedule(
        therapist,
        person,
        local_date=(now + timedelta(days=3)).date(),
        local_time=time(10, 0),
        duration=50,
        now=now,
    )
    db.session.commit()
    assert person.id > max(u.id for u in seeded.clients) and made[0].id


def test_demo_people_have_distinct_names(ctx):
    seed(therapists=3, clients=400, weeks=1, now=NOW)
    names = list(db.session.scalars(select(User.display_name)))
    assert len(names) == 404 and len(set(names)) == len(names)
    assert not any("(" in name for name in names)  # people, not "(client 3)"


def test_cli_output_ends_with_the_links(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["demo", "seed", "--therapists", "1", "--clients", "2", "--weeks", "2"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[-4].startswith("One-time sign-in links")
    assert all("/invite/" in line for line in lines[-3:]), lines
    assert "Check-ins" not in result.stdout and "Accounts exist" not in result.stdout
