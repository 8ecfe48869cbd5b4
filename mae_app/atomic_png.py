"""Writing result images as PNG files that a web server can hand out while other requests write theirs.

Gradio 6.31 saves an array output by truncating and rewriting ``<cache>/<content hash>/image.png`` even when that
file exists, so two users who get the same panel at the same moment (an example image's "original" panel) can make
the server send a half-written file. Files written here are content-addressed and appear atomically (temporary
name, then rename: :func:`mae_core.files.atomic_write_bytes`), and an existing file is never rewritten (only
touched); a gradio component handed one of these paths inside its cache folder serves it as it is.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from mae_core.files import atomic_write_bytes, bytes_sha256


def png_bytes(image: np.ndarray) -> bytes:
    """[H, W, 3] (or [H, W]) uint8 array -> lossless PNG bytes."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"expected an [H, W] or [H, W, 3] uint8 array, got {array.dtype} of shape {list(array.shape)}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(image: np.ndarray, folder: str | os.PathLike, name: str = "image") -> Path:
    """Save ``image`` as ``<folder>/<sha256 of the PNG>/<name>.png`` and return the path; identical images share
    one file, written once and never truncated."""
    data = png_bytes(image)
    target = Path(folder) / bytes_sha256(data)[:40] / f"{name}.png"
    if target.is_file():
        try:
            # a server's cache cleaner ages files by their change time: a file handed out again must look new
            os.utime(target)
        except OSError:
            pass
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # not durable: a served cache file lost in a power cut is simply computed again
    return atomic_write_bytes(target, data, durable=False)
