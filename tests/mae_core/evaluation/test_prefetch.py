"""The background prefetch: job order, overlap with the caller's work, errors at the failing job, clean early stop."""

from __future__ import annotations

import threading

import pytest

from mae_core.evaluation.prefetch import prefetch


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mae-prefetch")]


def test_results_come_back_in_job_order():
    assert list(prefetch(range(7), lambda n: n * n)) == [(n, n * n) for n in range(7)]
    assert list(prefetch([], lambda n: n)) == []
    assert list(prefetch(iter("abc"), str.upper, ahead=5)) == [("a", "A"), ("b", "B"), ("c", "C")]


def test_the_next_job_loads_while_the_caller_works():
    loading = {n: threading.Event() for n in range(3)}
    threads = []

    def load(n: int) -> int:
        threads.append(threading.current_thread())
        loading[n].set()
        return n

    for job, _ in prefetch(range(3), load):
        if job + 1 in loading:
            # the caller holds job n; job n + 1 is being loaded meanwhile (without the caller asking for it)
            assert loading[job + 1].wait(timeout=10)
    assert all(t is not threading.main_thread() for t in threads)


def test_a_failing_load_raises_at_its_own_turn():
    def load(n: int) -> int:
        if n == 2:
            raise ValueError("job 2 is broken")
        return n

    seen = []
    with pytest.raises(ValueError, match="job 2 is broken"):
        for _job, result in prefetch(range(5), load):
            seen.append(result)
    assert seen == [0, 1]  # everything before the bad job was handed out first
    assert not _prefetch_threads()


def test_stopping_early_cancels_what_has_not_started():
    started = []
    release = threading.Event()

    def load(n: int) -> int:
        started.append(n)
        if n == 1:
            release.wait(timeout=10)
        return n

    results = prefetch(range(100), load, ahead=1)
    assert next(results) == (0, 0)
    release.set()
    results.close()  # the caller breaks out of its loop
    # job 2 was never submitted; job 1 was either cancelled before it started or waited for
    assert started in ([0], [0, 1])
    assert not _prefetch_threads()


def test_an_error_in_the_caller_stops_the_worker():
    def consume():
        for _ in prefetch(range(100), lambda n: n):
            raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError, match="the caller failed"):
        consume()
    assert not _prefetch_threads()


@pytest.mark.parametrize("ahead", [0, -1, 1.5, True])
def test_ahead_is_validated(ahead):
    with pytest.raises(ValueError, match="ahead"):
        list(prefetch(range(3), lambda n: n, ahead=ahead))
