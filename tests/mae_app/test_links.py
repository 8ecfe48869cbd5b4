"""Shareable views: query parameters -> the Compare and Runs views, and back."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from mae_app.links import (
    COMPARE_KEYS,
    CompareView,
    LinkChoices,
    RunsView,
    compare_query,
    parse_link,
    query_values,
    runs_query,
)

CHOICES = LinkChoices(
    examples=("chelsea", "coffee"),
    checkpoints=("tiny-pixel", "tiny-gan"),
    masks=("random", "block"),
    metrics=("loss", "mse", "psnr"),
    ratio_range=(0.05, 0.95),
)


def test_the_issue_example_sets_every_compare_control():
    link = parse_link(dict(parse_qsl("example=chelsea&a=tiny-pixel&b=tiny-gan&ratio=0.5&seed=7&mask=random")), CHOICES)
    assert link.compare == CompareView(
        example="chelsea", a="tiny-pixel", b="tiny-gan", ratio=0.5, seed=7, mask="random"
    )
    assert link.problems == () and link.runs.empty and link.open_tab is None


def test_runs_keys_open_the_runs_tab_with_ids_in_order():
    query = [("runs", "r2,r1"), ("runs", "r3"), ("runs", "r1"), ("metric", "psnr"), ("image", "a/b.png")]
    link = parse_link(query, CHOICES)
    assert link.runs == RunsView(runs=("r2", "r1", "r3"), metric="psnr", image="a/b.png")
    assert link.open_tab == "runs"
    assert parse_link({"runs": "r1", "tab": "compare"}, CHOICES).open_tab == "compare"


@pytest.mark.parametrize(
    ("query", "kept", "problem"),
    [
        ({"example": "nope"}, {}, "no example 'nope'"),
        ({"a": "vit-huge"}, {}, "no checkpoint 'vit-huge'"),
        ({"ratio": "0.99"}, {}, "[0.05, 0.95]"),
        ({"ratio": "half"}, {}, "mask_ratio"),
        ({"seed": "-3"}, {}, "seed"),
        ({"seed": "1.5"}, {}, "whole number"),
        ({"mask": "stripes"}, {}, "no mask strategy 'stripes'"),
        ({"crop": "maybe"}, {}, "expected one of"),
        ({"crop": "yes", "zoom": "2"}, {"crop": True}, "unknown link parameter 'zoom'"),
        ({"metric": "ssim", "runs": "r1"}, {}, "metric='ssim' ignored"),
        ({"tab": "settings"}, {}, "tab='settings' ignored"),
    ],
)
def test_unusable_parameters_are_left_out_and_named(query, kept, problem):
    link = parse_link(query, CHOICES)
    assert any(problem in text for text in link.problems), link.problems
    assert {k: getattr(link.compare, k) for k in COMPARE_KEYS if getattr(link.compare, k) is not None} == kept


def test_compare_query_round_trips():
    view = CompareView(
        example="coffee", a="tiny-gan", b="tiny-pixel", ratio=0.1 * 3, seed=2**40, mask="block", crop=True
    )
    query = compare_query(view)
    assert query == "?example=coffee&a=tiny-gan&b=tiny-pixel&ratio=0.3&seed=1099511627776&mask=block&crop=1"
    assert parse_link(parse_qsl(urlsplit(query).query), CHOICES).compare == CompareView(
        example="coffee", a="tiny-gan", b="tiny-pixel", ratio=0.3, seed=2**40, mask="block", crop=True
    )
    assert compare_query(CompareView(a="tiny-gan")) == "?a=tiny-gan"


def test_runs_query_round_trips_odd_image_names():
    view = RunsView(runs=("20250101-000000-abcdef", "r2"), metric="mse", image="photos/my cat & dog?.png")
    query = runs_query(view)
    assert query.startswith("?tab=runs&runs=20250101-000000-abcdef,r2&metric=mse&image=photos/my+cat+%26+dog%3F.png")
    back = parse_link(parse_qsl(urlsplit(query).query), CHOICES)
    assert back.runs == view and back.open_tab == "runs" and back.problems == ()


def test_query_values_reads_mappings_and_pairs():
    assert query_values({"a": "x"}) == {"a": ["x"]}
    assert query_values([("runs", "1"), ("runs", "2")]) == {"runs": ["1", "2"]}
