"""The whole page: a title, the status line and the four tabs, wired to an :class:`MAEApp`'s handlers."""

from __future__ import annotations

import gradio as gr

from . import attention_view, space, uncertainty_view
from .api_defaults import PairDefaults
from .compare_page import ComparePage
from .handlers import MAEApp
from .tabs import checkpoints, compare, runs, sweep
from .user_errors import log_in_one_line

# served files (panels, CSVs, uploads) older than two hours are removed every hour
DELETE_CACHE = (3600, 7200)


def build_demo(app: MAEApp) -> gr.Blocks:
    """The UI: a status line, then the Compare, Sweep, Runs and Checkpoints tabs, wired to ``app``'s handlers."""
    gpu = space.gpu_handler()
    with gr.Blocks(title="MAE Inspect", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(
            "# MAE Inspect\nMask an image, then see what a pixel-loss and a GAN-loss Masked Autoencoder rebuild "
            "from exactly the same visible patches."
        )
        pair_note = gr.Markdown(elem_id="pair-note")
        a, b, _ = app.page_pair()  # the start-up pair: the page's first values and the API's defaults
        with gr.Tabs() as tabs:
            labels = (app.row_label(compare.ROWS[0], a), app.row_label(compare.ROWS[1], b))
            compare_tab = compare.build(app.checkpoint_choices(), list(app.examples.values()), (a, b), labels)
            sweep_tab = sweep.build()
            runs_tab = runs.build()
            checkpoints_tab = checkpoints.build()
        app.pair_listeners.append(PairDefaults(demo, (compare_tab.a, compare_tab.b)).update)
        linked = gr.State(False)  # the page's link set up a Compare: run it once the controls are set

        controls = [compare_tab.image, compare_tab.a, compare_tab.b, compare_tab.ratio, compare_tab.seed]
        page = ComparePage(app, gpu(app.compare))  # the Compare tab's own events
        demo.load(
            app.on_load,
            outputs=[*controls, compare_tab.crop, compare_tab.strategy, tabs, pair_note, linked],
            api_visibility="private",
        ).then(
            page.run_linked,
            [linked, *compare_tab.page_inputs],
            compare_tab.page_outputs,
            api_visibility="private",
        )
        demo.load(app.checkpoints, outputs=checkpoints_tab.outputs, api_visibility="private")
        runs_link = gr.State(None)  # the Runs view the page's link asks for
        demo.load(
            app.runs_on_load,
            outputs=[runs_tab.table, runs_tab.picked, runs_tab.metric, runs_link],
            api_visibility="private",
        ).then(
            app.open_linked_runs,
            [runs_link, runs_tab.metric],
            [*runs_tab.analysis, runs_tab.drill.ranking, runs_tab.drill.ranking_note, runs_tab.drill.image],
            api_visibility="private",
        )

        compare.wire(compare_tab, gpu(app.compare), page, app.new_seed)
        compare.wire_row_labels(compare_tab, app.row_label)
        view = attention_view.AttentionView(app.model)
        attention_view.wire(
            compare_tab.attention, view, compare_tab.square_inputs, compare_tab.keep_aspect, compare_tab.metrics, gpu
        )
        unsure = uncertainty_view.UncertaintyView(app.model)
        square, aspect = compare_tab.square_inputs, compare_tab.keep_aspect
        uncertainty_view.wire(compare_tab.uncertainty, unsure, square, aspect, compare_tab.metrics, gpu)
        sweep.wire(sweep_tab, compare_tab, runs_tab, gpu(app.sweep), app.cancel_sweep, app.list_runs)
        runs.wire(runs_tab, app.list_runs, app.show_runs, app.runs_tab_opened, app.drill, gpu)
        checkpoints.wire(checkpoints_tab, app.checkpoints, app.download_checkpoint)
    log_in_one_line(demo)
    return demo
