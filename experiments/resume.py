"""Resuming a sweep: which recorded settings a resume may change and which it must repeat.

A resume computes a run's missing cells as recorded. How to compute (:data:`COMPUTE_FIELDS`) may differ from the
first session; what to measure (:data:`MEASURED_FLAGS`) may only be repeated: a difference would put other cells
into the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from experiments.config import SweepConfig
from experiments.manifest import Manifest

# how to compute, by SweepConfig field: a resume takes these from the new session
COMPUTE_FIELDS = ("batch_size", "device")
# what a sweep measures, by SweepConfig field and the flag that sets it: a resume must not change these
MEASURED_FLAGS = {
    "images": "--images",
    "checkpoints": "--checkpoints",
    "ratios": "--ratios",
    "seeds": "--seeds",
    "masks": "--masks",
    "dtype": "--dtype",
    "crop": "--crop",
    "split": "--split",
    "image_column": "--image-column",
    "limit": "--limit",
    "sample_seed": "--sample-seed",
    "metrics": "--metrics",
    "keep_images": "--keep-images",
}


class ResumeMismatch(ValueError):
    """A resume asks to measure something other than the run records."""


def resumed_config(run_id: str, manifest: Manifest, given: Mapping[str, object]) -> SweepConfig:
    """The run's recorded config with how to compute as ``given``. Fields of ``given`` that say what to measure are
    accepted when they repeat the recorded ones (the original command with ``--resume`` added), and refused with
    :class:`ResumeMismatch`, each difference named by its flag, when they do not."""
    measured = _as_measured(manifest)
    asked = dataclasses.replace(measured, **given)  # normalised as any config: 0.1*3 is 0.3, seeds deduplicated
    differing = [
        (flag, name)
        for name, flag in MEASURED_FLAGS.items()
        if name in given and not _same(getattr(asked, name), getattr(measured, name))
    ]
    if differing:
        said = "; ".join(
            f"{flag} asks for {_shown(getattr(asked, name))} where the run records {_shown(getattr(measured, name))}"
            for flag, name in differing
        )
        flags = ", ".join(flag for flag, _ in differing)
        raise ResumeMismatch(
            f"sweep --resume {run_id} continues the run as recorded, but {said}; drop {flags} or start a new run"
        )
    return with_compute(manifest.recorded_config(), given)


def with_compute(recorded: SweepConfig, given: Mapping[str, object] | SweepConfig) -> SweepConfig:
    """``recorded`` with how to compute taken from ``given`` (a config, or the fields a command line set)."""
    if isinstance(given, SweepConfig):
        given = {name: getattr(given, name) for name in COMPUTE_FIELDS}
    return dataclasses.replace(recorded, **{k: v for k, v in given.items() if k in COMPUTE_FIELDS})


def _as_measured(manifest: Manifest) -> SweepConfig:
    """The run's config with the split and image column its datasets were read with where it left them to the
    defaults (``--split validation`` repeats a run that used validation by default)."""
    config = manifest.recorded_config()
    chosen = {}
    for name, attribute in (("split", "split"), ("image_column", "column")):
        used = {getattr(source, attribute) for source in manifest.datasets}
        if getattr(config, name) is None and len(used) == 1 and None not in used:
            chosen[name] = used.pop()
    return dataclasses.replace(config, **chosen)


def _same(asked: object, recorded: object) -> bool:
    """Equal as sets for the axes (the same cells in any order), equal otherwise."""
    if isinstance(asked, tuple) and isinstance(recorded, tuple):
        return set(asked) == set(recorded)
    return asked == recorded


def _shown(value: object, limit: int = 6) -> str:
    if not isinstance(value, tuple):
        return str(value)
    shown = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value[:limit])
    return shown if len(value) <= limit else f"{shown},... ({len(value)} values)"
