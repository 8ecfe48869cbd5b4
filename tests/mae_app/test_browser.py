"""A real browser (headless Debian Chromium via Playwright) uploads an image and runs Compare on the launched app."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from mae_app import default_app
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
PANELS = [f"#{row}-{i}" for row in ("top", "bottom") for i in range(len(PANEL_LABELS))]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


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
                width = page.locator(f"{panel} img").evaluate("img => img.complete ? img.naturalWidth : 0")
                assert width > 0, panel
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("MAE_SCREENSHOT_DIR"):  # for a human to look at
        Path(os.environ["MAE_SCREENSHOT_DIR"], screenshot.name).write_bytes(screenshot.read_bytes())


def test_keep_aspect_reconstructs_at_the_uploads_own_size_in_chromium(tmp_path, isolated_caches):
    from playwright.sync_api import expect, sync_playwright

    picture = tmp_path / "wide.png"
    make_image(480, 320, seed=4).save(picture)  # 3:2, within the limit: reconstructed at 320 x 480 (20 x 30 patches)
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            _upload_and_compare(page, url, picture, keep_aspect=True)
            for panel in PANELS:
                size = page.locator(f"{panel} img").evaluate(
                    "img => img.complete ? [img.naturalWidth, img.naturalHeight] : null"
                )
                assert size == [480, 320], panel
            expect(page.locator("#metrics")).to_contain_text("450")  # 600 patches, 150 kept at 0.75
        finally:
            browser.close()


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
            page.goto(url)
            expect(page.locator("#pair-note")).to_contain_text("tiny-pixel (top) vs tiny-gan (bottom)", timeout=30_000)
            page.locator("#input-image input[type=file]").set_input_files(str(picture))
            expect(page.locator("#input-image img")).to_be_visible(timeout=30_000)
            page.locator("#mask-strategy").get_by_text("draw", exact=True).click()
            painter = page.locator("#mask-painter")
            expect(painter).to_be_visible(timeout=30_000)
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
            expect(gallery).to_have_count(9 * 3, timeout=60_000)  # 9 ratios x (masked + both checkpoints)
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
    box = canvas.bounding_box()
    assert box is not None
    centre_x, centre_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for offset in range(-30, 31, 6):
        for end_x in (box["x"] + 2, box["x"] + box["width"] - 2):
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
            expect(page.locator("#drill-gallery img")).to_have_count(3 * 3, timeout=90_000)
            expect(page.locator("#image-ranking")).to_contain_text("photo0.png")
            page.locator("#runs-copy-link").click()
            expect(page.locator("#runs-link textarea, #runs-link input").first).to_have_value(link, timeout=30_000)
            assert page.locator(".toast-body.error").count() == 0
        finally:
            browser.close()
