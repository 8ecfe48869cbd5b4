"""The Runs tab: the run store's runs, the analysis of the chosen ones, and the drill-down into one image.

Drill-down: the images ranked by the paired difference (click a row, or pick one), a gallery of that image at every
mask strategy and ratio of its run with both checkpoints side by side and their per-patch difference, a seed picker,
the image's breakdown ratio at a threshold (the named ``/breakdown`` endpoint), and one cell replayed in full (the
named ``/replay`` endpoint; clicking a gallery picture fills it in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from mae_core.options import MASK_STRATEGIES, METRIC_NAMES

from .. import formatting
from ..breakdown_view import DEFAULT_THRESHOLD
from ..components import FOLLOW_LATEST, link_row, result_panel, wire_link
from ..drill import DIFFERENCE_LEGEND, RunDrill
from ..formatting import empty_table, metric_legend
from .compare import PANEL_LABELS, ROWS, panel_label


@dataclass(frozen=True)
class DrillSection:
    ranking: gr.Dataframe
    ranking_note: gr.Markdown
    image: gr.Dropdown
    seed: gr.Dropdown
    gallery: gr.Gallery
    cells: gr.Dataframe  # each gallery cell's metrics
    note: gr.Markdown
    gallery_cells: gr.State  # per gallery picture: (run_id, image, strategy, ratio, seed), for a click to replay
    threshold: gr.Textbox  # the breakdown threshold, e.g. psnr<20
    breakdown: gr.Dataframe  # the image's breakdown ratio per checkpoint and b - a
    breakdown_note: gr.Markdown
    api_runs: gr.Dropdown  # never shown: /breakdown's run ids (any, checked by the handler)
    api_image: gr.Textbox  # never shown: /breakdown's image
    api_breakdown: gr.Button  # never shown: /breakdown raises its errors to the caller; the page's go to the note


@dataclass(frozen=True)
class ReplaySection:
    run_id: gr.Textbox
    image: gr.Textbox
    ratio: gr.Number
    seed: gr.Number
    strategy: gr.Dropdown  # the mask strategy (/replay's ``mask``)
    run: gr.Button
    panels: tuple[gr.Image, ...]  # 5 per checkpoint, the run's first checkpoint first
    metrics: gr.Dataframe
    note: gr.Markdown
    section: gr.Accordion  # collapsed until a gallery picture is replayed into it

    @property
    def inputs(self) -> list:
        return [self.run_id, self.image, self.ratio, self.seed, self.strategy]

    @property
    def outputs(self) -> list:
        return [*self.panels, self.metrics, self.note]


@dataclass(frozen=True)
class RunsTab:
    tab: gr.Tab
    analysed: gr.State  # whether opening the tab analysed the preselected runs already (once per page)
    refresh: gr.Button
    table: gr.Dataframe
    picked: gr.Dropdown
    metric: gr.Dropdown
    show: gr.Button
    summary: gr.Dataframe
    paired: gr.Dataframe
    note: gr.Markdown
    plot: gr.Plot
    csv: gr.File
    drill: DrillSection
    replay: ReplaySection
    copy_link: gr.Button
    link: gr.Textbox

    @property
    def analysis(self) -> list:
        """What :meth:`MAEApp.show_runs` fills in, in its order."""
        return [self.summary, self.paired, self.note, self.plot, self.csv]


def build() -> RunsTab:
    with gr.Tab("Runs", id="runs") as tab:
        refresh = gr.Button("Refresh")
        table = gr.Dataframe(
            empty_table(formatting.EMPTY_RUNS), label="Runs in the store", interactive=False, elem_id="runs-table"
        )
        with gr.Row():
            picked = gr.Dropdown(multiselect=True, label="Runs to analyse", scale=3, elem_id="runs-picked")
            metric = gr.Dropdown(list(METRIC_NAMES), value="loss", label="Metric", scale=1, elem_id="runs-metric")
            show = gr.Button("Analyse", variant="primary", scale=1, elem_id="runs-analyse")
        summary = gr.Dataframe(
            empty_table(formatting.EMPTY_ANALYSIS), label="Aggregated", interactive=False, elem_id="runs-summary"
        )
        gr.Markdown(metric_legend(), elem_id="runs-metric-legend")
        paired = gr.Dataframe(
            empty_table(formatting.EMPTY_ANALYSIS),
            label="Paired difference b - a over identical masks (b: the GAN-loss checkpoint, a: the pixel one)",
            interactive=False,
            elem_id="runs-paired",
        )
        note = gr.Markdown()
        plot = gr.Plot(label="Metric vs mask ratio (hover for the numbers)", elem_id="runs-plot")
        csv = gr.File(label="CSV of the chosen runs")
        drill = _drill_section()
        replay = _replay_section()
        copy_link, link = link_row("runs")
        analysed = gr.State(False)  # inside the tab: a child of the Tabs itself would be taken for a tab
    return RunsTab(
        tab,
        analysed,
        refresh,
        table,
        picked,
        metric,
        show,
        summary,
        paired,
        note,
        plot,
        csv,
        drill,
        replay,
        copy_link,
        link,
    )


def _drill_section() -> DrillSection:
    gr.Markdown("### One image\nWhich images drive the gap, and what they look like at every ratio of their run.")
    ranking = gr.Dataframe(
        empty_table(formatting.EMPTY_RANKING),
        label="Images ranked by the paired difference b - a (largest gaps first): click a row to open it",
        interactive=False,
        elem_id="image-ranking",
    )
    ranking_note = gr.Markdown(elem_id="ranking-note")
    with gr.Row():
        image = gr.Dropdown(label="Image", scale=3, elem_id="drill-image")
        seed = gr.Dropdown(label="Seed (the mask)", scale=1, elem_id="drill-seed")
    gallery = gr.Gallery(
        label="Per ratio: the masked input, each checkpoint's reconstruction (same mask) and, for two checkpoints, "
        f"b - a of their per-patch squared error ({DIFFERENCE_LEGEND}); click one to replay it",
        columns=3,
        format="png",
        object_fit="contain",
        height="auto",
        elem_id="drill-gallery",
    )
    cells = gr.Dataframe(
        empty_table(formatting.EMPTY_CELLS),
        label="Each cell's metrics, recomputed (the run's values as csv_*)",
        elem_id="drill-metrics",
    )
    note = gr.Markdown(elem_id="drill-note")
    threshold = gr.Textbox(
        DEFAULT_THRESHOLD,
        label="Breakdown threshold (METRIC<VALUE or METRIC>VALUE, e.g. psnr<20 or lpips>0.4; Enter to apply)",
        elem_id="breakdown-threshold",
    )
    breakdown = gr.Dataframe(
        empty_table(formatting.EMPTY_BREAKDOWN),
        label="Breakdown ratio of this image: the smallest mask ratio where the metric crosses the threshold",
        interactive=False,
        elem_id="drill-breakdown",
    )
    breakdown_note = gr.Markdown(elem_id="breakdown-note")
    api_runs = gr.Dropdown(multiselect=True, allow_custom_value=True, label="run ids", visible=False)
    api_image = gr.Textbox(label="image", visible=False)
    api_breakdown = gr.Button("Breakdown", visible=False)
    return DrillSection(
        ranking,
        ranking_note,
        image,
        seed,
        gallery,
        cells,
        note,
        gr.State([]),
        threshold,
        breakdown,
        breakdown_note,
        api_runs,
        api_image,
        api_breakdown,
    )


# the replay section brought into view (runs before the click's `_opened` opens it; it opens in place)
SCROLL_TO_REPLAY_JS = """() => {
    const section = document.getElementById("replay-section");
    if (section) { section.scrollIntoView({behavior: "smooth", block: "start"}); }
}"""


def _opened() -> dict:
    return gr.update(open=True)


def _replay_section() -> ReplaySection:
    with gr.Accordion("Replay one row of a run", open=False, elem_id="replay-section") as section:
        with gr.Row():
            run_id = gr.Textbox(label="Run id", elem_id="replay-run")
            image = gr.Textbox(label="Image (its name in the run, or its file name)", elem_id="replay-image")
            ratio = gr.Number(0.75, label="Mask ratio", minimum=0.01, maximum=0.99, elem_id="replay-ratio")
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="replay-seed")
            strategy = gr.Dropdown(list(MASK_STRATEGIES), value="random", label="Mask strategy", elem_id="replay-mask")
            run = gr.Button("Replay", variant="primary", elem_id="replay-run-button")
        panels: list[gr.Image] = []
        for row in ROWS:
            with gr.Row(equal_height=True):
                panels += [
                    result_panel(panel_label(label, row), f"replay-{row}-{i}") for i, label in enumerate(PANEL_LABELS)
                ]
        metrics = gr.Dataframe(
            empty_table(formatting.EMPTY_REPLAY),
            label="Recomputed metrics and the run's (csv_*)",
            elem_id="replay-metrics",
        )
        note = gr.Markdown(label="note", elem_id="replay-note")
    return ReplaySection(run_id, image, ratio, seed, strategy, run, tuple(panels), metrics, note, section)


def wire(
    tab: RunsTab,
    list_runs: Callable,
    show_runs: Callable,
    tab_opened: Callable,
    drill: RunDrill,
    gpu: Callable,
) -> None:
    """Analyse fills the tables and plot, then ranks the images (opening the tab does so once for the preselected
    runs: ``tab_opened``); picking an image (a row click, the picker) fills the seed picker and shows its gallery;
    a gallery click opens the replay section, scrolls to it and replays that cell there. ``gpu`` wraps the
    handlers that run models (ZeroGPU on a Space)."""
    section, replay = tab.drill, tab.replay
    tab.refresh.click(list_runs, outputs=[tab.table, tab.picked], api_visibility="private")
    ranking_outputs = [section.ranking, section.ranking_note, section.image]
    tab.tab.select(
        tab_opened,
        [tab.analysed, tab.picked, tab.metric, section.image],
        [*tab.analysis, *ranking_outputs, tab.analysed],
        api_visibility="private",
    )
    breakdown_inputs = [tab.picked, section.image, section.threshold]
    breakdown_outputs = [section.breakdown, section.breakdown_note]
    tab.show.click(show_runs, [tab.picked, tab.metric], tab.analysis, api_visibility="private").then(
        drill.ranking,
        [tab.picked, tab.metric, section.image],
        [section.ranking, section.ranking_note, section.image],
        api_visibility="private",
    ).then(drill.show_breakdown, breakdown_inputs, breakdown_outputs, api_visibility="private")
    section.ranking.select(drill.pick_row, [section.ranking], [section.image], api_visibility="private")
    gallery_inputs = [tab.picked, section.image, section.seed]
    gallery_outputs = [section.gallery, section.cells, section.note, section.gallery_cells]
    section.image.change(
        drill.seed_choices, [tab.picked, section.image], [section.seed], api_visibility="private"
    ).then(drill.gallery, gallery_inputs, gallery_outputs, api_visibility="private")
    section.seed.input(drill.gallery, gallery_inputs, gallery_outputs, api_visibility="private", **FOLLOW_LATEST)
    # the breakdown follows the image (a pick, a row click, a link, Analyse's ranking) and the threshold box
    section.image.change(drill.show_breakdown, breakdown_inputs, breakdown_outputs, api_visibility="private")
    section.threshold.submit(
        drill.show_breakdown, breakdown_inputs, breakdown_outputs, api_visibility="private", **FOLLOW_LATEST
    )
    section.api_breakdown.click(
        drill.breakdown,
        [section.api_runs, section.api_image, section.threshold],
        breakdown_outputs,
        api_name="breakdown",
    )
    # a picture clicked: its cell in the replay controls, the replay section opened and scrolled to, then replayed
    section.gallery.select(drill.pick_cell, [section.gallery_cells], replay.inputs, api_visibility="private").then(
        _opened, None, [replay.section], js=SCROLL_TO_REPLAY_JS, api_visibility="private"
    ).then(drill.replay_cell, replay.inputs, replay.outputs, api_visibility="private")
    replay.run.click(drill.replay_cell, replay.inputs, replay.outputs, api_name="replay")
    wire_link(tab.copy_link, tab.link, drill.runs_link, [tab.picked, tab.metric, section.image])
