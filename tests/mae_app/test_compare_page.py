"""The Compare tab's own events: errors keep the last result, changed controls mark it stale, the copied link is
the result's, and stroke previews never touch a result once the page asked for a run."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
import pytest

from mae_app.compare_page import PANELS, ComparePage, Shown
from mae_app.handlers import EXAMPLES_DIR
from tests.conftest import make_image
from tests.mae_app.helpers import NAMES

PAGE = gr.Request(session_hash="page-1")


@pytest.fixture
def page(tiny_app) -> ComparePage:
    return ComparePage(tiny_app)


def painting(rows: slice) -> dict:
    layer = np.zeros((32, 32, 4), dtype=np.uint8)
    layer[rows, :, 3] = 255
    return {"background": np.zeros((32, 32, 4), dtype=np.uint8), "layers": [layer], "composite": None}


def skipped(value) -> bool:
    return value == gr.skip()


def test_a_run_records_what_it_shows_and_an_error_keeps_it(page, image_file):
    *panels, table, note, shown = page.run(None, image_file, *NAMES, 0.5, 4, False, "random", "", request=PAGE)
    assert all(panels) and isinstance(table, pd.DataFrame) and "(random, seed 4)" in note
    assert isinstance(shown, Shown) and shown.note == note
    for bad_seed in (-1, 1e20):
        *kept, error_note, record = page.run(shown, image_file, *NAMES, 0.5, bad_seed, request=PAGE)
        assert all(skipped(value) for value in kept) and skipped(record)  # panels, table, record stay
        assert error_note.startswith("**Not done:** the seed must be a whole number from 0 to 9223372036854775807")
        assert error_note.endswith(note)  # the result still on screen, said so
    *kept, error_note, record = page.run(shown, None, *NAMES, 0.5, 4, request=PAGE)
    assert all(skipped(value) for value in kept) and "Upload, paste or take a picture" in error_note


def test_changed_controls_mark_the_result_stale_until_they_match_again(page, image_file, tmp_path):
    *_, shown = page.run(None, image_file, *NAMES, 0.5, 4, False, "random", "", request=PAGE)
    assert page.stale(shown, image_file, *NAMES, 0.5, 4, False, "random", "") == ""
    assert page.stale(None, image_file, *NAMES, 0.9, 7) == ""  # nothing shown: nothing stale
    stale = page.stale(shown, image_file, *NAMES[::-1], 0.75, 5, True, "block", "")
    for change in ("top checkpoint tiny-a -> tiny-b", "mask random -> block", "ratio 0.5 -> 0.75", "seed 4 -> 5"):
        assert change in stale
    assert "centre crop off -> on" in stale and stale.startswith("**Stale:**")
    assert "seed 4 -> -1" in page.stale(shown, image_file, *NAMES, 0.5, -1)
    other = tmp_path / "other.png"
    make_image(48, 40, seed=99).save(other)
    assert "another image" in page.stale(shown, str(other), *NAMES, 0.5, 4)
    copy = tmp_path / "copy.png"  # the same picture under another name is the same image
    copy.write_bytes(open(image_file, "rb").read())
    assert page.stale(shown, str(copy), *NAMES, 0.5, 4) == ""


def test_the_copied_link_is_the_result_on_screen(page, tiny_app, image_file):
    assert page.link(None, image_file, *NAMES, 0.5, 4, False, "random", "") == tiny_app.compare_link(
        image_file, *NAMES, 0.5, 4, False, "random", ""
    )
    *_, shown = page.run(None, image_file, *NAMES, 0.5, 4, False, "random", "", request=PAGE)
    assert page.link(shown, image_file, *NAMES, 0.9, 11, True, "grid", "") == (
        "?a=tiny-a&b=tiny-b&ratio=0.5&seed=4&mask=random&crop=0"
    )
    *_, drawn = page.run(None, image_file, *NAMES, 0.5, 0, False, "custom", "0, 1", request=PAGE)
    with pytest.raises(gr.Error, match="not drawn ones"):
        page.link(drawn, image_file, *NAMES, 0.5, 0, False, "random", "")


def test_previews_fill_the_masked_panels_until_the_page_runs_then_only_the_patch_list(page, image_file):
    removed, *panels, note, table, shown = page.preview_drawing(
        painting(slice(0, 8)), None, image_file, *NAMES, request=PAGE
    )
    assert removed == "0, 1, 2, 3" and sum(p is not None for p in panels) == 2 and "hides 4 of 16" in note
    assert table is None and shown is None  # the panels show a drawing, not a result
    page.run(None, image_file, *NAMES, 0.5, 0, False, "custom", removed, request=PAGE)
    # a stroke's preview coming back after Reconstruct (painted before or after it): only the patch list
    late = page.preview_drawing(painting(slice(0, 16)), None, image_file, *NAMES, request=PAGE)
    assert late[0] == "0, 1, 2, 3, 4, 5, 6, 7" and all(skipped(value) for value in late[1:])
    assert all(skipped(value) for value in page.preview_patches("5", image_file, *NAMES, request=PAGE))
    other = page.preview_drawing(painting(slice(0, 8)), None, image_file, *NAMES, request=gr.Request(session_hash="x"))
    assert sum(p is not None for p in other[1 : 1 + PANELS]) == 2  # another page is not affected
    page.canvas("custom", image_file, NAMES[0], False, request=PAGE)  # the painter starts over
    again = page.preview_drawing(painting(slice(0, 8)), None, image_file, *NAMES, request=PAGE)
    assert sum(p is not None for p in again[1 : 1 + PANELS]) == 2


def test_a_preview_of_an_earlier_stroke_arriving_late_changes_nothing(page, image_file):
    """Two strokes' previews reach the server in either order (the browser uploads the painting meanwhile): the
    page keeps the later stroke's, per page."""
    newer = page.preview_drawing(painting(slice(0, 16)), 2000.0, image_file, *NAMES, request=PAGE)
    assert newer[0] == "0, 1, 2, 3, 4, 5, 6, 7"
    older = page.preview_drawing(painting(slice(0, 8)), 1000.5, image_file, *NAMES, request=PAGE)
    assert len(older) == len(newer) and all(skipped(value) for value in older)
    again = page.preview_drawing(painting(slice(0, 16)), 2000.0, image_file, *NAMES, request=PAGE)
    assert again[0] == newer[0]  # the same stroke previewed again (a deferred trigger) still shows
    other = page.preview_drawing(
        painting(slice(0, 8)), 1000.5, image_file, *NAMES, request=gr.Request(session_hash="x")
    )
    assert other[0] == "0, 1, 2, 3"  # another page has its own strokes
    assert page.preview_drawing(painting(slice(0, 8)), None, image_file, *NAMES, request=PAGE)[0] == "0, 1, 2, 3"


def test_a_failed_first_run_lets_previews_fill_the_panels_again(page, image_file):
    *_, note, shown = page.run(None, image_file, *NAMES, 0.5, 0, False, "custom", "", request=PAGE)
    assert "no patch is removed" in note and skipped(shown)
    removed, *panels, _, _, _ = page.preview_drawing(painting(slice(0, 8)), None, image_file, *NAMES, request=PAGE)
    assert sum(p is not None for p in panels) == 2


def test_an_unreadable_image_leaves_the_painter_empty_instead_of_failing(tiny_app, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture at all")
    painter, *_ = tiny_app.drawing_canvas("custom", str(text), NAMES[0])
    assert painter["visible"] and painter["value"] is None


def test_a_linked_compare_runs_only_for_a_linked_page(page):
    example = str(EXAMPLES_DIR / "coffee.jpg")
    skipped_all = page.run_linked(PAGE, False, None, example, *NAMES, 0.5, 1, False)
    assert len(skipped_all) == PANELS + 3 and all(skipped(value) for value in skipped_all)
    *_, table, note, shown = page.run_linked(PAGE, True, None, example, *NAMES, 0.5, 1, False)
    assert list(table["checkpoint"]) == list(NAMES) and "same mask" in note and shown.note == note
