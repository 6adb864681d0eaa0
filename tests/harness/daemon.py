"""The lifecycle the real daemons share: a temp dir, a log, start with a port retry,
readiness on `/-/ready`, and a clean stop (SIGTERM, then SIGKILL; only that child).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests

from .binaries import find_binary
from .loopback import free_port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _terminate(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; only this one child process."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=5)


class ProcessStartError(RuntimeError):
    """A binary did not become ready; the message carries the tail of its log."""


class _Daemon:
    """Shared lifecycle: temp dir, log file, start with port retry, readiness, stop."""

    kind = "daemon"
    startup_timeout = 30.0

    def __init__(self, binary: str | None, candidates: Sequence[str]) -> None:
        self.binary = binary or find_binary(*candidates)
        if self.binary is None:
            raise FileNotFoundError(f"none of {list(candidates)} found")
        self.port = 0
        self.workdir = Path(tempfile.mkdtemp(prefix=f"genai-{self.kind}-"))
        self.log_path = self.workdir / f"{self.kind}.log"
        self.last_log = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._session = requests.Session()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files before a start attempt."""

    def log_text(self) -> str:
        """The process' log so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return self.last_log

    def start(self) -> Self:
        """Start and wait for `/-/ready`; retry on a port lost to a race."""
        self._prepare()
        for attempt in range(3):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(
                    self._argv(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.workdir,
                    start_new_session=True,
                )
            if self._finalizer is not None:
                self._finalizer.detach()
            # If a test forgets to stop it, the process still dies with the interpreter.
            self._finalizer = weakref.finalize(self, _terminate, self._proc, 2.0)
            try:
                self._wait_ready()
                return self
            except ProcessStartError:
                _terminate(self._proc, grace=2.0)
                if "address already in use" in self.log_text() and attempt < 2:
                    continue
                self.last_log = self.log_text()
                tail = "\n".join(self.last_log.splitlines()[-30:])
                self._cleanup_dir()
                raise ProcessStartError(
                    f"{self.kind} ({self.binary}) did not become ready; last log lines:\n{tail}"
                ) from None
        raise AssertionError("unreachable")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ProcessStartError(f"exited with {self._proc.returncode}")
            try:
                if self._session.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise ProcessStartError("timeout")

    def stop(self) -> None:
        """SIGTERM (then SIGKILL), keep the log in `.last_log`, remove the temp dir."""
        if self._proc is not None:
            _terminate(self._proc)
            if self._finalizer is not None:
                self._finalizer.detach()
            self._proc = None
        self.last_log = self.log_text()
        self._session.close()
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
