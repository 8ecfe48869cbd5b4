"""The loss history of a run: one typed row per step, written as ``losses.csv`` and drawn as ``loss_curve.png``."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np

from mae_core.files import atomic_output

Phase = Literal["pixel", "gan"]


@dataclass(frozen=True)
class HistoryRow:
    """One training step. Losses are the step's batch means; the adversarial ones are 0.0 in the pixel phase."""

    phase: Phase
    step: int  # 1-based, counted within the phase
    lr: float
    pixel_loss: float  # the model's own loss: MSE on the removed patches, ImageNet-normalised pixels
    g_adv: float  # the generator's hinge loss
    d_loss: float  # the discriminator's hinge loss
    seconds: float  # wall time since the run started, summed over resumes

    @classmethod
    def from_dict(cls, row: dict) -> HistoryRow:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


COLUMNS = tuple(f.name for f in fields(HistoryRow))


def write_history(path: Path, history: list[HistoryRow]) -> None:
    """``losses.csv``: a header of :data:`COLUMNS`, one line per step; replaced atomically."""
    with atomic_output(path, durable=False) as staging, open(staging, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(asdict(row) for row in history)


def plot_curve(history: list[HistoryRow], path: Path) -> Path:
    """PNG of the pixel loss (raw and smoothed) over both phases, and the adversarial losses of the GAN phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(len(history))
    pixel = np.array([row.pixel_loss for row in history])
    window = max(1, len(pixel) // 50)
    smooth = np.convolve(pixel, np.ones(window) / window, mode="valid")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(steps, pixel, alpha=0.3, label="pixel loss (per step)")
    axes[0].plot(steps[window - 1 :], smooth, label=f"pixel loss (mean of {window})")
    gan = [row for row in history if row.phase == "gan"]
    if gan:
        axes[0].axvline(len(history) - len(gan), color="k", linestyle="--", linewidth=1, label="GAN fine-tuning starts")
        axes[1].plot([row.step for row in gan], [row.g_adv for row in gan], label="generator hinge loss")
        axes[1].plot([row.step for row in gan], [row.d_loss for row in gan], label="discriminator hinge loss")
        axes[1].legend()
    axes[1].set_title("adversarial losses (GAN phase)")
    axes[1].set_xlabel("GAN step")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step (pixel phase, then GAN phase)")
    axes[0].set_title("masked-patch loss (ImageNet-normalised pixels)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
