"""Images ranked by the paired difference, per mask strategy and ratio, and a contact sheet of the extremes.

For each mask strategy and ratio, each image's paired difference ``b - a`` (the two checkpoints on identical
masks, :func:`experiments.analysis.paired_cells`) is averaged over its seeds, with a 95 % Student-t interval over
those seeds (the seeds of one image: the interval says how much the mask moves the image's difference, not how
other images would behave). Rank 1 is the largest ``b - a``. The contact sheet shows, per mask and ratio, the
top and bottom images of that ranking, each captioned with its difference; an image that can no longer be read is
a grey tile marked "unavailable" and named, with the reason, in :attr:`ContactSheet.unavailable`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw, ImageFont, ImageOps

from experiments.analysis import pair_checkpoints, paired_cells, study_cells, t_interval
from experiments.manifest import Manifest
from experiments.run_images import ImageChangedError, RunImage, find_image
from experiments.store import Run
from mae_core.evaluation.preprocess import ImageError
from mae_core.options import METRIC_INFO, SEED_METRICS

RANKING_COLUMNS = (
    "mask",
    "mask_ratio",
    "rank",
    "image",
    "image_sha256",
    "a",
    "b",
    "n_seeds",
    "mean_a",
    "mean_b",
    "mean_diff",
    "ci_low",
    "ci_high",
)
SHEET_IMAGES = 4  # top and bottom images per mask and ratio on a contact sheet
TILE = 128  # thumbnail side, pixels
CAPTION = 42  # caption height under a thumbnail, pixels


def rank_images(df: pd.DataFrame, metric: str, a: str | None = None, b: str | None = None) -> pd.DataFrame:
    """Per mask x ratio, the images ordered by their seed-mean ``b - a`` of ``metric``, largest first
    (``RANKING_COLUMNS``; ``ci_low``/``ci_high``: the t-interval over the image's seeds, NaN for a single seed and
    for a metric of all the seeds at once (``spread``: every seed row holds the same value, so the seeds show no
    variation to measure; a zero-width interval would claim a certainty nobody measured))."""
    frame = study_cells(df, metric)
    a, b = pair_checkpoints(frame, a, b)
    pairs = paired_cells(frame, metric, a, b)
    sha = frame.drop_duplicates("image_key").set_index("image_key")["image_sha256"]
    rows = []
    for (mask, ratio), group in pairs.groupby(["mask", "mask_ratio"], sort=True):
        part = []
        for image_key, seeds in group.groupby("image_key", sort=False):
            mean, _, low, high = t_interval((seeds["b"] - seeds["a"]).to_numpy())
            if metric in SEED_METRICS:
                low = high = math.nan
            part.append(
                {
                    "mask": mask,
                    "mask_ratio": float(ratio),
                    "image": seeds["image"].iloc[0],
                    "image_sha256": str(sha.get(image_key, "")),
                    "a": a,
                    "b": b,
                    "n_seeds": len(seeds),
                    "mean_a": float(seeds["a"].mean()),
                    "mean_b": float(seeds["b"].mean()),
                    "mean_diff": mean,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
        part.sort(key=lambda row: -row["mean_diff"])
        rows += [{**row, "rank": k + 1} for k, row in enumerate(part)]
    return pd.DataFrame(rows, columns=list(RANKING_COLUMNS))


def sheet_images(ranking: pd.DataFrame, per_side: int = SHEET_IMAGES) -> set[str]:
    """The image sha256s a contact sheet of ``ranking`` shows (the top and bottom of each mask and ratio)."""
    shown = set()
    for _, group in ranking.groupby(["mask", "mask_ratio"], sort=True):
        top, bottom = _sides(group, per_side)
        shown |= set(top["image_sha256"]) | set(bottom["image_sha256"])
    return shown


def _sides(group: pd.DataFrame, per_side: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The top and bottom images of one mask and ratio; with fewer than 2 x ``per_side``, half each side."""
    top = group.head(min(per_side, math.ceil(len(group) / 2)))
    return top, group.iloc[len(top) :].tail(per_side)


def locate_run_images(
    frame: pd.DataFrame, runs: Mapping[str, Run], manifests: Mapping[str, Manifest], wanted: set[str] | None = None
) -> dict[str, RunImage | str]:
    """For each image sha256 in ``frame`` (rows as loaded; only those in ``wanted`` when given: checking a recorded
    path hashes the file), the image to read - the run's kept copy, else the recorded file or dataset row while its
    bytes still match (:func:`experiments.run_images.find_image`) - or, when neither exists, the one-line reason it
    is unavailable."""
    found: dict[str, RunImage | str] = {}
    rows = frame.drop_duplicates("image_sha256")
    if wanted is not None:
        rows = rows[rows["image_sha256"].astype(str).isin(wanted)]
    for row in rows.itertuples():
        sha256, run_id = str(row.image_sha256), str(row.run_id)
        manifest = manifests.get(run_id)
        try:
            if run_id not in runs or manifest is None:
                raise ImageChangedError(f"image {row.image!r}: run {run_id} is not in this store")
            found[sha256] = find_image(runs[run_id], manifest, str(row.image), sha256)
        except ImageChangedError as err:
            found[sha256] = str(err)
    return found


@dataclass(frozen=True)
class ContactSheet:
    path: Path
    shown: int  # tiles drawn from an image file
    unavailable: tuple[tuple[str, str], ...]  # (image, reason) for each image drawn as a grey tile


def contact_sheet(
    ranking: pd.DataFrame,
    files: Mapping[str, RunImage | str],
    metric: str,
    path: str | os.PathLike,
    *,
    per_side: int = SHEET_IMAGES,
) -> ContactSheet:
    """A PNG with one row per mask x ratio: the ``per_side`` images of largest ``b - a`` then the ``per_side`` of
    smallest, each captioned with its name and difference. ``files``: :func:`locate_run_images`'s answer."""
    groups = list(ranking.groupby(["mask", "mask_ratio"], sort=True))
    gap = 16  # between the top and the bottom images
    header, row_height = 22, 18 + TILE + CAPTION
    width = 2 * per_side * (TILE + 4) + gap + 4
    sheet = Image.new("RGB", (width, header + row_height * len(groups)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=11)
    a, b = (ranking["a"].iloc[0], ranking["b"].iloc[0]) if len(ranking) else ("a", "b")
    better = METRIC_INFO[metric].better
    title = f"{metric} ({better} is better), {b} - {a} over seeds: left, the largest; right, the smallest"
    draw.text((4, 4), title, "black", font)
    thumbnails: dict[str, Image.Image | str] = {}
    shown, unavailable = 0, {}
    for g, ((mask, ratio), group) in enumerate(groups):
        top, bottom = _sides(group, per_side)
        y = header + g * row_height
        draw.text((4, y + 2), f"mask {mask}, ratio {ratio:g}: {len(group)} image(s)", "black", font)
        for start, chosen in ((4, top), (4 + per_side * (TILE + 4) + gap, bottom)):
            for k, row in enumerate(chosen.itertuples()):
                x = start + k * (TILE + 4)
                tile = _thumbnail(row.image_sha256, files, thumbnails)
                if isinstance(tile, str):
                    unavailable[row.image] = tile
                    sheet.paste((200, 200, 200), (x, y + 18, x + TILE, y + 18 + TILE))
                    draw.text((x + 8, y + 18 + TILE // 2 - 6), "unavailable", "black", font)
                else:
                    shown += 1
                    sheet.paste(tile, (x, y + 18))
                name = Path(str(row.image)).name
                name = name if len(name) <= 17 else name[:14] + "..."
                lines = [f"#{row.rank} {name}", f"{row.mean_diff:+.3g}"]
                if not math.isnan(row.ci_low):
                    lines.append(f"[{row.ci_low:+.2g}, {row.ci_high:+.2g}]")
                for n, line in enumerate(lines):
                    draw.text((x, y + 20 + TILE + 12 * n), line, "black", font)
    path = Path(path)
    sheet.save(path, format="PNG")
    return ContactSheet(path, shown, tuple(sorted(unavailable.items())))


def _thumbnail(sha256: str, files: Mapping[str, RunImage | str], cache: dict) -> Image.Image | str:
    """The image as a TILE x TILE thumbnail (centre-cropped), or why it cannot be read."""
    if sha256 not in cache:
        where = files.get(sha256, "no file is known for it")
        if isinstance(where, str):
            cache[sha256] = where
        else:
            try:
                cache[sha256] = ImageOps.fit(where.load(), (TILE, TILE))
            except (ImageError, OSError) as err:
                cache[sha256] = f"{where.path}: {err}"
    return cache[sha256]
