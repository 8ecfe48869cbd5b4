"""Uploads become a sweep's list of images named by their file names."""

from __future__ import annotations

from experiments.sources import expand_images
from mae_app.uploads import stage_uploads
from tests.conftest import make_image


def test_uploads_are_named_by_file_name_and_same_names_kept_apart(tmp_path):
    paths = []
    for folder, name in (("a", "cat.png"), ("b", "cat.png"), ("c", "CAT.png"), ("d", "#dog.jpg"), ("e", "images.txt")):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / name)
        make_image(seed=len(paths)).save(paths[-1], format="PNG")
    listing = stage_uploads([str(p) for p in paths])
    items = expand_images([str(listing)])
    assert [item.name for item in items] == ["cat.png", "cat-2.png", "CAT-3.png", "dog.jpg", "images-2.txt"]
    for item, original in zip(items, paths):
        assert open(item.path, "rb").read() == original.read_bytes()
    assert stage_uploads([str(paths[0])]).parent != listing.parent  # every sweep gets a folder of its own
