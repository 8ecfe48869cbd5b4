"""Helpers for the app's tests: two tiny random checkpoints, an app over them, the app served on localhost."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr

from mae_app import MAEApp, build_demo, launch_options
from mae_app.launch import CONCURRENCY, QUEUE_SIZE
from mae_core import CheckpointNotFoundError, load_model, save_checkpoint
from mae_core.checkpoints.model_cache import ModelCache
from tests.conftest import make_model

NAMES = ("tiny-a", "tiny-b")


def save_tiny_checkpoints(folder: Path) -> dict[str, Path]:
    """Two different random tiny models (32 px, 8 px patches: a 4x4 grid) saved as project checkpoints."""
    return {
        name: save_checkpoint(make_model(seed=i), folder / f"{name}.safetensors", loss_type=loss_type)
        for i, (name, loss_type) in enumerate(zip(NAMES, ("pixel", "gan")))
    }


def make_app(root: Path, checkpoints: dict[str, Path], download=None) -> MAEApp:
    """The app over ``checkpoints`` (name -> file), its run store at ``root``."""

    def load(name: str):
        if name not in checkpoints:
            raise CheckpointNotFoundError(f"unknown checkpoint {name!r}; known: {', '.join(checkpoints)}")
        return load_model(checkpoints[name])

    return MAEApp(
        ModelCache(load),
        choices=lambda: list(checkpoints),
        default_pair=lambda: (*NAMES, "tiny test pair"),
        run_root=root,
        download=download,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/gradio_api/info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app at {url} did not answer /gradio_api/info within {timeout} s")
        time.sleep(0.2)


@contextmanager
def serve(app: MAEApp) -> Iterator[tuple[gr.Blocks, str]]:
    """The app as ``python app.py`` serves it (same queue and upload settings), on a free local port."""
    demo = build_demo(app)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    options = {**launch_options(), "server_name": "127.0.0.1", "server_port": free_port()}
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **options)
    try:
        wait_until_up(url)
        yield demo, url
    finally:
        demo.close()


def run_to_end(handler: Callable[..., Iterator[tuple]], *args, **kwargs) -> tuple[tuple, list[str]]:
    """A streaming handler's final outputs, and the progress notes (last output) it yielded before them."""
    *steps, final = list(handler(*args, **kwargs))
    return final, [step[-1] for step in steps]
