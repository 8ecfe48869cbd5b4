"""Helpers for the experiments tests: generated images, a PNG bomb header, and running the CLI in a subprocess."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from experiments.manifest import CheckpointRecord, ImageRecord
from experiments.store import LossRow, RunStore, utc_now
from tests.conftest import make_image

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_images(folder: Path, count: int, *, start_seed: int = 0, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i:03d}.png"
        make_image(seed=start_seed + i).save(path)
        paths.append(path)
    return paths


def huge_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming ``width x height`` RGB pixels, followed by a tiny (wrong) IDAT: a decoder that
    trusted the header would try to allocate ``3 * width * height`` bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        MAE_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",  # the CI machine has 2 cores; concurrent subprocesses must not oversubscribe them
        PYTHONUNBUFFERED="1",
    )
    env.pop(RUNS_ENV, None)
    env.update(extra)
    return env


RUNS_ENV = "MAE_RUNS_DIR"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        cwd=cwd or REPO_ROOT,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_torchrun(*args: str, nproc: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=NPROC -m experiments ARGS`` from the venv, as a user launches it."""
    torchrun = Path(sys.executable).with_name("torchrun")
    return subprocess.run(
        [str(torchrun), "--standalone", f"--nproc_per_node={nproc}", "-m", "experiments", *args],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "experiments", *args],
        cwd=cwd or REPO_ROOT,
        env=cli_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def data_lines(path: Path) -> int:
    """The rows of a losses file (lines after the header; 0 for a file not written yet)."""
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def kill_after_rows(proc: subprocess.Popen, root: Path, rows: int, timeout: float = 90) -> Path:
    """SIGKILL a sweep started with :func:`start_cli` into ``root`` once its run's losses.csv holds ``rows`` rows
    (no handler runs: the manifest stays "running"); returns the run's folder. Fails if the sweep exits first."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            csvs = list(root.glob("*/losses.csv"))
            if csvs and data_lines(csvs[0]) >= rows:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.kill()
    finally:
        proc.wait(timeout=30)
    (run_dir,) = [p.parent for p in root.glob("*/losses.csv")]
    return run_dir


def edit_cells(losses: Path, edits: dict[int, tuple[str, str]]) -> list[str]:
    """Hand-edit a losses file: ``{line number (1-based): (column, new text)}``; returns the file's lines after the
    edit (each with its newline). Cells are split on commas: for files whose edited lines quote no comma."""
    lines = losses.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    for number, (column, value) in edits.items():
        cells = lines[number - 1].rstrip("\n").split(",")
        cells[header.index(column)] = value
        lines[number - 1] = ",".join(cells) + "\n"
    losses.write_text("".join(lines))
    return lines


def make_rows(run_id: str, images, seeds=(0, 1), checkpoint="ck", ratio=0.75) -> list[LossRow]:
    """Store rows for ``images`` x ``seeds`` with made-up metrics (loss = 0.5 + seed)."""
    return [
        LossRow(
            run_id=run_id,
            image=image,
            image_sha256="ab" * 32,
            checkpoint=checkpoint,
            checkpoint_sha256="cd" * 32,
            loss_type="pixel",
            mask_ratio=ratio,
            seed=seed,
            masked_patches=147,
            loss=0.5 + seed,
            mse=0.01,
            psnr=20.0,
            dtype="float32",
            device="cpu",
            timestamp=utc_now(),
        )
        for image in images
        for seed in seeds
    ]


def study_frame(
    *,
    images: int = 6,
    seeds: int = 3,
    ratios=(0.5, 0.75, 0.9),
    shift=(0.02, 0.0, -0.03),
    run_id: str = "run-a",
    masks=("random",),
    seed: int = 0,
):
    """Rows as ``load_runs`` returns them for a made-up study of a pixel and a GAN checkpoint: each image has its
    own level (images differ far more than seeds), the GAN checkpoint adds ``shift[ratio index]`` plus noise."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0.0, 0.2, size=images)
    rows = []
    for i in range(images):
        for m, mask in enumerate(masks):
            for k, ratio in enumerate(ratios):
                for s in range(seeds):
                    pixel = 0.3 + ratio + level[i] + rng.normal(0.0, 0.02)
                    gan = pixel + shift[k] + 0.01 * m + rng.normal(0.0, 0.01)
                    for name, loss_type, value in (("tiny-pixel", "pixel", pixel), ("tiny-gan", "gan", gan)):
                        rows.append(
                            {
                                "run_id": run_id,
                                "image": f"im{i}.png",
                                "image_sha256": f"{i:064x}",
                                "checkpoint": name,
                                "checkpoint_sha256": (name[5:] * 64)[:64],
                                "loss_type": loss_type,
                                "mask_ratio": ratio,
                                "seed": s,
                                "masked_patches": int(196 - int(196 * (1 - ratio))),
                                "loss": value,
                                "mse": value / 10,
                                "psnr": 10 * np.log10(10 / value),
                                "dtype": "float32",
                                "device": "cpu",
                                "timestamp": "2026-01-01T00:00:00.000Z",
                                "crop": False,
                                "mask": mask,
                                "mask_hash": f"{mask}-{ratio}-{s}",
                            }
                        )
    return pd.DataFrame(rows)


def png_bytes(seed: int, size: tuple[int, int] = (40, 36)) -> bytes:
    """A generated image encoded as PNG (``make_image``), as a dataset's Image cell stores it."""
    import io

    buffer = io.BytesIO()
    make_image(width=size[0], height=size[1], seed=seed).save(buffer, format="PNG")
    return buffer.getvalue()


def image_dataset(count: int, *, start_seed: int = 0, column: str = "image", label_first: bool = True):
    """A ``datasets.Dataset`` of ``count`` PNG images (seeds ``start_seed...``) in ``column`` and an int label,
    built by the ``datasets`` library itself."""
    from datasets import Dataset, Features, Image, Value

    labels = list(range(start_seed, start_seed + count))
    images = [{"bytes": png_bytes(seed), "path": None} for seed in labels]
    columns = {"label": (labels, Value("int64")), column: (images, Image())}
    order = ["label", column] if label_first else [column, "label"]
    return Dataset.from_dict(
        {name: columns[name][0] for name in order}, features=Features({name: columns[name][1] for name in order})
    )


def write_imagefolder(folder: Path, splits: dict[str, int], *, metadata: bool = True) -> dict[str, list[Path]]:
    """An ``imagefolder`` layout: ``folder/<split>/imgNNN.png`` (seeds 0, 1... per split, 100 apart between
    splits), with a ``metadata.jsonl`` per split (file_name + caption) when ``metadata``."""
    import json

    written = {}
    for offset, (split, count) in enumerate(splits.items()):
        paths = write_images(folder / split, count, start_seed=100 * offset)
        if metadata:
            lines = [json.dumps({"file_name": p.name, "caption": f"{split} {p.stem}"}) for p in paths]
            (folder / split / "metadata.jsonl").write_text("\n".join(lines) + "\n")
        written[split] = paths
    return written


# ---- the statistics written out independently (scipy and plain pandas), for tests of the analysis and the report
def expected_summary_row(df: pd.DataFrame, checkpoint: str, ratio: float, metric: str = "loss") -> dict:
    """The definition, written out: per-image mean over seeds, then a t-interval over images by scipy (over the seeds
    of the only image when there is one)."""
    part = df[(df["checkpoint"] == checkpoint) & (df["mask_ratio"] == ratio)]
    images = part.pivot_table(index="image_sha256", columns="seed", values=metric).mean(axis=1).to_numpy()
    values, over = (images, "images") if len(images) > 1 else (part[metric].to_numpy(), "seeds")
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    return {
        "n_images": len(images),
        "n_seeds": part["seed"].nunique(),
        "mean": images.mean(),
        "sd": np.std(values, ddof=1),
        "ci_low": low,
        "ci_high": high,
        "ci_over": over,
    }


def expected_holm(p: list[float]) -> list[float]:
    """Holm's adjusted p-values from their closed form, written with plain lists: the i-th smallest (0-based) of m
    becomes min(1, max over j <= i of (m - j) * p_(j))."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    for rank, index in enumerate(order):
        out[index] = min(1.0, max((m - j) * p[order[j]] for j in range(rank + 1)))
    return out


def expected_paired_row(df, ratio: float, a: str, b: str, metric: str = "loss") -> dict:
    """b - a on per-image means over seeds; scipy's paired t-test and Wilcoxon; d_z over images."""
    part = df[df["mask_ratio"] == ratio]
    means = part.pivot_table(index="image_sha256", columns="checkpoint", values=metric).dropna(subset=[a, b])
    diffs = (means[b] - means[a]).to_numpy()
    low, high = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
    return {
        "n_images": len(diffs),
        "mean_diff": diffs.mean(),
        "ci_low": low,
        "ci_high": high,
        "p_ttest": stats.ttest_rel(means[b], means[a]).pvalue,
        "p_wilcoxon": stats.wilcoxon(diffs).pvalue,
        "effect_size": diffs.mean() / diffs.std(ddof=1),
    }


def store_runs(root, frame, statuses=None):
    """A run store holding ``frame``'s rows (``study_frame`` columns), one run per ``run_id``, each with the status
    ``statuses`` gives it (default finished). Returns the run ids in order."""
    store = RunStore(root)
    run_ids = list(dict.fromkeys(frame["run_id"]))
    for run_id in run_ids:
        run = store.create(run_id=run_id)
        rows = frame[frame["run_id"] == run_id]
        fields = [f for f in LossRow.__dataclass_fields__ if f in rows.columns]
        run.append_rows([LossRow(**dict(zip(fields, values))) for values in rows[fields].itertuples(index=False)])
        images = rows.drop_duplicates("image")
        run.update_manifest(
            status=(statuses or {}).get(run_id, "finished"),
            ended=utc_now(),
            checkpoints=tuple(
                CheckpointRecord(name=c.checkpoint, sha256=c.checkpoint_sha256, loss_type=c.loss_type)
                for c in rows.drop_duplicates("checkpoint").itertuples()
            ),
            images=tuple(ImageRecord(i.image, f"/data/{i.image}", i.image_sha256) for i in images.itertuples()),
            ratios=tuple(sorted(set(rows["mask_ratio"]))),
            seeds=tuple(sorted(set(rows["seed"]))),
            cells=len(images) * rows["checkpoint"].nunique() * rows["mask_ratio"].nunique() * rows["seed"].nunique(),
        )
    return run_ids
