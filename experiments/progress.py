"""The sweep's progress bar: a ``progress(done, total)`` callable drawing a tqdm bar with ETA on stderr."""

from __future__ import annotations

import sys

from tqdm import tqdm


class ProgressBar:
    """``bar(done, total)`` moves the bar to ``done`` of ``total`` cells (created at the first call, so a sweep that
    fails before its first batch draws nothing); ``close()`` ends it. ``enabled=False`` draws nothing at all."""

    def __init__(self, desc: str = "cells", *, enabled: bool = True) -> None:
        self.desc = desc
        self.enabled = enabled
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="cell", dynamic_ncols=True, file=sys.stderr)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
