"""The checkpoint registry: which MAE weights exist, what they are, and where they may be found.

Entries are data (frozen dataclasses), in the spirit of timm's ``PretrainedCfg``. Users add or override entries with
a JSON or TOML file named by ``MAE_CHECKPOINTS_FILE`` (or the CLI's ``--registry``)::

    [checkpoints.my-large]                       # a new entry: architecture and loss_type are required
    architecture = "mae_vit_large_patch16"
    loss_type = "pixel"
    sources = [{hub = "me/mae-weights", filename = "mae_visualize_vit_large.pth"}, {file = "weights/large.pth"}]

    [checkpoints.vit-large-gan]                  # an override: the fields given replace the built-in ones
    sources = [{file = "/data/mae_visualize_vit_large_ganloss.pth"}]

This module also knows the caches (Hugging Face, torch hub) and finds files in them WITHOUT network access; turning
any source string into a file is ``sources.py``, and the downloads live in ``downloads.py``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlparse

from huggingface_hub import try_to_load_from_cache

SourceKind = Literal["hub", "url", "file", "bundled"]
LossType = Literal["pixel", "gan"]
LOSS_TYPES: tuple[LossType, ...] = get_args(LossType)

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "bundled"
SUMS_FILE = "SHA256SUMS"
ENV_REGISTRY_FILE = "MAE_CHECKPOINTS_FILE"
OFFICIAL_URL = "https://dl.fbaipublicfiles.com/mae/visualize/"
PRETRAIN_URL = "https://dl.fbaipublicfiles.com/mae/pretrain/"  # the norm-pix pre-training files with decoders
# what a norm-pix entry says about its unpublished size and hash (its Source has size and sha256 None: unverified)
UNPUBLISHED_HASH = "size and sha256 not published by the authors: the download is not verified"
WEIGHTS_LICENCE = "CC-BY-NC-4.0"
# transformers' weight files, in the order a Hub repo is searched when no file is named
HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class RegistryError(ValueError):
    """A registry file or entry is malformed, or a checkpoint name is unknown."""


@dataclass(frozen=True)
class Source:
    """One place a checkpoint's weights can come from.

    ``hub``: ``location`` is a Hub repo id and ``filename`` a file in it (transformers folders also need
    ``config.json`` beside the weights, fetched with them). ``url``: a plain download, cached under torch hub's
    ``checkpoints/``. ``file``: a local path. ``bundled``: a file name in ``mae_core/bundled/``.
    """

    kind: SourceKind
    location: str
    filename: str | None = None
    revision: str | None = None
    sha256: str | None = None  # expected, lower-case hex, when known
    size: int | None = None  # expected bytes, when known

    def __post_init__(self) -> None:
        if self.kind not in ("hub", "url", "file", "bundled"):
            raise RegistryError(f"source kind must be hub, url, file or bundled, got {self.kind!r}")
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise RegistryError(f"sha256 must be 64 lower-case hex digits, got {self.sha256!r}")

    def describe(self) -> str:
        if self.kind == "hub":
            rev = f"@{self.revision}" if self.revision else ""
            return f"hf://{self.location}/{self.filename or ''}{rev}".rstrip("/")
        return self.location if self.kind != "bundled" else f"bundled:{self.location}"


@dataclass(frozen=True)
class CheckpointEntry:
    """A named checkpoint: what it is (architecture, loss, training mask ratio, licence) and its sources in order."""

    name: str
    architecture: str  # a key of ``model.PRESETS``, or a free label ("tiny") for files that describe themselves
    loss_type: LossType
    sources: tuple[Source, ...]
    mask_ratio: float = 0.75  # the ratio it was trained with
    norm_pix: bool = False  # trained on per-patch normalised targets: reconstructions look patchy
    licence: str = WEIGHTS_LICENCE
    description: str = ""

    def __post_init__(self) -> None:
        if self.loss_type not in LOSS_TYPES:
            raise RegistryError(f"entry {self.name!r}: loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if not self.sources:
            raise RegistryError(f"entry {self.name!r} has no sources")
        if not 0.0 < self.mask_ratio < 1.0:
            raise RegistryError(f"entry {self.name!r}: mask_ratio must lie in (0, 1), got {self.mask_ratio!r}")


def _official(
    name: str, architecture: str, loss_type: LossType, file: str, hub: Source | None, **extra
) -> CheckpointEntry:
    url = Source("url", OFFICIAL_URL + file, size=extra.pop("size", None))
    return CheckpointEntry(name, architecture, loss_type, (hub, url) if hub else (url,), **extra)


def _norm_pix(name: str, architecture: str, file: str, model: str) -> CheckpointEntry:
    """An official pre-training checkpoint WITH its decoder (``*_full.pth``), trained with ``norm_pix_loss``."""
    return CheckpointEntry(
        name,
        architecture,
        "pixel",
        (Source("url", PRETRAIN_URL + file),),
        norm_pix=True,
        description=(
            f"official {model} pre-training weights with decoder, norm-pix targets (predictions are per-patch "
            f"normalised: reconstruct de-normalises them, denorm='honest' or 'oracle'); {UNPUBLISHED_HASH}"
        ),
    )


BUILTIN: tuple[CheckpointEntry, ...] = (
    _official(
        "vit-large-pixel",
        "mae_vit_large_patch16",
        "pixel",
        "mae_visualize_vit_large.pth",
        Source("hub", "facebook/vit-mae-large", "pytorch_model.bin"),
        size=1_318_315_181,
        description="official ViT-L/16 visualisation weights, pixel targets",
    ),
    _official(
        "vit-large-gan",
        "mae_vit_large_patch16",
        "gan",
        "mae_visualize_vit_large_ganloss.pth",
        None,
        description="official ViT-L/16 trained with an extra GAN loss (sharper fills); exists only as a URL",
    ),
    _official(
        "vit-base-pixel",
        "mae_vit_base_patch16",
        "pixel",
        "mae_visualize_vit_base.pth",
        Source("hub", "facebook/vit-mae-base", "model.safetensors"),
        description="official ViT-B/16 visualisation weights, pixel targets",
    ),
    _official(
        "vit-huge-pixel",
        "mae_vit_huge_patch14",
        "pixel",
        "mae_visualize_vit_huge.pth",
        Source("hub", "facebook/vit-mae-huge", "pytorch_model.bin"),
        description="official ViT-H/14 visualisation weights, pixel targets",
    ),
    _norm_pix("vit-base-normpix", "mae_vit_base_patch16", "mae_pretrain_vit_base_full.pth", "ViT-B/16"),
    _norm_pix("vit-large-normpix", "mae_vit_large_patch16", "mae_pretrain_vit_large_full.pth", "ViT-L/16"),
    _norm_pix("vit-huge-normpix", "mae_vit_huge_patch14", "mae_pretrain_vit_huge_full.pth", "ViT-H/14"),
    CheckpointEntry(
        "tiny-pixel",
        "tiny",
        "pixel",
        (Source("bundled", "tiny-pixel.safetensors"),),
        licence="see mae_core/bundled/MODEL_CARD.md",
        description="bundled tiny MAE trained by this project, pixel loss (works offline, instantly)",
    ),
    CheckpointEntry(
        "tiny-gan",
        "tiny",
        "gan",
        (Source("bundled", "tiny-gan.safetensors"),),
        licence="see mae_core/bundled/MODEL_CARD.md",
        description="bundled tiny MAE fine-tuned with an adversarial loss",
    ),
)


# ---- the registry: built-ins + the user's file ----
def registry(path: str | os.PathLike | None = None) -> dict[str, CheckpointEntry]:
    """Entries by name: the built-ins, then the user's file (``path``, else ``$MAE_CHECKPOINTS_FILE``) on top."""
    entries = {entry.name: entry for entry in BUILTIN}
    if path is None and os.environ.get(ENV_REGISTRY_FILE):
        path = os.environ[ENV_REGISTRY_FILE]
    if path is not None:
        entries.update(read_registry_file(Path(path), entries))
    return entries


def read_registry_file(path: Path, base: Mapping[str, CheckpointEntry]) -> dict[str, CheckpointEntry]:
    """Parse a JSON/TOML registry file; entries named in ``base`` are overridden field by field."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"cannot read registry file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text.decode("utf-8"))
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise RegistryError(f"registry file {path} must end in .json or .toml")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"registry file {path} is not valid {path.suffix[1:].upper()}: {exc}") from None
    table = data.get("checkpoints") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise RegistryError(f"registry file {path} needs a top-level 'checkpoints' table of entries by name")
    return {name: _parse_entry(name, spec, base.get(name), path.parent) for name, spec in table.items()}


_ENTRY_KEYS = {f.name for f in fields(CheckpointEntry)} - {"name"}
_SOURCE_KEYS = {"hub", "url", "file", "filename", "revision", "sha256", "size"}


def _parse_entry(name: str, spec: object, base: CheckpointEntry | None, root: Path) -> CheckpointEntry:
    if not isinstance(spec, dict):
        raise RegistryError(f"registry entry {name!r} must be a table, got {spec!r}")
    unknown = set(spec) - _ENTRY_KEYS
    if unknown:
        raise RegistryError(f"registry entry {name!r}: unknown keys {sorted(unknown)}; accepted: {sorted(_ENTRY_KEYS)}")
    values = dict(spec)
    if "sources" in values:
        sources = values["sources"]
        if not isinstance(sources, list) or not sources:
            raise RegistryError(f"registry entry {name!r}: 'sources' must be a non-empty list, got {sources!r}")
        values["sources"] = tuple(_parse_source(name, s, root) for s in sources)
    try:
        if base is not None:
            return replace(base, **values)
        missing = {"architecture", "loss_type", "sources"} - set(values)
        if missing:
            raise RegistryError(f"new registry entry {name!r} needs {sorted(missing)}")
        return CheckpointEntry(name=name, **values)
    except TypeError as exc:
        raise RegistryError(f"registry entry {name!r}: {exc}") from None


def _parse_source(name: str, spec: object, root: Path) -> Source:
    if isinstance(spec, str):  # shorthand: "hf://org/repo/file", a URL, or a path
        spec = {"hub": spec[5:]} if spec.startswith("hf://") else {"url" if "://" in spec else "file": spec}
    if not isinstance(spec, dict):
        raise RegistryError(f"registry entry {name!r}: a source must be a table or a string, got {spec!r}")
    unknown = set(spec) - _SOURCE_KEYS
    kinds = [k for k in ("hub", "url", "file") if k in spec]
    if unknown or len(kinds) != 1:
        raise RegistryError(
            f"registry entry {name!r}: a source needs exactly one of hub/url/file (plus filename, revision, sha256, "
            f"size), got {sorted(spec)}"
        )
    kind = kinds[0]
    location = str(spec[kind])
    filename = spec.get("filename")
    if kind == "hub" and filename is None and location.count("/") > 1:  # "org/repo/file.pth"
        org, repo, filename = location.split("/", 2)
        location = f"{org}/{repo}"
    if kind == "file":
        location = str((root / Path(location).expanduser()).resolve())
    sha = spec.get("sha256")
    return Source(kind, location, filename, spec.get("revision"), sha.lower() if sha else None, spec.get("size"))


def get_entry(name: str, entries: Mapping[str, CheckpointEntry] | None = None) -> CheckpointEntry:
    entries = registry() if entries is None else entries
    if name not in entries:
        raise RegistryError(f"unknown checkpoint {name!r}; known: {', '.join(entries)}")
    return entries[name]


# ---- caches (resolved at call time: huggingface_hub reads its environment variables at import) ----
def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "MAE_OFFLINE")


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` if given, else True when ``HF_HUB_OFFLINE`` or ``MAE_OFFLINE`` is set."""
    if offline is not None:
        return offline
    return bool(offline_switches())


def offline_switches() -> tuple[str, ...]:
    """The variables of ``OFFLINE_VARIABLES`` that are set (to 1, true, yes or on): what turns downloads off."""
    return tuple(name for name in OFFLINE_VARIABLES if _env_flag(name))


def hf_cache_dir() -> Path:
    """``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub`` (``~/.cache``)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.environ[var])).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    home = os.environ.get("HF_HOME") or os.path.join(xdg, "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def torch_hub_checkpoints_dir() -> Path:
    """Where torch hub keeps URL downloads: ``torch.hub.get_dir()/checkpoints`` (honours ``$TORCH_HOME``)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def url_filename(url: str) -> str:
    return os.path.basename(urlparse(url).path)


def hub_filenames(source: Source) -> tuple[str, ...]:
    return (source.filename,) if source.filename else HUB_WEIGHT_FILES


def find_in_hf_cache(repo_id: str, filename: str, revision: str | None = None) -> Path | None:
    """The cached file of ``repo_id/filename@revision``, or None; never touches the network."""
    found = try_to_load_from_cache(repo_id, filename, cache_dir=hf_cache_dir(), revision=revision)
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


@dataclass(frozen=True)
class Located:
    """A checkpoint file found on disk and how it got there."""

    path: Path
    source: Source
    where: str  # "local file", "bundled", "Hugging Face cache", "torch hub cache"

    @property
    def place(self) -> str:
        """Where the file is in cache terms, without the machine's folders: what a Space may show its visitors."""
        if self.where == "Hugging Face cache":
            revision = f"@{self.source.revision}" if self.source.revision else ""
            return f"Hugging Face cache: {self.source.location}/{self.source.filename or self.path.name}{revision}"
        return f"{self.where}: {self.path.name}"


def locate_source(source: Source) -> Located | None:
    """The source's file if it is on disk already (local, bundled or in a cache), else None."""
    if source.kind == "file":
        path = Path(source.location)
        return Located(path, source, "local file") if path.exists() else None
    if source.kind == "bundled":
        path = BUNDLED_DIR / source.location
        return Located(path, source, "bundled") if path.is_file() else None
    if source.kind == "hub":
        for filename in hub_filenames(source):
            path = find_in_hf_cache(source.location, filename, source.revision)
            if path is not None:
                return Located(path, replace(source, filename=filename), "Hugging Face cache")
        return None
    path = torch_hub_checkpoints_dir() / url_filename(source.location)
    return Located(path, source, "torch hub cache") if path.is_file() else None


def places_looked(source: Source) -> str:
    """Human description of where :func:`locate_source` looks, for 'not found' messages."""
    if source.kind == "file":
        return f"local file {source.location}"
    if source.kind == "bundled":
        return f"bundled file {BUNDLED_DIR / source.location}"
    if source.kind == "hub":
        files = "|".join(hub_filenames(source))
        rev = f"@{source.revision}" if source.revision else ""
        return f"Hugging Face cache {hf_cache_dir()} ({source.location}/{files}{rev})"
    return f"torch hub cache {torch_hub_checkpoints_dir() / url_filename(source.location)}"


def locate(entry: CheckpointEntry) -> Located | None:
    """The first of the entry's sources already on disk, in the entry's order."""
    for source in entry.sources:
        found = locate_source(source)
        if found is not None:
            return found
    return None


def bundled_sums(directory: Path | None = None) -> dict[str, str]:
    """File name -> sha256 from ``SHA256SUMS`` (``sha256sum`` format); empty when the file is absent."""
    try:
        lines = ((directory or BUNDLED_DIR) / SUMS_FILE).read_text().splitlines()
    except OSError:
        return {}
    sums = {}
    for line in lines:
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and _SHA256.match(parts[0].lower()):
            sums[parts[1].lstrip("*").strip()] = parts[0].lower()  # "*name" marks binary mode
    return sums


def expected_sha256(source: Source) -> str | None:
    """The hash a source's file must have: the registry's, else ``SHA256SUMS`` for bundled files."""
    if source.sha256:
        return source.sha256
    if source.kind == "bundled":
        return bundled_sums().get(source.location)
    return None


# ---- status for listings and for choosing the app's defaults ----
@dataclass(frozen=True)
class CheckpointStatus:
    name: str
    state: Literal["bundled", "cached", "local", "missing"]
    where: str  # human: the cache or folder, or what is missing
    path: Path | None
    size: int | None  # bytes on disk, else the expected size when known
    place: str = ""  # Located.place: the cache and the file's name in it, no folders; empty when missing


def checkpoint_status(entry: CheckpointEntry) -> CheckpointStatus:
    """Where the entry's weights are on this machine (no network)."""
    found = locate(entry)
    if found is None:
        size = next((s.size for s in entry.sources if s.size), None)
        return CheckpointStatus(entry.name, "missing", "not downloaded", None, size)
    state = {"bundled": "bundled", "local file": "local"}.get(found.where, "cached")
    return CheckpointStatus(entry.name, state, found.where, found.path, _file_size(found.path), found.place)


def _file_size(path: Path) -> int | None:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    try:
        return path.stat().st_size
    except OSError:
        return None


@dataclass(frozen=True)
class DefaultPair:
    pixel: str
    gan: str
    note: str  # why this pair, for the app's status line


LARGE_PAIR = ("vit-large-pixel", "vit-large-gan")
TINY_PAIR = ("tiny-pixel", "tiny-gan")


def default_pair(offline: bool | None = None, entries: Mapping[str, CheckpointEntry] | None = None) -> DefaultPair:
    """The (pixel, gan) names the app should show: ViT-L when both are on disk, else the bundled tiny pair."""
    entries = registry() if entries is None else entries
    missing = [n for n in LARGE_PAIR if n not in entries or locate(entries[n]) is None]
    if not missing:
        return DefaultPair(*LARGE_PAIR, note="using the official ViT-L pair (pixel and GAN loss), found on disk")
    how = (
        "downloads are off (HF_HUB_OFFLINE/MAE_OFFLINE)"
        if is_offline(offline)
        else f"fetch with `python -m mae_core download {' '.join(missing)}`"
    )
    tiny_missing = [n for n in TINY_PAIR if n not in entries or locate(entries[n]) is None]
    tiny = (
        "using the bundled tiny pair"
        if not tiny_missing
        else f"the bundled tiny pair is missing too ({', '.join(tiny_missing)})"
    )
    return DefaultPair(*TINY_PAIR, note=f"{tiny}: {', '.join(missing)} not on disk; {how}")
