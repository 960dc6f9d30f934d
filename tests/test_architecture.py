"""The layering of app/ holds: no feature reaches up into a feature above it, and no import hides in a
function body without a comment saying why (issue 8, STYLE.md "Stop these").

Layering, lowest first: the kernel (the modules directly in app/, such as models, extensions, config,
web_session, charts) -> core -> auth -> reminders -> appointments -> alerts -> checkins -> privacy ->
dashboard. A module may import its own layer and lower ones; kernel modules import no feature package.
`app/__init__.py`, `app/cli.py` and `app/demo.py` sit on top and may import anything. Relative imports
count the same as absolute ones. Each failure names the file and line.
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
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
KERNEL, TOP = -1, len(FEATURES)
TOP_MODULES = {"app", "app.cli", "app.demo"}
# Linter directives are not a reason: a bare noqa or type-ignore comment does not say why.
DIRECTIVE = re.compile(r"noqa(:\s*[A-Z]+\d+(\s*,\s*[A-Z]+\d+)*)?|type:\s*ignore(\[[^\]]*\])?")


def _dotted(root: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(root: pathlib.Path, dotted: str) -> bool:
    """True when `dotted` names a module or package in app/ (not a name defined inside one)."""
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def layer(dotted: str) -> int:
    """The layer of a module of app/: KERNEL, a feature's index in FEATURES, or TOP."""
    if dotted in TOP_MODULES:
        return TOP
    parts = dotted.split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in FEATURES):
        return FEATURES.index(parts[1])
    return KERNEL


def _name(rank: int) -> str:
    return {KERNEL: "the kernel", TOP: "the app factory / CLI"}.get(rank) or FEATURES[rank]


def imported(
    root: pathlib.Path, path: pathlib.Path, node: ast.Import | ast.ImportFrom
) -> list[str]:
    """The modules of app/ that one import statement reaches (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name == "app" or a.name.startswith("app.")]
    dotted = _dotted(root, path)
    package = dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
    if node.level:
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if module != "app" and not module.startswith("app."):
        return []
    out = []
    for alias in node.names:
        sub = f"{module}.{alias.name}"
        out.append(sub if _is_module(root, sub) else module)
    return out


def _in_functions(tree: ast.AST) -> set[int]:
    """ids of the import nodes that stand inside a function body."""
    inside = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inside |= {id(n) for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)}
    return inside


def _says_why(lines: list[str], node: ast.stmt) -> bool:
    """A comment on the import's lines with words beyond a bare `noqa` or `type: ignore`."""
    for text in lines[node.lineno - 1 : node.end_lineno]:
        _code, hash_, comment = text.partition("#")
        if hash_ and len(re.findall(r"[A-Za-z]{2,}", DIRECTIVE.sub(" ", comment))) >= 2:
            return True
    return False


def violations(root: pathlib.Path = ROOT) -> list[tuple[str, int, str, str]]:
    """(file, line, key, message) for every layering break and every unexplained in-function import."""
    found = []
    for path in sorted((root / "app").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source, rel)
        mine = layer(_dotted(root, path))
        inside = _in_functions(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if id(node) in inside and not _says_why(lines, node):
                found.append(
                    (
                        rel,
                        node.lineno,
                        "in-function",
                        "import inside a function with no comment why",
                    )
                )
            for target in dict.fromkeys(imported(root, path, node)):
                theirs = layer(target)
                if mine == TOP or theirs <= mine and not (mine == KERNEL and theirs != KERNEL):
                    continue
                found.append(
                    (
                        rel,
                        node.lineno,
                        target,
                        f"{_name(mine)} imports {target} ({_name(theirs)}, a layer above)",
                    )
                )
    return found


def test_layering_and_function_imports():
    found = violations()
    unexpected = [f"{rel}:{line}: {message}" for rel, line, _key, message in found]
    assert not unexpected, "layering broken:\n" + "\n".join(unexpected)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("app.models", KERNEL),
        ("app.charts", KERNEL),
        ("app", TOP),
        ("app.cli", TOP),
        ("app.core.views", 0),
        ("app.dashboard", FEATURES.index("dashboard")),
        ("app.alerts.rules", FEATURES.index("alerts")),
    ],
)
def test_layers_are_read_from_the_path(module, expected):
    assert layer(module) == expected


def test_the_checker_sees_relative_and_in_function_imports(tmp_path):
    """The checker itself can fail: planted upward imports and bare in-function imports are found."""
    files = {
        "app/__init__.py": "from .dashboard import bp\n",
        "app/models.py": "from app.checkins import service\n",
        "app/checkins/__init__.py": "",
        "app/checkins/service.py": (
            "from ..dashboard import stats\n"
            "from .. import models\n\n\n"
            "def f():\n"
            "    import json\n"
            "    import csv  # noqa: F401\n"
            "    import io  # here: the cycle with app.models\n"
            "    return json, csv, io, stats, models\n"
        ),
        "app/dashboard/__init__.py": "bp = None\n",
        "app/dashboard/stats.py": "from ..checkins import service\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = {(rel, line, key) for rel, line, key, _m in violations(tmp_path)}
    assert found == {
        ("app/models.py", 1, "app.checkins.service"),
        ("app/checkins/service.py", 1, "app.dashboard.stats"),
        ("app/checkins/service.py", 6, "in-function"),
        ("app/checkins/service.py", 7, "in-function"),
    }


# Entries of the README's "What is where" that other branches of issue 8 create (8.1 alerts, 8.2 windows,
# 8.3 settings); the lead empties this after merging them.
PLANNED_BY_MERGE: set[str] = set()


def readme_app_entries() -> set[str]:
    """The names the README's "What is where" lists under app/ (`cli.py, demo.py` counts as two)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## What is where", 1)[1].split("```")[1]
    names, section = set(), None
    for line in block.splitlines():
        if line and not line[0].isspace():
            section = line.split()[0]
        elif section == "app/" and line.startswith("  ") and not line.startswith("   "):
            head = re.split(r"\s{2,}", line.strip())[0]
            names |= {n.strip() for n in head.split(",")}
    return names


def test_readme_what_is_where_matches_app():
    app = ROOT / "app"
    tree = {p.name for p in app.glob("*.py")}
    tree |= {f"{p.name}/" for p in app.iterdir() if (p / "__init__.py").exists()}
    listed = readme_app_entries()
    assert sorted(tree - listed) == [], "in app/ but not in the README"
    assert sorted(listed - tree - PLANNED_BY_MERGE) == [], "in the README but not in app/"
    assert sorted(PLANNED_BY_MERGE & tree) == [], "landed: remove it from PLANNED_BY_MERGE"


def test_tests_never_import_the_benches():
    """Tests stand on their own: benches import tests/support, never the other way round."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(n == "bench" or n.startswith("bench.") for n in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
