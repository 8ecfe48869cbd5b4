"""Datasets as image sources: which arguments are datasets, choosing split/column/rows, reading rows' images.

Every dataset here is written by the ``datasets`` library itself (``save_to_disk``, ``to_parquet``) or laid out as
its ``imagefolder`` builder expects; the Hub path is exercised through the CLI against a loopback Hub
(tests/experiments/test_datasets_cli.py)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from experiments.sources import (
    DatasetOptions,
    DatasetSource,
    DatasetSpec,
    StreamedRows,
    choose_indices,
    dataset_spec,
    expand_images,
    load_images,
    read_images,
    select_rows,
)
from mae_core.evaluation.preprocess import load_image
from tests.experiments.helpers import image_dataset, png_bytes, write_imagefolder, write_images


@pytest.fixture
def saved(tmp_path):
    """A saved DatasetDict (validation 5 rows, train 3) and a saved Dataset without splits (4 rows)."""
    from datasets import DatasetDict

    DatasetDict({"validation": image_dataset(5), "train": image_dataset(3, start_seed=50)}).save_to_disk(
        tmp_path / "dict"
    )
    image_dataset(4, start_seed=20, column="picture").save_to_disk(tmp_path / "single")
    return tmp_path


# ---- which arguments are datasets ----
def test_hub_ids_parse_with_and_without_a_revision():
    assert dataset_spec("hf://datasets/org/pics") == DatasetSpec("hub", "org/pics", "org/pics", None)
    assert dataset_spec("hf://datasets/org/pics@v1.0").revision == "v1.0"
    assert dataset_spec("hf://datasets/org/pics@refs/convert/parquet").revision == "refs/convert/parquet"
    for bad in ("hf://datasets/", "hf://datasets/a/b/c", "hf://datasets/../x"):
        with pytest.raises(ValueError, match="hf://datasets/ORG/NAME"):
            dataset_spec(bad)


def test_local_datasets_are_recognised_by_their_markers(saved, tmp_path):
    assert dataset_spec(str(saved / "dict")).kind == "disk"
    assert dataset_spec(str(saved / "single")).kind == "disk"
    image_dataset(2).to_parquet(str(tmp_path / "val.parquet"))
    assert dataset_spec(str(tmp_path / "val.parquet")) == DatasetSpec(
        "parquet", str((tmp_path / "val.parquet").resolve()), "val.parquet"
    )
    (tmp_path / "pq").mkdir()
    image_dataset(2).to_parquet(str(tmp_path / "pq" / "validation.parquet"))
    assert dataset_spec(str(tmp_path / "pq")).kind == "parquet"
    write_imagefolder(tmp_path / "withmeta", {"validation": 2})
    assert dataset_spec(str(tmp_path / "withmeta")).kind == "imagefolder"


def test_a_plain_folder_of_images_stays_a_plain_folder(tmp_path):
    write_imagefolder(tmp_path / "photos", {"train": 2, "validation": 1}, metadata=False)
    assert dataset_spec(str(tmp_path / "photos")) is None
    names = [item.name for item in expand_images([str(tmp_path / "photos")])]
    assert names == [f"{tmp_path}/photos/train/img000.png", f"{tmp_path}/photos/train/img001.png",
                     f"{tmp_path}/photos/validation/img000.png"]  # fmt: skip
    # the explicit prefix reads the same folder as an imagefolder dataset
    spec = dataset_spec(f"imagefolder:{tmp_path / 'photos'}")
    assert spec == DatasetSpec("imagefolder", str((tmp_path / "photos").resolve()), "photos")
    with pytest.raises(ValueError, match="is not a folder"):
        dataset_spec(f"imagefolder:{tmp_path / 'nowhere'}")


# ---- choosing rows ----
def test_validation_is_the_default_split_and_the_first_image_column_is_found_by_type(saved):
    source = select_rows(dataset_spec(str(saved / "dict")))
    assert (source.split, source.column, source.num_rows, source.indices) == ("validation", "image", 5, (0, 1, 2, 3, 4))
    assert source.image_name(3) == "dict:validation:3"
    assert source.revision is None and source.kind == "disk"


def test_a_dataset_without_splits_names_its_rows_without_one(saved):
    source = select_rows(dataset_spec(str(saved / "single")))
    assert source.split is None and source.column == "picture"
    assert [i.name for i in expand_images([str(saved / "single")])] == [f"single:{i}" for i in range(4)]
    with pytest.raises(ValueError, match="has no splits"):
        select_rows(dataset_spec(str(saved / "single")), DatasetOptions(split="validation"))


def test_split_choice_errors_name_the_splits(saved, tmp_path):
    with pytest.raises(ValueError, match="no split 'test'; its splits: validation, train"):
        select_rows(dataset_spec(str(saved / "dict")), DatasetOptions(split="test"))
    from datasets import DatasetDict

    DatasetDict({"train": image_dataset(2), "test": image_dataset(2)}).save_to_disk(tmp_path / "two")
    with pytest.raises(ValueError, match=r"several others \(train, test\): choose one with --split"):
        select_rows(dataset_spec(str(tmp_path / "two")))
    DatasetDict({"train": image_dataset(2)}).save_to_disk(tmp_path / "one")
    assert select_rows(dataset_spec(str(tmp_path / "one"))).split == "train"  # the only split


def test_image_column_choice_and_its_errors(tmp_path):
    from datasets import Dataset, Features, Image, Value

    two = Dataset.from_dict(
        {"id": [0, 1], "mask": [{"bytes": png_bytes(0), "path": None}] * 2, "photo": [{"bytes": png_bytes(1)}] * 2},
        features=Features({"id": Value("int64"), "mask": Image(), "photo": Image()}),
    )
    two.save_to_disk(tmp_path / "two")
    spec = dataset_spec(str(tmp_path / "two"))
    assert select_rows(spec).column == "mask"  # the first Image column, whatever its name
    assert select_rows(spec, DatasetOptions(image_column="photo")).column == "photo"
    with pytest.raises(ValueError, match="no column 'nope'; its columns: id, mask, photo"):
        select_rows(spec, DatasetOptions(image_column="nope"))
    with pytest.raises(ValueError, match="column 'id' holds Value, not images; its image columns: mask, photo"):
        select_rows(spec, DatasetOptions(image_column="id"))
    Dataset.from_dict({"text": ["a"]}).save_to_disk(tmp_path / "text")
    with pytest.raises(ValueError, match="no image column"):
        select_rows(dataset_spec(str(tmp_path / "text")))


def test_limit_and_sample_seed_choose_a_reproducible_sorted_subset():
    assert choose_indices(10, None, None) == tuple(range(10))
    assert choose_indices(10, 3, None) == (0, 1, 2)
    drawn = choose_indices(50_000, 8, 7)
    assert drawn == choose_indices(50_000, 8, 7) and len(set(drawn)) == 8 and list(drawn) == sorted(drawn)
    assert drawn != choose_indices(50_000, 8, 8)
    assert choose_indices(5, 9, 1) == (0, 1, 2, 3, 4)  # a limit over the size takes everything
    with pytest.raises(ValueError, match="give --limit too"):
        DatasetOptions(sample_seed=3)
    with pytest.raises(ValueError, match="at least 1"):
        DatasetOptions(limit=0)


def test_options_without_a_dataset_are_refused(tmp_path):
    write_images(tmp_path, 1)
    with pytest.raises(ValueError, match="choose rows of datasets, and none of --images is one"):
        expand_images([str(tmp_path)], datasets=DatasetOptions(limit=3))


def test_the_manifest_record_round_trips(saved):
    source = select_rows(dataset_spec(str(saved / "dict")), DatasetOptions(limit=2, sample_seed=4))
    again = DatasetSource.from_dict(source.to_dict())
    assert again == source and len(again.indices) == 2


# ---- reading ----
def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_saved_rows_read_back_as_their_images_with_their_bytes_hash(saved):
    items = expand_images([str(saved / "dict")], datasets=DatasetOptions(split="train", limit=2))
    loaded, failed = read_images(items)
    assert not failed and [img.item.name for img in loaded] == ["dict:train:0", "dict:train:1"]
    for offset, img in enumerate(loaded):
        expected = png_bytes(50 + offset)
        assert img.sha256 == hashlib.sha256(expected).hexdigest()
        assert np.array_equal(_pixels(img.image), _pixels(load_image(expected)))


def test_parquet_rows_stream_and_a_bad_row_fails_alone(tmp_path):
    from datasets import Dataset, Features, Image, Value

    cells = [{"bytes": png_bytes(i), "path": None} for i in range(4)]
    cells[2] = {"bytes": b"not a picture", "path": None}
    Dataset.from_dict(
        {"label": [0, 1, 2, 3], "image": cells}, features=Features({"label": Value("int64"), "image": Image()})
    ).to_parquet(str(tmp_path / "val.parquet"))
    loaded, failed = read_images(expand_images([str(tmp_path / "val.parquet")]))
    # a single Parquet file is the "train" split, as datasets reads it
    assert [img.item.name for img in loaded] == ["val.parquet:train:0", "val.parquet:train:1", "val.parquet:train:3"]
    assert [f.image for f in failed] == ["val.parquet:train:2"] and "not an image" in failed[0].reason
    assert loaded[2].sha256 == hashlib.sha256(png_bytes(3)).hexdigest()


def test_imagefolder_rows_read_the_files_in_the_order_datasets_gives(tmp_path):
    written = write_imagefolder(tmp_path / "set", {"train": 2, "validation": 3})
    loaded, failed = read_images(expand_images([str(tmp_path / "set")], datasets=DatasetOptions(limit=2)))
    assert not failed and [img.item.name for img in loaded] == ["set:validation:0", "set:validation:1"]
    for img, path in zip(loaded, written["validation"][:2], strict=True):
        assert img.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_stream_read_in_ascending_order_is_opened_once():
    from datasets import Features, Image, IterableDataset

    rows = [{"image": {"bytes": png_bytes(i), "path": None}} for i in range(6)]
    opened = []

    def make_stream():
        opened.append(1)
        return IterableDataset.from_generator(lambda: iter(rows), features=Features({"image": Image()}))

    access = StreamedRows(make_stream, "image")
    assert [access.get(i)["bytes"] for i in (0, 2, 5)] == [rows[i]["image"]["bytes"] for i in (0, 2, 5)]
    assert len(opened) == 1
    assert access.get(1)["bytes"] == rows[1]["image"]["bytes"] and len(opened) == 2  # going back restarts


def test_load_images_feeds_evaluate(saved, tiny_model):
    from mae_core.evaluation.engine import evaluate

    images = load_images(str(saved / "dict"), limit=2)
    records = evaluate({"tiny": tiny_model}, [i.image for i in images], [0.75], [0], batch_size=4, device="cpu")
    assert len(records) == 2 and {r.image for r in records} == {0, 1}
    with pytest.raises(ValueError, match="is not a dataset"):
        load_images(str(saved / "nothing-here"))
