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
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from experiments.progress import ProgressBar
from experiments.store import RunStore
from experiments.sweep import SweepConfig, SweepResult, open_session


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


def shard(items: list, rank: int, world: int) -> list:
    """Rank ``rank``'s images: every ``world``-th from ``rank`` (balanced to within one image)."""
    return items[rank::world]


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


def _sweep(
    config: SweepConfig | None, env: DistEnv, device: str, *, root, resume: str | None, show_progress: bool
) -> SweepResult:
    store = RunStore(root)
    session, lock, failure = None, None, None
    if env.rank == 0:
        try:
            session = open_session(store, config, resume=resume, models=None, device=device)
            lock = session.run.acquire_writer()
            session.run.merge_shards()
            print(f"run {session.run.run_id} -> {session.run.path} ({env.world_size} ranks)", flush=True)
        except Exception as err:  # every rank must learn of it, or they wait for rank 0 forever
            failure = err
    started = [
        (session.run.run_id, session.config.to_dict()) if session is not None else None,
        None if failure is None else f"{type(failure).__name__}: {failure}",
    ]
    dist.broadcast_object_list(started, src=0)
    if started[1] is not None:
        if failure is not None:
            raise failure
        raise RuntimeError(f"rank 0 could not start the sweep: {started[1]}")
    run_id, config_dict = started[0]
    try:
        if session is None:
            # the other ranks open rank 0's run, with its (possibly resumed) config, on their own device
            session = open_session(
                store, SweepConfig.from_dict(config_dict), resume=run_id, models=None, device=device, create=False
            )
        mine = shard(session.items, env.rank, env.world_size)
        outcome = {"status": "finished", "errors": [], "hashes": {}, "written": 0, "fatal": None}
        progress = None
        try:
            progress = ProgressBar(f"rank 0/{env.world_size} cells") if show_progress and env.rank == 0 else None
            part = session.execute(
                mine, target=session.run.shard_path(env.rank), progress=progress, finish=False, status_on_error=False
            )
            outcome.update(errors=list(part.errors), written=part.written, hashes=dict(session.known_hashes))
        except KeyboardInterrupt:
            outcome["status"] = "interrupted"
        except Exception as err:
            outcome.update(status="failed", fatal=f"rank {env.rank}: {type(err).__name__}: {err}")
        finally:
            if progress is not None:
                progress.close()
        outcomes: list = [None] * env.world_size
        dist.all_gather_object(outcomes, outcome)
        return _conclude(session, env, outcomes)
    finally:
        if lock is not None:
            lock.release()


def _conclude(session, env: DistEnv, outcomes: list[dict]) -> SweepResult:
    errors = tuple(e for o in outcomes for e in o["errors"])
    statuses = {o["status"] for o in outcomes}
    status = "failed" if "failed" in statuses else "interrupted" if "interrupted" in statuses else "finished"
    written = sum(o["written"] for o in outcomes)
    rows = 0
    if env.rank == 0:
        if status == "finished":
            session.run.merge_shards()
            for o in outcomes:
                session.known_hashes.update(o["hashes"])
            rows = session.finish()  # the ranks already added their image errors to the manifest
        else:
            fatal = "; ".join(o["fatal"] for o in outcomes if o["fatal"])
            session.run.update_manifest(status=status, fatal=fatal or None)
            rows = sum(session.run.cell_counts().values())
    dist.barrier()  # no rank leaves before the merge is on disk
    result = SweepResult(
        run_id=session.run.run_id,
        run_dir=str(session.run.path),
        rows=rows,
        errors=errors if env.rank == 0 else (),
        status=status,
        written=written,
        cells=len(session.items) * session.config.cells_per_image,
    )
    if env.rank == 0:
        for error in errors:
            print(f"skipped {error['image']}: {error['reason']}", file=sys.stderr)
        print(f"run {result.run_id}: {status}, {rows} rows in {session.run.losses_path}", flush=True)
    return result
