"""Where a run was measured: the environment recorded in its manifest, and whether its writer is still alive."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from experiments.manifest import Manifest

_PACKAGES = ("torch", "timm", "numpy", "pandas", "pillow", "safetensors", "huggingface-hub", "filelock")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def environment() -> dict[str, object]:
    """Python, platform, package versions and the project's git commit, for the manifest."""
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "argv": list(sys.argv),
        "packages": packages,
        "git_commit": _git_commit(Path(__file__).resolve().parent),
    }


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def run_state(manifest: Manifest) -> str:
    """The manifest's status, except ``dead`` for a ``running`` run whose writer is gone: its process was on this
    host and is no longer alive (killed without a chance to record it). A dead run is resumable."""
    if manifest.status != "running":
        return manifest.status
    host, pid = manifest.environment.get("host"), manifest.environment.get("pid")
    if host != socket.gethostname() or not isinstance(pid, int):
        return manifest.status  # another machine's process, or no pid recorded: cannot tell
    return manifest.status if pid_alive(pid) else "dead"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)  # signal 0: no signal sent, only the existence (and permission) check
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"  # the state follows the command name
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is the answer
