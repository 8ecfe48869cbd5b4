"""Files on disk: content hashes and atomic replacement, the one place either is written.

Every file the project writes for others to read (checkpoints, manifests, PNGs handed to browsers, training states)
goes through :func:`atomic_output`: written under a temporary name in the same folder, flushed to disk, given the
mode the process umask asks for (``mkstemp`` alone would leave it 0600, unreadable to a group sharing a store), then
renamed over the target. Readers see the old file or the new one, never half of one, even after ``kill -9``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, remembered per (real path, size, mtime) for the most recent files, so a ViT-L
    checkpoint is hashed once per process while a folder of millions of images does not grow the memory."""
    real = os.path.realpath(path)
    stat = os.stat(real)
    return _hash_version(real, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _hash_version(real: str, size: int, mtime_ns: int) -> str:  # size/mtime are the cache key: a changed file rehashes
    with open(real, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of bytes in memory (content addresses of uploads and PNGs)."""
    return hashlib.sha256(data).hexdigest()


def umask_mode(executable: bool = False) -> int:
    """The mode a plain ``open(path, "w")`` would give a new file under the current umask."""
    current = os.umask(0)
    os.umask(current)
    return (0o777 if executable else 0o666) & ~current


@contextmanager
def atomic_output(path: str | os.PathLike, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error, it replaces ``path`` atomically.

    Write the file at the yielded path (``torch.save``, ``safetensors.save_file``, ``open(...)``). On error the
    temporary file is removed and ``path`` is untouched. ``durable`` fsyncs the file and its folder, so the rename
    survives a power cut, not only a crash.
    """
    target = Path(path)
    fd, staging = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    staging_path = Path(staging)
    try:
        yield staging_path
        os.chmod(staging_path, umask_mode())
        if durable:
            _fsync_file(staging_path)
        os.replace(staging_path, target)
    except BaseException:
        staging_path.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`); returns ``path`` as a ``Path``."""
    with atomic_output(path, durable=durable) as staging:
        staging.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = True) -> Path:
    """UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)
