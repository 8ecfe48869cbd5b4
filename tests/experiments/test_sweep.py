"""The sweep: library entry, CLI (subprocesses), bad images, formula names, kill -9 and resume, concurrency."""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch

from experiments.__main__ import main
from experiments.config import SweepConfig
from experiments.sources import ImageFailure
from experiments.store import COLUMNS, RunStore, list_runs, load_runs
from experiments.sweep import attach_run, images_per_read, resume_run, run_sweep, start_run
from mae_core.evaluation.preprocess import preprocess
from mae_core.files import file_sha256
from mae_core.modeling.masking import mask_noise
from tests.conftest import make_model
from tests.experiments.helpers import (
    data_lines,
    huge_png,
    kill_after_rows,
    make_rows,
    run_cli,
    start_cli,
    write_images,
)
from tests.fake_caches import add_lpips_standin

CELL = ["image", "checkpoint", "mask_ratio", "seed"]


def test_library_sweep_with_loaded_models_matches_the_model(tmp_path):
    paths = write_images(tmp_path / "imgs", 2)
    models = {"first": make_model(seed=0), "second": make_model(seed=1)}
    calls = []
    config = SweepConfig(
        images=(str(tmp_path / "imgs"),),
        checkpoints=("first", "second"),
        ratios=(0.5, 0.75),
        seeds=(0, 3),
        batch_size=3,
        device="cpu",
    )
    result = run_sweep(config, root=tmp_path / "runs", models=models, progress=lambda d, t: calls.append((d, t)))
    assert result.status == "finished" and result.exit_code == 0
    assert result.rows == result.written == result.cells == 16
    assert calls[0] == (0, 16) and calls[-1] == (16, 16)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    df = load_runs(result.run_id, root=tmp_path / "runs")
    assert len(df) == 16 and not df.duplicated(CELL).any()
    assert set(df["loss_type"]) == {"unknown"} and set(df["dtype"]) == {"float32"}
    # a cell equals the model's own forward with the seed's noise: both checkpoints saw that same mask
    row = df[(df["checkpoint"] == "second") & (df["mask_ratio"] == 0.75) & (df["seed"] == 3)].iloc[1]
    image = preprocess(str(paths[1]), 32)[None]
    with torch.inference_mode():
        expected = models["second"](image, 0.75, noise=mask_noise(3, 16)).loss
    assert row["image"].endswith("img001.png")
    assert row["loss"] == pytest.approx(float(expected), rel=1e-4)
    assert row["masked_patches"] == 12


def test_formula_like_names_are_neutralised_in_the_csv(tmp_path, checkpoint_pair):
    folder = tmp_path / "imgs"
    names = ["=1+1.png", "+cmd.png", "-2.png", "@SUM(A1).png"]
    for k, name in enumerate(names):
        write_images(folder, 1, start_seed=k)[0].rename(folder / name)
    (folder / "list.txt").write_text("\n".join(names) + "\n")
    config = SweepConfig(images=(str(folder / "list.txt"),), checkpoints=checkpoint_pair[:1], seeds=(0,))
    result = run_sweep(config, root=tmp_path / "runs")
    with open(tmp_path / "runs" / result.run_id / "losses.csv", newline="") as f:
        cells = [r[COLUMNS.index("image")] for r in list(csv.reader(f))[1:]]
    assert sorted(cells) == sorted("'" + n for n in names)
    manifest = RunStore(tmp_path / "runs").open(result.run_id).read_manifest()
    assert [i.name for i in manifest.images] == names  # the manifest (JSON) keeps the true names


def test_cli_sweep_with_bad_images_then_report(tmp_path, checkpoint_pair):
    pixel, gan = checkpoint_pair
    folder = tmp_path / "imgs"
    good = write_images(folder, 3)
    (folder / "corrupt.png").write_bytes(good[0].read_bytes()[:60])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not a JPEG")
    (folder / "bomb.png").write_bytes(huge_png(100_000, 100_000))
    root = tmp_path / "runs"
    done = run_cli(
        "sweep",
        "--images",
        str(folder),
        "--checkpoints",
        pixel,
        gan,
        "--ratios",
        "0.25:0.75:0.25",
        "--seeds",
        "0-1",
        "--out",
        str(root),
        "--batch-size",
        "5",
    )
    assert done.returncode == 3, done.stderr  # finished, some images failed
    (manifest,) = list_runs(root)
    run_id = manifest.run_id
    assert f"run {run_id} -> {root / run_id}" in done.stdout
    assert manifest.status == "finished" and manifest.ended
    assert {e.path.rsplit("/", 1)[-1] for e in manifest.errors} == {
        "corrupt.png",
        "empty.png",
        "text.jpg",
        "bomb.png",
    }
    assert all(e.reason for e in manifest.errors)
    assert "skipped" in done.stderr and "Traceback" not in done.stderr
    assert [c.sha256 for c in manifest.checkpoints] == [file_sha256(pixel), file_sha256(gan)]
    assert [c.loss_type for c in manifest.checkpoints] == ["pixel", "gan"]
    hashed = {i.name.rsplit("/", 1)[-1]: i.sha256 for i in manifest.images}
    assert hashed["img000.png"] == file_sha256(good[0]) and hashed["bomb.png"] is None
    assert manifest.rows == 3 * 2 * 3 * 2 and manifest.ratios == (0.25, 0.5, 0.75)
    df = load_runs([run_id], root=root)
    assert len(df) == 36 and not df.duplicated(CELL).any()
    by_ratio = df.groupby(["mask_ratio", "checkpoint"])["masked_patches"].unique()
    assert all(len(v) == 1 for v in by_ratio)  # one mask size per ratio, both checkpoints
    assert set(df["loss_type"]) == {"pixel", "gan"}

    report = run_cli("report", run_id, "--out", str(root), "--metric", "psnr")
    assert report.returncode == 0, report.stderr
    assert "paired difference" in report.stdout
    last = report.stdout.strip().splitlines()[-1]
    assert last.startswith("report folder: ")
    folder = Path(last.removeprefix("report folder: "))
    assert folder.parent == root / "reports"
    assert (folder / "psnr_vs_ratio.png").read_bytes()[:4] == b"\x89PNG"
    summary = csv.DictReader(open(folder / "summary_psnr.csv"))
    first = next(summary)
    expected = df[(df["checkpoint"] == first["checkpoint"]) & (df["mask_ratio"] == float(first["mask_ratio"]))]
    assert float(first["mean"]) == pytest.approx(expected["psnr"].mean())
    assert (int(first["n_images"]), int(first["n_seeds"])) == (3, 2)


def test_usage_errors_are_one_line_without_traceback(tmp_path, capsys):
    done = run_cli("sweep", "--images", str(tmp_path), "--checkpoints", "x", "--ratios", "0.5:1.5")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "ratio" in done.stderr and "Traceback" not in done.stderr
    write_images(tmp_path / "imgs", 1)
    for argv, expected in (
        (["sweep", "--checkpoints", "x"], "--images is required"),
        (["sweep", "--images", str(tmp_path / "nope"), "--checkpoints", "x"], "no such file or folder"),
        (["sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", "x", "--seeds", "3-1"], "ends before"),
        (["sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", "x", "--dtype", "int8"], "invalid choice"),
        (["sweep", "--resume", "20990101-000000-abcdef", "--out", str(tmp_path)], "no run"),
        (["report", "20990101-000000-abcdef", "--out", str(tmp_path)], "no run"),
        (["frobnicate"], "invalid choice"),
        ([], "choose a command"),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, (argv, err)


def test_resume_refuses_changes_to_what_is_measured(tmp_path, checkpoint_pair, capsys):
    write_images(tmp_path / "imgs", 1)
    config = SweepConfig(images=(str(tmp_path / "imgs"),), checkpoints=checkpoint_pair[:1])
    result = run_sweep(config, root=tmp_path / "runs")
    assert main(["sweep", "--resume", result.run_id, "--out", str(tmp_path / "runs"), "--seeds", "0-9"]) == 2
    assert "drop --seeds" in capsys.readouterr().err


@pytest.mark.slow
def test_kill_9_mid_sweep_then_resume_gives_exactly_one_row_per_cell(tmp_path, checkpoint_pair):
    folder = tmp_path / "imgs"
    write_images(folder, 8)
    root = tmp_path / "runs"
    total = 8 * 2 * 9 * 5
    proc = start_cli(
        "sweep",
        "--images",
        str(folder),
        "--checkpoints",
        *checkpoint_pair,
        "--ratios",
        "0.1:0.9:0.1",
        "--seeds",
        "0-4",
        "--batch-size",
        "1",
        "--out",
        str(root),
        "--no-progress",
    )
    run_dir = kill_after_rows(proc, root, 30)  # SIGKILL: no handler runs, the manifest stays "running"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "running", "the sweep finished before it could be killed"
    before = load_runs([run_dir.name], root=root)
    assert 30 <= len(before) < total
    with open(run_dir / "losses.csv", "ab") as f:
        f.write(b"run,torn-row-of-a-writer-killed-mid-line")  # what a kill inside write() leaves

    # the killed run is listed as dead (its pid is gone), and a report of it uses only its complete images
    listing = run_cli("runs", "--out", str(root))
    assert listing.returncode == 0, listing.stderr
    (line,) = [row for row in listing.stdout.splitlines() if row.startswith(run_dir.name)]
    assert line.split()[2] == "dead" and f"{len(before)}/{total}" in line
    assert f"resume it with python -m experiments sweep --resume {run_dir.name} --out {root}" in listing.stdout
    # balanced, the report uses the images the run completed before the kill (when there is one yet), or says why not
    partial = run_cli("report", run_dir.name, "--out", str(root))
    if partial.returncode == 0:
        assert f"run {run_dir.name} is dead, not finished" in partial.stdout and "balanced: " in partial.stdout
    else:
        assert partial.returncode == 2 and "no image has every cell" in partial.stderr, partial.stderr
    partial = run_cli("report", run_dir.name, "--out", str(root), "--allow-unbalanced")
    assert partial.returncode == 0, partial.stderr
    assert f"run {run_dir.name} is dead, not finished" in partial.stdout
    assert "images used per ratio (unbalanced" in partial.stdout

    # the original command with --resume added (the up-arrow way) is accepted; only how to compute may change
    original = ("--images", str(folder), "--checkpoints", *checkpoint_pair, "--ratios", "0.1:0.9:0.1", "--seeds", "0-4")
    done = run_cli("sweep", *original, "--resume", run_dir.name, "--out", str(root), "--batch-size", "64")
    assert done.returncode == 0, done.stderr
    df = load_runs([run_dir.name], root=root)
    assert len(df) == total
    assert not df.duplicated(CELL).any()
    assert (run_dir / "losses.csv").read_bytes().count(b"\n") == total + 1
    assert b"torn-row" not in (run_dir / "losses.csv").read_bytes()
    # the rows written before the kill were kept, not recomputed
    merged = before.merge(df, on=CELL, suffixes=("", "_after"))
    assert len(merged) == len(before) and (merged["timestamp"] == merged["timestamp_after"]).all()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished" and len(manifest["resumed"]) == 1 and manifest["rows"] == total
    # images finished before the kill get their hashes from the rows
    assert all(len(i["sha256"] or "") == 64 for i in manifest["images"])


@pytest.mark.slow
def test_two_sweeps_at_once_into_one_root(tmp_path, checkpoint_pair):
    write_images(tmp_path / "a", 3)
    write_images(tmp_path / "b", 2, start_seed=10)
    root = tmp_path / "runs"
    procs = [
        start_cli(
            "sweep",
            "--images",
            str(tmp_path / name),
            "--checkpoints",
            *checkpoint_pair,
            "--ratios",
            ratios,
            "--seeds",
            "0-2",
            "--batch-size",
            "2",
            "--out",
            str(root),
            "--no-progress",
        )
        for name, ratios in (("a", "0.5,0.75"), ("b", "0.25:0.75:0.25"))
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    manifests = list_runs(root)
    assert len(manifests) == 2 and {m.status for m in manifests} == {"finished"}
    counts = sorted(len(load_runs([m.run_id], root=root)) for m in manifests)
    assert counts == sorted([3 * 2 * 2 * 3, 2 * 2 * 3 * 3])
    both = load_runs([m.run_id for m in manifests], root=root)
    assert not both.duplicated(["run_id", *CELL]).any()


@pytest.mark.slow
def test_sigterm_marks_the_run_interrupted_and_names_the_resume(tmp_path, checkpoint_pair):
    write_images(tmp_path / "imgs", 4)
    root = tmp_path / "runs"
    proc = start_cli(
        "sweep",
        "--images",
        str(tmp_path / "imgs"),
        "--checkpoints",
        *checkpoint_pair,
        "--ratios",
        "0.1:0.9:0.1",
        "--seeds",
        "0-4",
        "--batch-size",
        "1",
        "--out",
        str(root),
        "--no-progress",
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(data_lines(p) for p in root.glob("*/losses.csv")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.terminate()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (manifest,) = list_runs(root)
    assert manifest.status == "interrupted" and manifest.ended
    assert f"--resume {manifest.run_id}" in err and "Traceback" not in err


def test_plan_counts_cells_with_the_recorded_hashes(tmp_path):
    from experiments.cells import tally_cells
    from experiments.sources import ImageItem
    from experiments.store import RunStore, cell_key
    from experiments.sweep import plan_work

    config = SweepConfig(images=("x",), checkpoints=("ck",), ratios=(0.75,), seeds=(0, 1))
    run = RunStore(tmp_path).create(config)
    names = ("done.png", "=half.png", "todo.png", "other.png")
    items = [ImageItem(name, f"/{name}") for name in names]
    run.append_rows(make_rows(run.run_id, ["done.png", "other.png"], seeds=(0, 1)))
    run.append_rows(make_rows(run.run_id, ["=half.png"], seeds=(1,)), path=run.shard_path(1))
    # other.png's rows were measured on other bytes than the run's other.png: its cells are not held
    hashes = {"done.png": "ab" * 32, "other.png": "ef" * 32}
    tally = tally_cells(run, config, {name: hashes.get(name) for name in names}, {"ck": "cd" * 32})
    plan = plan_work(items, run, tally)
    assert [i.name for i in plan.work] == ["=half.png", "todo.png", "other.png"]
    assert plan.stored == {cell_key("=half.png", "ck", "random", 0.75, 1)}
    assert tally.total == 3 and tally.per_image == 2
    changed = tally_cells(run, config, dict.fromkeys(names), {"ck": "00" * 32})  # another checkpoint file
    assert changed.total == 0


def test_start_resume_and_attach_are_three_ways_into_a_run(tmp_path, checkpoint_pair):
    write_images(tmp_path / "imgs", 2)
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not a png")
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(Path(checkpoint_pair[0]).read_bytes())
    store = RunStore(tmp_path / "runs")
    config = SweepConfig(images=(str(tmp_path / "imgs"),), checkpoints=(str(weights),), device="cpu")

    started = start_run(store, config)
    manifest = started.run.read_manifest()
    assert manifest.status == "running" and manifest.cells == 3 and manifest.resumed == ()
    assert [i.name.rsplit("/", 1)[-1] for i in manifest.images] == ["broken.png", "img000.png", "img001.png"]
    assert started.compute(started.items[1:2], target=None, progress=None) == (1, ())  # then the process dies

    before = started.run.manifest_path.read_bytes()
    joined = attach_run(store, started.run.run_id, config, device="cpu")  # another torchrun rank
    assert started.run.manifest_path.read_bytes() == before, "attaching leaves the manifest to rank 0"
    assert joined.items == started.items

    resumed = resume_run(store, started.run.run_id, dataclasses.replace(config, batch_size=5))
    assert resumed.config == dataclasses.replace(config, batch_size=5)  # how to compute may change, not what
    assert len(resumed.run.read_manifest().resumed) == 1
    written, errors = resumed.compute(resumed.items, target=None, progress=None)
    assert written == 1 and [e.image for e in errors] == [resumed.items[0].name]
    assert isinstance(errors[0], ImageFailure) and str(errors[0]).startswith(f"{errors[0].image}: ")
    assert resumed.finish(errors) == (2, "finished")
    finished = resumed.run.read_manifest()
    assert finished.status == "finished" and finished.errors == errors and finished.rows == 2

    weights.write_bytes(Path(checkpoint_pair[1]).read_bytes())  # other weights under the same name
    with pytest.raises(ValueError, match="changed since the run started"):
        resume_run(store, started.run.run_id)


def test_library_sweep_reports_unreadable_images_as_image_failures(tmp_path):
    write_images(tmp_path / "imgs", 1)
    (tmp_path / "imgs" / "empty.png").write_bytes(b"")
    config = SweepConfig(images=(str(tmp_path / "imgs"),), checkpoints=("m",), device="cpu")
    result = run_sweep(config, root=tmp_path / "runs", models={"m": make_model(seed=0)})
    (failure,) = result.errors
    assert failure.image.endswith("empty.png") and "empty" in failure.reason
    assert result.exit_code == 3 and result.rows == 1


def test_images_are_read_ahead_on_a_background_thread_a_few_batches_at_a_time(tmp_path, monkeypatch):
    import threading

    from experiments import sweep

    write_images(tmp_path / "imgs", 5)
    reads = []

    def spy(items, readers=None):
        reads.append((threading.current_thread().name, len(items)))
        return read_images(items, readers)

    read_images = sweep.read_images
    monkeypatch.setattr(sweep, "read_images", spy)
    config = SweepConfig(
        images=(str(tmp_path / "imgs"),), checkpoints=("a", "b"), ratios=(0.5,), seeds=(0,), batch_size=1
    )
    models = {"a": make_model(seed=0), "b": make_model(seed=1)}
    result = run_sweep(config, root=tmp_path / "runs", models=models)
    assert result.rows == 10
    assert [size for _, size in reads] == [4, 1]  # four batches' worth of images per read
    assert all(name.startswith("mae-prefetch") for name, _ in reads)


def test_images_per_read_covers_four_full_batches():
    def config(ratios: int, seeds: int, batch_size: int) -> SweepConfig:
        ratio_grid = tuple(round(0.1 * (k + 1), 1) for k in range(ratios))
        return SweepConfig(images=("x",), checkpoints=("a", "b"), ratios=ratio_grid, seeds=tuple(range(seeds)),
                           batch_size=batch_size)  # fmt: skip

    assert images_per_read(config(9, 5, 64)) == 6  # 45 cells per image and checkpoint: 270 >= 4 x 64
    assert images_per_read(config(1, 1, 64)) == 256
    assert images_per_read(config(9, 5, 1)) == 1


# ---- optional metrics ----
def test_library_sweep_records_the_default_metrics_and_notes_lpips(tmp_path, checkpoint_pair):
    write_images(tmp_path / "imgs", 2)
    config = SweepConfig(images=(str(tmp_path / "imgs"),), checkpoints=checkpoint_pair, ratios=(0.5,), device="cpu")
    notes = []
    result = run_sweep(config, root=tmp_path / "runs", on_note=notes.append)
    manifest = RunStore(tmp_path / "runs").open(result.run_id).read_manifest()
    assert manifest.metrics == ("loss", "mse", "psnr", "ssim", "detail", "visible_loss")
    assert notes == list(result.notes) and len(notes) == 1 and "lpips skipped" in notes[0]
    df = load_runs([result.run_id], root=tmp_path / "runs")
    assert df[["ssim", "detail", "visible_loss"]].notna().all().all() and df["lpips"].isna().all()


def test_cli_sweep_metrics_lpips_offline_is_one_line_then_reports_each_metric(tmp_path, checkpoint_pair):
    write_images(tmp_path / "imgs", 2)
    out = str(tmp_path / "runs")
    common = ["--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair, "--out", out, "--no-progress"]
    done = run_cli("sweep", *common, "--ratios", "0.5,0.75", "--seeds", "0,1", "--metrics", "ssim,lpips")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lpips skipped")
    assert "alexnet-owt-7be5be79.pth" in lines[0] and "python -m mae_core download lpips" in lines[0]
    (run_id,) = [m.run_id for m in list_runs(out)]
    assert RunStore(out).open(run_id).read_manifest().metrics == ("loss", "mse", "psnr", "ssim")
    df = load_runs([run_id], root=out)
    assert df["ssim"].notna().all() and df[["lpips", "detail", "visible_loss"]].isna().all().all()
    report = run_cli("report", run_id, "--out", out, "--metric", "ssim")
    assert report.returncode == 0, report.stderr
    missing = run_cli("report", run_id, "--out", out, "--metric", "lpips")
    assert missing.returncode == 2 and "did not compute lpips" in missing.stderr
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    bad = run_cli("sweep", *common, "--metrics", "ssim,sharpness")
    assert bad.returncode == 2 and "unknown metric 'sharpness'" in bad.stderr and bad.stderr.count("\n") == 1


def test_cli_sweep_computes_lpips_by_default_when_its_weights_are_cached(tmp_path, checkpoint_pair):
    add_lpips_standin(tmp_path / "torch")
    write_images(tmp_path / "imgs", 1)
    out = str(tmp_path / "runs")
    args = ["--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair, "--out", out, "--no-progress"]
    done = run_cli("sweep", *args, TORCH_HOME=str(tmp_path / "torch"))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    (run_id,) = [m.run_id for m in list_runs(out)]
    assert "lpips" in RunStore(out).open(run_id).read_manifest().metrics
    df = load_runs([run_id], root=out)
    assert (df["lpips"] > 0).all() and df[["ssim", "detail", "visible_loss"]].notna().all().all()


def test_a_resumed_run_computes_the_metrics_it_started_with(tmp_path):
    write_images(tmp_path / "imgs", 2)
    store = RunStore(tmp_path / "runs")
    config = SweepConfig(images=(str(tmp_path / "imgs"),), checkpoints=("m",), device="cpu", metrics=("detail",))
    models = {"m": make_model(seed=0)}
    started = start_run(store, config, models=models)
    assert started.metrics.names == ("detail",)
    assert resume_run(store, started.run.run_id, models=models).metrics.names == ("detail",)
    # a run from before the optional metrics: no "metrics" in its manifest or config
    data = json.loads(started.run.manifest_path.read_text())
    del data["metrics"], data["config"]["metrics"]
    started.run.manifest_path.write_text(json.dumps(data))
    assert started.run.read_manifest().computed_metrics == ("loss", "mse", "psnr")
    assert resume_run(store, started.run.run_id, models=models).metrics.names == ()


def test_cli_keep_images_copies_each_content_once_into_the_run(tmp_path, checkpoint_pair):
    photos = write_images(tmp_path / "photos", 2)
    twin = tmp_path / "photos" / "twin.png"
    twin.write_bytes(photos[0].read_bytes())  # another name, the same bytes
    out = tmp_path / "runs"
    done = run_cli(
        "sweep",
        "--images",
        str(tmp_path / "photos"),
        "--checkpoints",
        *checkpoint_pair,
        "--out",
        str(out),
        "--keep-images",
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    (run,) = RunStore(out).list_runs()
    assert run.recorded_config().keep_images is True
    kept = sorted(p.name for p in (out / run.run_id / "images").iterdir())
    assert kept == sorted({f"{file_sha256(p)}.png" for p in photos})  # the twin shares its copy
    assert {r.sha256 for r in run.images} == {p.split(".")[0] for p in kept}
    again = run_cli("sweep", "--resume", run.run_id, "--keep-images", "--out", str(out))  # as recorded: accepted
    assert again.returncode == 0, again.stderr
    other = tmp_path / "other"
    plain = run_cli("sweep", "--images", str(photos[0]), "--checkpoints", *checkpoint_pair, "--out", str(other))
    assert plain.returncode == 0, plain.stderr
    (recorded,) = RunStore(other).list_runs()
    refused = run_cli("sweep", "--resume", recorded.run_id, "--keep-images", "--out", str(other))
    assert refused.returncode == 2 and "drop --keep-images" in refused.stderr
    assert not (other / recorded.run_id / "images").exists()
