"""One row per cell, conflicts set aside, balanced images: what a report is allowed to use."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from experiments.selection import select, unique_cells, with_identity
from tests.experiments.helpers import study_frame


def test_a_run_loaded_twice_collapses_to_its_cells():
    df = study_frame(images=4, seeds=2, ratios=(0.5, 0.75), shift=(0, 0))
    cells = unique_cells(pd.concat([df, df], ignore_index=True))
    assert len(cells.frame) == len(df)
    assert cells.collapsed == len(df)
    assert cells.conflicts.empty


def test_two_runs_over_the_same_cells_collapse_across_run_ids_and_names():
    df = study_frame(images=3, seeds=2, ratios=(0.5,), shift=(0,))
    other = df.assign(run_id="run-b", image="renamed/" + df["image"])  # same content, other names
    other.loc[other["checkpoint"] == "tiny-gan", "checkpoint"] = "gan-by-path.safetensors"
    cells = unique_cells(pd.concat([df, other], ignore_index=True))
    assert len(cells.frame) == len(df) and cells.collapsed == len(df)
    assert set(cells.frame["checkpoint"]) == {"tiny-pixel", "tiny-gan"}  # the first name of each file
    assert any("gan-by-path.safetensors" in note for note in cells.renamed)


def test_float_rounding_is_not_a_conflict_but_a_real_difference_is():
    df = study_frame(images=2, seeds=1, ratios=(0.5,), shift=(0,))
    copy = df.assign(run_id="run-b")
    copy["loss"] = copy["loss"] * (1 + 1e-7)  # another batch position: float32 rounding
    copy.loc[0, "mse"] = copy.loc[0, "mse"] + 0.5  # a genuinely different answer for one cell
    cells = unique_cells(pd.concat([df, copy], ignore_index=True))
    assert cells.collapsed == len(df) - 1
    assert len(cells.conflicts) == 1
    conflict = cells.conflicts.iloc[0]
    assert conflict["metric"] == "mse" and conflict["runs"] == "run-a run-b"
    assert conflict["values"] == f"{float(df.loc[0, 'mse'])!r} {float(copy.loc[0, 'mse'])!r}"
    assert len(cells.frame) == len(df) - 1  # the disputed cell is neither averaged nor kept


def test_a_metric_missing_in_one_copy_is_taken_from_the_other():
    df = study_frame(images=1, seeds=1, ratios=(0.5,), shift=(0,))
    without = df.assign(run_id="old", psnr=float("nan"))
    cells = unique_cells(pd.concat([without, df], ignore_index=True))
    assert cells.conflicts.empty
    assert cells.frame["psnr"].tolist() == pytest.approx(df["psnr"].tolist())


def test_dtype_and_crop_are_part_of_the_cell_and_cannot_be_mixed():
    df = study_frame(images=2, seeds=1, ratios=(0.5,), shift=(0,))
    both = pd.concat([df, df.assign(run_id="bf", dtype="bfloat16", loss=df["loss"] + 1)], ignore_index=True)
    assert unique_cells(both).conflicts.empty  # different cells, not a conflict
    with pytest.raises(ValueError, match=r"mix compute dtypes \(float32: run-a; bfloat16: bf\)"):
        select(both)


def test_legacy_rows_get_the_documented_defaults():
    df = study_frame(images=1, seeds=1, ratios=(0.5,), shift=(0,)).drop(columns=["crop", "mask", "mask_hash"])
    frame = with_identity(df)
    assert (frame["mask"] == "random").all() and (~frame["crop"]).all() and (frame["mask_hash"] == "").all()
    assert (frame["image_key"] == df["image_sha256"]).all()


def test_balanced_selection_leaves_out_incomplete_images_and_says_why():
    df = study_frame(images=5, seeds=2, ratios=(0.5, 0.75), shift=(0, 0))
    cut = (df["image"] == "im3.png") & (df["checkpoint"] == "tiny-gan") & (df["mask_ratio"] == 0.75)
    selection = select(df[~(cut & (df["seed"] == 1))])
    assert selection.balanced and selection.n_images == 4
    assert set(selection.frame["image"]) == {"im0.png", "im1.png", "im2.png", "im4.png"}
    (row,) = selection.left_out.itertuples()
    assert (row.image, row.cells, row.expected) == ("im3.png", 7, 8)
    assert row.reason == "missing 1 of 8 cells, e.g. tiny-gan random 0.75 seed 1"


def test_conflicting_cells_make_their_image_incomplete():
    df = study_frame(images=3, seeds=1, ratios=(0.5,), shift=(0,))
    other = df.assign(run_id="run-b")
    other.loc[other["image"] == "im1.png", "loss"] += 1.0
    selection = select(pd.concat([df, other], ignore_index=True))
    assert set(selection.frame["image"]) == {"im0.png", "im2.png"}
    assert selection.left_out["reason"].tolist() == ["2 cell(s) with conflicting values across runs"]
    assert selection.collapsed == 4


def test_unbalanced_keeps_everything_and_says_which_images_each_ratio_used():
    df = study_frame(images=3, seeds=1, ratios=(0.5, 0.75), shift=(0, 0))
    df = df[~((df["image"] == "im2.png") & (df["mask_ratio"] == 0.75))]
    selection = select(df, allow_unbalanced=True)
    assert not selection.balanced and selection.left_out.empty
    used = selection.images_used.set_index("mask_ratio")
    assert used["n_images"].to_dict() == {0.5: 3, 0.75: 2}
    assert json.loads(used.loc[0.75, "images"]) == ["im0.png", "im1.png"]


def test_nothing_balanced_is_an_error_that_names_the_way_out():
    df = study_frame(images=2, seeds=2, ratios=(0.5,), shift=(0,))
    df = df[~((df["seed"] == 1) & (df["image"] == "im0.png")) & ~((df["seed"] == 0) & (df["image"] == "im1.png"))]
    with pytest.raises(ValueError, match="no image has every cell.*--allow-unbalanced"):
        select(df)
    with pytest.raises(ValueError, match="no rows"):
        select(df.iloc[:0])
