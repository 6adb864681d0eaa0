"""Rules the suite keeps about itself, checked by reading its source.

No test skips on its own: every skip goes through ``tests/harness/binaries.unavailable``,
which fails instead under ``GENAI_REQUIRE_INTEGRATION=1``, so CI cannot turn green by
skipping an integration test (a missing binary, PostgreSQL, root)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
THE_HELPER = TESTS / "harness" / "binaries.py"
_SKIPPERS = {"skip", "skipif", "importorskip", "xfail"}


def _skips(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for each ``pytest.skip(…)``, ``pytest.importorskip(…)``,
    ``pytest.mark.skip``/``skipif`` and bare ``pytest.xfail(…)`` in a module.
    ``pytest.skip.Exception`` names the exception (to test the helper); it does not skip."""
    named = {id(node.value) for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr == "Exception"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _SKIPPERS and id(node) not in named:
            base, names = node.value, []
            while isinstance(base, ast.Attribute):
                names.append(base.attr)
                base = base.value
            chain = ".".join(["pytest", *reversed(names), node.attr])
            # A strict xfail mark documents a known gap, and fails once the gap is fixed.
            if isinstance(base, ast.Name) and base.id == "pytest" and chain != "pytest.mark.xfail":
                found.append((node.lineno, chain))
        elif isinstance(node, ast.ImportFrom) and node.module == "pytest":
            found += [(node.lineno, f"from pytest import {a.name}") for a in node.names
                      if a.name in _SKIPPERS]
    return found


def test_nothing_skips_outside_the_helper() -> None:
    offenders = [f"{path.relative_to(TESTS.parent)}:{line}: {what}"
                 for path in sorted(TESTS.rglob("*.py")) if path != THE_HELPER
                 for line, what in _skips(ast.parse(path.read_text(encoding="utf-8")))]
    assert offenders == [], ("skip through tests.harness.procs.unavailable or require_binary "
                             "instead:\n" + "\n".join(offenders))


def test_the_scan_sees_every_way_to_skip() -> None:
    """The scan itself can fail: each form of skip in a sample is found."""
    sample = ast.parse(
        "import pytest\n"
        "from pytest import importorskip\n"
        "pytest.skip('x')\n"
        "mod = pytest.importorskip('y')\n"
        "@pytest.mark.skipif(True, reason='z')\n"
        "def f(): pytest.xfail('w')\n"
        "@pytest.mark.skip\n"
        "def g(): pass\n"
        "@pytest.mark.xfail(strict=True)\n"
        "def h(): pass\n"
        "with pytest.raises(pytest.skip.Exception): pass\n")
    kinds = sorted(what for _, what in _skips(sample))
    assert kinds == ["from pytest import importorskip", "pytest.importorskip", "pytest.mark.skip",
                     "pytest.mark.skipif", "pytest.skip", "pytest.xfail"]
    assert _skips(ast.parse(THE_HELPER.read_text())) != [], "the helper is where skips live"
