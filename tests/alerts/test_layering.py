"""Alerts sit below check-ins (issue 8 item 1): storing a check-in never reaches up into the dashboard."""

import ast
import pathlib

import pytest

APP = pathlib.Path(__file__).resolve().parents[2] / "app"
ABOVE_ALERTS = ("app.checkins", "app.privacy", "app.dashboard")
FEATURES = (
    "core",
    "auth",
    "reminders",
    "appointments",
    "alerts",
    "checkins",
    "privacy",
    "dashboard",
)


def imported(path: pathlib.Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(APP.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("path", sorted((APP / "alerts").glob("*.py")), ids=lambda p: p.name)
def test_alerts_import_nothing_above_them(path):
    assert [n for n in imported(path) if n.startswith(ABOVE_ALERTS)] == []


@pytest.mark.parametrize("name", ["windows.py", "settings.py", "models.py"])
def test_kernel_modules_import_no_feature(name):
    features = tuple(f"app.{f}" for f in FEATURES)
    assert [n for n in imported(APP / name) if n.startswith(features)] == []


def test_check_ins_raise_alerts_through_the_alerts_package():
    names = imported(APP / "checkins" / "service.py")
    assert "app.alerts" in names and not any(n.startswith("app.dashboard") for n in names)
