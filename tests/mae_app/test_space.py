"""What changes on a Hugging Face Space: detection, the background prefetch, ZeroGPU's decorator."""

from __future__ import annotations

import sys
import threading
import types

from mae_app import space


def test_on_space_reads_space_id():
    assert space.on_space({"SPACE_ID": "someone/mae"})
    assert not space.on_space({})
    assert not space.on_space({"SPACE_ID": ""})


def test_prefetch_reports_success_and_failure_as_notes():
    done = space.start_prefetch("vit-large-gan", lambda: None)
    done.thread.join(5)
    assert done.state == "done" and "cached" in done.note()

    def broken() -> None:
        raise ConnectionError("no route to host")

    failed = space.start_prefetch("vit-large-gan", broken)
    failed.thread.join(5)
    assert failed.state == "failed"
    assert "ConnectionError: no route to host" in failed.note()


def test_prefetch_does_not_block_the_caller():
    release = threading.Event()
    prefetch = space.start_prefetch("slow", release.wait)
    assert prefetch.state == "running" and "background" in prefetch.note()
    release.set()
    prefetch.thread.join(5)
    assert prefetch.state == "done"


def test_gpu_handler_is_the_identity_without_spaces(monkeypatch):
    monkeypatch.setattr(space, "zerogpu_available", lambda: False)

    def handler(x: int) -> int:
        return x + 1

    assert space.gpu_handler()(handler) is handler


def test_gpu_handler_uses_spaces_gpu_where_zerogpu_is_importable(monkeypatch):
    decorated = []

    def fake_gpu(duration: int):
        def wrap(fn):
            decorated.append((fn, duration))
            return fn

        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=fake_gpu))
    monkeypatch.setattr(space, "zerogpu_available", lambda: True)

    def handler() -> None:
        return None

    space.gpu_handler(duration=90)(handler)
    assert decorated == [(handler, 90)]


def test_visitors_of_a_space_read_no_server_path_or_command(caplog):
    note = (
        "LPIPS needs AlexNet's weights alexnet-owt-7be5be79.pth in /root/.cache/torch/hub/checkpoints (absent); "
        "fetch them with `python -m mae_core download lpips` where there is network, or download "
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth into that folder"
    )
    assert space.for_visitor(note, {}) == note  # locally unchanged
    with caplog.at_level("INFO", logger="mae_app"):
        shown = space.for_visitor(note, {"SPACE_ID": "someone/mae"})
    assert "/root" not in shown and "python -m" not in shown
    assert "(a path on the server)" in shown and "(a command on the server)" in shown
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in shown  # a public address stays
    assert note in caplog.text  # the whole text is in the server's log
    assert space.for_visitor("mask ratio 0.5, seed 3/4", {"SPACE_ID": "x/y"}) == "mask ratio 0.5, seed 3/4"
