"""Datasets swept end to end through the CLI (subprocesses): save_to_disk, Parquet and imagefolder inputs built by
the ``datasets`` library, and a Hub dataset streamed from a loopback Hub (tests/fake_hub.py) through
huggingface_hub's and datasets' own clients."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.sources import choose_indices
from experiments.store import list_runs, load_runs
from tests.experiments.helpers import (
    cli_env,
    image_dataset,
    png_bytes,
    run_cli,
    run_torchrun,
    write_imagefolder,
)
from tests.fake_hub import serve

CELL = ["image", "checkpoint", "mask_ratio", "seed"]


def _sweep(images, checkpoints, root, *extra, **env):
    return run_cli(
        "sweep", "--images", *images, "--checkpoints", *checkpoints, "--ratios", "0.5,0.75", "--seeds", "0",
        "--device", "cpu", "--out", str(root), "--no-progress", *extra, timeout=300, **env,
    )  # fmt: skip


def _only_run(root):
    """The store's one run: its manifest.json as written (the on-disk format) and its rows."""
    (run,) = list_runs(root)
    manifest = json.loads((Path(root) / run.run_id / "manifest.json").read_text())
    return manifest, load_runs(run.run_id, root=root)


def test_a_saved_dataset_with_a_seeded_sample(tmp_path, checkpoint_pair):
    from datasets import DatasetDict

    DatasetDict({"validation": image_dataset(9), "train": image_dataset(2)}).save_to_disk(tmp_path / "pets")
    result = _sweep([str(tmp_path / "pets")], checkpoint_pair, tmp_path / "runs", "--limit", "3", "--sample-seed", "5")
    assert result.returncode == 0, result.stderr
    manifest, rows = _only_run(tmp_path / "runs")
    chosen = choose_indices(9, 3, 5)
    (source,) = manifest["datasets"]
    assert source["kind"] == "disk" and source["id"] == str((tmp_path / "pets").resolve())
    assert (source["split"], source["column"], source["revision"]) == ("validation", "image", None)
    assert tuple(source["indices"]) == chosen and source["num_rows"] == 9
    assert [(i["name"], i["dataset"], i["index"]) for i in manifest["images"]] == [
        (f"pets:validation:{i}", 0, i) for i in chosen
    ]
    assert len(rows) == 3 * 2 * 2 and not rows.duplicated(CELL).any()
    assert {name: sha for name, sha in zip(rows["image"], rows["image_sha256"], strict=True)} == {
        f"pets:validation:{i}": hashlib.sha256(png_bytes(i)).hexdigest() for i in chosen
    }
    assert manifest["config"]["limit"] == 3 and manifest["config"]["sample_seed"] == 5


def test_parquet_and_imagefolder_inputs_mixed_with_a_file(tmp_path, checkpoint_pair):
    from datasets import Dataset, Features, Image, Value

    cells = [{"bytes": png_bytes(i), "path": None} for i in range(3)]
    cells[1] = {"bytes": b"broken", "path": None}
    Dataset.from_dict(
        {"photo": cells, "label": [0, 1, 2]}, features=Features({"photo": Image(), "label": Value("int64")})
    ).to_parquet(str(tmp_path / "val.parquet"))
    write_imagefolder(tmp_path / "folder", {"validation": 2})
    single = tmp_path / "one.png"
    single.write_bytes(png_bytes(40))
    result = _sweep([str(tmp_path / "val.parquet"), str(tmp_path / "folder"), str(single)], checkpoint_pair,
                    tmp_path / "runs")  # fmt: skip
    assert result.returncode == 3, result.stderr  # finished, one row skipped
    assert "skipped val.parquet:train:1" in result.stderr
    manifest, rows = _only_run(tmp_path / "runs")
    assert sorted(set(rows["image"])) == sorted(
        ["val.parquet:train:0", "val.parquet:train:2", "folder:validation:0", "folder:validation:1", str(single)]
    )
    assert [e["image"] for e in manifest["errors"]] == ["val.parquet:train:1"]
    assert [(d["kind"], d["split"], d["column"]) for d in manifest["datasets"]] == [
        ("parquet", "train", "photo"),
        ("imagefolder", "validation", "image"),
    ]


def test_usage_errors_are_one_line(tmp_path, checkpoint_pair):
    from datasets import DatasetDict

    DatasetDict({"train": image_dataset(2), "test": image_dataset(2)}).save_to_disk(tmp_path / "two")
    write_imagefolder(tmp_path / "plain", {"train": 1}, metadata=False)
    cases = [
        ([str(tmp_path / "two")], (), "several others (train, test): choose one with --split"),
        ([str(tmp_path / "two")], ("--split", "dev"), "no split 'dev'; its splits: train, test"),
        ([str(tmp_path / "two")], ("--split", "test", "--image-column", "label"), "holds Value, not images"),
        ([str(tmp_path / "plain")], ("--limit", "2"), "none of --images is one"),
        ([str(tmp_path / "two")], ("--sample-seed", "1"), "give --limit too"),
    ]
    for images, extra, message in cases:
        result = _sweep(images, checkpoint_pair, tmp_path / "runs", *extra)
        assert result.returncode == 2, (extra, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list_runs(tmp_path / "runs")  # nothing was started


def _parquet_shards(count: int, rows: int, start: int = 0) -> dict[str, bytes]:
    files = {}
    for k in range(count):
        buffer = io.BytesIO()
        image_dataset(rows, start_seed=start + k * rows).to_parquet(buffer)
        files[f"data/validation-{k:05d}-of-{count:05d}.parquet"] = buffer.getvalue()
    size = sum(len(v) for v in files.values())
    files["README.md"] = (
        "---\ndataset_info:\n  features:\n  - name: label\n    dtype: int64\n  - name: image\n    dtype: image\n"
        f"  splits:\n  - name: validation\n    num_bytes: {size}\n    num_examples: {count * rows}\n"
        "configs:\n- config_name: default\n  data_files:\n  - split: validation\n    path: data/validation-*\n---\n"
    ).encode()
    return files


def _hub_env(hub, tmp_path) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip


@pytest.mark.slow
def test_a_hub_dataset_streams_and_a_resume_reads_the_recorded_commit(tmp_path, checkpoint_pair):
    with serve() as hub:
        first = hub.add_repo("dataset", "org/pets", _parquet_shards(4, 5))
        env = _hub_env(hub, tmp_path)
        result = _sweep(["hf://datasets/org/pets"], checkpoint_pair, tmp_path / "runs", "--limit", "4", **env)
        assert result.returncode == 0, result.stderr
        fetched = {r.split("/resolve/")[1] for r in hub.requests if r.startswith("GET") and ".parquet" in r}
        # streamed: the 4 rows come from the first shard; the other 15 rows were never downloaded
        assert fetched == {f"{first}/data/validation-00000-of-00004.parquet"}
        manifest, rows = _only_run(tmp_path / "runs")
        (source,) = manifest["datasets"]
        assert (source["id"], source["revision"], source["split"]) == ("org/pets", first, "validation")
        assert source["indices"] == [0, 1, 2, 3] and source["num_rows"] == 20
        assert sorted(set(rows["image"])) == [f"org/pets:validation:{i}" for i in range(4)]
        original = dict(zip(rows["image"], rows["image_sha256"], strict=True))

        # the run loses its last image's rows (as if killed), and main moves on to other images
        run_dir = tmp_path / "runs" / manifest["run_id"]
        lines = (run_dir / "losses.csv").read_text().splitlines(keepends=True)
        kept = [lines[0]] + [line for line in lines[1:] if ":validation:3," not in line]
        (run_dir / "losses.csv").write_text("".join(kept))
        second = hub.add_repo("dataset", "org/pets", _parquet_shards(4, 5, start=500))
        assert second != first
        resumed = run_cli("sweep", "--resume", manifest["run_id"], "--out", str(tmp_path / "runs"), "--no-progress",
                          timeout=300, **env)  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        assert "(4 new)" in resumed.stdout
        after = load_runs(manifest["run_id"], root=tmp_path / "runs")
        assert len(after) == 16 and dict(zip(after["image"], after["image_sha256"], strict=True)) == original
        assert not any(second in r for r in hub.requests)


def test_a_hub_dataset_offline_without_a_prepared_copy_is_a_usage_error(tmp_path, checkpoint_pair):
    result = _sweep(["hf://datasets/org/pets"], checkpoint_pair, tmp_path / "runs", HF_HOME=str(tmp_path / "hf"))
    assert result.returncode == 2
    assert "HF_HUB_OFFLINE is set and no prepared copy is in the datasets cache" in result.stderr


@pytest.mark.slow
def test_torchrun_ranks_split_the_dataset_indices(tmp_path, checkpoint_pair):
    image_dataset(7).save_to_disk(tmp_path / "set")
    done = run_torchrun(
        "sweep", "--images", str(tmp_path / "set"), "--limit", "5", "--sample-seed", "3",
        "--checkpoints", *checkpoint_pair, "--ratios", "0.75", "--seeds", "0", "--device", "cpu",
        "--out", str(tmp_path / "runs"), "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    manifest, rows = _only_run(tmp_path / "runs")
    chosen = choose_indices(7, 5, 3)
    assert sorted(set(rows["image"])) == sorted(f"set:{i}" for i in chosen)
    assert len(rows) == 5 * 2 and not rows.duplicated(CELL).any()
    assert json.loads((tmp_path / "runs" / manifest["run_id"] / "manifest.json").read_text())["datasets"][0][
        "indices"
    ] == list(chosen)


def test_a_hub_imagefolder_at_an_explicit_revision(tmp_path, checkpoint_pair):
    files = {f"validation/img{i}.png": png_bytes(i) for i in range(3)}
    lines = [json.dumps({"file_name": f"img{i}.png", "caption": str(i)}) for i in range(3)]
    files["validation/metadata.jsonl"] = ("\n".join(lines) + "\n").encode()
    with serve() as hub:
        commit = hub.add_repo("dataset", "org/folder", files)
        hub.add_repo("dataset", "org/folder", {"validation/img0.png": png_bytes(99)})  # main moves on
        env = _hub_env(hub, tmp_path)
        result = _sweep([f"hf://datasets/org/folder@{commit}"], checkpoint_pair, tmp_path / "runs", "--limit", "2",
                        "--sample-seed", "0", **env)  # fmt: skip
        assert result.returncode == 0, result.stderr
    manifest, rows = _only_run(tmp_path / "runs")
    chosen = choose_indices(3, 2, 0)
    assert manifest["datasets"][0]["revision"] == commit and manifest["datasets"][0]["kind"] == "hub"
    expected = {f"org/folder:validation:{i}": hashlib.sha256(png_bytes(i)).hexdigest() for i in chosen}
    assert dict(zip(rows["image"], rows["image_sha256"], strict=True)) == expected


def test_a_hub_dataset_offline_reads_the_copy_datasets_prepared(tmp_path, checkpoint_pair):
    caches = {"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    with serve() as hub:
        commit = hub.add_repo("dataset", "org/pets", _parquet_shards(2, 3))
        prepare = subprocess.run(
            [sys.executable, "-c", "import datasets; datasets.load_dataset('org/pets')"],
            env=cli_env(**{**_hub_env(hub, tmp_path), **caches}), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert prepare.returncode == 0, prepare.stderr
    # the Hub is gone; HF_HUB_OFFLINE=1 (cli_env's default) reads the prepared copy and its commit
    result = _sweep(["hf://datasets/org/pets"], checkpoint_pair, tmp_path / "runs", "--limit", "2", **caches)
    assert result.returncode == 0, result.stderr
    manifest, rows = _only_run(tmp_path / "runs")
    assert manifest["datasets"][0]["revision"] == commit and manifest["datasets"][0]["num_rows"] == 6
    expected = {f"org/pets:validation:{i}": hashlib.sha256(png_bytes(i)).hexdigest() for i in range(2)}
    assert dict(zip(rows["image"], rows["image_sha256"], strict=True)) == expected
