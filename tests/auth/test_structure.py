"""Auth without hidden cycles (issue 8.5): no import inside a function in app/auth or app/web_session.py,
the kernel's web_session imports no feature package, and auth views stay thin."""

import ast
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from tests import factories
from tests.dashboard.test_views import SETTINGS

APP = Path(__file__).resolve().parents[2] / "app"
AUTH_FILES = sorted((APP / "auth").glob("*.py")) + [APP / "web_session.py", APP / "audit.py"]
FEATURES = (
    "auth",
    "core",
    "checkins",
    "alerts",
    "appointments",
    "reminders",
    "privacy",
    "dashboard",
)
VIEW_FILES = ("views.py", "invite_views.py", "account_views.py")


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", AUTH_FILES, ids=lambda p: p.name)
def test_no_import_inside_a_function(path):
    lines = path.read_text().splitlines()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    assert "#" in lines[inner.lineno - 1], f"{path.name}:{inner.lineno}"


@pytest.mark.parametrize("name", ["web_session.py", "audit.py"])
def test_kernel_modules_import_no_feature(name):
    for node in ast.walk(tree(APP / name)):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            first = (node.module or "").split(".")[0]
            names = [a.name for a in node.names] if not node.module else [first]
            assert not set(names) & set(FEATURES), f"{name} imports {names}"


@pytest.mark.parametrize("name", VIEW_FILES)
def test_auth_views_are_thin(name):
    for node in tree(APP / "auth" / name).body:
        if isinstance(node, ast.FunctionDef):
            body_start = node.body[0].lineno
            assert node.end_lineno - body_start + 1 <= 25, f"{name}:{node.name}"


def test_practice_hold_setting_is_audited(ctx, client):
    admin_user = factories.user(factories.practice(), "admin")
    db.session.commit()
    factories.sign_in(client, admin_user)
    res = client.post("/admin/settings", data={**SETTINGS, "recovery_hold_hours": "96"})
    assert res.status_code == 302
    assert admin_user.practice.recovery_hold_hours == 96
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "update_settings"))
    assert "recovery_hold_hours" in event.detail
    assert (
        client.post("/admin/settings", data={**SETTINGS, "recovery_hold_hours": "71"}).status_code
        == 400
    )
