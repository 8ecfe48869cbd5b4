"""Fixtures of the app's tests: two tiny random checkpoints, an app over them and a temporary run store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mae_app import MAEApp
from tests.conftest import make_image
from tests.mae_app.helpers import make_app, save_tiny_checkpoints


@pytest.fixture(autouse=True, scope="session")
def private_gradio_cache(tmp_path_factory):
    """Gradio's cache (uploads, served panels) in this session's own folder. By default every process shares
    ``/tmp/gradio`` with content-addressed names, so test runs in other checkouts that upload the same generated
    images clean up files this one is serving (seen as "no such file" and 403 answers)."""
    before = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
    yield
    if before is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = before


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    return save_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture
def tiny_app(tmp_path, tiny_checkpoints) -> MAEApp:
    return make_app(tmp_path / "runs", tiny_checkpoints)


@pytest.fixture
def image_file(tmp_path) -> str:
    path = tmp_path / "picture.png"
    make_image(48, 40).save(path)
    return str(path)


@pytest.fixture
def isolated_caches(tmp_path, monkeypatch):
    """Empty model caches and no network, so the default pair is the bundled tiny one whatever this machine has
    cached: a machine without the ViT-L files."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("MAE_OFFLINE", "1")
    monkeypatch.delenv("MAE_CHECKPOINTS_FILE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
