"""A real browser (headless Debian Chromium via Playwright) uploads an image and runs Compare on the launched app."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mae_app import default_app
from mae_app.panels import SCALE_WIDTH
from mae_app.tabs.compare import PANEL_LABELS
from tests.conftest import make_image
from tests.mae_app.helpers import NAMES, make_app, save_tiny_checkpoints, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NAMES_BUNDLED = ("tiny-pixel", "tiny-gan")  # the default pair without the ViT-L files
PANELS = [f"#{row}-{i}" for row in ("top", "bottom") for i in range(len(PANEL_LABELS))]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


def test_upload_and_compare_in_chromium(tmp_path, isolated_caches):
    from playwright.sync_api import expect, sync_playwright

    picture = tmp_path / "upload.png"
    make_image(96, 80, seed=3).save(picture)
    screenshot = tmp_path / "compare.png"
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            _upload_and_compare(page, url, picture)
            expect(page.locator("#metrics")).to_contain_text("tiny-gan", timeout=30_000)
            expect(page.locator("#compare-note")).to_contain_text("same mask")
            # every panel image decoded in the browser, at the model's size
            for panel in PANELS:
                assert _image_size(page, f"{panel} img")[0] > 0, panel
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("MAE_SCREENSHOT_DIR"):  # for a human to look at
        Path(os.environ["MAE_SCREENSHOT_DIR"], screenshot.name).write_bytes(screenshot.read_bytes())


def test_a_shared_link_sets_the_compare_tab_and_copy_link_gives_it_back(tmp_path, isolated_caches):
    from playwright.sync_api import expect, sync_playwright

    query = "?example=chelsea&a=tiny-gan&b=tiny-pixel&ratio=0.5&seed=7&mask=random"
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1300})
            context.grant_permissions(["clipboard-read", "clipboard-write"])
            page = context.new_page()
            page.goto(url.rstrip("/") + "/" + query)
            expect(page.locator("#checkpoint-top input")).to_have_value("tiny-gan", timeout=30_000)
            expect(page.locator("#checkpoint-bottom input")).to_have_value("tiny-pixel")
            expect(page.locator("#mask-ratio input[type=number]")).to_have_value("0.5")
            expect(page.locator("#mask-seed input")).to_have_value("7")
            # the link named an example: the page shows it and runs that Compare at once
            expect(page.locator("#input-image img")).to_be_visible(timeout=30_000)
            page.wait_for_selector(f"{PANELS[-1]} img, .toast-body.error", timeout=90_000)
            errors = page.locator(".toast-body.error")
            assert errors.count() == 0, errors.first.inner_text()
            expect(page.locator("#metrics")).to_contain_text("tiny-gan", timeout=30_000)
            page.locator("#compare-copy-link").click()
            link = page.locator("#compare-link textarea, #compare-link input").first
            expect(link).to_have_value(url.rstrip("/") + "/" + query + "&crop=0", timeout=30_000)
            assert page.evaluate("navigator.clipboard.readText()") == link.input_value()
        finally:
            browser.close()


def test_draw_a_mask_in_chromium(tmp_path, isolated_caches):
    """Choose draw, paint a band across the image, see the hidden patches before running, then Reconstruct:
    both rows remove exactly the painted patches."""
    from playwright.sync_api import expect, sync_playwright

    picture = tmp_path / "upload.png"
    make_image(96, 80, seed=5).save(picture)
    screenshot = tmp_path / "draw.png"
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            _open_with_picture(page, url, picture, "tiny-pixel (top) vs tiny-gan (bottom)")
            painter = _choose_draw(page)
            expect(page.locator("#mask-ratio")).to_be_hidden()
            page.wait_for_timeout(2_000)  # the painter loads the image as the top checkpoint sees it
            removed_box = page.locator("#removed-patches textarea")
            removed_box.fill("0, 1, 14")  # typed indices preview too (Enter); painting then replaces them
            removed_box.press("Enter")
            expect(page.locator("#compare-note")).to_contain_text("The drawing hides 3 of 196", timeout=30_000)
            expect(page.locator("#top-1 img")).to_be_visible(timeout=30_000)
            painter.get_by_role("button", name="Brush").first.click()
            _paint_band(page, painter.locator("canvas").first)
            removed = _settled_patches(page, removed_box, previous="0, 1, 14")
            expect(page.locator("#top-1 img")).to_be_visible(timeout=30_000)  # the masked panel, before running
            expect(page.locator("#compare-note")).to_contain_text(f"The drawing hides {len(removed)} of 196")
            rows = {i // 14 for i in removed}
            assert rows <= set(range(3, 11)), removed  # a band across the middle of the 14 x 14 grid
            assert len(removed) >= 14
            page.locator("#run-compare").click()
            page.wait_for_selector(f"{PANELS[-1]} img, .toast-body.error", timeout=90_000)
            errors = page.locator(".toast-body.error")
            assert errors.count() == 0, errors.first.inner_text()
            expect(page.locator("#metrics")).to_contain_text("tiny-gan", timeout=30_000)
            expect(page.locator("#compare-note")).to_contain_text(
                f"same mask: {len(removed)} of 196 patches removed (drawn)"
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("MAE_SCREENSHOT_DIR"):
        Path(os.environ["MAE_SCREENSHOT_DIR"], screenshot.name).write_bytes(screenshot.read_bytes())


def test_a_sweep_then_drill_into_an_image_of_the_runs_tab(tmp_path, isolated_caches):
    from playwright.sync_api import expect, sync_playwright

    photos = []
    for i in range(2):
        photos.append(tmp_path / f"photo{i}.png")
        make_image(80, 64, seed=30 + i).save(photos[-1])
    screenshot = tmp_path / "drill.png"
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            expect(page.locator("#pair-note")).to_contain_text("tiny-pixel (top) vs tiny-gan (bottom)", timeout=30_000)
            page.get_by_role("tab", name="Sweep").click()
            page.locator("#sweep-batch input[type=file]").set_input_files([str(p) for p in photos])
            expect(page.locator("#sweep-batch")).to_contain_text("13.0 KB", timeout=30_000)  # both uploaded
            page.locator("#run-sweep").click()
            expect(page.locator("#sweep-note")).to_contain_text("(finished)", timeout=120_000)
            assert page.locator(".toast-body.error").count() == 0

            page.get_by_role("tab", name="Runs").click()
            page.locator("#runs-analyse").click()
            ranking = page.locator("#image-ranking")
            expect(ranking).to_contain_text("photo0.png", timeout=60_000)
            expect(ranking).to_contain_text("photo1.png")
            # the top image opens by itself; a click on the other row drills into that one
            expect(page.locator("#drill-note")).to_contain_text("largest difference to the run", timeout=90_000)
            top = page.locator("#drill-image input").input_value()
            other = "photo1.png" if top.endswith("photo0.png") else "photo0.png"
            ranking.get_by_text(other).first.click()
            expect(page.locator("#drill-note")).to_contain_text(other, timeout=90_000)
            gallery = page.locator("#drill-gallery img")
            expect(gallery).to_have_count(9 * 4, timeout=60_000)  # 9 ratios x (masked, both checkpoints, b - a)
            expect(gallery.first).to_be_visible()
            expect(page.locator("#drill-metrics")).to_contain_text("csv_loss")
            assert page.locator(".toast-body.error").count() == 0
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    if os.environ.get("MAE_SCREENSHOT_DIR"):
        Path(os.environ["MAE_SCREENSHOT_DIR"], screenshot.name).write_bytes(screenshot.read_bytes())


def _settled_patches(page, removed_box, previous: str, timeout_s: float = 90.0) -> list[int]:
    """The removed patch indices once the strokes' previews have all landed (the box keeps its value for 3 s)."""
    deadline = time.monotonic() + timeout_s
    value = previous
    while time.monotonic() < deadline:
        page.wait_for_timeout(3_000)
        latest = removed_box.input_value()
        if latest == value and latest not in ("", previous):
            return [int(i) for i in latest.split(",")]
        value = latest
    raise AssertionError(f"the removed patches did not settle: {value!r}")


def _paint_band(page, canvas) -> None:
    """Brush strokes 60 px high around the canvas centre (where the image sits), each from the centre out to an edge
    of the canvas: the painter ignores strokes that start off the image."""
    for offset in range(-30, 31, 6):
        _stroke(page, canvas, offset)


def _stroke(page, canvas, offset: float, both_ways: bool = True) -> None:
    """A brush stroke across the canvas, ``offset`` px below its centre, from the centre out to the left edge and
    (``both_ways``) then to the right one."""
    box = canvas.bounding_box()
    assert box is not None
    centre_x, centre_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for end_x in (box["x"] + 2, box["x"] + box["width"] - 2)[: 2 if both_ways else 1]:
        page.mouse.move(centre_x, centre_y + offset)
        page.mouse.down()
        page.mouse.move(end_x, centre_y + offset, steps=20)
        page.mouse.up()


def test_a_shared_runs_link_opens_the_runs_tab_on_its_runs_metric_and_image(tmp_path):
    from gradio_client import Client, handle_file
    from playwright.sync_api import expect, sync_playwright

    photos = []
    for i in range(2):
        photos.append(tmp_path / f"photo{i}.png")
        make_image(56, 48, seed=40 + i).save(photos[-1])
    app = make_app(tmp_path / "runs", save_tiny_checkpoints(tmp_path))
    with serve(app) as (_, url), sync_playwright() as p:
        *_, csv_path, _ = Client(url, verbose=False).predict(
            None, [handle_file(x) for x in photos], *NAMES, 0.25, 0.75, 0.25, 2, 0, "loss", False, api_name="/sweep"
        )
        rows = pd.read_csv(csv_path)
        run_id, image = rows["run_id"].iloc[0], rows["image"].iloc[-1]
        link = url.rstrip("/") + "/" + app.drill.runs_link([run_id], "mse", image)
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(link)
            expect(page.locator("#runs-metric input")).to_have_value("mse", timeout=30_000)
            expect(page.locator("#runs-picked")).to_contain_text(run_id)
            expect(page.locator("#drill-image input")).to_have_value(image, timeout=60_000)
            expect(page.locator("#drill-gallery img")).to_have_count(3 * 4, timeout=90_000)  # masked, a, b, b - a
            expect(page.locator("#image-ranking")).to_contain_text("photo0.png")
            page.locator("#runs-copy-link").click()
            expect(page.locator("#runs-link textarea, #runs-link input").first).to_have_value(link, timeout=30_000)
            assert page.locator(".toast-body.error").count() == 0
        finally:
            browser.close()


@contextmanager
def _bundled_page(tmp_path: Path) -> Iterator:
    """A Chromium page on the app over the real registry (the bundled pair: no ViT-L is cached in these tests),
    its default pair loaded."""
    from playwright.sync_api import expect, sync_playwright

    with serve(default_app(run_root=tmp_path / "runs")) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            expect(page.locator("#pair-note")).to_contain_text("tiny-pixel (top) vs tiny-gan (bottom)", timeout=30_000)
            yield page
        finally:
            browser.close()


def _no_error_badges(page, selectors) -> None:
    """No red "Error" status over any of these components, and no error toast."""
    for selector in selectors:
        assert page.locator(selector).get_by_text("Error", exact=True).count() == 0, selector
    errors = page.locator(".toast-body.error")
    assert errors.count() == 0, errors.first.inner_text()


def test_errors_keep_the_result_and_changed_controls_mark_it_stale(tmp_path):
    """After a run: a bad seed and a text file named .png leave the panels, the table and the controls as they
    were, the message stays in the note; changed controls mark the result stale until the next run; the copied
    link is the result's, not the changed controls'."""
    from playwright.sync_api import expect, sync_playwright

    picture, text = tmp_path / "upload.png", tmp_path / "notes.png"
    make_image(64, 56, seed=8).save(picture)
    text.write_text("not a picture at all")
    app = make_app(tmp_path / "runs", save_tiny_checkpoints(tmp_path))
    with serve(app) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1300})
            context.grant_permissions(["clipboard-read", "clipboard-write"])
            page = context.new_page()
            _open_with_picture(page, url, picture, "tiny-a (top) vs tiny-b (bottom)")
            page.locator("#run-compare").click()
            note, stale = page.locator("#compare-note"), page.locator("#compare-stale")
            metrics = page.locator("#metrics")
            expect(note).to_contain_text("(random, seed 0)", timeout=90_000)
            for panel in PANELS:
                expect(page.locator(f"{panel} img")).to_be_visible(timeout=30_000)
            shown = [page.locator(f"{panel} img").get_attribute("src") for panel in PANELS]

            seed = page.locator("#mask-seed input")
            seed.fill("-1")
            seed.press("Enter")
            expect(note).to_contain_text("the seed must be a whole number from 0 to", timeout=30_000)
            expect(note).to_contain_text("The panels still show the previous result")
            expect(stale).to_contain_text("seed 0 -> -1")
            assert [page.locator(f"{panel} img").get_attribute("src") for panel in PANELS] == shown
            expect(metrics).to_contain_text("tiny-b")
            expect(seed).to_have_value("-1")
            _no_error_badges(page, [*PANELS, "#metrics", "#mask-seed", "#mask-ratio"])

            page.locator("#compare-copy-link").click()  # the result's link: seed 0, not the -1 in the box
            link = page.locator("#compare-link textarea, #compare-link input").first
            expected = "?a=tiny-a&b=tiny-b&ratio=0.75&seed=0&mask=random&crop=0"
            expect(link).to_have_value(url.rstrip("/") + "/" + expected, timeout=30_000)

            page.locator("#mask-strategy").get_by_text("block", exact=True).click()
            expect(stale).to_contain_text("mask random -> block", timeout=30_000)
            seed.fill("3")
            seed.press("Enter")  # runs: the panels describe the controls again
            expect(note).to_contain_text("(block, seed 3)", timeout=60_000)
            expect(stale).not_to_contain_text("Stale", timeout=30_000)

            page.locator("#input-image button[aria-label='Remove Image']").first.click()
            page.locator("#input-image input[type=file]").set_input_files(str(text))
            expect(stale).to_contain_text("another image", timeout=30_000)
            page.locator("#run-compare").click()
            expect(note).to_contain_text("not an image", timeout=30_000)
            expect(note).to_contain_text("(block, seed 3)")  # the previous result's note, still there
            for panel in PANELS:
                expect(page.locator(f"{panel} img")).to_be_visible()
            _no_error_badges(page, [*PANELS, "#metrics", "#mask-seed", "#mask-ratio"])
        finally:
            browser.close()


def _headers(page, table: str) -> list[str]:
    """The header texts of a ``gr.Dataframe`` by its elem_id."""
    return [t.strip() for t in page.locator(f"#{table} thead th").all_inner_texts() if t.strip()]


def test_the_page_tells_the_truth_in_chromium(tmp_path, isolated_caches):
    """A first visit: empty tables say what fills them (never gradio's "1 2 3"), each row names its checkpoint and
    loss type, and a transparent PNG is measured as the library measures it (over white), with every number of the
    table to 4 significant digits, the metric legend under it and the heatmap's colour bar beside it."""
    from playwright.sync_api import expect

    from mae_app.formatting import EMPTY_ANALYSIS, EMPTY_COMPARE, EMPTY_RUNS, EMPTY_SWEEP
    from mae_core import load_model
    from mae_core.evaluation.preprocess import load_image
    from mae_core.evaluation.reconstruct import reconstruct

    rgba = np.asarray(make_image(96, 80, seed=8).convert("RGBA")).copy()
    rgba[:, 48:, 3] = 0  # the right half transparent; its colours stay in the file
    picture = tmp_path / "transparent.png"
    Image.fromarray(rgba, "RGBA").save(picture)
    library = [reconstruct(load_model(name), load_image(picture), 0.75, 0).metrics.loss for name in NAMES_BUNDLED]
    screenshot = tmp_path / "truth.png"
    with _bundled_page(tmp_path) as page:
        expect(page.locator("#top-label")).to_have_text("top: tiny-pixel, pixel loss")
        expect(page.locator("#bottom-label")).to_have_text("bottom: tiny-gan, GAN loss")
        assert _headers(page, "metrics") == [EMPTY_COMPARE]
        expect(page.locator("#compare-metric-legend")).to_contain_text("lower is better")
        page.get_by_role("tab", name="Sweep").click()
        expect(page.locator("#sweep-table")).to_be_visible()
        assert _headers(page, "sweep-table") == [EMPTY_SWEEP]
        page.get_by_role("tab", name="Runs").click()
        expect(page.locator("#runs-table")).to_be_visible()
        assert _headers(page, "runs-table") == [EMPTY_RUNS]
        assert _headers(page, "runs-summary") == _headers(page, "runs-paired") == [EMPTY_ANALYSIS]
        page.get_by_role("tab", name="Compare").click()

        page.locator("#input-image input[type=file]").set_input_files(str(picture))
        expect(page.locator("#input-image img")).to_be_visible(timeout=30_000)
        page.locator("#run-compare").click()
        page.wait_for_selector(f"{PANELS[-1]} img, .toast-body.error", timeout=90_000)
        errors = page.locator(".toast-body.error")
        assert errors.count() == 0, errors.first.inner_text()
        expect(page.locator("#metrics")).to_contain_text("tiny-gan", timeout=30_000)
        header, rows = _table(page, "metrics")
        shown = [float(row[header.index("loss")]) for row in rows]
        assert shown == [float(f"{value:.4g}") for value in library]  # over white, as the library reads it
        numbers = [float(cell) for row in rows for cell in row if _is_number(cell)]
        assert numbers and all(float(f"{n:.4g}") == n for n in numbers)
        assert _image_size(page, f"{PANELS[4]} img")[0] == 224 + SCALE_WIDTH  # the heatmap with its colour bar
        page.locator("#checkpoint-bottom input").click()
        page.get_by_role("option", name="tiny-pixel", exact=True).click()
        expect(page.locator("#bottom-label")).to_have_text("bottom: tiny-pixel, pixel loss", timeout=30_000)
        page.screenshot(path=str(screenshot), full_page=True)
    if os.environ.get("MAE_SCREENSHOT_DIR"):
        Path(os.environ["MAE_SCREENSHOT_DIR"], screenshot.name).write_bytes(screenshot.read_bytes())


def _table(page, table: str) -> tuple[list[str], list[list[str]]]:
    """A ``gr.Dataframe``'s headers and rows as the page shows them (its text, cell by cell after the headers)."""
    header = _headers(page, table)
    lines = [line.strip() for line in page.locator(f"#{table}").inner_text().splitlines() if line.strip()]
    cells = lines[lines.index(header[-1]) + 1 :]
    return header, [cells[i : i + len(header)] for i in range(0, len(cells), len(header))]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_a_checkpoint_that_cannot_be_had_is_marked_and_refused_at_once_in_chromium(tmp_path, isolated_caches):
    """Offline and not on disk: the dropdown marks the ViT-L checkpoints, choosing one says so under the row at
    once, and Reconstruct answers in one line within seconds (no load waiting for the network)."""
    from playwright.sync_api import expect

    picture = tmp_path / "upload.png"
    make_image(64, 64, seed=4).save(picture)
    with _bundled_page(tmp_path) as page:
        page.locator("#input-image input[type=file]").set_input_files(str(picture))
        expect(page.locator("#input-image img")).to_be_visible(timeout=30_000)
        page.locator("#checkpoint-top input").click()
        option = page.get_by_role("option", name="vit-large-pixel (not on this server, cannot download)")
        expect(option).to_be_visible(timeout=10_000)
        expect(page.get_by_role("option", name="tiny-gan", exact=True)).to_be_visible()  # on disk: no mark
        option.click()
        expect(page.locator("#top-label")).to_contain_text(
            "vit-large-pixel is not on this server and cannot be downloaded now (downloads are off)",
            timeout=10_000,
        )
        started = time.monotonic()
        page.locator("#run-compare").click()
        note = page.locator("#compare-note")  # a refusal is said in the note, where it stays
        expect(note).to_contain_text("cannot be downloaded now", timeout=10_000)
        assert time.monotonic() - started < 10
        assert "LocalEntryNotFoundError" not in note.inner_text()


def test_a_stroke_preview_arriving_after_reconstruct_never_replaces_the_result(tmp_path, isolated_caches):
    """The draw race: strokes painted right before Reconstruct have their previews land after the result (the
    second stroke's held 15 s here, as on a busy server). The result stays whole, its table and note describe
    the same mask, and the panels are marked stale (the drawing now hides more). A stroke that ends while an
    earlier stroke's preview is pending is previewed after it, and an earlier stroke's preview that reaches the
    server late is dropped, so the patch list ends as the whole drawing."""
    from playwright.sync_api import expect, sync_playwright

    picture = tmp_path / "upload.png"
    make_image(96, 80, seed=6).save(picture)
    app = default_app(run_root=tmp_path / "runs")
    quick_preview = app.preview_drawing

    calls, lists, ends = [], [], []  # each preview's painting, the patch list it gave, when it arrived and ended
    hold = threading.Event()  # set: previews take 15 s (longer than a stroke takes in headless chromium)

    def slow_preview(*args, **kwargs):
        calls.append(args)
        ends.append(time.monotonic())
        outputs = quick_preview(*args, **kwargs)
        if hold.is_set():
            time.sleep(15.0)
        lists.append(outputs[0])
        ends.append(time.monotonic())
        return outputs

    app.preview_drawing = slow_preview
    with serve(app) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            _open_with_picture(page, url, picture, "tiny-pixel (top) vs tiny-gan (bottom)")
            painter = _choose_draw(page)
            page.wait_for_timeout(2_000)  # the painter loads the image as the top checkpoint sees it
            painter.get_by_role("button", name="Brush").first.click()
            canvas = painter.locator("canvas").first
            removed_box = page.locator("#removed-patches textarea")
            _stroke(page, canvas, -20, both_ways=False)
            expect(removed_box).not_to_have_value("", timeout=30_000)  # the first stroke's preview landed
            _wait_until(lambda: len(lists) == len(calls), "a preview of the first stroke never ended")
            assert float(page.locator("#stroke-time input").input_value()) > 0  # the stroke was stamped
            first = len(calls)
            hold.set()
            _stroke(page, canvas, 0)  # a second stroke: its preview is held
            _wait_until(lambda: len(calls) > first, "the second stroke's preview never started")
            _stroke(page, canvas, 20)  # a third while it is pending, then Reconstruct at once
            page.locator("#run-compare").click()
            hold.clear()  # the third stroke's preview waits only for the second's
            note = page.locator("#compare-note")
            expect(note).to_contain_text("(drawn)", timeout=90_000)
            drawn = int(re.search(r"same mask: (\d+) of 196", note.inner_text()).group(1))

            # once the previews settle (none for 10 s: a stroke's reaches the server seconds after it here), the
            # patch list is what the whole drawing hides, whatever order they came back in (gradio's default for
            # the event would drop the third stroke's, ending while the second's was pending): the same list as
            # a fresh read of the painting gives (stroke 1 again: it hides nothing new)
            def settle() -> str:
                _wait_until(
                    lambda: len(lists) == len(calls) and time.monotonic() - ends[-1] > 10,
                    "the previews never settled",
                    timeout=120,
                )
                return removed_box.input_value()

            shown = settle()
            assert str(drawn) in {str(len(x.split(","))) for x in lists if x}, lists  # the result: a preview's
            previewed = len(calls)
            _stroke(page, canvas, -20, both_ways=False)
            _wait_until(lambda: len(calls) > previewed, "the repeated stroke was never previewed")
            assert settle() == lists[-1] == shown, (shown, lists)
            for panel in PANELS:
                expect(page.locator(f"{panel} img")).to_be_visible()
            expect(note).to_contain_text(f"same mask: {drawn} of 196 patches removed (drawn)")
            table = page.locator("#metrics")
            expect(table).to_contain_text("tiny-gan")
            rows = _table_rows(table)
            assert [row["masked_patches"] for row in rows] == [str(drawn)] * 2, rows
            assert len(removed_box.input_value().split(",")) > drawn  # late previews: the drawing hides more...
            expect(page.locator("#compare-stale")).to_contain_text("the drawing")  # ...and the result says so
            _no_error_badges(page, [*PANELS, "#metrics"])
        finally:
            browser.close()


def _image_size(page, selector: str, timeout_ms: float = 30_000) -> list[int]:
    """The [width, height] of the picture ``selector`` shows, once the browser has decoded it (a panel's note can
    land before its picture has loaded)."""
    loaded = "sel => { const img = document.querySelector(sel); return !!img && img.complete && img.naturalWidth > 0; }"
    page.wait_for_function(loaded, arg=selector, timeout=timeout_ms)
    return page.locator(selector).evaluate("img => [img.naturalWidth, img.naturalHeight]")


def _wait_until(condition: Callable[[], bool], failure: str, timeout: float = 60) -> None:
    """Poll ``condition`` (server-side state a test recorded) until it holds, else fail with ``failure``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.2)


def _table_rows(table) -> list[dict[str, str]]:
    """A gradio Dataframe's rows as shown: header text -> cell text (its cells, read in order after the headers)."""
    heads = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    words = [w.strip() for w in table.inner_text().splitlines() if w.strip()]
    cells = words[words.index(heads[-1]) + 1 :]
    return [dict(zip(heads, cells[i : i + len(heads)])) for i in range(0, len(cells), len(heads))]


def test_cancelling_a_sweep_shows_the_rows_measured_so_far(tmp_path, monkeypatch):
    """Cancel is not an error: the sweep stops after its batch in flight and shows what it measured (table, plot,
    CSV) with "cancelled after N of M"."""
    from playwright.sync_api import expect, sync_playwright

    from experiments import sweep as sweep_module

    def slow_sweep(config, *, progress, **options):  # a batch every 0.5 s: a study slow enough to cancel
        def report(done: int, total: int) -> None:
            progress(done, total)
            time.sleep(0.5)

        return sweep_module.run_sweep(config, progress=report, **options)

    monkeypatch.setattr("mae_app.handlers.sweep.run_sweep", slow_sweep)
    picture = tmp_path / "photo.png"
    make_image(48, 40, seed=12).save(picture)
    app = make_app(tmp_path / "runs", save_tiny_checkpoints(tmp_path))
    with serve(app) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            _open_with_picture(page, url, picture, "tiny-a (top) vs tiny-b (bottom)")
            page.get_by_role("tab", name="Sweep").click()
            page.get_by_label("Seeds").fill("50")  # 9 ratios x 50 seeds x 2 checkpoints: 900, 57 batches
            page.locator("#run-sweep").click()
            note = page.locator("#sweep-note")
            expect(note).to_contain_text("reconstructions done", timeout=60_000)
            page.locator("#cancel-sweep").click()
            expect(note).to_contain_text("Cancelled after", timeout=60_000)
            done = int(re.search(r"Cancelled after (\d+) of 900 reconstructions", note.inner_text()).group(1))
            assert 0 < done < 900
            expect(page.locator("#sweep-table")).to_contain_text("tiny-a")
            expect(page.locator("#sweep-csv")).to_contain_text("losses.csv")
            expect(page.get_by_text("Metric vs mask ratio").first).to_be_visible()
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
            _no_error_badges(page, ["#sweep-table", "#sweep-csv", "#sweep-note"])
        finally:
            browser.close()


def test_the_runs_tab_analyses_its_preselected_run_and_a_gallery_click_opens_the_replay(tmp_path):
    """Opening the Runs tab analyses the preselected (newest) run without pressing Analyse; the gallery shows b - a
    per row and the image's breakdown ratios follow the threshold box (a bad one named in the note); clicking a
    gallery picture opens the replay section, brings it into view and replays there; a link's unknown image is
    named."""
    from gradio_client import Client, handle_file
    from playwright.sync_api import expect, sync_playwright

    photos = []
    for i in range(2):
        photos.append(tmp_path / f"photo{i}.png")
        make_image(56, 48, seed=50 + i).save(photos[-1])
    app = make_app(tmp_path / "runs", save_tiny_checkpoints(tmp_path))
    with serve(app) as (_, url), sync_playwright() as p:
        *_, csv_path, _ = Client(url, verbose=False).predict(
            None, [handle_file(x) for x in photos], *NAMES, 0.25, 0.75, 0.25, 1, 0, "loss", False, api_name="/sweep"
        )
        run_id = pd.read_csv(csv_path)["run_id"].iloc[0]
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url.rstrip("/") + f"/?tab=runs&runs={run_id}&image=nope.png")
            expect(page.locator("#ranking-note")).to_contain_text("'nope.png' is not in these runs", timeout=60_000)

            page.goto(url)
            expect(page.locator("#pair-note")).to_contain_text("tiny-a (top)", timeout=30_000)
            page.get_by_role("tab", name="Runs").click()  # no Analyse pressed
            expect(page.locator("#runs-summary")).to_contain_text("tiny-b", timeout=60_000)
            expect(page.locator("#image-ranking")).to_contain_text("photo0.png", timeout=60_000)
            gallery = page.locator("#drill-gallery img")
            expect(gallery).to_have_count(3 * 4, timeout=90_000)  # 3 ratios x (masked, both checkpoints, b - a)
            expect(page.locator("#drill-gallery")).to_contain_text("b - a per-patch MSE (tiny-b - tiny-a)")
            breakdown, threshold = page.locator("#drill-breakdown"), page.locator("#breakdown-threshold textarea")
            expect(breakdown).to_contain_text("b - a (tiny-b - tiny-a)", timeout=60_000)
            threshold.fill("loss=1")
            threshold.press("Enter")
            expect(page.locator("#breakdown-note")).to_contain_text("write METRIC<VALUE", timeout=30_000)
            threshold.fill("loss>1")
            threshold.press("Enter")
            expect(page.locator("#breakdown-note")).to_contain_text("Breakdown ratio (loss>1) of photo", timeout=30_000)
            expect(breakdown).to_contain_text("tiny-a")
            replay_panel = page.locator("#replay-top-0 img")
            expect(replay_panel).to_be_hidden()  # the replay section starts collapsed
            gallery.nth(5).click()  # the second ratio's first reconstruction
            expect(replay_panel).to_be_visible(timeout=60_000)
            expect(page.locator("#replay-note")).to_contain_text(run_id, timeout=60_000)
            expect(page.locator("#replay-section")).to_be_in_viewport(timeout=10_000)
            assert page.locator("#replay-ratio input[type=number]").input_value() == "0.5"
            _no_error_badges(page, ["#runs-summary", "#image-ranking", "#replay-section"])
        finally:
            browser.close()


def _open_with_picture(page, url: str, picture, pair: str) -> None:
    """The page opened (its status line naming ``pair``) and ``picture`` uploaded as the Compare image."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator("#pair-note")).to_contain_text(pair, timeout=30_000)
    page.locator("#input-image input[type=file]").set_input_files(str(picture))
    expect(page.locator("#input-image img")).to_be_visible(timeout=30_000)


def _choose_draw(page):
    """The draw strategy chosen; its painter, once shown."""
    from playwright.sync_api import expect

    page.locator("#mask-strategy").get_by_text("draw", exact=True).click()
    painter = page.locator("#mask-painter")
    expect(painter).to_be_visible(timeout=30_000)
    return painter


def test_attention_overlays_follow_clicks_layers_and_new_masks_in_chromium(tmp_path, isolated_caches):
    """Reconstruct, open the attention section (the class token's rollout for both rows), click a visible patch,
    click a removed patch (its mask token in the decoder), pick a layer, then a new seed redraws the overlays."""
    from playwright.sync_api import expect, sync_playwright

    from mae_core import load_model, reconstruct

    picture = tmp_path / "upload.png"
    make_image(96, 80, seed=3).save(picture)
    maps = reconstruct(load_model("tiny-pixel"), str(picture), 0.75, 0, attentions=True).attention  # the page's mask
    visible, removed = int(maps.visible[0]), int(maps.removed[0])
    screenshot = tmp_path / "attention.png"
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            _upload_and_compare(page, url, picture)
            expect(page.locator("#metrics")).to_contain_text("tiny-gan", timeout=90_000)
            page.get_by_text("Where each checkpoint looked (attention)").click()
            note = page.locator("#attention-note")
            expect(note).to_contain_text("(tiny-pixel): encoder rollout, from the class token", timeout=60_000)
            expect(note).to_contain_text("(tiny-gan): encoder rollout, from the class token")
            for row in ("top", "bottom"):
                expect(page.locator(f"#attention-{row} img")).to_be_visible()

            def click_patch(patch: int, row: str = "top") -> None:
                img = page.locator(f"#attention-{row} img")
                box = img.bounding_box()
                y, x = divmod(patch, 14)  # the bundled pair: 224 px, 16 px patches
                img.click(position={"x": (x + 0.5) * box["width"] / 14, "y": (y + 0.5) * box["height"] / 14})

            click_patch(visible)
            expect(page.locator("#attention-patch input, #attention-patch textarea").first).to_have_value(str(visible))
            expect(note).to_contain_text(f"encoder rollout, from the patch {visible}", timeout=60_000)
            # a removed patch while the layer is the rollout (encoder only): the layer moves to the decoder's last
            click_patch(removed, "bottom")
            expect(page.locator("#attention-layer input")).to_have_value("-1", timeout=60_000)
            expect(note).to_contain_text(f"decoder layer 1, mean of heads, from the patch {removed}", timeout=60_000)
            page.locator("#attention-layer input").click()
            page.get_by_role("option", name="0", exact=True).click()
            expect(note).to_contain_text(f"decoder layer 0, mean of heads, from the patch {removed}", timeout=60_000)
            click_patch(visible)
            expect(note).to_contain_text(f"encoder layer 0, mean of heads, from the patch {visible}", timeout=60_000)
            errors = page.locator(".toast-body.error")
            assert errors.count() == 0, errors.first.inner_text()
            before = page.locator("#attention-top img").get_attribute("src")
            page.get_by_role("button", name="New seed").click()  # a new mask: the open section follows it
            expect(page.locator("#attention-top img")).not_to_have_attribute("src", before, timeout=60_000)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    if os.environ.get("MAE_SCREENSHOT_DIR"):  # for a human to look at
        Path(os.environ["MAE_SCREENSHOT_DIR"], screenshot.name).write_bytes(screenshot.read_bytes())


def test_spread_and_difference_maps_in_chromium(tmp_path, isolated_caches):
    """Reconstruct, open the uncertainty section: both checkpoints' spread maps over 16 masks and the difference
    map of the Compare's mask, each with its note; lpips without weights says so in the note, mse still shows."""
    from playwright.sync_api import expect, sync_playwright

    picture = tmp_path / "upload.png"
    make_image(96, 80, seed=3).save(picture)
    screenshot = tmp_path / "uncertainty.png"
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            _upload_and_compare(page, url, picture)
            page.get_by_text("Where each checkpoint is unsure, and where they differ").click()
            spread_note, difference_note = page.locator("#spread-note"), page.locator("#difference-note")
            expect(spread_note).to_contain_text("(tiny-pixel): mean spread", timeout=90_000)
            expect(spread_note).to_contain_text("(tiny-gan): mean spread")
            expect(spread_note).to_contain_text("K = 16 masks (random, ratio 0.75, seeds 0-15")
            expect(difference_note).to_contain_text("this mask: b better on", timeout=60_000)
            for panel in ("#spread-top", "#spread-bottom", "#difference-map"):
                width, _ = _image_size(page, f"{panel} img")
                assert width == 224 + SCALE_WIDTH, panel  # the bundled pair's 224 px beside its colour bar
            page.locator("#difference-metric").get_by_text("lpips", exact=True).click()
            expect(difference_note).to_contain_text("LPIPS needs AlexNet's weights", timeout=60_000)
            expect(spread_note).to_contain_text("(tiny-gan): mean spread")  # the spreads stay
            errors = page.locator(".toast-body.error")
            assert errors.count() == 0, errors.first.inner_text()
            page.locator("#difference-metric").get_by_text("mse", exact=True).click()
            expect(difference_note).to_contain_text("this mask: b better on", timeout=60_000)
            page.locator("#uncertainty").screenshot(path=str(screenshot))
        finally:
            browser.close()
    if os.environ.get("MAE_SCREENSHOT_DIR"):  # for a human to look at
        Path(os.environ["MAE_SCREENSHOT_DIR"], screenshot.name).write_bytes(screenshot.read_bytes())


def _upload_and_compare(page, url: str, picture: Path, *, keep_aspect: bool = False) -> None:
    """Open the app, upload ``picture``, tick "Keep aspect" when asked, press Reconstruct and wait for every panel
    (failing at once with the app's message if an error toast appears instead)."""
    from playwright.sync_api import expect

    page.goto(url)
    # the page load fills in the default pair: the bundled tiny models, as no ViT-L is cached here
    expect(page.locator("#pair-note")).to_contain_text("tiny-pixel (top) vs tiny-gan (bottom)", timeout=30_000)
    page.locator("#input-image input[type=file]").set_input_files(str(picture))
    expect(page.locator("#input-image img")).to_be_visible(timeout=30_000)
    if keep_aspect:
        page.locator("#keep-aspect input[type=checkbox]").check()
    page.locator("#run-compare").click()
    page.wait_for_selector(f"{PANELS[-1]} img, .toast-body.error", timeout=90_000)
    errors = page.locator(".toast-body.error")
    assert errors.count() == 0, errors.first.inner_text()
    for panel in PANELS:
        expect(page.locator(f"{panel} img")).to_be_visible(timeout=60_000)


def test_keep_aspect_reconstructs_at_the_uploads_own_size_in_chromium(tmp_path, isolated_caches):
    """With "Keep aspect" the panels have the upload's shape, and so do the attention overlays, whose clicks pick
    the patch under the pointer on the rectangular grid."""
    from playwright.sync_api import expect, sync_playwright

    from mae_core import load_model, reconstruct

    picture = tmp_path / "wide.png"
    make_image(480, 320, seed=4).save(picture)  # 3:2, within the limit: reconstructed at 320 x 480 (20 x 30 patches)
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            _upload_and_compare(page, url, picture, keep_aspect=True)
            for panel in PANELS:
                size = _image_size(page, f"{panel} img")
                heatmap = panel.endswith("-4")  # the error heatmap carries its colour bar on the right
                assert size == [480 + (SCALE_WIDTH if heatmap else 0), 320], panel
            expect(page.locator("#metrics")).to_contain_text("450")  # 600 patches, 150 kept at 0.75
            # the attention section reads the same picture: 320 x 480, a click maps onto the 20 x 30 patch grid
            page.get_by_text("Where each checkpoint looked (attention)").click()
            note = page.locator("#attention-note")
            expect(note).to_contain_text("(tiny-pixel): encoder rollout, from the class token", timeout=90_000)
            for row in ("top", "bottom"):
                assert _image_size(page, f"#attention-{row} img") == [480, 320], row
            maps = reconstruct(load_model("tiny-pixel"), str(picture), 0.75, 0, size="native", attentions=True)
            visible = int(maps.attention.visible[-1])
            y, x = divmod(visible, 30)
            img = page.locator("#attention-top img")
            box = img.bounding_box()
            img.click(position={"x": (x + 0.5) * box["width"] / 30, "y": (y + 0.5) * box["height"] / 20})
            expect(page.locator("#attention-patch input, #attention-patch textarea").first).to_have_value(str(visible))
            expect(note).to_contain_text(f"encoder rollout, from the patch {visible}", timeout=60_000)
            errors = page.locator(".toast-body.error")
            assert errors.count() == 0, errors.first.inner_text()
        finally:
            browser.close()
