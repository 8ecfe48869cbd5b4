"""The app's non-UI helpers: the heatmap renderer, the shared model cache and the Space runtime."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import hf_space
from mae_core.heatmap import VISIBLE_GREY, error_heatmap, shared_vmax
from mae_core.model_cache import ModelCache


# ---- heatmap ----
def test_heatmap_blocks_follow_the_patch_grid_and_grey_out_visible_patches():
    error = np.array([[0.0, 0.5], [1.0, 0.25]])
    mask = np.array([[1, 1], [1, 0]])  # bottom-right patch visible
    img = error_heatmap(error, mask, 8)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    # every 4x4 block is one solid colour
    for r in (0, 4):
        for c in (0, 4):
            block = img[r : r + 4, c : c + 4].reshape(-1, 3)
            assert (block == block[0]).all()
    assert (img[4:, 4:] == VISIBLE_GREY).all()
    # magma runs from dark to bright: larger error, brighter block
    assert img[4, 0].sum() > img[0, 4].sum() > img[0, 0].sum()


def test_heatmap_shared_vmax_makes_two_grids_comparable():
    mask = np.ones((2, 2))
    low, high = np.full((2, 2), 0.1), np.full((2, 2), 0.4)
    vmax = shared_vmax([low, high], [mask, mask])
    assert vmax == pytest.approx(0.4)
    # with a shared scale the low-error grid is darker; with its own scale it would look identical
    assert error_heatmap(low, mask, 2, vmax=vmax).sum() < error_heatmap(high, mask, 2, vmax=vmax).sum()
    assert (error_heatmap(low, mask, 2) == error_heatmap(high, mask, 2)).all()


def test_shared_vmax_ignores_visible_patches_and_stays_positive():
    error = np.array([[9.0, 0.0]])
    assert shared_vmax([error], [np.array([[0, 1]])]) == pytest.approx(1e-12)
    assert shared_vmax([error], [np.array([[1, 1]])]) == pytest.approx(9.0)


@pytest.mark.parametrize(
    ("error", "mask", "size", "vmax", "match"),
    [
        (np.zeros(4), np.zeros(4), 8, None, "grid"),
        (np.zeros((2, 2)), np.zeros((3, 3)), 8, None, "does not match"),
        (np.zeros((2, 2)), np.ones((2, 2)), 7, None, "multiple"),
        (np.zeros((2, 2)), np.ones((2, 2)), 8, -1.0, "vmax"),
    ],
)
def test_heatmap_rejects_bad_arguments(error, mask, size, vmax, match):
    with pytest.raises(ValueError, match=match):
        error_heatmap(error, mask, size, vmax=vmax)


# ---- model cache ----
def test_model_cache_loads_each_name_once_under_concurrent_requests():
    calls: list[str] = []
    calls_lock = threading.Lock()

    def loader(name: str) -> object:
        with calls_lock:
            calls.append(name)
        time.sleep(0.05)  # a slow load, so the threads below really overlap
        return object()

    cache = ModelCache(loader)
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        results[i] = cache.get("a" if i % 2 else "b")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == ["a", "b"]
    assert len({id(results[i]) for i in range(1, 8, 2)}) == 1  # one shared "a"
    assert results[1] is not results[0]
    assert set(cache.loaded()) == {"a", "b"} and "a" in cache


def test_model_cache_does_not_remember_a_failed_load():
    attempts = []

    def loader(name: str) -> str:
        attempts.append(name)
        if len(attempts) == 1:
            raise OSError("network down")
        return f"model {name}"

    cache = ModelCache(loader)
    with pytest.raises(OSError):
        cache.get("x")
    assert cache.get("x") == "model x"
    assert len(attempts) == 2
    cache.clear()
    assert cache.loaded() == ()


# ---- Space runtime ----
def test_on_space_reads_space_id():
    assert hf_space.on_space({"SPACE_ID": "someone/mae"})
    assert not hf_space.on_space({})
    assert not hf_space.on_space({"SPACE_ID": ""})


def test_prefetch_reports_success_and_failure_as_notes():
    done = hf_space.start_prefetch("vit-large-gan", lambda: None)
    done.thread.join(5)
    assert done.state == "done" and "cached" in done.note()

    def broken() -> None:
        raise ConnectionError("no route to host")

    failed = hf_space.start_prefetch("vit-large-gan", broken)
    failed.thread.join(5)
    assert failed.state == "failed"
    assert "ConnectionError: no route to host" in failed.note()


def test_prefetch_does_not_block_the_caller():
    release = threading.Event()
    prefetch = hf_space.start_prefetch("slow", release.wait)
    assert prefetch.state == "running" and "background" in prefetch.note()
    release.set()
    prefetch.thread.join(5)
    assert prefetch.state == "done"


def test_gpu_handler_is_the_identity_without_spaces(monkeypatch):
    monkeypatch.setattr(hf_space, "zerogpu_available", lambda: False)

    def handler(x: int) -> int:
        return x + 1

    assert hf_space.gpu_handler()(handler) is handler


# ---- PNG files for serving ----
def test_save_png_is_lossless_content_addressed_and_never_rewritten(tmp_path):
    from PIL import Image

    from png_files import png_bytes, save_png

    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    path = save_png(image, tmp_path, "panel")
    with Image.open(path) as img:
        assert img.format == "PNG"
        np.testing.assert_array_equal(np.asarray(img), image)
    inode = path.stat().st_ino
    os.utime(path, (0, 0))
    assert save_png(image.copy(), tmp_path, "panel") == path  # same pixels: same file, not rewritten...
    assert path.stat().st_ino == inode and path.read_bytes() == png_bytes(image)
    assert path.stat().st_mtime > 0  # ...but touched, so a cache cleaner does not delete it as old
    assert save_png(image[::-1].copy(), tmp_path, "panel") != path
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ValueError, match="uint8"):
        save_png(image.astype(np.float32), tmp_path)


def test_gpu_handler_uses_spaces_gpu_where_zerogpu_is_importable(monkeypatch):
    import sys
    import types

    decorated = []

    def fake_gpu(duration: int):
        def wrap(fn):
            decorated.append((fn, duration))
            return fn

        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=fake_gpu))
    monkeypatch.setattr(hf_space, "zerogpu_available", lambda: True)

    def handler() -> None:
        return None

    hf_space.gpu_handler(duration=90)(handler)
    assert decorated == [(handler, 90)]
