"""A run's record, ``manifest.json``, as typed data: every reader and writer goes through :class:`Manifest`.

The JSON object holds (every key but ``run_id`` is optional, so runs written by earlier versions load)::

    run_id, status, created, ended        identity and life cycle (UTC ISO 8601 times)
    schema_version                        the losses.csv schema of the run (absent: 1, the store's first)
    config                                the SweepConfig that defines the run
    checkpoints                           one CheckpointRecord per checkpoint: name, source, sha256, loss_type...
    ratios, seeds, dtype, device, cells   the study's axes and how it is computed
    images                                one ImageRecord per image: name, path, sha256 (once read); a dataset
                                          row adds its dataset's position in ``datasets`` and its index
    datasets                              one DatasetSource per dataset argument: id, revision, split, column,
                                          the chosen row indices (experiments.datasets)
    metrics                               the metric columns the rows fill (the others are empty cells)
    environment                           Python, platform, package versions, git commit (free-form, for people)
    errors                                one ImageFailure per image that could not be read
    rows, resumed, fatal                  added as the run goes: row count, resume times, what stopped it

Top-level keys this version does not know are kept in ``Manifest.extra`` and written back as they were, so a
status update by an older version never drops what a newer one added. Inside the records, unknown keys are ignored:
records are written by the sweep alone, from the checkpoints and images it holds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Self

from experiments.config import SweepConfig
from experiments.sources import DatasetSource, ImageFailure
from mae_core.options import BASE_METRICS

if TYPE_CHECKING:
    from mae_core.checkpoints.loading import CheckpointInfo
    from mae_core.checkpoints.registry import LossType

RunStatus = Literal["running", "finished", "failed", "interrupted"]
_STATUSES = ("running", "finished", "failed", "interrupted")
IN_MEMORY_SOURCE = "in-memory model"  # the source of a checkpoint passed to run_sweep(models=...) as a model


class _Record:
    """``to_dict``/``from_dict`` of a flat record. Fields left at None are not written, except ``sha256``, whose
    None says "not hashed" to readers."""

    def to_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)  # every subclass is a dataclass
        return {key: value for key, value in data.items() if value is not None or key == "sha256"}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class CheckpointRecord(_Record):
    """A checkpoint as the run used it."""

    name: str  # its name in the run: the user's spec, or the key of run_sweep(models=...)
    source: str = IN_MEMORY_SOURCE  # canonical origin: hf://..., a URL, bundled:<file>, a local path
    sha256: str | None = None  # of the weights file; None for an in-memory model
    loss_type: LossType | Literal["unknown"] = "unknown"
    path: str | None = None  # the weights file read
    format: str | None = None  # "official" | "state_dict" | "transformers" | "mae_core" | "safetensors"
    norm_pix: bool | None = None
    checkpoint_name: str | None = None  # the registry's (or a derived) name of the weights

    @classmethod
    def of(cls, name: str, info: CheckpointInfo | None) -> CheckpointRecord:
        """The record of a model named ``name`` in the run, from its ``checkpoint_info`` (None: built in memory)."""
        if info is None:
            return cls(name=name)
        return cls(
            name=name,
            source=info.source,
            sha256=info.sha256,
            loss_type=info.loss_type,
            path=str(info.path),
            format=info.format,
            norm_pix=info.norm_pix,
            checkpoint_name=info.name,
        )


@dataclass(frozen=True)
class ImageRecord(_Record):
    """An image of the run: its name in the store, where it was read, and its sha256 once it has been read."""

    name: str
    path: str
    sha256: str | None = None
    dataset: int | None = None  # a dataset row: the position of its DatasetSource in the manifest's ``datasets``
    index: int | None = None  # ... and its row in that dataset


@dataclass(frozen=True)
class Manifest:
    """The content of one run's ``manifest.json``."""

    run_id: str
    schema_version: int = 1  # runs written before the key existed hold the first schema
    status: RunStatus = "running"
    created: str | None = None
    ended: str | None = None
    config: SweepConfig | None = None
    checkpoints: tuple[CheckpointRecord, ...] = ()
    ratios: tuple[float, ...] = ()
    seeds: tuple[int, ...] = ()
    dtype: str | None = None
    device: str | None = None
    cells: int | None = None  # cells the run plans: images x checkpoints x ratios x seeds
    metrics: tuple[str, ...] | None = None  # the metric columns its rows fill; None: not recorded (loss, mse, psnr)
    images: tuple[ImageRecord, ...] = ()
    datasets: tuple[DatasetSource, ...] = ()  # the datasets some images are rows of, with the rows chosen
    environment: Mapping[str, object] = field(default_factory=dict)
    errors: tuple[ImageFailure, ...] = ()
    rows: int | None = None  # rows stored, written when the run finishes
    resumed: tuple[str, ...] = ()  # when each resume started
    fatal: str | None = None  # the error that stopped a failed run
    extra: Mapping[str, object] = field(default_factory=dict)  # keys this version does not know, kept as they are

    @property
    def computed_metrics(self) -> tuple[str, ...]:
        """The metric columns the run's rows fill (loss, mse, psnr where the manifest lists none)."""
        return self.metrics if self.metrics is not None else BASE_METRICS

    def recorded_config(self) -> SweepConfig:
        """The run's config, what a resume must measure; ``ValueError`` when the run records none."""
        if self.config is None:
            raise ValueError(f"run {self.run_id} records no sweep configuration, so it cannot be resumed")
        return self.config

    def to_json(self) -> str:
        """The manifest as JSON text (keys in the order above; ``datasets``, ``rows``, ``resumed``, ``fatal`` only once
        set, and ``schema_version`` from schema 2 on: a run of the first schema is written back as it was)."""
        data: dict[str, object] = {"run_id": self.run_id}
        if self.schema_version != 1:
            data["schema_version"] = self.schema_version
        data |= {
            "status": self.status,
            "created": self.created,
            "ended": self.ended,
            "config": self.config.to_dict() if self.config is not None else None,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "ratios": list(self.ratios),
            "seeds": list(self.seeds),
            "dtype": self.dtype,
            "device": self.device,
            "cells": self.cells,
            "images": [i.to_dict() for i in self.images],
            "environment": dict(self.environment),
            "errors": [e.to_dict() for e in self.errors],
        }
        if self.metrics is not None:
            data["metrics"] = list(self.metrics)
        late = {
            "datasets": [d.to_dict() for d in self.datasets] or None,
            "rows": self.rows,
            "resumed": list(self.resumed) or None,
            "fatal": self.fatal,
        }
        data.update({key: value for key, value in late.items() if value is not None})
        data.update(self.extra)
        return json.dumps(data, indent=2, allow_nan=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest; ``ValueError`` saying what is wrong when the text is not one (not JSON, no ``run_id``,
        a field of the wrong type, a malformed part)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not valid JSON ({err})") from None
        if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
            raise ValueError("not a run manifest: expected a JSON object with a run_id")
        for key, (kinds, expected) in _TYPES.items():
            value = data.get(key)
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds):
                raise ValueError(f"manifest of run {data['run_id']}: {key!r} is {value!r}, expected {expected}")
        if data.get("status", "running") not in _STATUSES:
            raise ValueError(
                f"manifest of run {data['run_id']}: 'status' is {data['status']!r}, expected one of "
                + ", ".join(_STATUSES)
            )
        try:
            return cls._from_mapping(data)
        except (TypeError, ValueError, AttributeError, KeyError) as err:
            raise ValueError(f"manifest of run {data['run_id']} is malformed: {type(err).__name__}: {err}") from None

    @classmethod
    def _from_mapping(cls, data: Mapping[str, object]) -> Manifest:
        config = data.get("config")
        return cls(
            **_known(cls, data, skip=_CONVERTED),
            config=SweepConfig.from_dict(config) if config else None,
            checkpoints=tuple(CheckpointRecord.from_dict(c) for c in data.get("checkpoints") or ()),
            ratios=tuple(data.get("ratios") or ()),
            seeds=tuple(data.get("seeds") or ()),
            images=tuple(ImageRecord.from_dict(i) for i in data.get("images") or ()),
            datasets=tuple(DatasetSource.from_dict(d) for d in data.get("datasets") or ()),
            environment=dict(data.get("environment") or {}),
            errors=tuple(ImageFailure.from_dict(e) for e in data.get("errors") or ()),
            resumed=tuple(data.get("resumed") or ()),
            metrics=tuple(data["metrics"]) if data.get("metrics") is not None else None,
            extra={k: v for k, v in data.items() if k not in _MANIFEST_FIELDS},
        )


def _known(cls: type, data: Mapping[str, object], skip: frozenset[str] = frozenset()) -> dict[str, object]:
    """The items of ``data`` that name a field of the dataclass ``cls`` (and are not in ``skip``)."""
    names = {f.name for f in dataclasses.fields(cls)} - skip
    return {key: value for key, value in data.items() if key in names}


# fields from_json converts itself (records, tuples, the config) instead of taking them as the JSON has them
_CONVERTED = frozenset(
    {
        "config",
        "checkpoints",
        "ratios",
        "seeds",
        "images",
        "datasets",
        "environment",
        "errors",
        "resumed",
        "metrics",
        "extra",
    }
)
# the JSON types of the manifest's fields (None is accepted for each): a hand-edited manifest is refused by name
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "schema_version": ((int,), "a whole number"),
    "created": ((str,), "a UTC time as text"),
    "ended": ((str,), "a UTC time as text"),
    "config": ((dict,), "an object"),
    "checkpoints": ((list,), "a list"),
    "ratios": ((list,), "a list"),
    "seeds": ((list,), "a list"),
    "dtype": ((str,), "text"),
    "device": ((str,), "text"),
    "cells": ((int,), "a whole number"),
    "metrics": ((list,), "a list"),
    "images": ((list,), "a list"),
    "datasets": ((list,), "a list"),
    "environment": ((dict,), "an object"),
    "errors": ((list,), "a list"),
    "rows": ((int,), "a whole number"),
    "resumed": ((list,), "a list"),
    "fatal": ((str,), "text"),
}
_MANIFEST_FIELDS = frozenset(f.name for f in dataclasses.fields(Manifest)) - {"extra"}
