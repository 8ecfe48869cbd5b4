"""Why a checkpoint cannot be loaded exactly: one class per reason, each a ``ValueError``, messages that say what next.

Raised by source resolution (``sources``), downloads (``downloads``), file reading (``checkpoint_files``), renaming
(``convert``) and ``load_model``; callers catch :class:`CheckpointError` for all of them.
"""

from __future__ import annotations

# what to use instead of a file that cannot reconstruct (encoder-only weights)
VISUALIZE_HINT = (
    "use a visualisation checkpoint that includes the decoder: vit-large-pixel (mae_visualize_vit_large.pth), "
    "vit-large-gan (mae_visualize_vit_large_ganloss.pth), vit-base-pixel or vit-huge-pixel"
)


class CheckpointError(ValueError):
    """A checkpoint cannot be loaded exactly. Subclasses say why."""


class EncoderOnlyError(CheckpointError):
    """The file holds an encoder without the decoder: it cannot reconstruct images."""


class UnknownArchitectureError(CheckpointError):
    """The tensors do not describe an architecture this engine can build."""


class StateDictMismatchError(CheckpointError):
    """Keys or shapes differ from the model the checkpoint claims to be."""


class CheckpointNotFoundError(CheckpointError):
    """The checkpoint is neither on disk nor downloadable (offline, unknown name, every source failed)."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, damaged or not a checkpoint at all."""


class HashMismatchError(CheckpointError):
    """The file's sha256 differs from the published one."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle needs arbitrary code to load; it was refused without running anything."""


class NormPixWarning(UserWarning):
    """The checkpoint was trained on per-patch normalised targets: its predictions need each patch's mean and spread
    put back (``reconstruct(..., denorm="honest" | "oracle")``, :mod:`mae_core.evaluation.norm_pix`)."""
