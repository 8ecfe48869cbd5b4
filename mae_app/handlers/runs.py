"""Runs handlers: the run list, a page link's Runs view, and the analysis of the chosen runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import gradio as gr
import pandas as pd

from experiments.store import list_runs, load_runs
from experiments.study import analyse

from .. import formatting, inputs, links
from ..served_files import export_csv
from ..user_errors import log_refusal, message
from .base import AppState, session_key
from .study import study_plot


class RunsHandlers(AppState):
    """The Runs tab: which runs a page may see, what its link or first visit analyses, and Analyse."""

    def list_runs(self, request: gr.Request | None = None) -> tuple[pd.DataFrame, dict]:
        """The runs table (newest first) and the run picker's choices: the runs this page may see."""
        manifests = self.visibility.runs(reversed(list_runs(self.run_root)), session_key(request))
        ids = [m.run_id for m in manifests]
        # the newest run is picked for analysis
        return formatting.runs_table(manifests), gr.update(choices=ids, value=ids[:1])

    def runs_on_load(self, request: gr.Request | None = None) -> tuple:
        """A new page's Runs tab: the runs table, the picker (the runs the page's link names that the store holds,
        else the newest run), the metric, and the link's Runs view for :meth:`open_linked_runs`."""
        table, picker = self.list_runs(request)
        link = self.page_link(request)
        view = link.runs
        if link.open_tab == "runs" and not view.runs:  # the page opens on the Runs tab: analyse the preselected run
            view = dataclasses.replace(view, runs=tuple(picker["value"]))
        linked = [run for run in view.runs if run in picker["choices"]]
        return (
            table,
            gr.update(choices=picker["choices"], value=linked or picker["value"]),
            gr.update() if view.metric is None else gr.update(value=view.metric),
            view,
        )

    def open_linked_runs(self, view: links.RunsView | None, metric: str, request: gr.Request | None = None) -> tuple:
        """What a page's link asks of the Runs tab, done: the chosen runs analysed and the named image picked (its
        gallery follows). Returns :meth:`show_runs`'s outputs then :meth:`RunDrill.ranking`'s; nothing (skips)
        when the link names no runs."""
        if view is None or view.empty or not view.runs:
            return tuple(gr.skip() for _ in range(8))
        known = set(self.list_runs(request)[1]["choices"])
        found = [run for run in view.runs if run in known]
        missing = [run for run in view.runs if run not in known]
        if not found:
            gone = f"The link's runs are not in this store: {', '.join(missing)}."
            return (*(gr.skip() for _ in range(2)), gone, *(gr.skip() for _ in range(5)))
        summary, paired, note, plot, csv_path = self.show_runs(found, metric, request)
        if missing:
            note = f"Not in this store (left out): {', '.join(missing)}.\n\n{note}"
        ranking, ranking_note, picker = self.drill.ranking(found, metric, view.image, request)
        if view.image and view.image not in picker["choices"]:  # named, as the link's other unusable values are
            unknown = f"_Link: image {view.image!r} is not in these runs; the top-ranked one is shown._"
            ranking_note = f"{unknown}\n\n{ranking_note}".strip()
        return (summary, paired, note, plot, csv_path, ranking, ranking_note, picker)

    def runs_tab_opened(
        self,
        analysed: bool,
        run_ids: Sequence[str] | None,
        metric: str,
        image: str | None,
        request: gr.Request | None = None,
    ) -> tuple:
        """The Runs tab opened: the preselected runs analysed and their images ranked, the first time only (then,
        and on a page whose link opens the Runs tab, which :meth:`open_linked_runs` analyses: skips).
        :meth:`show_runs`'s outputs, :meth:`RunDrill.ranking`'s, then whether it analysed."""
        link = self.page_link(request)
        if analysed or not run_ids or link.runs.runs or link.open_tab == "runs":
            return tuple(gr.skip() for _ in range(9))
        try:
            analysed = self.show_runs(run_ids, metric, request)
            return (*analysed, *self.drill.ranking(run_ids, metric, image, request), True)
        except gr.Error as err:  # e.g. a run without rows: said in the note; Analyse stays at hand
            log_refusal("runs_tab_opened", err)
            return (gr.skip(), gr.skip(), message(err), *(gr.skip() for _ in range(5)), True)

    def show_runs(self, run_ids: Sequence[str] | None, metric: str, request: gr.Request | None = None) -> tuple:
        """Aggregated table, paired-difference table (or a note why there is none), plot, CSV of the chosen runs."""
        if not run_ids:
            raise gr.Error("Pick at least one run.")
        self.check_runs(run_ids, request)
        try:
            loaded = load_runs(list(run_ids), self.run_root)
            study = analyse(loaded, metric)  # as the CLI report: unique cells, only images measured everywhere
        except ValueError as err:
            raise inputs.user_error(err) from None
        notes = formatting.selection_notes(study.selection)
        if study.paired is None:
            notes = [f"No paired difference: {study.no_pair}", *notes]
        csv_path = export_csv(loaded, run_ids)
        plot = study_plot(study.frame, study.summary, metric, study.paired, study.no_pair)
        paired = study.paired
        table = formatting.rounded(paired) if paired is not None else formatting.empty_table(formatting.EMPTY_PAIRED)
        return formatting.rounded(study.summary), table, "\n\n".join(notes), plot, str(csv_path)
