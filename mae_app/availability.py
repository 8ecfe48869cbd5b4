"""Whether each checkpoint can be used now: on disk, downloadable on first use, or neither (offline, or its download
host does not answer). The checkpoint dropdowns say so beside each name, and choosing one that cannot be used is
answered at once with one line instead of a load that waits for the network and fails with a library's error."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlparse

from mae_core.checkpoints.registry import CheckpointEntry, checkpoint_status, is_offline, registry

PROBE_TIMEOUT_S = 3.0  # a download host that does not answer this fast counts as unreachable...
PROBE_TTL_S = 300.0  # ...for this long, then it is asked again


def can_connect(host: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``host``:443 opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


class CheckpointAvailability:
    """Per checkpoint of the registry: ``"on disk"``, ``"downloads"`` (missing, its host answers) or
    ``"unavailable"`` (missing, and offline or no host answers). Names the registry does not hold count as on disk
    (their loader knows them). ``probe(host)`` is asked at most once per :data:`PROBE_TTL_S` per host."""

    def __init__(self, probe: Callable[[str], bool] = can_connect) -> None:
        self._probe = probe
        self._answers: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def state(self, name: str) -> str:
        entry = registry().get(name)
        if entry is None or checkpoint_status(entry).state != "missing":
            return "on disk"
        return "downloads" if self._fetchable(entry) else "unavailable"

    def choices(self, names: Sequence[str]) -> list[str | tuple[str, str]]:
        """Dropdown choices: each name, as ``(label, name)`` when it is not on disk (the value stays the name)."""
        labels = {"downloads": "downloads on first use", "unavailable": "not on this server, cannot download"}
        states = {name: self.state(name) for name in names}
        return [(f"{name} ({labels[states[name]]})", name) if states[name] in labels else name for name in names]

    def refusal(self, name: str) -> str | None:
        """One line when ``name`` cannot be used now, else None."""
        if self.state(name) != "unavailable":
            return None
        why = "downloads are off" if is_offline() else "its download server does not answer"
        return f"{name} is not on this server and cannot be downloaded now ({why}): choose another checkpoint."

    def _fetchable(self, entry: CheckpointEntry) -> bool:
        if is_offline():
            return False
        return any(self._reachable(host) for host in _hosts(entry))

    def _reachable(self, host: str) -> bool:
        now = time.monotonic()
        with self._lock:
            known = self._answers.get(host)
        if known is not None and now - known[0] < PROBE_TTL_S:
            return known[1]
        answer = self._probe(host)
        with self._lock:
            self._answers[host] = (now, answer)
        return answer


def _hosts(entry: CheckpointEntry) -> list[str]:
    """The hosts the entry's weights download from (the Hub's endpoint, a URL's host)."""
    from huggingface_hub import constants  # here: the endpoint honours HF_ENDPOINT as huggingface_hub read it

    hosts = []
    for source in entry.sources:
        if source.kind == "hub":
            hosts.append(urlparse(constants.ENDPOINT).hostname or "huggingface.co")
        elif source.kind == "url":
            hosts.append(urlparse(source.location).hostname or "")
    return [h for h in dict.fromkeys(hosts) if h]
