"""Trackers: ``--track`` values, the payload a run gives them (pure), and logging into trackio and MLflow stores in
tmp_path, read back through each tracker's own API."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from experiments.store import RunStore, list_runs
from experiments.tracking import (
    TrackSpec,
    check_tracker,
    checkpoint_labels,
    compact_ints,
    flat_params,
    parse_track,
    run_log,
)
from tests.experiments.helpers import REPO_ROOT, cli_env


def test_track_values():
    assert parse_track("trackio") == TrackSpec("trackio")
    assert parse_track("trackio:my-study") == TrackSpec("trackio", "my-study")
    assert parse_track("mlflow") == TrackSpec("mlflow") and str(parse_track("mlflow:exp")) == "mlflow:exp"
    for bad in ("wandb", "trackio:", ""):
        with pytest.raises(ValueError, match="--track"):
            parse_track(bad)


def test_labels_seeds_and_flat_parameters():
    names = ["tiny-gan", "/a/pixel.safetensors", "/b/pixel.safetensors", "hf://org/repo"]
    assert list(checkpoint_labels(names).values()) == ["tiny-gan", "pixel.safetensors", "pixel.safetensors_2", "repo"]
    assert compact_ints([3, 0, 1, 2, 7, 9, 8]) == "0-3,7-9" and compact_ints([5]) == "5"
    flat = flat_params({"a": {"b": 1}, "r": [0.5, 0.75], "d": [{"id": "x"}], "s": "t"})
    assert flat == {"a.b": "1", "r": "0.5,0.75", "d.0.id": "x", "s": "t"}


def _log(swept_run):
    """The run's manifest.json as written, and the tracker payload."""
    root, run_id = swept_run
    run = RunStore(root).open(run_id)
    return json.loads(run.manifest_path.read_text()), run_log(run.read_manifest(), run.read_rows())


def test_the_payload_holds_parameters_summaries_and_rows(swept_run):
    manifest, log = _log(swept_run)
    assert sorted(log.metrics) == [0, 1] and log.metrics[1]["mask_ratio"] == 0.75  # step: the ratio's index
    computed = manifest["metrics"]  # every metric the run's rows carry: loss, mse, psnr and the default optional ones
    assert computed == ["loss", "mse", "psnr", "ssim", "detail", "visible_loss"]
    assert set(log.metrics[0]) == {
        "mask_ratio",
        *(f"{ck}/{m}_{s}" for ck in ("pixel.safetensors", "gan.safetensors") for m in computed
          for s in ("mean", "sd")),
    }  # fmt: skip
    rows = log.rows
    part = rows[(rows["checkpoint"] == manifest["checkpoints"][0]["name"]) & (rows["mask_ratio"] == 0.5)]
    # image-clustered: the mean over images of each image's mean over seeds (balanced here, so the plain mean)
    assert log.metrics[0]["pixel.safetensors/loss_mean"] == pytest.approx(part["loss"].mean())
    checkpoints = log.params["checkpoints"]
    assert {c["sha256"] for c in checkpoints.values()} == {c["sha256"] for c in manifest["checkpoints"]}
    assert log.params["mask_ratios"] == [0.5, 0.75] and log.params["seeds"] == "0-1"
    assert log.params["masks"] == ["random"] and log.params["dtype"] == "float32" and log.params["images"] == 3
    assert len(log.rows) == 24 and set(log.summary["metric"]) == set(computed)  # lpips: not computed, not logged


def test_a_missing_tracker_package_is_named_with_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "trackio", None)  # what find_spec reports for a package that is not there
    with pytest.raises(ValueError, match="needs the trackio package, which is not installed: pip install trackio"):
        check_tracker(TrackSpec("trackio"))


def _in_fresh_python(code: str, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(**env), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    got.setdefault("stderr", result.stderr[-3000:])
    return got


def test_trackio_run_reads_back_through_trackio(swept_run, tmp_path):
    root, run_id = swept_run
    code = f"""
import json
from experiments.store import RunStore, list_runs
from experiments.tracking import TrackSpec, check_tracker, log_run, run_log
run = RunStore({root!r}).open({run_id!r})
spec = TrackSpec("trackio", "study")
check_tracker(spec)
log_run(spec, run_log(run.read_manifest(), run.read_rows()))
import trackio
from trackio.sqlite_storage import SQLiteStorage
runs = list(trackio.Api().runs("study"))
logs = SQLiteStorage.get_logs("study", {run_id!r})
tables = {{k: v["_value"] for entry in logs for k, v in entry.items() if isinstance(v, dict)}}
steps = {{entry["step"]: entry for entry in logs if "mask_ratio" in entry}}
print(json.dumps({{"runs": [r.name for r in runs], "config": runs[0].config, "steps": sorted(steps),
                   "loss": steps[1]["pixel.safetensors/loss_mean"], "per_image": len(tables["per_image"]),
                   "summary": len(tables["summary"])}}))
"""
    got = _in_fresh_python(code, TRACKIO_DIR=str(tmp_path / "trackio"))
    assert got["runs"] == [run_id] and got["steps"] == [0, 1]
    assert got["per_image"] == 24 and got["summary"] == 2 * 2 * 6  # checkpoints x ratios x metrics computed
    assert got["config"]["seeds"] == "0-1" and len(got["config"]["checkpoints"]) == 2
    assert (tmp_path / "trackio" / "study.db").is_file()
    _, log = _log(swept_run)
    assert got["loss"] == pytest.approx(log.metrics[1]["pixel.safetensors/loss_mean"])


def test_mlflow_run_reads_back_through_mlflow(swept_run, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from experiments.tracking import log_run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow's own switch for its file store
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # set_experiment exports it: gone after the test
    manifest, log = _log(swept_run)
    spec = TrackSpec("mlflow", "mae-study")
    check_tracker(spec)
    log_run(spec, log)
    log_run(spec, log)  # logging the run again (a resume) finds the same MLflow run, which holds it all

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("mae-study")
    found = client.search_runs([experiment.experiment_id], filter_string=f"tags.`mae_inspect.run_id` = '{log.run_id}'")
    assert len(found) == 1
    run = found[0]
    assert run.data.params["seeds"] == "0-1" and run.data.params["mask_ratios"] == "0.5,0.75"
    assert {run.data.params[f"checkpoints.{k}.sha256"] for k in ("pixel.safetensors", "gan.safetensors")} == {
        c["sha256"] for c in manifest["checkpoints"]
    }
    history = client.get_metric_history(run.info.run_id, "gan.safetensors/psnr_mean")
    assert sorted(m.step for m in history) == [0, 1]  # once each
    path = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="per_image.parquet", dst_path=str(tmp_path / "dl")
    )
    per_image = pd.read_parquet(path)
    assert len(per_image) == 24 and per_image["seed"].dtype == "int64"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"per_image.parquet", "summary.json"}


def test_an_unusable_mlflow_store_is_reported_before_the_sweep(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(ValueError, match="--track mlflow: the tracking store .* cannot be used"):
        check_tracker(TrackSpec("mlflow"))


# ---- through the sweep command ----
def _sweep_code(tmp_path, checkpoint_pair, *track: str) -> str:
    from tests.experiments.helpers import write_images

    write_images(tmp_path / "imgs", 2)
    args = ["sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair, "--ratios", "0.5,0.75",
            "--seeds", "0", "--device", "cpu", "--out", str(tmp_path / "runs"), "--no-progress", *track]  # fmt: skip
    return (
        "import json, sys\nfrom experiments.__main__ import main\n"
        f"code = main({args!r})\n"
        "print(json.dumps({'code': code, 'imported': [m for m in ('trackio', 'mlflow') if m in sys.modules]}))"
    )


def test_a_sweep_without_track_never_imports_the_trackers(tmp_path, checkpoint_pair):
    got = _in_fresh_python(_sweep_code(tmp_path, checkpoint_pair))
    assert (got["code"], got["imported"]) == (0, []), got["stderr"]


def test_sweep_track_logs_into_both_trackers(tmp_path, checkpoint_pair, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for the read-back in this process
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # MLflow's default experiment in the new store
    env = {"TRACKIO_DIR": str(tmp_path / "trackio"), "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(),
           "MLFLOW_ALLOW_FILE_STORE": "true"}  # fmt: skip
    got = _in_fresh_python(_sweep_code(tmp_path, checkpoint_pair, "--track", "trackio:cli", "--track", "mlflow"), **env)
    assert got["code"] == 0 and sorted(got["imported"]) == ["mlflow", "trackio"], got["stderr"]
    from experiments.store import list_runs

    (manifest,) = list_runs(tmp_path / "runs")
    assert (tmp_path / "trackio" / "cli.db").is_file()
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    runs = client.search_runs(["0"], filter_string=f"tags.`mae_inspect.run_id` = '{manifest.run_id}'")
    assert len(runs) == 1 and runs[0].data.tags["mae_inspect.rows"] == "8"


def test_a_missing_tracker_is_one_line_and_exit_2(tmp_path, checkpoint_pair):
    from tests.experiments.helpers import run_cli, write_images

    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['trackio'] = None\n")  # as if not installed
    write_images(tmp_path / "imgs", 1)
    done = run_cli("sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair,
                   "--out", str(tmp_path / "runs"), "--track", "trackio",
                   PYTHONPATH=f"{hide}:{REPO_ROOT}")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: sweep: --track trackio needs the trackio package, which is not installed: pip install trackio"
    )
    assert not (tmp_path / "runs").exists()  # refused before any run was created


# ---- trackers hold exactly what the CSV holds ----
def _cli_sweep(tmp_path, checkpoint_pair, *extra: str, **env: str):
    from tests.experiments.helpers import run_cli, write_images

    if not (tmp_path / "imgs").is_dir():
        write_images(tmp_path / "imgs", 2)
    # run in tmp_path: an MLflow database store puts its artifacts in ./mlruns
    return run_cli("sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair, "--seeds", "0",
                   "--device", "cpu", "--out", str(tmp_path / "runs"), "--no-progress", *extra,
                   cwd=tmp_path, timeout=300, **env)  # fmt: skip


def _trackio_logs(trackio_dir, project: str, run_id: str) -> list[dict]:
    code = f"""
import json
from trackio.sqlite_storage import SQLiteStorage
logs = SQLiteStorage.get_logs({project!r}, {run_id!r})
print(json.dumps([{{"step": e["step"], "mask_ratio": e.get("mask_ratio"),
                   "per_image": len(e["per_image"]["_value"]) if isinstance(e.get("per_image"), dict) else None}}
                  for e in logs]))
"""
    result = subprocess.run([sys.executable, "-c", code], env=cli_env(TRACKIO_DIR=str(trackio_dir)), cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _mlflow_env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for the read-back in this process
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    return {"TRACKIO_DIR": str(tmp_path / "trackio"), "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(),
            "MLFLOW_ALLOW_FILE_STORE": "true"}  # fmt: skip


def _mlflow_run(uri: str, run_id: str):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(experiments, filter_string=f"tags.`mae_inspect.run_id` = '{run_id}'")
    return client, run


def test_close_ratios_never_share_a_step(tmp_path, checkpoint_pair, monkeypatch):
    pytest.importorskip("mlflow")
    env = _mlflow_env(tmp_path, monkeypatch)
    done = _cli_sweep(tmp_path, checkpoint_pair, "--ratios", "0.7504,0.75", "--track", "trackio:close",
                      "--track", "mlflow", **env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (manifest,) = list_runs(tmp_path / "runs")
    points = [(e["step"], e["mask_ratio"]) for e in _trackio_logs(tmp_path / "trackio", "close", manifest.run_id)]
    assert [p for p in points if p[1] is not None] == [(0, 0.75), (1, 0.7504)]  # increasing ratio, one step each
    client, run = _mlflow_run(env["MLFLOW_TRACKING_URI"], manifest.run_id)
    history = client.get_metric_history(run.info.run_id, "mask_ratio")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.75), (1, 0.7504)]
    rows = pd.read_csv(tmp_path / "runs" / manifest.run_id / "losses.csv")
    points = sorted(
        (m.step, m.value) for m in client.get_metric_history(run.info.run_id, "pixel.safetensors/loss_mean")
    )
    pixel = rows[rows["checkpoint"] == checkpoint_pair[0]]
    expected = [pixel[pixel["mask_ratio"] == ratio]["loss"].mean() for ratio in (0.75, 0.7504)]
    assert [step for step, _ in points] == [0, 1] and [v for _, v in points] == pytest.approx(expected)


def test_a_tracker_that_cannot_write_exits_1(tmp_path, checkpoint_pair):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = _cli_sweep(tmp_path, checkpoint_pair, "--ratios", "0.75", "--track", "trackio",
                      TRACKIO_DIR=str(blocker / "trackio"))  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    assert "tracked in" not in done.stdout
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "--track trackio failed" in line and "trackio did not store the run" in line
    assert "the run is complete in the store" in line
    assert len(pd.read_csv(next((tmp_path / "runs").glob("*/losses.csv")))) == 4  # the rows are kept


def test_resume_with_track_logs_nothing_twice(tmp_path, checkpoint_pair, monkeypatch):
    pytest.importorskip("mlflow")
    env = _mlflow_env(tmp_path, monkeypatch)
    track = ("--track", "trackio:again", "--track", "mlflow")
    first = _cli_sweep(tmp_path, checkpoint_pair, "--ratios", "0.5,0.75", *track, **env)
    assert first.returncode == 0, first.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    again = _cli_sweep(tmp_path, checkpoint_pair, "--resume", run_dir.name, *track, **env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("nothing logged") == 2  # both trackers hold the run's rows already
    logs = _trackio_logs(tmp_path / "trackio", "again", run_dir.name)
    assert sorted(e["step"] for e in logs if e["mask_ratio"] is not None) == [0, 1]
    assert sum(e["per_image"] or 0 for e in logs) == 8  # 2 images x 2 checkpoints x 2 ratios, once
    client, run = _mlflow_run(env["MLFLOW_TRACKING_URI"], run_dir.name)
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "gan.safetensors/loss_mean")) == [0, 1]
    path = client.download_artifacts(run.info.run_id, "summary.json", str(tmp_path / "dl"))
    assert len(json.loads(open(path).read())["data"]) == 2 * 2 * 6  # checkpoints x ratios x metrics, once


def test_a_tracker_holding_earlier_rows_gets_only_what_they_change(swept_run):
    _, log = _log(swept_run)
    # the rows in CSV order; a tracker that holds all but the last ratio's rows of the last image
    last_ratio = float(log.rows["mask_ratio"].iloc[-1])
    logged = len(log.rows) - int((log.rows["mask_ratio"] == last_ratio).iloc[::-1].cumprod().sum())
    part = log.after(logged)
    assert len(part.rows) == len(log.rows) - logged and part.rows.index[0] == logged
    assert list(part.metrics) == [log.steps[last_ratio]] and part.metrics[log.steps[last_ratio]]["mask_ratio"] == (
        last_ratio
    )
    assert set(part.summary["mask_ratio"]) == {last_ratio}
    assert log.after(0) is log


def test_mlflow_sqlite_store_with_mlflow_skinny_only_names_the_package(tmp_path, checkpoint_pair):
    pytest.importorskip("mlflow")
    from tests.experiments.helpers import run_cli, write_images

    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['sqlalchemy'] = None\n")  # as mlflow-skinny has
    write_images(tmp_path / "imgs", 1)
    done = run_cli("sweep", "--images", str(tmp_path / "imgs"), "--checkpoints", *checkpoint_pair,
                   "--out", str(tmp_path / "runs"), "--track", "mlflow", PYTHONPATH=f"{hide}:{REPO_ROOT}",
                   MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert (
        line.startswith("error: sweep: --track mlflow: the tracking store sqlite:///") and "pip install mlflow " in line
    )
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


def _mlflow_sql_stores() -> bool:
    """What MLflow's SQL stores need beside mlflow-skinny: the full ``mlflow`` package brings both."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("mlflow", "sqlalchemy", "alembic"))


@pytest.mark.skipif(
    not _mlflow_sql_stores(), reason="needs the full mlflow package (sqlalchemy, alembic): its SQL stores"
)
def test_mlflow_sqlite_store_with_full_mlflow(tmp_path, checkpoint_pair):
    import os

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))  # where mlflow may be
    done = _cli_sweep(tmp_path, checkpoint_pair, "--ratios", "0.5,0.75", "--track", "mlflow:sqlite-study",
                      MLFLOW_TRACKING_URI=uri, PYTHONPATH=path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"at {uri}" in done.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    client, run = _mlflow_run(uri, run_dir.name)
    assert run.data.tags["mae_inspect.rows"] == "8"
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "pixel.safetensors/psnr_mean")) == [0, 1]


def test_a_resume_that_adds_rows_sends_only_those(tmp_path, checkpoint_pair, monkeypatch):
    pytest.importorskip("mlflow")
    from tests.conftest import make_image
    from tests.experiments.helpers import write_images

    env = _mlflow_env(tmp_path, monkeypatch)
    write_images(tmp_path / "imgs", 2)
    (tmp_path / "imgs" / "late.png").write_text("not an image yet")
    track = ("--track", "trackio:grow", "--track", "mlflow")
    first = _cli_sweep(tmp_path, checkpoint_pair, "--ratios", "0.5,0.75", *track, **env)
    assert first.returncode == 3, first.stderr[-3000:]  # finished without the unreadable image, and tracked
    make_image(seed=9).save(tmp_path / "imgs" / "late.png")
    (run_dir,) = (tmp_path / "runs").iterdir()
    again = _cli_sweep(tmp_path, checkpoint_pair, "--resume", run_dir.name, *track, **env)
    assert again.returncode == 0 and "12 rows (4 new)" in again.stdout, again.stderr[-3000:]
    logs = _trackio_logs(tmp_path / "trackio", "grow", run_dir.name)
    assert [e["per_image"] for e in logs if e["per_image"]] == [8, 4]  # the first rows once, then the new ones
    points = [(e["step"], e["mask_ratio"]) for e in logs if e["mask_ratio"] is not None]
    assert points == [(0, 0.5), (1, 0.75)] * 2  # the new image changed both ratios' summaries
    client, run = _mlflow_run(env["MLFLOW_TRACKING_URI"], run_dir.name)
    assert run.data.tags["mae_inspect.rows"] == "12"
    rows = pd.read_csv(run_dir / "losses.csv")
    pixel = rows[(rows["checkpoint"] == checkpoint_pair[0]) & (rows["mask_ratio"] == 0.75)]
    assert run.data.metrics["pixel.safetensors/loss_mean"] == pytest.approx(pixel["loss"].mean())  # the latest
    path = client.download_artifacts(run.info.run_id, "per_image.parquet", str(tmp_path / "dl"))
    assert len(pd.read_parquet(path)) == 12


def test_a_run_with_spread_logs_it_like_every_metric(tmp_path, checkpoint_pair):
    from experiments.config import SweepConfig
    from experiments.sweep import run_sweep
    from tests.experiments.helpers import write_images

    write_images(tmp_path / "imgs", 2)
    config = SweepConfig(
        images=(str(tmp_path / "imgs"),), checkpoints=checkpoint_pair, ratios=(0.5, 0.75), seeds=(0, 1, 2),
        metrics=("spread",), device="cpu",
    )  # fmt: skip
    result = run_sweep(config, root=tmp_path / "runs")
    run = RunStore(tmp_path / "runs").open(result.run_id)
    rows = run.read_rows()
    log = run_log(run.read_manifest(), rows)
    assert set(log.summary["metric"]) == {"loss", "mse", "psnr", "spread"}
    part = rows[(rows["checkpoint"] == checkpoint_pair[1]) & (rows["mask_ratio"] == 0.75)]
    assert log.metrics[1]["gan.safetensors/spread_mean"] == pytest.approx(part["spread"].mean())
    assert "gan.safetensors/spread_sd" in log.metrics[1] and "pixel.safetensors/spread_mean" in log.metrics[0]
