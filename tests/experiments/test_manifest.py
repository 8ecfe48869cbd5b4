"""The manifest as typed data: round trips, runs written by earlier versions, keys of later versions kept."""

from __future__ import annotations

import dataclasses
import json

import pytest

from experiments.config import SweepConfig
from experiments.manifest import CheckpointRecord, ImageRecord, Manifest
from experiments.sources import ImageFailure
from experiments.store import RunStore
from mae_core.checkpoints.checkpoint_files import save_checkpoint
from mae_core.checkpoints.loading import load_model
from tests.conftest import make_model

# a manifest as the sweep wrote it before the typed records existed (keys in that version's order)
EARLIER = {
    "run_id": "20250101-120000-abc123",
    "status": "finished",
    "created": "2025-01-01T12:00:00.000Z",
    "ended": "2025-01-01T12:05:00.000Z",
    "config": {
        "images": ["imgs"],
        "checkpoints": ["tiny-pixel", "mine"],
        "ratios": [0.5, 0.75],
        "seeds": [0, 1],
        "batch_size": 16,
        "dtype": "float32",
        "device": None,
        "crop": False,
    },
    "checkpoints": [
        {
            "name": "tiny-pixel",
            "source": "bundled:tiny-pixel.safetensors",
            "path": "/x/tiny-pixel.safetensors",
            "sha256": "ab" * 32,
            "format": "mae_core",
            "loss_type": "pixel",
            "norm_pix": False,
            "checkpoint_name": "tiny-pixel",
        },
        {"name": "mine", "source": "in-memory model", "sha256": None, "loss_type": "unknown"},
    ],
    "ratios": [0.5, 0.75],
    "seeds": [0, 1],
    "dtype": "float32",
    "device": "cpu",
    "cells": 16,
    "images": [{"name": "imgs/a.png", "path": "/data/imgs/a.png", "sha256": "cd" * 32}],
    "environment": {"python": "3.11.7", "packages": {"torch": "2.14.1"}},
    "errors": [{"image": "imgs/b.png", "path": "/data/imgs/b.png", "reason": "imgs/b.png: the file is empty"}],
    "resumed": ["2025-01-01T12:03:00.000Z"],
    "rows": 16,
}


def test_a_manifest_of_an_earlier_version_loads_typed_and_writes_back_the_same():
    manifest = Manifest.from_json(json.dumps(EARLIER))
    expected = SweepConfig(images=("imgs",), checkpoints=("tiny-pixel", "mine"), ratios=(0.5, 0.75), seeds=(0, 1))
    assert manifest.config == expected
    assert manifest.checkpoints[0].loss_type == "pixel" and manifest.checkpoints[0].norm_pix is False
    assert manifest.checkpoints[1] == CheckpointRecord(name="mine")
    assert manifest.images == (ImageRecord("imgs/a.png", "/data/imgs/a.png", "cd" * 32),)
    assert manifest.errors == (ImageFailure("imgs/b.png", "/data/imgs/b.png", "imgs/b.png: the file is empty"),)
    assert manifest.rows == 16 and manifest.resumed == ("2025-01-01T12:03:00.000Z",) and manifest.extra == {}
    assert json.loads(manifest.to_json()) == EARLIER
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_oldest_manifests_load_with_defaults_and_late_keys_stay_out_until_set():
    manifest = Manifest.from_json(json.dumps({"run_id": "r1", "status": "running", "created": "t", "config": None}))
    assert manifest.config is None and manifest.checkpoints == () and manifest.rows is None
    written = json.loads(manifest.to_json())
    assert "rows" not in written and "resumed" not in written and "fatal" not in written
    with pytest.raises(ValueError, match="no sweep configuration"):
        manifest.recorded_config()


def test_keys_of_a_later_version_survive_a_status_update(tmp_path):
    run = RunStore(tmp_path).create(SweepConfig(images=("a",), checkpoints=("x",)))
    data = json.loads(run.manifest_path.read_text())
    data["study"] = {"dataset": "imagenet-val", "split": 3}  # written by a newer version
    data["extra"] = "a key that happens to share the field's name"
    run.manifest_path.write_text(json.dumps(data))
    assert run.read_manifest().extra["study"] == {"dataset": "imagenet-val", "split": 3}
    run.update_manifest(status="finished", rows=0)
    after = json.loads(run.manifest_path.read_text())
    assert after["study"] == {"dataset": "imagenet-val", "split": 3} and after["extra"] == data["extra"]
    assert after["status"] == "finished" and after["rows"] == 0


@pytest.mark.parametrize(
    "text, match",
    [
        ("[1, 2]", "run_id"),
        ('{"status": "finished"}', "run_id"),
        ('{"run_id": "r", "config": {"images": ["a"]}}', "manifest of run r"),
        ('{"run_id": "r", "errors": [{"path": "x"}]}', "manifest of run r"),
        ("{torn", "Expecting"),
    ],
)
def test_what_is_not_a_manifest_is_a_value_error(text, match):
    with pytest.raises(ValueError, match=match):
        Manifest.from_json(text)


def test_checkpoint_record_reads_the_model_checkpoint_info(tmp_path):
    path = save_checkpoint(make_model(seed=0), tmp_path / "gan.safetensors", loss_type="gan")
    model = load_model(path)
    record = CheckpointRecord.of("mine", model.checkpoint_info)
    assert record.name == "mine" and record.checkpoint_name == model.checkpoint_info.name
    assert record.sha256 == model.checkpoint_info.sha256 and record.loss_type == "gan"
    assert record.format == "mae_core" and record.path == str(path)
    assert CheckpointRecord.from_dict(record.to_dict()) == record
    assert CheckpointRecord.of("raw", None).to_dict() == {
        "name": "raw",
        "source": "in-memory model",
        "sha256": None,
        "loss_type": "unknown",
    }


def test_the_metrics_a_run_computed_round_trip_and_earlier_runs_read_as_the_first_three():
    earlier = Manifest.from_json(json.dumps(EARLIER))
    assert earlier.metrics is None and earlier.computed_metrics == ("loss", "mse", "psnr")
    assert earlier.config.metrics is None and "metrics" not in json.loads(earlier.to_json())["config"]
    listed = dataclasses.replace(earlier, metrics=("loss", "mse", "psnr", "ssim", "lpips"))
    again = Manifest.from_json(listed.to_json())
    assert again.metrics == again.computed_metrics == ("loss", "mse", "psnr", "ssim", "lpips")
    chosen = dataclasses.replace(earlier.config, metrics=("lpips", "ssim"))
    assert chosen.metrics == ("ssim", "lpips")  # kept in the table order
    assert SweepConfig.from_dict(chosen.to_dict()) == chosen
