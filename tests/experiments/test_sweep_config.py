"""SweepConfig and the command line's ratio and seed syntax: the engine's checks, the store's ratio cells."""

from __future__ import annotations

import dataclasses

import pytest

from experiments.config import (
    DEFAULT_BATCH_SIZE,
    SweepConfig,
    format_ratio,
    parse_metrics,
    parse_ratios,
    parse_seeds,
    ratio_range,
)


def test_ratio_and_seed_syntax():
    assert parse_ratios("0.1:0.9:0.1") == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert parse_ratios("0.5, 0.75") == (0.5, 0.75)
    assert parse_seeds("0-4") == (0, 1, 2, 3, 4)
    assert parse_seeds("0-2,7") == (0, 1, 2, 7)
    for bad in ("0.1:0.9", "0:0.5:0.25", "0.5,,0.6", "1.5", "x"):
        with pytest.raises(ValueError, match="ratio"):
            parse_ratios(bad)
    for bad in ("4-0", "a", "1.5", ""):
        with pytest.raises(ValueError, match="seed"):
            parse_seeds(bad)


def test_config_normalises_and_validates():
    config = SweepConfig(images=("a",), checkpoints=("x", "x", "y"), ratios=(0.1 * 3, 0.3), seeds=(2, 2))
    assert config.checkpoints == ("x", "y") and config.ratios == (0.3,) and config.seeds == (2,)
    assert SweepConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="dtype"):
        SweepConfig(images=("a",), checkpoints=("x",), dtype="float16")
    with pytest.raises(ValueError, match="batch size"):
        SweepConfig(images=("a",), checkpoints=("x",), batch_size=0)


def test_ratios_are_the_cells_the_store_writes():
    assert ratio_range(0.1, 0.3, 0.1) == (0.1, 0.2, 0.3)  # stop included, 0.1 * 3 is the cell 0.3
    assert format_ratio(0.1 * 3) == format_ratio(0.3) == "0.3"
    with pytest.raises(ValueError, match="step > 0"):
        ratio_range(0.5, 0.1, 0.1)


def test_defaults_and_unknown_keys_from_a_manifest():
    config = SweepConfig(images=("a",), checkpoints=("x",))
    assert config.batch_size == DEFAULT_BATCH_SIZE and config.dtype == "float32"
    assert config.ratios == (0.75,) and config.seeds == (0,)
    # a manifest written by a newer version may carry settings this one does not know: they are ignored
    assert SweepConfig.from_dict({**config.to_dict(), "mask": "block"}) == config
    with pytest.raises(ValueError, match="seed"):
        SweepConfig(images=("a",), checkpoints=("x",), seeds=(1.5,))
    with pytest.raises(ValueError, match="1.2"):
        SweepConfig(images=("a",), checkpoints=("x",), ratios=(1.2,))


def test_mask_strategies_are_an_axis_of_the_config():
    from experiments.config import parse_masks

    config = SweepConfig(images=("a",), checkpoints=("x", "y"), ratios=(0.5, 0.75), seeds=(0, 1, 2))
    assert config.masks == ("random",) and config.cells_per_image == 2 * 2 * 3
    assert "masks" not in config.to_dict()  # the default writes as runs before strategies did, and reads back alike
    several = SweepConfig(images=("a",), checkpoints=("x", "y"), masks=("grid", "random", "grid"), seeds=(0, 1))
    assert several.masks == ("grid", "random") and several.cells_per_image == 2 * 2 * 1 * 2
    assert several.to_dict()["masks"] == ("grid", "random")
    assert SweepConfig.from_dict(several.to_dict()) == several
    assert SweepConfig(images=("a",), checkpoints=("x",), masks="block").masks == ("block",)
    assert parse_masks("random, block,grid,block") == ("random", "block", "grid")
    for bad, match in (("", "mask strategies"), ("random,,grid", "mask strategies"), ("checker", "'checker'")):
        with pytest.raises(ValueError, match=match):
            parse_masks(bad)
    with pytest.raises(ValueError, match="mask_from_patches"):
        SweepConfig(images=("a",), checkpoints=("x",), masks=("custom",))
    with pytest.raises(ValueError, match="no mask strategies"):
        SweepConfig(images=("a",), checkpoints=("x",), masks=())


def test_later_options_are_written_only_when_used():
    plain = SweepConfig(images=("a",), checkpoints=("x",))
    assert "keep_images" not in plain.to_dict()  # an earlier version's manifest writes back unchanged
    kept = dataclasses.replace(plain, keep_images=True)
    assert kept.to_dict()["keep_images"] is True
    assert SweepConfig.from_dict(kept.to_dict()) == kept and SweepConfig.from_dict(plain.to_dict()) == plain


def test_metrics_words_spread_is_chosen_alone_or_with_others_and_by_all_never_by_none():
    assert parse_metrics("spread") == ("spread",)
    assert parse_metrics("spread,lpips") == ("lpips", "spread")  # in column order
    assert parse_metrics("all") == ("ssim", "lpips", "detail", "visible_loss", "spread")
    assert parse_metrics("none") == ()
    assert SweepConfig(images=("a",), checkpoints=("c",), metrics=("spread",)).metrics == ("spread",)
    with pytest.raises(ValueError, match=r"unknown metric 'spreads'; accepted: .*spread, or all, or none"):
        parse_metrics("spreads")
