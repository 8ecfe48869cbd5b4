"""The study pipeline: balanced selection, summary and paired tables from one call, as the report writes them."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.analysis import paired_difference, summarize
from experiments.selection import select
from experiments.study import SINGLE_CHECKPOINT, analyse
from tests.experiments.helpers import study_frame


def test_analyse_selects_balanced_cells_then_summarises_and_pairs_them():
    frame = study_frame(images=4, seeds=2)
    # one image lacks a cell: a balanced study leaves that image out of the summary and the paired table
    frame = frame.drop(frame.index[frame["image"].str.contains("im3") & (frame["seed"] == 1)][:1])
    study = analyse(frame, "psnr")
    assert study.selection.n_images == 3 and "im3" in " ".join(study.selection.left_out["image"])
    expected = select(frame).frame
    pd.testing.assert_frame_equal(study.summary, summarize(expected, "psnr"))
    pd.testing.assert_frame_equal(study.paired, paired_difference(expected, "psnr"))
    assert study.no_pair == "" and study.frame is study.selection.frame
    unbalanced = analyse(frame, "psnr", allow_unbalanced=True)
    assert unbalanced.selection.n_images == 4


def test_analyse_says_why_there_is_no_pair_and_refuses_a_named_pair_it_cannot_make():
    frame = study_frame(images=3, seeds=2)
    single = analyse(frame[frame["checkpoint"] == frame["checkpoint"].iloc[0]], "loss")
    assert single.paired is None and single.no_pair == SINGLE_CHECKPOINT
    with pytest.raises(ValueError, match="nope"):
        analyse(frame, "loss", a="nope", b=frame["checkpoint"].iloc[0])
    with pytest.raises(ValueError, match="metric"):
        analyse(frame, "not-a-metric")
