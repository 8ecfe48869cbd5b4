"""Overlap loading with computing: the next job's inputs are read on a background thread while the caller computes.

A study spends almost all of its time in the model; decoding and resizing the next batch's images in between would
leave the model idle for that long on every batch. :func:`prefetch` runs ``load`` for the jobs ahead of the one the
caller is working on, on ONE worker thread (image decoding releases the GIL; a single worker keeps the order and
leaves the cores to the model), and hands the results back strictly in job order.

Errors stay where they belong: a job whose ``load`` raised re-raises that exception when the caller reaches it, after
every earlier job has been handed out, so results computed before a bad input are never lost. When the caller stops
early (``break``, an exception, closing the generator), loads not yet started are cancelled and the running one is
waited for: no thread outlives the iteration.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Job = TypeVar("Job")
Loaded = TypeVar("Loaded")


def prefetch(jobs: Iterable[Job], load: Callable[[Job], Loaded], *, ahead: int = 1) -> Iterator[tuple[Job, Loaded]]:
    """Yield ``(job, load(job))`` in job order, with the loads of up to ``ahead`` further jobs running meanwhile."""
    if isinstance(ahead, bool) or not isinstance(ahead, int) or ahead < 1:
        raise ValueError(f"ahead must be a positive integer, got {ahead!r}")
    pending: deque[tuple[Job, Future[Loaded]]] = deque()
    source = iter(jobs)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mae-prefetch")
    try:
        for job in source:
            pending.append((job, pool.submit(load, job)))
            if len(pending) > ahead:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
