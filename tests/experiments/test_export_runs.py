"""Exports of runs: typed Parquet files and a Hub dataset folder, read back with pandas, pyarrow and datasets."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from experiments.export import (
    CARD_MARKER,
    MANIFEST_METADATA_KEY,
    export_hf_dataset,
    export_parquet,
    weights_licence,
)
from experiments.store import COLUMNS, RunStore, load_runs
from mae_core.files import file_sha256


def test_parquet_keeps_every_row_with_its_type_and_the_manifest(swept_run, tmp_path):
    root, run_id = swept_run
    result = export_parquet([run_id], tmp_path / "out", root=root)
    assert result.files == (tmp_path / "out" / f"{run_id}.parquet",) and result.rows == 24
    frame = pd.read_parquet(tmp_path / "out")
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 24
    assert frame["mask_ratio"].dtype == "float64" and frame["loss"].dtype == "float64"
    assert frame["seed"].dtype == "int64" and frame["masked_patches"].dtype == "int64"
    assert str(frame["timestamp"].dtype).startswith("datetime64") and str(frame["timestamp"].dt.tz) == "UTC"
    assert sorted(frame["mask_ratio"].unique()) == [0.5, 0.75] and sorted(frame["seed"].unique()) == [0, 1]
    stored = load_runs(run_id, root=root)
    merged = frame.merge(stored, on=["image", "checkpoint", "mask_ratio", "seed"], suffixes=("", "_csv"))
    assert len(merged) == 24 and (merged["loss"] == merged["loss_csv"]).all()  # the CSV's values, exactly
    metadata = pq.read_schema(result.files[0]).metadata
    assert json.loads(metadata[MANIFEST_METADATA_KEY])["run_id"] == run_id


def test_parquet_reads_back_through_datasets(swept_run, tmp_path):
    from datasets import Value, load_dataset

    root, run_id = swept_run
    export_parquet([run_id], tmp_path / "out", root=root)
    data = load_dataset("parquet", data_files=str(tmp_path / "out" / "*.parquet"), split="train")
    assert data.num_rows == 24
    assert data.features["mask_ratio"] == Value("float64") and data.features["seed"] == Value("int64")


def test_hf_dataset_folder_is_a_hub_dataset_with_its_provenance(swept_run, tmp_path):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    root, run_id = swept_run
    dest = tmp_path / "repo"
    export_hf_dataset([run_id], dest, root=root)
    card = DatasetCard.load(dest / "README.md")
    files = [{"split": "train", "path": "data/*.parquet"}]
    assert card.data.configs == [{"config_name": "default", "data_files": files}]
    data = load_dataset(str(dest), split="train", cache_dir=str(tmp_path / "datasets-cache"))  # no other test's "repo"
    assert data.num_rows == 24 and set(data["run_id"]) == {run_id}
    manifest = json.loads((dest / "runs" / run_id / "manifest.json").read_text())
    text = (dest / "README.md").read_text()
    for record in manifest["checkpoints"]:
        assert record["sha256"] == file_sha256(record["path"]) and record["sha256"] in text
    assert "licence of the weights" in text and "unknown (not a registry checkpoint" in text
    assert "| 0.5, 0.75 | 0, 1 | float32 | cpu |" in text  # the run's ratios, seeds, dtype, device


def test_a_later_export_replaces_its_own_runs_and_keeps_the_others(swept_run, tmp_path):
    root, run_id = swept_run
    other = RunStore(root).create(run_id="20250101-000000-aaaaaa")  # a run without rows or config
    dest = tmp_path / "repo"
    export_hf_dataset([run_id, other.run_id], dest, root=root)
    assert (dest / "data" / f"{other.run_id}.parquet").is_file()
    before = (dest / "data" / f"{run_id}.parquet").stat().st_mtime_ns
    result = export_hf_dataset([run_id], dest, root=root)
    assert sorted(p.name for p in (dest / "data").iterdir()) == sorted([f"{run_id}.parquet", f"{other.run_id}.parquet"])
    assert sorted(p.name for p in (dest / "runs").iterdir()) == sorted([run_id, other.run_id])
    assert (dest / "data" / f"{run_id}.parquet").stat().st_mtime_ns >= before and result.rows == 24
    card = (dest / "README.md").read_text()
    assert CARD_MARKER in card and other.run_id in card and run_id in card


def test_a_folder_with_other_files_is_not_overwritten(swept_run, tmp_path):
    root, run_id = swept_run
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="holds other files"):
        export_hf_dataset([run_id], tmp_path / "mine", root=root)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="no run 'nope'"):
        export_parquet(["nope"], tmp_path / "x", root=root)


def test_licences_come_from_the_registry():
    from experiments.manifest import CheckpointRecord

    assert weights_licence(CheckpointRecord(name="x", checkpoint_name="vit-large-gan")) == "CC-BY-NC-4.0"
    assert weights_licence(CheckpointRecord(name="tiny-pixel")).startswith("see mae_core/bundled")
    assert weights_licence(CheckpointRecord(name="/tmp/w.pth")).startswith("unknown")


# ---- the command line ----
def test_cli_exports_parquet_and_a_hub_dataset(swept_run, tmp_path):
    from tests.experiments.helpers import run_cli

    root, run_id = swept_run
    done = run_cli("export", run_id, "--format", "parquet", "--dest", str(tmp_path / "pq"), "--out", root)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(tmp_path / "pq" / f"{run_id}.parquet")) == 24
    done = run_cli("export", run_id, "--format", "hf-dataset", "--dest", str(tmp_path / "ds"), MAE_RUNS_DIR=root)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ds" / "README.md").is_file() and f"{tmp_path / 'ds'}" in done.stdout


def test_cli_export_errors_are_one_line(swept_run, tmp_path):
    from tests.experiments.helpers import run_cli

    root, run_id = swept_run
    cases = [
        (("export", "nope", "--dest", str(tmp_path / "x"), "--out", root), "no run 'nope'"),
        (("export", run_id, "--format", "csv", "--dest", str(tmp_path / "x"), "--out", root), "invalid choice"),
        (("export", run_id, "--format", "parquet", "--push", "org/x", "--out", root), "--push uploads"),
        (("export", run_id, "--format", "parquet", "--out", root), "--dest is required"),
    ]
    for args, message in cases:
        done = run_cli(*args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1


def test_cli_push_uploads_a_private_hub_dataset(swept_run, tmp_path):
    from tests.experiments.helpers import run_cli
    from tests.fake_hub import serve

    root, run_id = swept_run
    with serve() as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_user_token", "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path)}
        done = run_cli("export", run_id, "--format", "hf-dataset", "--push", "org/mae-study", "--out", root, **env)
        assert done.returncode == 0, done.stderr
        files = hub.files("dataset", "org/mae-study")
        assert hub.repos[("dataset", "org/mae-study")].private
        assert "Bearer hf_user_token" in hub.authorizations
        assert set(files) == {"README.md", f"data/{run_id}.parquet", f"runs/{run_id}/manifest.json"}
        assert len(pd.read_parquet(io.BytesIO(files[f"data/{run_id}.parquet"]))) == 24
        assert "org/mae-study" in done.stdout

        done = run_cli("export", run_id, "--format", "hf-dataset", "--push", "org/open", "--public", "--out", root,
                       "--dest", str(tmp_path / "kept"), **env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert not hub.repos[("dataset", "org/open")].private and (tmp_path / "kept" / "README.md").is_file()


def test_parquet_keeps_the_spread_column_as_float64(tmp_path, checkpoint_pair):
    from experiments.config import SweepConfig
    from experiments.sweep import run_sweep
    from tests.experiments.helpers import write_images

    write_images(tmp_path / "imgs", 2)
    config = SweepConfig(
        images=(str(tmp_path / "imgs"),), checkpoints=checkpoint_pair, seeds=(0, 1), metrics=("spread",), device="cpu"
    )
    run_id = run_sweep(config, root=tmp_path / "runs").run_id
    export_parquet([run_id], tmp_path / "out", root=tmp_path / "runs")
    frame = pd.read_parquet(tmp_path / "out")
    assert list(frame.columns) == list(COLUMNS) and frame["spread"].dtype == "float64"
    stored = load_runs(run_id, root=tmp_path / "runs")
    assert frame["spread"].notna().all() and sorted(frame["spread"]) == sorted(stored["spread"])
