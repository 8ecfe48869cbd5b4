"""Fixtures for the recipe tests: the tiny-pair recipe run end to end in smoke mode (64 px, a handful of steps)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.tiny_pair.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
# one thread: the CI box has two cores and other tests
SMOKE = ["--steps", "3", "--gan-steps", "2", "--img-size", "64", "--threads", "1", "--batch-size", "2", "--no-progress"]


def run_module(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m module args...`` from the repository root, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "MAE_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def read_losses(run: Path) -> list[dict]:
    with open(run / "losses.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory) -> tuple[Path, Path]:
    """The same smoke run twice, in two folders: the first from the command line (it also exports the float16 pair
    into ``<root>/bundled``), the second in-process."""
    root = tmp_path_factory.mktemp("train")
    first, second = root / "a", root / "b"
    done = run_module("recipes.tiny_pair", *SMOKE, "--out", str(first), "--export", str(root / "bundled"))
    assert done.returncode == 0, done.stderr
    assert "held-out tiny-pixel" in done.stdout and "tiny-gan.safetensors" in done.stdout
    assert main([*SMOKE, "--out", str(second)]) == 0
    return first, second
