"""Network fetches of checkpoint files, into the same caches that ``sources`` reads without network.

Hub sources go through huggingface_hub's own client into the Hugging Face cache (with ``config.json`` beside
transformers weights); URLs through torch hub's downloader (one tqdm bar, sha256 checked while streaming) into
torch hub's ``checkpoints/`` folder, replacing the cached file atomically so an interrupted or refused download
leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ..files import atomic_output
from .errors import CheckpointNotFoundError, HashMismatchError
from .registry import (
    HUB_WEIGHT_FILES,
    Located,
    Source,
    expected_sha256,
    hf_cache_dir,
    hub_filenames,
    places_looked,
    torch_hub_checkpoints_dir,
    url_filename,
)


def fetch_first(name: str, sources: tuple[Source, ...]) -> Located:
    """Download the first of ``sources`` that a server provides; a wrong sha256 stops at once, any other failure
    tries the next source, and :class:`CheckpointNotFoundError` names every failure when none worked."""
    failures = []
    for source in sources:
        if source.kind in ("file", "bundled"):
            failures.append(f"{places_looked(source)}: absent")
            continue
        try:
            return fetch_hub(source) if source.kind == "hub" else fetch_url(source)
        except HashMismatchError:
            raise
        except Exception as exc:  # any network/HTTP/auth failure: try the next source, then report them all
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            failures.append(f"{source.describe()}: {type(exc).__name__}: {first_line}")
    raise CheckpointNotFoundError(f"could not fetch checkpoint {name!r}: " + "; ".join(failures))


def fetch_hub(source: Source) -> Located:
    """The hub source's weights file (the named one, else the first of transformers' names the repo has)."""
    from huggingface_hub import hf_hub_download  # the client reads HF_ENDPOINT at import: only when fetching
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    cache = hf_cache_dir()
    candidates = hub_filenames(source)
    for filename in candidates:
        try:
            path = hf_hub_download(source.location, filename, revision=source.revision, cache_dir=cache)
        except EntryNotFoundError as exc:
            # LocalEntryNotFoundError: the server did not answer; the next file name would not get an answer either
            if filename == candidates[-1] or isinstance(exc, LocalEntryNotFoundError):
                raise
            continue
        if filename in HUB_WEIGHT_FILES:  # transformers weights need their config
            try:
                hf_hub_download(source.location, "config.json", revision=source.revision, cache_dir=cache)
            except EntryNotFoundError:
                pass  # heads then come from the official presets
        return Located(Path(path), replace(source, filename=filename), "Hugging Face cache")
    raise CheckpointNotFoundError(f"{source.describe()}: no weights file found")


def fetch_url(source: Source) -> Located:
    """The URL's file in torch hub's cache, checked against the source's expected sha256 when it has one."""
    folder = torch_hub_checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / url_filename(source.location)
    expected = expected_sha256(source)
    try:
        with atomic_output(target) as staging:
            torch.hub.download_url_to_file(source.location, str(staging), hash_prefix=expected, progress=True)
    except RuntimeError as exc:
        if "invalid hash value" in str(exc):
            raise HashMismatchError(f"download of {source.location} has the wrong sha256: {exc}") from None
        raise
    return Located(target, source, "torch hub cache")
