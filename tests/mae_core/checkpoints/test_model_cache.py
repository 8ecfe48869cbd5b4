"""The shared model cache: one load per name under concurrent requests, failed loads not remembered."""

from __future__ import annotations

import threading
import time

import pytest

from mae_core.checkpoints.model_cache import ModelCache


def test_model_cache_loads_each_name_once_under_concurrent_requests():
    calls: list[str] = []
    calls_lock = threading.Lock()

    def loader(name: str) -> object:
        with calls_lock:
            calls.append(name)
        time.sleep(0.05)  # a slow load, so the threads below really overlap
        return object()

    cache = ModelCache(loader)
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        results[i] = cache.get("a" if i % 2 else "b")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == ["a", "b"]
    assert len({id(results[i]) for i in range(1, 8, 2)}) == 1  # one shared "a"
    assert results[1] is not results[0]
    assert set(cache.loaded()) == {"a", "b"} and "a" in cache


def test_model_cache_does_not_remember_a_failed_load():
    attempts = []

    def loader(name: str) -> str:
        attempts.append(name)
        if len(attempts) == 1:
            raise OSError("network down")
        return f"model {name}"

    cache = ModelCache(loader)
    with pytest.raises(OSError):
        cache.get("x")
    assert cache.get("x") == "model x"
    assert len(attempts) == 2
    cache.clear()
    assert cache.loaded() == ()
