"""Result PNGs for serving: lossless, content-addressed, written atomically and never rewritten."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from mae_app.atomic_png import png_bytes, save_png


def test_save_png_is_lossless_content_addressed_and_never_rewritten(tmp_path):
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
