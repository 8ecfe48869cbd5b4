"""Fixtures for the experiments tests: a saved tiny checkpoint pair (helpers live in helpers.py)."""

from __future__ import annotations

import pytest

from mae_core.checkpoint_files import save_checkpoint
from tests.conftest import make_model


@pytest.fixture(scope="session")
def checkpoint_pair(tmp_path_factory) -> tuple[str, str]:
    """Two tiny random checkpoints saved as project safetensors: (pixel, gan)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    pixel = save_checkpoint(make_model(seed=0), folder / "pixel.safetensors", loss_type="pixel")
    gan = save_checkpoint(make_model(seed=1), folder / "gan.safetensors", loss_type="gan")
    return str(pixel), str(gan)
