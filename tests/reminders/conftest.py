"""Reminder fixtures: an app with a known VAPID key, a real push receiver, a CLI runner at fixed times."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CheckIn, User
from tests import factories
from tests.support.push_receiver import PushReceiver

from .helpers import TEST_HOSTS, leaks, private_words, remember, vapid_private_raw

VAPID_RAW = vapid_private_raw()


@pytest.fixture
def rapp(make_app):
    return make_app(
        VAPID_PRIVATE_KEY=VAPID_RAW,
        PUSH_EXTRA_HOSTS=TEST_HOSTS,
        PUSH_TIMEOUT_SECONDS=0.5,
        PUSH_BACKOFF_SECONDS=10,
        PUSH_MAX_ATTEMPTS=4,
    )


@pytest.fixture
def rctx(rapp):
    with rapp.app_context():
        yield rapp
        db.session.remove()


@pytest.fixture
def receiver(rctx):
    """A push service on 127.0.0.1; afterwards every push it accepted is checked for private data."""
    with PushReceiver() as rx:
        yield rx
    assert rx.errors == []
    assert rx.rejections == [], rx.rejections
    db.session.rollback()
    names = [u.display_name for u in db.session.scalars(select(User))]
    comments = [c.comment for c in db.session.scalars(select(CheckIn))]
    forbidden = private_words(names + comments)
    for message in rx.messages:
        assert leaks(message, forbidden) == []
    remember(rx.messages)


@pytest.fixture
def people(rctx):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist", display_name="Dr Winifred Quill")
    client = factories.user(
        practice, "client", therapist=therapist, display_name="Ottoline Brackenbury"
    )
    db.session.commit()
    return practice, therapist, client


@pytest.fixture
def run_at(rapp):
    """Run `flask reminders run --once` at a fixed time, through the real CLI."""
    runner = rapp.test_cli_runner()

    def run(now):
        result = runner.invoke(args=["reminders", "run", "--once", "--now", now.isoformat()])
        assert result.exit_code == 0, result.output + repr(result.exception)
        db.session.commit()  # end our read snapshot and expire, so the test sees what the CLI wrote
        return result.output

    return run
