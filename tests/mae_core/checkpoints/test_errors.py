"""errors.py: one class per reason a checkpoint cannot load, all catchable as CheckpointError and ValueError."""

from __future__ import annotations

from mae_core.checkpoints.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    EncoderOnlyError,
    HashMismatchError,
    StateDictMismatchError,
    UnknownArchitectureError,
    UnsafeCheckpointError,
)


def test_every_failure_is_a_checkpoint_error_and_a_value_error():
    for cls in (
        CheckpointNotFoundError,
        CorruptCheckpointError,
        EncoderOnlyError,
        HashMismatchError,
        StateDictMismatchError,
        UnknownArchitectureError,
        UnsafeCheckpointError,
    ):
        assert issubclass(cls, CheckpointError) and issubclass(cls, ValueError)
