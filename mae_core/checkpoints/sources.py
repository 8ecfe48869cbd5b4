"""From what a user typed to one weights file on disk: registry names, local files or folders, ``hf://`` and URLs.

Without network the order is: local path -> Hugging Face cache -> torch hub cache (and ``mae_core/bundled/``);
only when downloads are allowed does a missing file go through ``downloads``, into those same caches.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..files import file_sha256
from .downloads import fetch_first
from .errors import CheckpointNotFoundError, HashMismatchError
from .registry import (
    HUB_WEIGHT_FILES,
    CheckpointEntry,
    Located,
    Source,
    expected_sha256,
    is_offline,
    locate_source,
    offline_switches,
    places_looked,
    url_filename,
)
from .registry import registry as load_registry

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Resolved:
    """The weights file a source string stands for, and how it was found."""

    name: str  # registry name, else a name derived from the source
    path: Path  # the weights file
    source: Source
    where: str  # "local file", "bundled", "Hugging Face cache", "torch hub cache"
    entry: CheckpointEntry | None


def resolve(
    source: str | os.PathLike,
    *,
    offline: bool | None = None,
    registry: Mapping[str, CheckpointEntry] | None = None,
) -> Resolved:
    """Find (or, when allowed, download) the weights file for ``source``. Raises :class:`CheckpointNotFoundError`."""
    entries = load_registry() if registry is None else registry
    text = os.fspath(source)
    if isinstance(source, str) and text in entries:
        entry = entries[text]
        return _resolve_sources(entry.name, entry.sources, entry, offline)
    if text.startswith("hf://"):
        hub = parse_hf_uri(text)
        entry = _entry_for(
            entries, lambda s: s.kind == "hub" and s.location == hub.location and hub.filename in (None, s.filename)
        )
        return _resolve_sources(entry.name if entry else text[5:], (hub,), entry, offline)
    if text.startswith(("http://", "https://")):
        url = Source("url", text)
        entry = _entry_for(entries, lambda s: s.kind == "url" and s.location == text)
        return _resolve_sources(entry.name if entry else url_filename(text), (url,), entry, offline)
    path = Path(text).expanduser()
    if path.exists():
        return _resolve_local(path, entries)
    raise CheckpointNotFoundError(
        f"{text!r} is not a registry name, an existing file or folder, hf://org/repo[/file][@revision] or a URL; "
        f"registry names: {', '.join(entries)}"
    )


def download(name_or_uri: str, *, registry: Mapping[str, CheckpointEntry] | None = None) -> Resolved:
    """Make a checkpoint available on disk, downloading it if needed; ignores offline settings by design."""
    return resolve(name_or_uri, offline=False, registry=registry)


def parse_hf_uri(uri: str) -> Source:
    """``hf://org/repo[/path/in/repo][@revision]`` -> a hub :class:`Source`."""
    body, _, revision = uri[len("hf://") :].partition("@")
    parts = body.strip("/").split("/", 2)
    if len(parts) < 2 or not all(parts[:2]):
        raise CheckpointNotFoundError(f"expected hf://org/repo[/file][@revision], got {uri!r}")
    return Source("hub", f"{parts[0]}/{parts[1]}", parts[2] if len(parts) == 3 else None, revision or None)


def hub_blob_sha256(path: str | os.PathLike) -> str | None:
    """The Hub cache names LFS blobs by their sha256: free and exact for weight files."""
    name = os.path.basename(os.path.realpath(path))
    return name if _HEX64.match(name) else None


def verify_sha256(resolved: Resolved) -> str | None:
    """Compare against the expected sha256 when one is known; return the hash when it came for free or was paid."""
    blob = hub_blob_sha256(resolved.path)
    expected = expected_sha256(resolved.source)
    if expected is None:
        return blob
    actual = blob or file_sha256(resolved.path)
    if actual != expected:
        raise HashMismatchError(
            f"{resolved.path} has sha256 {actual}, but {resolved.name!r} must be {expected}: the file is damaged or "
            "not the published one; delete it and run "
            f"`python -m mae_core download {download_spec(resolved.name, resolved.source, resolved.entry)}`"
        )
    return actual


def _resolve_local(path: Path, entries: Mapping[str, CheckpointEntry]) -> Resolved:
    weights = _weights_in(path) if path.is_dir() else path
    # a local copy of an official file keeps its registry identity (and so its loss type)
    entry = _entry_for(entries, lambda s: s.kind == "url" and url_filename(s.location) == weights.name)
    name = entry.name if entry else (path.name if path.is_dir() else path.stem)
    return Resolved(name, weights, Source("file", str(path.resolve())), "local file", entry)


def _entry_for(entries: Mapping[str, CheckpointEntry], match: Callable[[Source], bool]) -> CheckpointEntry | None:
    return next((e for e in entries.values() if any(match(s) for s in e.sources)), None)


def _weights_in(folder: Path) -> Path:
    """The weights file of a folder: transformers' names first, else its only checkpoint file."""
    for name in HUB_WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise CheckpointNotFoundError(
            f"folder {folder} must hold {', '.join(HUB_WEIGHT_FILES)} or exactly one of "
            f"{'/'.join(WEIGHT_SUFFIXES)} files; found {found}"
        )
    return candidates[0]


def _resolve_sources(
    name: str, sources: tuple[Source, ...], entry: CheckpointEntry | None, offline: bool | None
) -> Resolved:
    for source in sources:
        found = locate_source(source)
        if found is not None:
            return _resolved(name, found, entry)
    looked = "; ".join(places_looked(s) for s in sources)
    command = f"python -m mae_core download {download_spec(name, sources[0], entry)}"
    elsewhere = f"fetch it on a machine with internet (`{command}`) and copy the file into one of those places"
    if is_offline(offline):
        raise CheckpointNotFoundError(
            f"checkpoint {name!r} is not on this machine and {_offline_advice(offline, command)}; looked in: "
            f"{looked}. Or {elsewhere}"
        )
    try:
        return _resolved(name, fetch_first(name, sources), entry)
    except CheckpointNotFoundError as err:  # no server answered: this machine may have no network at all
        raise CheckpointNotFoundError(f"{str(err).rstrip('.')}. Without network here, {elsewhere}: {looked}") from None


def _offline_advice(offline: bool | None, command: str) -> str:
    """Why downloads are off, and what turns them back on (``command`` fetches the checkpoint once allowed)."""
    switches = offline_switches() if offline is None else ()
    if not switches:
        return "downloads are off (offline=True was passed)"
    names = " and ".join(switches)
    verb, pronoun = ("is", "it") if len(switches) == 1 else ("are", "them")
    unset = " ".join(f"-u {name}" for name in switches)
    return f"downloads are off because {names} {verb} set: unset {pronoun} to download here (`env {unset} {command}`)"


def download_spec(name: str, source: Source, entry: CheckpointEntry | None) -> str:
    """What to type after ``python -m mae_core download`` to fetch this checkpoint: its registry name, else the
    ``hf://`` id or URL it came from (a name derived from a URL's file name would not resolve)."""
    if entry is not None:
        return entry.name
    return source.describe() if source.kind in ("hub", "url") else name


def _resolved(name: str, found: Located, entry: CheckpointEntry | None) -> Resolved:
    path = _weights_in(found.path) if found.path.is_dir() else found.path
    return Resolved(name, path, found.source, found.where, entry)
