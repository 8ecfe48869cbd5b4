"""Dataset rows are first-class images: replayed from their dataset (save_to_disk, Parquet) and checked by their
image's sha256, kept by --keep-images, and refused by --resume when their bytes changed; a resume may repeat the split
the run used by default."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from experiments.replay import replay
from experiments.run_images import ImageChangedError
from experiments.store import list_runs, load_runs
from mae_core.checkpoints.loading import load_model
from tests.experiments.helpers import image_dataset, png_bytes, run_cli


def _sweep(images, checkpoints, root, *extra):
    return run_cli(
        "sweep", "--images", *images, "--checkpoints", *checkpoints, "--ratios", "0.5,0.75", "--seeds", "0",
        "--device", "cpu", "--out", str(root), "--no-progress", *extra, timeout=300,
    )  # fmt: skip


def _parquet(path: Path, seeds: list[int]) -> None:
    from datasets import Dataset, Features, Image, Value

    cells = [{"bytes": png_bytes(seed), "path": None} for seed in seeds]
    Dataset.from_dict({"photo": cells, "label": seeds}, features=Features({"photo": Image(), "label": Value("int64")}))\
        .to_parquet(str(path))  # fmt: skip


def _saved(path: Path, count: int, *, start_seed: int = 0) -> None:
    from datasets import DatasetDict

    staging = path.with_name(path.name + ".new")
    DatasetDict({"validation": image_dataset(count, start_seed=start_seed), "train": image_dataset(2)}).save_to_disk(
        staging
    )
    shutil.rmtree(path, ignore_errors=True)
    staging.rename(path)


def _run_id(root: Path) -> str:
    (manifest,) = list_runs(root)
    return manifest.run_id


def test_dataset_rows_replay_from_their_dataset_checked_by_the_row_image(tmp_path, checkpoint_pair):
    _saved(tmp_path / "saved_dd", 3)
    _parquet(tmp_path / "val.parquet", [10, 11, 12])
    result = _sweep([str(tmp_path / "saved_dd"), str(tmp_path / "val.parquet")], checkpoint_pair, tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    run_id = _run_id(tmp_path / "runs")
    for image in ("saved_dd:validation:1", "val.parquet:train:2"):
        replayed = replay(run_id, image, seed=0, models=load_model, root=tmp_path / "runs")
        assert not replayed.image.copy and len(replayed.cells) == 4
        assert max(cell.difference() for cell in replayed.cells) < 1e-4  # the run's numbers, recomputed
    assert replayed.image.sha256 == hashlib.sha256(png_bytes(12)).hexdigest()

    # another row of the Parquet file changes: the file's sha256 changes, the replayed row's image does not
    _parquet(tmp_path / "val.parquet", [10, 11, 99])
    assert replay(run_id, "val.parquet:train:1", seed=0, models=load_model, root=tmp_path / "runs").cells
    with pytest.raises(
        ImageChangedError, match=r"'val.parquet:train:2' of run .* changed since it was measured: row 2 "
    ):
        replay(run_id, "val.parquet:train:2", seed=0, models=load_model, root=tmp_path / "runs")
    shutil.rmtree(tmp_path / "saved_dd")
    with pytest.raises(ImageChangedError, match=r"'saved_dd:validation:1' of run .* is gone"):
        replay(run_id, "saved_dd:validation:1", seed=0, models=load_model, root=tmp_path / "runs")


def test_keep_images_keeps_dataset_rows_content_addressed(tmp_path, checkpoint_pair):
    _saved(tmp_path / "pets", 3)
    result = _sweep([str(tmp_path / "pets")], checkpoint_pair, tmp_path / "runs", "--keep-images")
    assert result.returncode == 0, result.stderr
    run_id = _run_id(tmp_path / "runs")
    kept = sorted(p.name for p in (tmp_path / "runs" / run_id / "images").iterdir())
    assert kept == sorted(f"{hashlib.sha256(png_bytes(i)).hexdigest()}.png" for i in range(3))
    shutil.rmtree(tmp_path / "pets")  # the dataset is gone: the run replays from its own copies
    replayed = replay(run_id, "pets:validation:2", seed=0, models=load_model, root=tmp_path / "runs")
    assert replayed.image.copy and max(cell.difference() for cell in replayed.cells) < 1e-4


def test_resume_refuses_a_dataset_whose_rows_changed(tmp_path, checkpoint_pair):
    _saved(tmp_path / "pets", 12)
    root = tmp_path / "runs"
    result = _sweep([str(tmp_path / "pets")], checkpoint_pair, root, "--limit", "10", "--sample-seed", "3")
    assert result.returncode == 0, result.stderr
    run_id = _run_id(root)
    losses = root / run_id / "losses.csv"
    lines = losses.read_text().splitlines(keepends=True)
    last = lines[-1].split(",")[1]
    mine = [k for k, line in enumerate(lines) if line.split(",")[1] == last]
    losses.write_text("".join(line for k, line in enumerate(lines) if k not in mine[-2:]))  # half its cells
    before = losses.read_bytes()

    _saved(tmp_path / "pets", 12, start_seed=1)  # re-saved with its rows rotated by one
    resumed = run_cli("sweep", "--resume", run_id, "--out", str(root), "--no-progress", timeout=300)
    assert resumed.returncode == 2, resumed.stdout + resumed.stderr
    (line,) = resumed.stderr.strip().splitlines()
    assert "changed since run" in line and "pets:validation:" in line and "Traceback" not in resumed.stderr
    assert losses.read_bytes() == before  # nothing appended
    rows = load_runs(run_id, root=root)
    assert rows.groupby("image")["image_sha256"].nunique().max() == 1


def test_resume_accepts_the_split_the_run_used_by_default(tmp_path, checkpoint_pair):
    _saved(tmp_path / "pets", 3)
    root = tmp_path / "runs"
    assert _sweep([str(tmp_path / "pets")], checkpoint_pair, root).returncode == 0
    run_id = _run_id(root)
    manifest = json.loads((root / run_id / "manifest.json").read_text())
    assert "split" not in manifest["config"] and manifest["datasets"][0]["split"] == "validation"
    same = run_cli("sweep", "--resume", run_id, "--split", "validation", "--out", str(root), "--no-progress")
    assert same.returncode == 0, same.stderr
    assert "(0 new)" in same.stdout
    other = run_cli("sweep", "--resume", run_id, "--split", "train", "--out", str(root), "--no-progress")
    assert other.returncode == 2
    assert "--split asks for train where the run records validation" in other.stderr
