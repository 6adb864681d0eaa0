"""Finding the real binaries (Debian packages), and skipping or failing without them.

A test that needs a binary calls `require_binary`: without the binary the test is skipped
with a reason, except under `GENAI_REQUIRE_INTEGRATION=1` (CI), where it fails instead.
`unavailable` is the one place the suite skips (`tests/test_suite_rules.py` holds it to that).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

_SEARCH_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/sbin")


def find_binary(*names: str) -> str | None:
    """The first of `names` found in PATH or the usual system directories, else None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for directory in _SEARCH_DIRS:
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def integration_required() -> bool:
    """True when CI demands that integration tests run (`GENAI_REQUIRE_INTEGRATION=1`)."""
    return os.environ.get("GENAI_REQUIRE_INTEGRATION", "").strip().lower() in {"1", "true", "yes"}


def require_binary(name_candidates: str | Sequence[str], why: str) -> str:
    """Path of the binary, or skip the test (fail it under GENAI_REQUIRE_INTEGRATION=1).

    Skipping keeps a developer machine without the packages green; failing in CI keeps a
    missing package from silently turning the integration suite into a no-op.
    """
    names = [name_candidates] if isinstance(name_candidates, str) else list(name_candidates)
    found = find_binary(*names)
    if found:
        return found
    unavailable(f"{why}: none of {names} found in PATH or {', '.join(_SEARCH_DIRS)}")


def unavailable(reason: str) -> NoReturn:
    """Skip the test for want of an integration part (a binary, PostgreSQL, root); under
    GENAI_REQUIRE_INTEGRATION=1 fail it instead, so CI cannot turn green by skipping."""
    import pytest

    if integration_required():
        pytest.fail(f"{reason} (GENAI_REQUIRE_INTEGRATION=1)", pytrace=False)
    pytest.skip(reason)
