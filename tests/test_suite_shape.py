"""The shape of the test suite itself: test modules hold tests, shared code lives in
tests/harness/ in small modules.

- No module under tests/ (conftest.py aside) imports a test module (`tests.test_*`) or
  `tests.conftest`: a helper two test modules need belongs in tests/harness/, a shared
  fixture in conftest.py, and the names tests import (BotFactory, WEBHOOK_TOKEN, Cluster)
  in tests/harness/bots.py.
- No file under tests/harness/ is over 400 lines: one idea per module, as in production.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
HARNESS = TESTS / "harness"
MAX_HARNESS_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in `path`."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """Imports in `source`, a module of `package`: `from x import y` gives both `x` and
    `x.y` (y may be a submodule), relative imports are resolved against `package`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _forbidden(module: str) -> bool:
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "tests":
        return False
    return parts[1] == "conftest" or parts[1].startswith("test_")


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_imports_a_test_module_or_conftest() -> None:
    offenders = sorted({
        f"{path.relative_to(ROOT)}:{line}: imports {'.'.join(module.split('.')[:2])}"
        for path in _python_files()
        if path != TESTS / "conftest.py"
        for line, module in _imported(path)
        if _forbidden(module)
    })
    assert not offenders, (
        "move shared helpers to tests/harness/ and shared fixtures to tests/conftest.py:\n"
        + "\n".join(offenders)
    )


def test_no_harness_file_exceeds_400_lines() -> None:
    too_long = []
    for path in sorted(HARNESS.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        lines = path.read_bytes().count(b"\n")
        if lines > MAX_HARNESS_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not too_long, (
        f"split these into modules of at most {MAX_HARNESS_LINES} lines:\n" + "\n".join(too_long)
    )


def test_the_import_check_sees_every_spelling() -> None:
    """The check itself: each way of importing a test module or conftest is caught (relative
    imports from a harness module included), and the harness's own imports are not."""
    cases = {
        "from tests.test_intake import notification": True,
        "from tests.conftest import WEBHOOK_TOKEN": True,
        "import tests.test_alerts_e2e": True,
        "import tests.conftest as c": True,
        "from tests import conftest": True,
        "from tests import test_diag_scenarios as d": True,
        "from .. import conftest": True,
        "from ..test_intake import notification": True,
        "from tests.harness.alerts import notification": False,
        "from tests.harness import kube as k": False,
        "from .kube import KubeStandin": False,
        "from tests.bench.fleet import node_name": False,
        "import tests.slackparse": False,
    }
    for source, bad in cases.items():
        modules = [m for _, m in _imports_in(source, "tests.harness")]
        assert any(_forbidden(m) for m in modules) is bad, (source, modules)
