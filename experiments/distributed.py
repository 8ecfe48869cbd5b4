"""The sweep, data-parallel under ``torchrun`` (torch.distributed): images sharded by rank.

``torchrun --nproc_per_node=N -m experiments sweep ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; the CLI then
comes here. Rank 0 creates (or reopens, with ``--resume``) the run and loads the checkpoints first, so downloads
happen once; the other ranks then open the same run. Rank ``r`` evaluates images ``r, r + N, r + 2N...`` and appends
to its own shard ``losses.rank<r>.csv`` (no lock contention between ranks). At the end rank 0 merges the shards
into ``losses.csv``, one row per cell, and finishes the manifest. Backend: NCCL with device ``cuda:<local rank>``
when CUDA is available (or asked for), else gloo on the CPU.

A killed distributed sweep is resumed like any other (``--resume RUN_ID``, with or without torchrun): unmerged
shards are merged first and only missing cells are computed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from filelock import FileLock

from experiments.config import SweepConfig
from experiments.progress import ProgressBar
from experiments.sources import ImageFailure
from experiments.store import RunStore
from experiments.sweep import SweepResult, SweepSession, SweepStatus, attach_run, start_or_resume

T = TypeVar("T")


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the torchrun job."""

    rank: int
    world_size: int
    local_rank: int


def world_size() -> int:
    """``WORLD_SIZE`` as set by torchrun; 1 when not launched by it."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def dist_env() -> DistEnv:
    return DistEnv(
        rank=int(os.environ.get("RANK", "0")),
        world_size=world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def rank_device(requested: str | None, local_rank: int) -> str:
    """One device per rank: ``cuda:<local rank>`` on a GPU node (or when "cuda" is asked for), else the CPU."""
    if requested is None:
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        return f"cuda:{local_rank}"
    return requested


def backend_for(device: str) -> str:
    return "nccl" if device.startswith("cuda") else "gloo"


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """Rank ``rank``'s images: every ``world``-th from ``rank`` (balanced to within one image)."""
    return list(items[rank::world])


def run_distributed_sweep(
    config: SweepConfig | None,
    *,
    root: str | os.PathLike | None = None,
    resume: str | None = None,
    show_progress: bool = True,
    timeout_s: float = 1800.0,
) -> SweepResult:
    """Run this rank's part of the sweep; every rank returns a result, rank 0's covers the whole run."""
    env = dist_env()
    device = rank_device(config.device if config is not None else None, env.local_rank)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group(backend_for(device), timeout=timedelta(seconds=timeout_s))
    try:
        return _sweep(config, env, device, root=root, resume=resume, show_progress=show_progress)
    finally:
        dist.destroy_process_group()


@dataclass(frozen=True)
class RankOutcome:
    """What one rank reports to the others once its share is done (sent with ``all_gather_object``)."""

    status: SweepStatus = "finished"
    errors: tuple[ImageFailure, ...] = ()
    hashes: Mapping[str, str] = field(default_factory=dict)  # image name -> sha256 of the images it read
    written: int = 0
    fatal: str | None = None  # what stopped a failed rank


def _sweep(
    config: SweepConfig | None,
    env: DistEnv,
    device: str,
    *,
    root: str | os.PathLike | None,
    resume: str | None,
    show_progress: bool,
) -> SweepResult:
    session, lock = _open_on_every_rank(RunStore(root), config, env, device, resume)
    try:
        outcome = _run_share(session, env, show_progress)
        outcomes: list[RankOutcome | None] = [None] * env.world_size
        dist.all_gather_object(outcomes, outcome)
        return _conclude(session, env, [o for o in outcomes if o is not None])
    finally:
        if lock is not None:
            lock.release()


def _open_on_every_rank(
    store: RunStore, config: SweepConfig | None, env: DistEnv, device: str, resume: str | None
) -> tuple[SweepSession, FileLock | None]:
    """Rank 0 starts (or resumes) the run and holds its writer lock; then the other ranks attach to that run with
    rank 0's (possibly resumed) config, on their own device. When rank 0 fails, every rank raises."""
    session, lock, failure = None, None, None
    if env.rank == 0:
        try:
            session, lock = _start_on_rank_0(store, config, device, resume, env)
        except Exception as err:  # every rank must learn of it, or they wait for rank 0 forever
            failure = err
    started = [
        (session.run.run_id, session.config.to_dict()) if session is not None else None,
        None if failure is None else f"{type(failure).__name__}: {failure}",
    ]
    dist.broadcast_object_list(started, src=0)
    if failure is not None:
        raise failure
    if started[1] is not None:
        raise RuntimeError(f"rank 0 could not start the sweep: {started[1]}")
    if session is None:
        run_id, config_dict = started[0]
        session = attach_run(store, run_id, SweepConfig.from_dict(config_dict), device=device)
    return session, lock


def _start_on_rank_0(
    store: RunStore, config: SweepConfig | None, device: str, resume: str | None, env: DistEnv
) -> tuple[SweepSession, FileLock]:
    session = start_or_resume(store, config, resume=resume, device=device)
    lock = session.run.acquire_writer()
    try:
        session.run.merge_shards()  # a distributed sweep killed before its merge
    except BaseException:
        lock.release()
        raise
    print(f"run {session.run.run_id} -> {session.run.path} ({env.world_size} ranks)", flush=True)
    return session, lock


def _run_share(session: SweepSession, env: DistEnv, show_progress: bool) -> RankOutcome:
    """This rank's images into its own shard file. Failures are reported, not raised, so every rank reaches the
    gather that follows."""
    progress = ProgressBar(f"rank 0/{env.world_size} cells") if show_progress and env.rank == 0 else None
    mine = shard(session.items, env.rank, env.world_size)
    try:
        written, errors = session.compute(mine, target=session.run.shard_path(env.rank), progress=progress)
    except KeyboardInterrupt:
        return RankOutcome(status="interrupted")
    except Exception as err:
        return RankOutcome(status="failed", fatal=f"rank {env.rank}: {type(err).__name__}: {err}")
    finally:
        if progress is not None:
            progress.close()
    return RankOutcome(errors=errors, hashes=dict(session.known_hashes), written=written)


def _conclude(session: SweepSession, env: DistEnv, outcomes: Sequence[RankOutcome]) -> SweepResult:
    """Rank 0 merges the shards and finishes the manifest (or records why the run stopped); every rank returns."""
    errors = tuple(e for o in outcomes for e in o.errors)
    statuses = {o.status for o in outcomes}
    status = "failed" if "failed" in statuses else "interrupted" if "interrupted" in statuses else "finished"
    rows = 0
    if env.rank == 0:
        if status == "finished":
            session.run.merge_shards()
            for o in outcomes:
                session.known_hashes.update(o.hashes)
            rows, status = session.finish()  # the ranks already added their image errors to the manifest
        else:
            fatal = "; ".join(o.fatal for o in outcomes if o.fatal)
            session.run.update_manifest(status=status, fatal=fatal or None)
            rows = session.tally().total
    dist.barrier()  # no rank leaves before the merge is on disk
    written = sum(o.written for o in outcomes)
    result = session.result(status=status, rows=rows, errors=errors if env.rank == 0 else (), written=written)
    if env.rank == 0:
        for error in errors:
            print(f"skipped {error}", file=sys.stderr)
        print(result.describe(), flush=True)
    return result
