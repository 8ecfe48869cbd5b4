"""Background jobs: progress reports streamed to the caller, cancellation between reports, errors handed back."""

from __future__ import annotations

import threading

import pytest

from mae_app.background import Cancelled, Job, Tick


def test_ticks_stream_the_reports_then_the_result():
    def work(report):
        for done in range(4):
            report(done, 3)
        return "done"

    job = Job(work).start()
    ticks = list(job.ticks())
    assert ticks[-1] == Tick(3, 3) and [t.done for t in ticks] == sorted(t.done for t in ticks)
    assert job.result() == "done" and job.last == Tick(3, 3)


def test_cancel_raises_inside_the_next_report_and_the_caller_sees_it():
    first_report, release = threading.Event(), threading.Event()
    reports = []

    def work(report):
        for done in range(100):
            report(done, 100)
            reports.append(done)
            first_report.set()
            release.wait(10)
        return "never"

    job = Job(work).start()
    assert first_report.wait(10)
    job.cancel()
    release.set()
    assert job.wait(10) and job.cancelled
    with pytest.raises(Cancelled):
        job.result()
    assert reports == [0]  # the report after the cancel raised: no further step ran
    assert isinstance(Cancelled(), KeyboardInterrupt)  # what the sweep records as an interruption


def test_errors_of_the_work_are_raised_by_result():
    def work(report):
        raise ValueError("bad ratio")

    job = Job(work).start()
    assert list(job.ticks()) == []
    with pytest.raises(ValueError, match="bad ratio"):
        job.result()


def test_result_waits_for_the_work():
    release = threading.Event()
    job = Job(lambda report: release.wait(10)).start()
    threading.Timer(0.2, release.set).start()
    assert job.result() is True and not job.thread.is_alive()
