"""The run store: manifests, appends, torn lines, CSV injection, concurrent writers, shards."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import stat
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from experiments.config import SweepConfig
from experiments.store import (
    COLUMNS,
    LEGACY_COLUMNS,
    SCHEMA_COLUMNS,
    Run,
    RunBusyError,
    RunStore,
    cell_key,
    list_runs,
    load_runs,
    resolve_root,
    utc_now,
)
from tests.experiments.helpers import REPO_ROOT, cli_env, make_rows


def test_create_serialises_config_and_lists_runs(tmp_path):
    store = RunStore(tmp_path)
    config = SweepConfig(images=("a.png",), checkpoints=("ck",), ratios=(0.5, 0.75))
    run = store.create(config, dtype="float32")
    manifest = run.read_manifest()
    assert manifest.run_id == run.run_id
    assert manifest.status == "running" and manifest.ended is None
    assert manifest.config == config and manifest.dtype == "float32"
    assert manifest.created.endswith("Z")
    assert manifest.environment["packages"]["torch"]
    written = json.loads(run.manifest_path.read_text())
    assert written["config"]["images"] == ["a.png"] and written["config"]["ratios"] == [0.5, 0.75]
    (tmp_path / "not-a-run").mkdir()  # folders without a manifest are skipped
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{torn")
    assert [m.run_id for m in list_runs(tmp_path)] == [run.run_id]
    run.update_manifest(status="finished", ended=utc_now())
    assert json.loads(run.manifest_path.read_text())["status"] == "finished"
    assert not list(run.path.glob("*.tmp")), "the atomic write left its temporary file behind"


def test_root_comes_from_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MAE_RUNS_DIR", str(tmp_path / "env"))
    assert resolve_root(None) == tmp_path / "env"
    assert resolve_root(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("MAE_RUNS_DIR")
    assert str(resolve_root(None)) == "runs"


@pytest.mark.parametrize("bad", ["..", "../escape", "a/b", "", ".hidden"])
def test_run_ids_cannot_leave_the_root(tmp_path, bad):
    with pytest.raises(ValueError, match="run id"):
        RunStore(tmp_path).open(bad)


def test_unknown_run_names_the_latest(tmp_path):
    store = RunStore(tmp_path)
    run = store.create()
    with pytest.raises(ValueError, match=run.run_id):
        store.open("20990101-000000-ffffff")


def test_rows_round_trip_with_types(tmp_path):
    run = RunStore(tmp_path).create()
    rows = make_rows(run.run_id, ["a.png", "b.png"])
    assert run.append_rows(rows) == 4
    df = load_runs([run.run_id], root=tmp_path)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 4
    assert df["seed"].dtype == "int64" and df["loss"].dtype == "float64"
    assert df["loss"].tolist() == [0.5, 1.5, 0.5, 1.5]
    assert run.done_cells() == {r.key() for r in rows}


def test_strings_that_spreadsheets_would_run_are_neutralised(tmp_path):
    run = RunStore(tmp_path).create()
    names = ['=HYPERLINK("http://x")', "+1.png", "-2.png", "@SUM(A1).png", "\tTab.png", "\rcr.png", "plain.png"]
    run.append_rows(make_rows(run.run_id, names, seeds=(0,)))
    with open(run.losses_path, newline="") as f:
        records = list(csv.reader(f))[1:]
    images = [r[COLUMNS.index("image")] for r in records]
    for cell in images[:-2]:
        assert cell.startswith("'"), cell
    assert images[-2:] == ["\\rcr.png", "plain.png"]  # a CR is written as backslash-r: nothing left to run
    assert not any("\r" in cell or "\n" in cell for cell in images)
    assert cell_key("a\nb", "c", "random", 0.5, 0)[0] == "a\\nb"  # one row is one line, always
    assert list(load_runs(run.run_id, root=tmp_path)["image"]) == names  # and the names read back as given


def test_torn_last_line_is_ignored_then_repaired(tmp_path):
    run = RunStore(tmp_path).create()
    run.append_rows(make_rows(run.run_id, ["a.png"]))
    with open(run.losses_path, "ab") as f:
        f.write(b"run,half-a-row-from-a-killed-writer")  # no newline: torn
    assert len(run.read_rows()) == 2
    run.append_rows(make_rows(run.run_id, ["b.png"]))
    text = run.losses_path.read_text()
    assert "half-a-row" not in text
    assert text.count("\n") == 1 + 4
    assert len(run.read_rows()) == 4


def test_torn_header_is_rewritten(tmp_path):
    run = RunStore(tmp_path).create()
    run.losses_path.write_bytes(b"run_id,ima")
    assert run.read_rows().empty
    run.append_rows(make_rows(run.run_id, ["a.png"]))
    assert run.losses_path.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert len(run.read_rows()) == 2


def test_foreign_csv_is_refused_with_its_header(tmp_path):
    run = RunStore(tmp_path).create()
    run.losses_path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a losses file"):
        run.read_rows()


def test_shards_merge_once_per_cell(tmp_path):
    run = RunStore(tmp_path).create()
    rows = make_rows(run.run_id, ["a.png", "=b.png", "c.png"])
    run.append_rows(rows[:2])  # a.png is already merged (a merge killed midway)
    run.append_rows(rows[:4], path=run.shard_path(0))
    run.append_rows(rows[4:], path=run.shard_path(1))
    assert len(run.read_rows()) == 6  # shards are visible before the merge, without duplicates
    assert run.merge_shards() == 4
    assert run.shard_paths() == []
    df = run.read_rows()
    assert len(df) == 6
    assert not df.duplicated(["image", "checkpoint", "mask_ratio", "seed"]).any()
    assert sorted(set(df["image"])) == ["=b.png", "a.png", "c.png"]  # names decoded as given
    assert run.merge_shards() == 0


def test_a_second_writer_of_the_same_run_is_refused(tmp_path):
    run = RunStore(tmp_path).create()
    lock = run.acquire_writer()
    try:
        with pytest.raises(RunBusyError, match=run.run_id):
            Run(run.path).acquire_writer()
    finally:
        lock.release()
    Run(run.path).acquire_writer().release()


WRITER = textwrap.dedent(
    """
    import sys
    from experiments.store import LossRow, Run
    run, tag, batches, size = Run(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    for b in range(batches):
        rows = [LossRow(run.run_id, f"{tag}-{b}-{i}.png", "0" * 64, "ck", "", "pixel", 0.75, 0, 147,
                        0.1, 0.2, 30.0, "float32", "cpu", "t" * 40) for i in range(size)]
        run.append_rows(rows)
    """
)


def test_two_processes_appending_to_one_run_neither_interleave_nor_lose_rows(tmp_path):
    run = RunStore(tmp_path).create()
    batches, size = 60, 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(run.path), tag, str(batches), str(size)],
            cwd=REPO_ROOT,
            env=cli_env(),
        )
        for tag in ("A", "B")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    text = run.losses_path.read_text()
    lines = text.splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 1 + 2 * batches * size
    parsed = list(csv.reader(io.StringIO(text)))[1:]
    assert all(len(r) == len(COLUMNS) for r in parsed), "a row was interleaved with another"
    names = [r[1] for r in parsed]
    expected = {f"{tag}-{b}-{i}.png" for tag in "AB" for b in range(batches) for i in range(size)}
    assert len(names) == len(set(names)) and set(names) == expected
    # each batch is contiguous: one locked write per batch
    for tag in "AB":
        for b in (0, batches - 1):
            positions = [k for k, n in enumerate(names) if n.startswith(f"{tag}-{b}-")]
            assert positions == list(range(positions[0], positions[0] + size))


def test_cell_key_normalises_ratios():
    assert cell_key("a", "c", "random", 0.1 * 3, 2) == cell_key("a", "c", "random", 0.3, "2")
    assert cell_key("=a", "c", "random", 0.5, 0)[0] == "'=a"


def test_manifests_get_the_mode_the_umask_asks_for(tmp_path):
    # a store shared by a group must be readable by it: the atomic write used to leave mkstemp's 0600
    previous = os.umask(0o022)
    try:
        run = RunStore(tmp_path).create()
        assert stat.S_IMODE(run.manifest_path.stat().st_mode) == 0o644
        os.umask(0o002)
        run.update_manifest(status="finished")
        assert stat.S_IMODE(run.manifest_path.stat().st_mode) == 0o664
    finally:
        os.umask(previous)


def test_optional_metrics_round_trip_and_empty_cells_read_as_nan(tmp_path):
    run = RunStore(tmp_path).create()
    measured, plain = make_rows(run.run_id, ["a.png"], seeds=(0,)) + make_rows(run.run_id, ["b.png"], seeds=(0,))
    measured = dataclasses.replace(measured, ssim=0.25, detail=1.5, visible_loss=0.125)
    run.append_rows([measured, plain])
    with open(run.losses_path, newline="") as f:
        header, *records = list(csv.reader(f))
    metrics = slice(header.index("timestamp") + 1, header.index("timestamp") + 5)  # after the first version's columns
    assert header[metrics] == ["ssim", "lpips", "detail", "visible_loss"]
    assert records[0][metrics] == ["0.25", "", "1.5", "0.125"] and records[1][metrics] == ["", "", "", ""]
    df = run.read_rows()
    assert df["ssim"].dtype == "float64"
    assert df.loc[0, ["ssim", "detail", "visible_loss"]].tolist() == [0.25, 1.5, 0.125]
    assert df[["ssim", "lpips", "detail", "visible_loss"]].iloc[1].isna().all() and pd.isna(df.loc[0, "lpips"])


def test_a_run_written_before_the_metric_columns_loads_and_is_upgraded_when_appended_to(tmp_path):
    run = RunStore(tmp_path).create()
    run.update_manifest(schema_version=1)  # such runs are of schema 1: the upgrade stays within it
    old_columns = COLUMNS[: COLUMNS.index("timestamp") + 1]
    old_rows = [row.cells()[: len(old_columns)] for row in make_rows(run.run_id, ["old.png"])]
    with open(run.losses_path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([old_columns, *old_rows])
    df = load_runs([run.run_id], root=tmp_path)
    assert list(df.columns) == list(COLUMNS) and len(df) == 2
    assert df["ssim"].isna().all() and df["loss"].tolist() == [0.5, 1.5]
    new = dataclasses.replace(make_rows(run.run_id, ["new.png"], seeds=(0,))[0], ssim=0.5)
    run.append_rows([new])
    lines = run.losses_path.read_text().splitlines()
    assert lines[0] == ",".join(LEGACY_COLUMNS) and len(lines) == 4
    assert all(line.count(",") == len(LEGACY_COLUMNS) - 1 for line in lines)  # old rows padded with empty cells
    df = run.read_rows()
    assert df["ssim"].isna().tolist() == [True, True, False] and run.done_cells() == {
        *(r.key() for r in make_rows(run.run_id, ["old.png"])),
        new.key(),
    }


def test_new_runs_write_schema_4_with_crop_mask_mask_hash_size_and_spread(tmp_path):
    run = RunStore(tmp_path).create()
    assert run.read_manifest().schema_version == 4 and json.loads(run.manifest_path.read_text())["schema_version"] == 4
    rows = [
        dataclasses.replace(r, crop=True, mask="block", mask_hash="0123456789abcdef", size=320, spread=spread)
        for r, spread in zip(make_rows(run.run_id, ["a.png"]), (0.125, None))
    ]
    run.append_rows(rows)
    lines = run.losses_path.read_text().splitlines()
    assert lines[0].endswith(",crop,mask,mask_hash,size,spread")
    assert lines[1].endswith(",320,0.125") and lines[2].endswith(",320,")  # not computed: an empty cell
    df = load_runs(run.run_id, root=tmp_path)
    assert df["crop"].tolist() == [True, True] and df["crop"].dtype == bool
    assert set(df["mask"]) == {"block"} and set(df["mask_hash"]) == {"0123456789abcdef"}
    assert df["size"].tolist() == [320, 320] and df["size"].dtype == "int64"
    assert df["spread"].dtype == "float64" and df["spread"].iloc[0] == 0.125 and pd.isna(df["spread"].iloc[1])
    assert run.done_cells() == {("a.png", "ck", "block", "0.75", "0"), ("a.png", "ck", "block", "0.75", "1")}


def test_two_different_names_never_share_a_cell_and_names_round_trip(tmp_path):
    run = RunStore(tmp_path).create()
    names = ["a\nb.jpg", "a\\nb.jpg", "=x.png", "'=x.png", "back\\slash.png"]
    run.append_rows(make_rows(run.run_id, names, seeds=(0,)))
    assert len(run.cell_counts()) == 5 and set(run.cell_counts().values()) == {1}
    assert list(load_runs(run.run_id, root=tmp_path)["image"]) == names


def legacy_run(root, *, crop: bool):
    """A run as the first schema wrote it: no schema_version, 15 columns, the old (lossy) name encoding."""
    run_id = "20240101-000000-aaaaaa"
    folder = root / run_id
    folder.mkdir(parents=True)
    config = {"images": ["x"], "checkpoints": ["ck"], "ratios": [0.75], "seeds": [0, 1], "crop": crop}
    manifest = {"run_id": run_id, "status": "interrupted", "created": "2024-01-01T00:00:00.000Z", "config": config}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    header = ",".join(COLUMNS[:15])
    assert header.endswith("dtype,device,timestamp")
    row = f"{run_id},'=old.png,{'ab' * 32},ck,{'cd' * 32},pixel,0.75,0,147,0.5,0.01,20.0,float32,cpu,2024-01-01T00:00Z"
    (folder / "losses.csv").write_text(f"{header}\n{row}\n")
    return Run(folder)


def test_runs_of_the_first_schema_load_with_their_known_defaults_and_resume_in_their_schema(tmp_path):
    run = legacy_run(tmp_path, crop=True)
    assert run.schema == 1 and "schema_version" not in run.manifest_path.read_text()
    df = load_runs(run.run_id, root=tmp_path)
    assert list(df.columns) == list(COLUMNS)
    assert df["crop"].tolist() == [True] and df["mask"].tolist() == ["random"] and df["mask_hash"].tolist() == [""]
    assert df["size"].tolist() == [224]
    assert df["image"].tolist() == ["'=old.png"]  # that schema's encoding is not reversible: shown as written
    # a resume appends in the run's own schema (its header given the metric columns, padded: 19 cells) and the old
    # encoding (so "=old.png" is one cell)
    (stored,) = run.done_cells()
    assert stored == ("'=old.png", "ck", "random", "0.75", "0")
    assert run.cell_text("=old.png") == "'=old.png"
    run.append_rows(make_rows(run.run_id, ["=old.png"], seeds=(1,)))
    lines = run.losses_path.read_text().splitlines()
    assert lines[0] == ",".join(LEGACY_COLUMNS) and len(lines) == 3
    assert lines[1].count(",") == lines[2].count(",") == 18
    assert run.cell_counts() == {"'=old.png": 2}
    run.update_manifest(status="finished")
    assert run.read_manifest().schema_version == 1
    assert len(load_runs(run.run_id, root=tmp_path)) == 2


def test_runs_of_schema_2_load_as_224_and_resume_in_their_schema(tmp_path):
    run = RunStore(tmp_path).create()
    run.update_manifest(schema_version=2)  # a run written before the size column
    run.append_rows([dataclasses.replace(r, mask="grid", size=32) for r in make_rows(run.run_id, ["a.png"])])
    lines = run.losses_path.read_text().splitlines()
    assert lines[0] == ",".join(SCHEMA_COLUMNS[2]) and lines[0].endswith(",mask_hash")  # its own header, no size
    assert all(line.count(",") == len(SCHEMA_COLUMNS[2]) - 1 for line in lines)
    df = load_runs(run.run_id, root=tmp_path)
    assert list(df.columns) == list(COLUMNS) and df["size"].tolist() == [224, 224]
    assert set(df["mask"]) == {"grid"} and df["spread"].isna().all()
    assert run.read_manifest().schema_version == 2


def test_runs_of_schema_3_load_with_an_empty_spread_and_resume_in_their_schema(tmp_path):
    run = RunStore(tmp_path).create()
    run.update_manifest(schema_version=3)  # a run written before the spread column
    rows = make_rows(run.run_id, ["a.png"])
    run.append_rows([dataclasses.replace(rows[0], size=32, spread=0.5)])  # a value its schema cannot hold
    run.append_rows([dataclasses.replace(rows[1], size=32)])  # a resume appends in the run's schema
    lines = run.losses_path.read_text().splitlines()
    assert lines[0] == ",".join(SCHEMA_COLUMNS[3]) and lines[0].endswith(",mask_hash,size") and len(lines) == 3
    assert all(line.count(",") == len(SCHEMA_COLUMNS[3]) - 1 for line in lines)
    df = load_runs(run.run_id, root=tmp_path)
    assert list(df.columns) == list(COLUMNS) and df["spread"].isna().all() and df["size"].tolist() == [32, 32]
    assert run.read_manifest().schema_version == 3 and len(run.done_cells()) == 2
