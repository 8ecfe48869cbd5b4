"""Checkpoints handlers: the registry with each entry's status, and downloads of missing files."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from mae_core.checkpoints.registry import checkpoint_status, is_offline, registry

from .. import formatting, space
from .base import AppState


class CheckpointHandlers(AppState):
    """The Checkpoints tab: its table, picker, download button and note."""

    def checkpoints(self) -> tuple[pd.DataFrame, dict, dict, str]:
        """Registry table with each entry's status, the download picker and button, and a note.

        Offline (``HF_HUB_OFFLINE`` / ``MAE_OFFLINE``), the picker and button are hidden and the note says how to
        bring files in by hand."""
        rows, missing = [], []
        show_paths = not space.on_space()  # a Space's visitors see cache places, not the server's folders
        for entry in registry().values():
            status = checkpoint_status(entry)
            if status.state == "missing":
                missing.append(entry.name)
            rows.append(
                formatting.checkpoint_row(entry, status, loaded=entry.name in self.models, show_paths=show_paths)
            )
        offline = is_offline()
        can_download = bool(missing) and not offline and self.download is not None
        return (
            pd.DataFrame(rows),
            gr.update(choices=missing, value=missing[0] if missing else None, visible=can_download),
            gr.update(visible=can_download),
            space.for_visitor(formatting.checkpoints_note(missing, offline)),
        )

    def download_checkpoint(self, name: str | None) -> tuple[pd.DataFrame, dict, dict, str]:
        """Fetch one missing checkpoint into its cache, then the refreshed panel."""
        if not name:
            raise gr.Error("Choose a checkpoint to download.")
        if self.download is None:
            raise gr.Error("Downloads are not available in this app.")
        try:
            self.download(name)
        except (ValueError, OSError, RuntimeError) as err:  # offline, unknown name, network, checksum mismatch
            raise gr.Error(space.for_visitor(f"Could not download {name}: {err}"), title="Download failed") from None
        self.page_pair()  # the download may complete the default pair: the API defaults follow
        table, picker, button, note = self.checkpoints()
        return table, picker, button, f"Downloaded {name}. {note}"
