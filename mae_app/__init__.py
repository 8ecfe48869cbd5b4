"""MAE Inspect, the Gradio app: compare what a pixel-loss and a GAN-loss MAE rebuild from the same visible patches,
run small mask-ratio studies into the run store, browse past runs and manage checkpoints.

A thin wiring layer: every computation lives in ``mae_core`` and ``experiments``. Handlers are methods of
:class:`MAEApp` (``handlers``) and plain functions of their inputs, so tests call them without a browser; ``inputs``
turns UI values into engine arguments, ``formatting`` turns results into tables, ``tabs`` lays out one tab each and
:func:`build_demo` (``layout``) assembles them. ``launch`` starts the server; the repository's ``app.py`` calls it.
"""

from __future__ import annotations

import os

# before gradio is imported (every module here imports it): gradio reads the variable at import time.
# A user's explicit setting wins.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from .handlers import MAEApp
from .launch import default_app, launch_options, main, start_space_prefetch, start_store_mirror
from .layout import build_demo

__all__ = [
    "MAEApp",
    "build_demo",
    "default_app",
    "launch_options",
    "main",
    "start_space_prefetch",
    "start_store_mirror",
]
