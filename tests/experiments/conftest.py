"""Fixtures for the experiments tests: a saved tiny checkpoint pair (helpers live in helpers.py)."""

from __future__ import annotations

import pytest

from mae_core.checkpoints.checkpoint_files import save_checkpoint
from tests.conftest import make_model


@pytest.fixture(scope="session")
def checkpoint_pair(tmp_path_factory) -> tuple[str, str]:
    """Two tiny random checkpoints saved as project safetensors: (pixel, gan)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    pixel = save_checkpoint(make_model(seed=0), folder / "pixel.safetensors", loss_type="pixel")
    gan = save_checkpoint(make_model(seed=1), folder / "gan.safetensors", loss_type="gan")
    return str(pixel), str(gan)


@pytest.fixture
def swept_run(tmp_path, checkpoint_pair) -> tuple[str, str]:
    """A finished sweep in a store under tmp_path: 3 images x both checkpoints x ratios 0.5, 0.75 x seeds 0, 1 (24
    rows). Returns (store root, run id)."""
    from experiments.config import SweepConfig
    from experiments.sweep import run_sweep
    from tests.experiments.helpers import write_images

    write_images(tmp_path / "imgs", 3)
    config = SweepConfig(
        images=(str(tmp_path / "imgs"),), checkpoints=checkpoint_pair, ratios=(0.5, 0.75), seeds=(0, 1), device="cpu"
    )
    root = tmp_path / "runs"
    result = run_sweep(config, root=root)
    assert result.status == "finished" and result.rows == 24
    return str(root), result.run_id
