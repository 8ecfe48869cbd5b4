"""Long work (a sweep) in a background thread, reporting progress per batch and stoppable between batches.

Gradio cancels an event by cancelling its asyncio task; a function already running in a worker thread goes on
regardless. So the work runs in a thread of its own with a ``report(done, total)`` callback: the handler streams
each report to the page, and :meth:`Job.cancel` makes the next report raise :class:`Cancelled`, a
``KeyboardInterrupt``: the sweep treats it as an interruption (the run is marked ``interrupted``, its rows kept and
resumable) and stops at the end of the batch in flight.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

Result = TypeVar("Result")
Report = Callable[[int, int], None]


class Cancelled(KeyboardInterrupt):
    """Raised inside a job's ``report`` once the job was cancelled."""


@dataclass(frozen=True)
class Tick:
    """A progress report: ``done`` of ``total`` units of work (reconstructions)."""

    done: int
    total: int


_FINISHED = object()


class Job(Generic[Result]):
    """``work(report)`` running in a daemon thread; iterate :meth:`ticks`, then take :meth:`result`."""

    def __init__(self, work: Callable[[Report], Result], name: str = "job") -> None:
        self._work = work
        self._ticks: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._result: Result | None = None
        self._error: BaseException | None = None
        self.last = Tick(0, 0)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Job[Result]:
        self.thread.start()
        return self

    def _report(self, done: int, total: int) -> None:
        if self._stop.is_set():
            raise Cancelled("cancelled by the user")
        self._ticks.put(Tick(int(done), int(total)))

    def _run(self) -> None:
        try:
            self._result = self._work(self._report)
        except BaseException as err:  # handed to the caller by result(); a thread has no one else to tell
            self._error = err
        finally:
            self._ticks.put(_FINISHED)

    def ticks(self) -> Iterator[Tick]:
        """Progress reports until the work ends; reports that queued up meanwhile are merged into the latest."""
        finished = False
        while not finished:
            items = [self._ticks.get()]
            while not self._ticks.empty():
                items.append(self._ticks.get_nowait())
            finished = any(item is _FINISHED for item in items)
            reports = [item for item in items if item is not _FINISHED]
            if reports:
                self.last = reports[-1]
                yield reports[-1]

    def cancel(self) -> None:
        """Stop at the next report (the end of the batch in flight)."""
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the work to end; False on timeout."""
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def result(self) -> Result:
        """The work's return value, or its exception raised here; waits for the work to end."""
        self.thread.join()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
