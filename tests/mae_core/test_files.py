"""mae_core.files: content hashes and atomic replacement."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from mae_core.files import atomic_output, atomic_write_bytes, atomic_write_text, bytes_sha256, file_sha256


def test_file_sha256_matches_hashlib_and_follows_changes(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"first")
    assert file_sha256(path) == hashlib.sha256(b"first").hexdigest()
    path.write_bytes(b"second, longer")  # new size: the remembered hash must not be reused
    assert file_sha256(path) == hashlib.sha256(b"second, longer").hexdigest()
    assert bytes_sha256(b"x") == hashlib.sha256(b"x").hexdigest()


def test_atomic_write_replaces_whole_file_with_umask_mode(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("old")
    old_umask = os.umask(0o002)
    try:
        atomic_write_text(path, "new")
    finally:
        os.umask(old_umask)
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o664  # group-readable, not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no staging file left


def test_atomic_output_keeps_old_file_on_error(tmp_path):
    path = atomic_write_bytes(tmp_path / "w.bin", b"intact")
    with pytest.raises(RuntimeError), atomic_output(path) as staging:
        staging.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"intact"
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]
