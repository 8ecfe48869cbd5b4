"""Expanding --images and reading each image with its own error."""

from __future__ import annotations

import os

import pytest

from experiments.sources import expand_images, read_images
from tests.experiments.helpers import huge_png, write_images


def test_folders_are_searched_recursively_for_images_only(tmp_path):
    write_images(tmp_path / "set", 2)
    write_images(tmp_path / "set" / "deeper", 1, prefix="z")
    (tmp_path / "set" / "notes.txt").write_text("not an image")
    (tmp_path / "set" / ".hidden.png").write_bytes(b"")
    (tmp_path / "set" / ".cache").mkdir()
    write_images(tmp_path / "set" / ".cache", 1)
    items = expand_images([str(tmp_path / "set")])
    names = [i.name for i in items]
    prefix = str(tmp_path / "set")
    assert names == [f"{prefix}/deeper/z000.png", f"{prefix}/img000.png", f"{prefix}/img001.png"]
    assert all(os.path.isabs(i.path) for i in items)


def test_lists_hold_paths_relative_to_themselves(tmp_path):
    paths = write_images(tmp_path / "pics", 2)
    listing = tmp_path / "pics" / "val.txt"
    listing.write_text(f"# a comment\n\nimg000.png\n  {paths[1]}  \nmissing.png\n")
    items = expand_images([str(listing)])
    assert [i.name for i in items] == ["img000.png", str(paths[1]), "missing.png"]
    assert items[0].path == str(paths[0])
    loaded, failed = read_images(items)
    assert len(loaded) == 2
    assert [f.image for f in failed] == ["missing.png"] and "no such file" in failed[0].reason


def test_the_same_file_twice_is_kept_once_and_order_is_kept(tmp_path):
    a, b = write_images(tmp_path, 2)
    items = expand_images([str(b), str(a), str(b)])
    assert [i.path for i in items] == [str(b), str(a)]


def test_two_files_under_one_name_are_refused(tmp_path, monkeypatch):
    write_images(tmp_path / "one", 1)
    write_images(tmp_path / "two", 1)
    (tmp_path / "two" / "list.txt").write_text("img000.png\n")
    monkeypatch.chdir(tmp_path / "one")
    with pytest.raises(ValueError, match="share the name 'img000.png'"):
        expand_images(["img000.png", str(tmp_path / "two" / "list.txt")])


@pytest.mark.parametrize("spec", ["does/not/exist", "nowhere.png"])
def test_missing_arguments_are_usage_errors(tmp_path, spec):
    with pytest.raises(ValueError, match="no such file or folder"):
        expand_images([str(tmp_path / spec)])


def test_a_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(ValueError, match="no images found"):
        expand_images([str(tmp_path)])


def test_bad_files_fail_one_by_one_with_reasons(tmp_path):
    good = write_images(tmp_path, 2)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good[0].read_bytes()[:60])  # a header and then nothing
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not a PNG")
    (tmp_path / "bomb.png").write_bytes(huge_png(100_000, 100_000))
    loaded, failed = read_images(expand_images([str(tmp_path)]))
    assert sorted(img.item.path for img in loaded) == sorted(str(p) for p in good)
    reasons = {os.path.basename(f.path): f.reason for f in failed}
    assert set(reasons) == {"corrupt.png", "empty.jpg", "text.png", "bomb.png"}
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["text.png"]
    assert "truncated or corrupt" in reasons["corrupt.png"]
    # refused from the header (100000 x 100000 x 3 bytes would be 30 GB), before any decoding
    assert "100000x100000" in reasons["bomb.png"] or "decompression bomb" in reasons["bomb.png"]
    assert all(len(img.sha256) == 64 for img in loaded)
