"""The container image (`Dockerfile`), run the way a container runtime runs it, without one.

No Docker engine and no registry exist here: `.ci/build-image` builds the Dockerfile with
buildah (vfs storage, chroot isolation) on a local Debian base from `.ci/base-image`. These
tests take that image (`localhost/genai-ops-bot:test`; CI builds it before the tests, and
they build it themselves when it is missing or its source-digest label says it was built
from other files than this tree's), make a buildah working container of it and run its
entrypoint in a sandbox the way Kubernetes runs `manifests/deployment.yaml`:

* a private mount and PID namespace (`unshare`), so every mount below goes away with the
  process, and the bot is PID 1 as in a container;
* the image's root bind-mounted **read-only** (readOnlyRootFilesystem), a tmpfs on /tmp, a
  host directory owned by 10001 on the /data volume, /proc read-only, a read-only /dev with
  the usual character devices;
* chroot into it, the image's WorkingDir, then the image's User (10001:10001, no
  supplementary groups, no capabilities), the image's Env and nothing else, the image's
  Entrypoint; the host's network (a bot on 127.0.0.1 answers the test).

The image has no source tree: the runbooks, Game Day scenarios and migrations come from
the wheel's package data alone, and `genai-bot run` loads them all before /readyz says 200.

Skipped without buildah or root, failed instead under GENAI_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.bots import http_bot_env
from tests.harness.procs import find_binary, free_port, require_binary, unavailable
from tests.harness.slack import SlackStandin

REPO = Path(__file__).resolve().parent.parent
BUILD_IMAGE = REPO / ".ci" / "build-image"
IMAGE = os.environ.get("GENAI_TEST_IMAGE", "localhost/genai-ops-bot:test")
DIGEST_LABEL = "org.genai-ops-bot.source-digest"  # set by .ci/build-image
CONTAINER_PREFIX = "genai-image-test-"
USER = "10001:10001"
BUILD_TIMEOUT_S = 1500
READY_TIMEOUT_S = 60.0
# buildah without a daemon: the storage and isolation .ci/build-image uses.
BUILDAH = [find_binary("buildah") or "buildah", "--storage-driver", "vfs"]
BUILDAH_ENV = {**os.environ, "STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"}

pytestmark = [pytest.mark.integration, pytest.mark.timeout(BUILD_TIMEOUT_S + 300)]

# Runs as root in the new mount namespace: lays out the container's mounts over the image's
# root, then chroots, changes directory and user, and execs the command with only the given
# environment. Arguments: ROOT DATA UID GID WORKDIR NAME=VALUE... -- COMMAND...
SANDBOX = r"""
set -euo pipefail
root=$1 data=$2 uid=$3 gid=$4 wd=$5; shift 5
envs=(); while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
unshare=$(command -v unshare)
mount --bind "$root" "$root"
mount -o remount,bind,ro,nosuid,nodev "$root"
mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m tmpfs "$root/tmp"
mount --bind "$data" "$root/data"
mount -t proc -o ro,nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o mode=755,nosuid,size=64k tmpfs "$root/dev"
for dev in null zero full random urandom tty; do
  touch "$root/dev/$dev"; mount --bind "/dev/$dev" "$root/dev/$dev"
  mount -o remount,bind,ro "$root/dev/$dev"  # the device still reads and writes
done
ln -s /proc/self/fd "$root/dev/fd"
mount -o remount,ro "$root/dev"
exec env -i "${envs[@]}" "$unshare" --root="$root" --wd="$wd" --setgid "$gid" --setuid "$uid" \
  -- "$@"
"""


@dataclass
class Image:
    name: str
    config: dict[str, Any]  # the OCI image config: User, Env, Entrypoint, Cmd, Labels...
    size: str  # as `buildah images` reports it

    @property
    def env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.config.get("Env") or [])


def _buildah_run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BUILDAH, *args], env=BUILDAH_ENV, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _buildah(*args: str, timeout: float = 120) -> str:
    out = _buildah_run(*args, timeout=timeout)
    assert out.returncode == 0, f"buildah {' '.join(args)}: {out.stderr.strip()}"
    return out.stdout


def _require_root(why: str) -> None:
    if os.geteuid() != 0:
        unavailable(f"{why}: needs root (buildah's chroot isolation, mount namespaces)")


def _source_digest() -> str:
    out = subprocess.run(["bash", str(BUILD_IMAGE), "--source-digest"], capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.strip()


def _inspect(name: str) -> dict[str, Any] | None:
    out = _buildah_run("inspect", "--type", "image", name)
    return json.loads(out.stdout) if out.returncode == 0 else None


@pytest.fixture(scope="module")
def image() -> Image:
    """The image .ci/build-image built (CI builds it before the tests); built here when it is
    missing, or when it was built from other sources than this tree's (a developer's edits)."""
    why = "the container image tests build and run the image without a Docker engine"
    require_binary("buildah", why)
    require_binary("unshare", why)
    _require_root(why)
    digest = _source_digest()
    inspected = _inspect(IMAGE)
    labels = (inspected or {}).get("OCIv1", {}).get("config", {}).get("Labels") or {}
    if labels.get(DIGEST_LABEL) == digest:
        print(f"\nimage: using {IMAGE}, built by .ci/build-image from this tree")
    else:
        require_binary("debootstrap", why)
        reason = "missing" if inspected is None else "built from other sources"
        start = time.monotonic()
        built = subprocess.run(["bash", str(BUILD_IMAGE)], env={**BUILDAH_ENV, "IMAGE": IMAGE},
                               capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                               check=False)
        assert built.returncode == 0, f".ci/build-image failed:\n{built.stderr[-4000:]}"
        print(f"\nimage: {IMAGE} was {reason}: built with .ci/build-image in "
              f"{time.monotonic() - start:.0f} s")
        inspected = _inspect(IMAGE)
        assert inspected is not None, f".ci/build-image did not tag {IMAGE}"
    listed = json.loads(_buildah("images", "--json", IMAGE))
    return Image(IMAGE, inspected["OCIv1"]["config"], listed[0]["size"])


def _remove_orphan_containers() -> None:
    """Working containers of test runs whose process is gone (killed before its cleanup):
    each holds a full copy of the image."""
    names = _buildah("containers", "--noheading", "--format", "{{.ContainerName}}").split()
    for name in names:
        match = re.fullmatch(re.escape(CONTAINER_PREFIX) + r"(\d+)-[0-9a-f]+", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _buildah_run("rm", name)


@pytest.fixture(scope="module")
def rootfs(image: Image) -> Iterator[Path]:
    """The root file system of a fresh working container of the image (vfs: a plain
    directory, nothing is mounted on the host); removed afterwards."""
    _remove_orphan_containers()
    name = f"{CONTAINER_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    _buildah("from", "--pull-never", "--name", name, image.name, timeout=300)
    try:
        yield Path(_buildah("mount", name).strip())
    finally:
        _buildah_run("umount", name)
        _buildah_run("rm", name)


def _data_dir(tmp_path: Path) -> Path:
    """The /data volume: a host directory owned by the image's user."""
    data = tmp_path / "data"
    data.mkdir()
    uid, gid = (int(n) for n in USER.split(":"))
    os.chown(data, uid, gid)
    data.chmod(0o750)
    return data


def _container(root: Path, data: Path, image: Image, argv: list[str], *,
               user: str | None = None, env: dict[str, str] | None = None) -> list[str]:
    """The command line running `argv` in the image as a container runtime would."""
    uid, gid = (user or image.config["User"]).split(":")
    home = _passwd_home(root, uid)
    full_env = {"HOME": home, **image.env, **(env or {})}
    return ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
            "bash", "-c", SANDBOX, "sandbox", str(root), str(data), uid, gid,
            image.config.get("WorkingDir") or "/",
            *(f"{k}={v}" for k, v in full_env.items()), "--", *argv]


def _passwd_home(root: Path, uid: str) -> str:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) >= 6 and fields[2] == uid:
            return fields[5]
    return "/"


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _site_packages(root: Path) -> Path:
    found = sorted(root.glob("opt/genai-bot/lib/python3*/site-packages"))
    assert found, "no virtualenv at /opt/genai-bot in the image"
    return found[0]


# What `genai-bot run` loads from the wheel's package data at start-up, by source pattern.
PACKAGE_DATA = ("bot/runbooks/*.yaml", "bot/gameday/*.yaml", "bot/migrations/env.py",
                "bot/migrations/script.py.mako", "bot/migrations/versions/*.py")


def _package_data(root: Path) -> list[str]:
    """Every package-data file of the source tree, checked present in the image's
    site-packages; returns their paths inside the image."""
    site = _site_packages(root)
    checked, missing = [], []
    for pattern in PACKAGE_DATA:
        sources = sorted(REPO.glob(pattern))
        assert sources, f"nothing in the source tree matches {pattern}"
        for source in sources:
            rel = source.relative_to(REPO)
            (checked if (site / rel).is_file() else missing).append(
                "/" + str((site / rel).relative_to(root)))
    assert not missing, "package data missing from the wheel in the image:\n" + "\n".join(missing)
    return checked


def _stop(proc: subprocess.Popen[bytes]) -> str:
    """Stop the container: SIGTERM to its PID 1 (what `docker stop` and the kubelet send),
    SIGKILL after 10 s, which ends everything in its PID namespace. (The outer `unshare`'s
    --kill-child does not reach a PID 1 that has changed user.) Returns how it ended."""
    if proc.poll() is not None:
        return f"had exited ({proc.returncode})"
    pid1 = _pid1(proc.pid)
    if pid1 is None:
        proc.kill()
        proc.wait(10)
        return "killed"
    os.kill(pid1, signal.SIGTERM)
    try:
        return f"stopped on SIGTERM (exit {proc.wait(10)})"
    except subprocess.TimeoutExpired:
        os.kill(pid1, signal.SIGKILL)
        proc.wait(10)
        return "ignored SIGTERM for 10 s: killed"


def test_image_metadata(image: Image, rootfs: Path) -> None:
    cfg = image.config
    labels = cfg.get("Labels") or {}
    version = re.search(r'(?m)^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert version
    assert labels.get("org.opencontainers.image.version") == version.group(1)
    assert labels.get("org.opencontainers.image.licenses") == "Apache-2.0"
    assert labels.get("org.opencontainers.image.source", "").startswith("https://")
    assert cfg.get("User") == USER
    assert cfg.get("Entrypoint") == ["genai-bot"]
    assert cfg.get("Cmd") == ["run"]
    assert "/data" in (cfg.get("Volumes") or {})
    assert image.env.get("GENAI_DATABASE_URL") == "sqlite:////data/genai-bot.db"
    # Only the virtualenv came from the build stage: no compiler, no source tree, no pip.
    compilers = [p for d in ("usr/bin", "usr/local/bin") for p in (rootfs / d).glob("*")
                 if re.fullmatch(r"(.*-)?(gcc|g\+\+|cc|c\+\+|clang)(-[\d.]+)?", p.name)]
    assert not compilers, f"compilers in the final stage: {compilers}"
    assert not (rootfs / "src").exists()
    assert not list(_site_packages(rootfs).glob("pip")), "pip is left in the virtualenv"
    assert (rootfs / "data").stat().st_uid == 10001
    size_mb = sum(p.lstat().st_size for p in rootfs.rglob("*")) / 1e6
    print(f"\nimage: {image.name} size {image.size} (buildah images), "
          f"{size_mb:.0f} MB of files in its root file system")


def test_runs_as_10001_on_a_read_only_root(image: Image, rootfs: Path, tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    probe = r"""
      echo "id $(id -u):$(id -g) groups $(id -G)"
      grep -E '^Cap(Eff|Prm)' /proc/self/status
      for dir in / /opt /opt/genai-bot /etc /usr /var /tmp /data; do
        if touch "$dir/.probe" 2>/dev/null; then echo "writable $dir"; rm -f "$dir/.probe"
        else echo "refused $dir"; fi
      done
      awk '$4 ~ /(^|,)rw(,|$)/ { print "rw-mount", $2 }' /proc/self/mounts
      touch /opt/.probe 2>&1 || true
    """
    as_user = _run(_container(rootfs, data, image, ["sh", "-c", probe]))
    assert as_user.returncode == 0, as_user.stderr
    out = as_user.stdout
    assert "id 10001:10001 groups 10001" in out, out
    assert "CapEff:\t0000000000000000" in out, out
    writable = re.findall(r"^writable (\S+)$", out, re.M)
    assert writable == ["/tmp", "/data"], out
    # The only writable mounts are the tmpfs on /tmp and the /data volume.
    assert sorted(re.findall(r"^rw-mount (\S+)$", out, re.M)) == ["/data", "/tmp"], out
    # Root inside the same sandbox, which file permissions do not stop, is refused too: it
    # is the file system that is read-only.
    as_root = _run(_container(rootfs, data, image, ["sh", "-c", probe], user="0:0"))
    assert as_root.returncode == 0, as_root.stderr
    assert re.findall(r"^writable (\S+)$", as_root.stdout, re.M) == ["/tmp", "/data"]
    assert "touch: cannot touch '/opt/.probe': Read-only file system" in as_root.stdout
    print("\nimage: runs as 10001:10001 (no capabilities); writes to /, /opt, /etc, /usr, /var "
          "refused, even as root (Read-only file system); /tmp and /data writable")


def test_check_config_through_the_image(image: Image, rootfs: Path, tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    argv = [*image.config["Entrypoint"], "check-config"]
    out = _run(_container(rootfs, data, image, argv))
    assert out.returncode == 0, out.stderr
    assert "config ok: slack mode socket" in out.stdout
    assert "database sqlite" in out.stdout
    # Where the code comes from: the wheel in the virtualenv.
    where = _run(_container(rootfs, data, image,
                            ["python3", "-c", "import bot, commands; print(bot.__file__)"]))
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith("/opt/genai-bot/lib/python3"), where.stdout


def test_run_serves_probes_and_metrics(image: Image, rootfs: Path, tmp_path: Path) -> None:
    checked = _package_data(rootfs)
    print(f"\nimage: package data checked in the wheel ({len(checked)} files):")
    for path in checked:
        print(f"  {path}")
    data = _data_dir(tmp_path)
    port = free_port()
    unused = f"http://127.0.0.1:{free_port()}"  # needed by commands only, never at start
    with SlackStandin() as slack:
        env = {
            **http_bot_env(slack, port),
            "GENAI_PROMETHEUS__URL": unused,
            "GENAI_ALERTMANAGER__URL": unused,
            "GENAI_KUBERNETES__MODE": "url",
            "GENAI_KUBERNETES__URL": unused,
            "GENAI_AWS__ENDPOINT_URL": unused,
            "GENAI_LOG_FORMAT": "json",
        }
        argv = [*image.config["Entrypoint"], *image.config["Cmd"]]
        log = tmp_path / "bot.log"
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as sink:
            start = time.monotonic()
            proc = subprocess.Popen(_container(rootfs, data, image, argv, env=env),
                                    stdout=sink, stderr=subprocess.STDOUT)
            try:
                ready_after = None
                with httpx.Client(timeout=2) as http:
                    while time.monotonic() - start < READY_TIMEOUT_S and proc.poll() is None:
                        try:
                            if http.get(f"{url}/readyz").status_code == 200:
                                ready_after = time.monotonic() - start
                                break
                        except httpx.TransportError:
                            pass
                        time.sleep(0.05)
                    assert ready_after is not None, (
                        f"/readyz never said 200 (exit {proc.poll()}):\n"
                        + log.read_text(errors="replace")[-4000:])
                    health = http.get(f"{url}/healthz")
                    assert health.status_code == 200, health.text
                    metrics = http.get(f"{url}/metrics")
                    assert metrics.status_code == 200
                    assert metrics.headers["content-type"].startswith("text/plain")
                    assert "# TYPE" in metrics.text
                    assert "genai_bot_" in metrics.text
                uid = _status_uid(proc.pid)
            finally:
                ended = _stop(proc)
    assert uid == 10001, f"the bot ran as uid {uid}"
    # PID 1 gets no default signal handlers: the bot's own must drain and exit 0.
    assert ended == "stopped on SIGTERM (exit 0)", ended
    assert '"shutdown.done"' in log.read_text(errors="replace")
    assert slack.calls_to("auth.test", ok=True), slack.summary()
    # The SQLite database went to the /data volume (and nowhere else could it go).
    assert (data / "genai-bot.db").is_file(), sorted(p.name for p in data.iterdir())
    print(f"image: genai-bot run (HTTP mode) /readyz 200 after {ready_after:.2f} s from process "
          f"start; /healthz 200, /metrics 200; ran as uid {uid}; {ended}")
    print(f"image: size {image.size}")


def _pid1(outer_pid: int) -> int | None:
    """The container's PID 1, as the host sees it: the child of the outer `unshare`."""
    try:
        children = Path(f"/proc/{outer_pid}/task/{outer_pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _status_uid(outer_pid: int) -> int | None:
    """The real uid of the container's PID 1."""
    pid1 = _pid1(outer_pid)
    if pid1 is None:
        return None
    for line in Path(f"/proc/{pid1}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None
