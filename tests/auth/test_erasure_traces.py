"""Erasure leaves no name in invites, and the practice's admins see that it happened (issue 9.6)."""

import re

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Invite
from tests import factories

from . import flows
from .softkey import SoftKey

NAME = "Quinn Erasable"


def test_erasure_clears_the_invite_name_and_is_in_the_admins_audit_log(ctx):
    practice = factories.practice()
    admin_user = factories.user(practice, "admin")
    therapist = factories.user(practice, "therapist", display_name="Dr Wu")
    db.session.commit()
    staff = ctx.test_client()
    factories.sign_in(staff, therapist)
    page = staff.post("/invites", data={"role": "client", "display_name": NAME})
    assert page.status_code == 200
    token = re.search(r"/invite/([A-Za-z0-9_-]{20,})", page.get_data(as_text=True)).group(1)
    phone = ctx.test_client()
    _, res = flows.register(phone, token, SoftKey(), name="")
    assert res.status_code == 200, res.data
    res = phone.post("/account/delete", data={"confirm": "yes"})
    assert res.status_code == 302
    db.session.expire_all()
    assert all(NAME not in (i.display_name or "") for i in db.session.scalars(select(Invite)))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "delete_account"))
    assert event.practice_id == practice.id
    assert "Dr Wu" in event.detail and NAME not in event.detail
    web = ctx.test_client()
    factories.sign_in(web, admin_user)
    log = web.get("/admin/audit").get_data(as_text=True)
    assert "deleted their account" in log and NAME not in log
