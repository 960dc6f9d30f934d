"""`flask attune init`: VAPID keys in the instance folder and, on an empty database, one admin link."""

import re
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Invite, Practice
from tests import factories

LINK = re.compile(r"(https?://\S+/invite/(\S+))")


def run_init(app, *args):
    result = app.test_cli_runner().invoke(args=["attune", "init", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_init_prints_a_working_one_time_admin_link(make_app, monkeypatch, tmp_path):
    monkeypatch.setenv("ATTUNE_INSTANCE", str(tmp_path))
    app = make_app(ORIGIN="https://attune.example", RP_ID="attune.example")
    output = run_init(app, "--practice-name", "Riverside")
    assert (tmp_path / "vapid_private.pem").exists()
    links = LINK.findall(output)
    assert len(links) == 1
    link, token = links[0]
    assert link.startswith("https://attune.example/invite/")
    with app.app_context():
        invite = db.session.scalar(select(Invite))
        assert invite.role == "admin" and invite.created_by_id is None
        assert invite.expires_at - invite.created_at == timedelta(days=1)
        assert token not in invite.token_hash
        assert db.session.scalar(select(Practice.name)) == "Riverside"
    page = app.test_client().get(f"/invite/{token}")
    assert page.status_code == 200
    assert "Set up Attune for Riverside" in page.get_data(as_text=True)


def test_init_prints_no_link_once_accounts_exist(make_app):
    app = make_app()
    with app.app_context():
        factories.user(factories.practice(), "admin")
        db.session.commit()
    output = run_init(app)
    assert not LINK.search(output)
    assert "Accounts exist already" in output
    with app.app_context():
        assert db.session.scalar(select(Invite)) is None


def test_init_again_before_anyone_registered_reuses_the_practice(make_app):
    app = make_app()
    run_init(app)
    run_init(app)
    with app.app_context():
        assert len(db.session.scalars(select(Practice)).all()) == 1
        assert len(db.session.scalars(select(Invite)).all()) == 2


def test_keys_only_makes_keys_and_prints_nothing_about_accounts(make_app, monkeypatch, tmp_path):
    """bin/serve --demo runs this before the demo seed, whose links must be the last lines."""
    monkeypatch.setenv("ATTUNE_INSTANCE", str(tmp_path))
    app = make_app()
    output = run_init(app, "--keys-only")
    assert (tmp_path / "vapid_private.pem").exists()
    assert not LINK.search(output) and "Accounts exist" not in output
    with app.app_context():
        assert db.session.scalar(select(Invite)) is None
        assert db.session.scalar(select(Practice)) is None


def test_the_admin_link_is_the_last_line(make_app):
    output = run_init(make_app(), "--practice-name", "Riverside")
    lines = [line for line in output.splitlines() if line.strip()]
    assert LINK.search(lines[-1]) and "Riverside" in output
