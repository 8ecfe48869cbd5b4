"""Start-up: the app over the real registry, the server's options from the environment, a Space's prefetch, the
run store's Hub mirror (``MAE_RUNS_REPO``).

``python app.py`` (the repository root's entry point, which Hugging Face Spaces run) calls :func:`main`. The server
listens on 127.0.0.1:7860; ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` change that.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from experiments.mirror import StoreMirror, start_mirror
from experiments.store import resolve_root
from mae_core import ModelCache, download, load_model, select_device
from mae_core.checkpoints.registry import default_pair, registry
from mae_core.evaluation.preprocess import MAX_IMAGE_BYTES

from . import space
from .components import PANEL_CSS
from .handlers import EXAMPLES_DIR, MAEApp
from .layout import build_demo
from .user_errors import show_log_lines

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
CONCURRENCY = 2  # events computed at once; more would only split the same CPU cores
QUEUE_SIZE = 64  # waiting events beyond this are refused with a "queue full" message
MAX_UPLOAD_BYTES = MAX_IMAGE_BYTES
SPACE_PREFETCH = "vit-large-gan"  # fetched at start-up on a Space (the pixel model comes via preload_from_hub)


def default_app(run_root: str | os.PathLike | None = None) -> MAEApp:
    """The app over the real registry: models load on first use, on the best device, in float32."""
    device = select_device()

    def load(name: str):
        return load_model(name, device=device, dtype=torch.float32)

    def pair() -> tuple[str, str, str]:
        chosen = default_pair()
        return chosen.pixel, chosen.gan, chosen.note

    return MAEApp(
        ModelCache(load),
        choices=lambda: list(registry()),
        default_pair=pair,
        run_root=run_root,
        download=download,
    )


def launch_options() -> dict:
    """``demo.launch`` keywords: host and port from the environment, upload cap, the run store served for CSVs
    (not on a Space: its visitors' runs are private, their CSVs go out as copies) and the example images (a link's
    example is set as the Compare image wherever the server was started from)."""
    served = [str(EXAMPLES_DIR)] if space.on_space() else [str(resolve_root().resolve()), str(EXAMPLES_DIR)]
    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST,
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT),
        "max_file_size": MAX_UPLOAD_BYTES,
        "allowed_paths": served,
        "css": PANEL_CSS,
    }


def start_space_prefetch(app: MAEApp, download: Callable[[str], object]) -> space.Prefetch | None:
    """On a Hugging Face Space, fetch the GAN checkpoint into the torch hub cache in the background and show how
    that goes in the page's status line. Elsewhere, nothing (downloads are the user's choice)."""
    if not space.on_space():
        return None

    def fetch() -> None:
        download(SPACE_PREFETCH)
        app.page_pair()  # the ViT-L pair may be complete now: the API defaults follow at once, before any page load

    # the GAN weights exist only as a URL, so preload_from_hub cannot fetch them at build time
    prefetch = space.start_prefetch(SPACE_PREFETCH, fetch)
    app.notes.append(prefetch.note)
    return prefetch


def start_store_mirror(app: MAEApp, *, api: object = None) -> StoreMirror | None:
    """With ``MAE_RUNS_REPO=ORG/NAME`` set, restore the app's run store from that Hub dataset repository (before the
    first page lists the runs) and commit it there in the background; the status line says how that stands.
    Without the variable, nothing. ``api``: a ``huggingface_hub.HfApi`` (default: the user's token and endpoint)."""
    mirror = start_mirror(resolve_root(app.run_root), api=api)
    if mirror is not None:
        app.notes.append(mirror.note)
    return mirror


def main() -> None:
    """Build the app over the real registry and serve it until interrupted."""
    show_log_lines()
    app = default_app()
    start_store_mirror(app)
    start_space_prefetch(app, download)
    demo = build_demo(app)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    demo.launch(**launch_options())
