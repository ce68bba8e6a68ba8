"""The "Errors" tab: evaluate a paired dataset, read what the numbers mean, explore its space (a projection to
hover, click and lasso, clusters sorted by error rate), triage its errors in a grid, open one in detail, tag them
(per visitor, in SQLite) and hand a pair to Explain. Layout and events; the views are in the modules beside it."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from alignment.analysis.prompts import TEMPLATES
from alignment.core.deployment import public_deployment
from alignment.core.errors import InputError
from alignment.core.hygiene import escape_markdown as esc
from alignment.store.tags import TAGS, error_key
from alignment.views.cluster_table import CLUSTER_COLUMNS
from ui.errors import explore
from ui.errors.correction import correction_html
from ui.errors.detail_pane import detail_pane
from ui.errors.inputs import Chosen, choose, server_datasets
from ui.errors.load import open_dataset
from ui.errors.session import Explorer, cleanup
from ui.errors.summary import METRIC_COLUMNS, metrics_table, summary_markdown
from ui.errors.tags import export_csv, import_csv, tag_database
from ui.errors.views import ERROR_COLUMNS, detail, error_at, error_list, nonblank_lines
from ui.hosting import stop_button, wire_stop
from ui.models import AppModels
from ui.visitors import visitor_of
from ui.widgets.error_grid import ErrorGrid
from ui.widgets.errors import refuse
from ui.widgets.hubness import CHOICES, HELP, NONE, method_of
from ui.widgets.projection import ProjectionExplorer

log = logging.getLogger("alignment.app")
UPLOAD_TYPES = [".csv", ".jsonl", ".zip", ".npz", ".safetensors", ".parquet"]
SCROLL_TO_DETAIL = "() => document.getElementById('error-detail')?.scrollIntoView({behavior: 'smooth'})"


@dataclass(frozen=True)
class ErrorsTab:
    """What app.py wires to the Explain tab: the session's dataset, the open error's number and 'explain →'."""

    state: gr.State
    number: gr.Textbox
    explain: gr.Button


def build_errors_tab(models: AppModels, *, visitor: gr.State, example: Path, concurrency_id: str) -> ErrorsTab:
    """Lay out the tab inside the current gr.Blocks and wire its events (API names: evaluate, errors, error_detail,
    tag_error, export_tags, import_tags, figure). `visitor` is the page's VisitorBox state: it owns the tags."""
    database = tag_database(models.root)
    datasets = server_datasets()
    public = public_deployment()

    # ------------------------------------------------------------------------ layout
    with gr.Row(elem_classes="stack-narrow"):
        upload = gr.File(
            label="Paired dataset: manifest, zip (a dataset with its media, or parquet shards), or embeddings",
            file_types=UPLOAD_TYPES,
            height=140,
        )
        with gr.Column():
            use_example = gr.Checkbox(
                value=True, label="Use the bundled example (assets/paired.csv) when nothing is uploaded"
            )
            server = gr.Dropdown(
                [("none (the upload or the example)", ""), *[(name, name) for name in datasets]],
                value="",
                label="Or a dataset on this server",
                visible=bool(datasets),
                info="the folder the operator set as ALIGN_DATASETS",
            )
            on_error = gr.Radio(
                ["skip", "stop"],
                value="skip",
                label="Bad rows",
                info="skip: report and go on · stop: refuse the dataset",
            )
            hubness = gr.Dropdown(
                list(CHOICES),
                value=NONE,
                label="Hubness correction (also rank every direction after it)",
                info=HELP + " QB-Norm's queries: the bundled caption corpus (datasets with a text tower).",
            )
        with gr.Accordion("Zero-shot prompt templates ({} = the label)", open=False):
            image_templates = gr.Textbox("\n".join(TEMPLATES["image"]), lines=2, label="Images")
            audio_templates = gr.Textbox("\n".join(TEMPLATES["audio"]), lines=2, label="Audio")
    with gr.Row():
        run_button = gr.Button("Evaluate", variant="primary")
        stop = stop_button(elem_id="errors-stop")
    summary = gr.Markdown(elem_id="errors-summary")
    hub_fix = gr.HTML(elem_id="errors-hubness")
    with gr.Accordion("Metrics per direction and figures", open=True):
        metrics = gr.Dataframe(label="Retrieval metrics per direction", headers=METRIC_COLUMNS, interactive=False)
        with gr.Row(equal_height=False, elem_classes="stack-narrow"):
            chart_name = gr.Dropdown(["Retrieval"], value="Retrieval", label="Figure", scale=0, min_width=220)
            chart = gr.Plot(label="Evaluation figure")
    with gr.Row(equal_height=True, elem_classes="stack-narrow"):
        space = gr.Dropdown([], label="Space", scale=0, min_width=160, visible=False)
        layout_note = gr.Markdown(elem_id="errors-layout-note")
    projection = ProjectionExplorer(elem_id="errors-projection", height=520)
    clusters = gr.Dataframe(
        headers=CLUSTER_COLUMNS,
        label="Where the model fails: clusters, worst error rate first (click a row to list its errors below)",
        interactive=False,
        max_height=300,
        elem_id="errors-clusters",
    )
    grid = ErrorGrid(elem_id="errors-grid", height=560)
    with gr.Row(equal_height=False, elem_classes="stack-narrow"):
        with gr.Column(min_width=240):
            export_button = gr.Button("Export my tags (CSV)")
            exported = gr.File(label="Tags CSV", height=60, visible=False, elem_id="errors-tags-export")
        with gr.Column(min_width=240):
            to_import = gr.File(label="Import a tags CSV (someone's export)", file_types=[".csv"], height=130)
            imported = gr.Markdown()
    pane = detail_pane()
    number, tag, note, save_button, saved = pane.number, pane.tag, pane.note, pane.save, pane.saved
    with gr.Accordion("metrics.json (as the CLI writes it)", open=False):
        numbers = gr.JSON()
    with gr.Group(visible=False):  # the /errors API: filter and sort the list without the page's grid
        api_direction = gr.Textbox("all", label="direction")
        api_search = gr.Textbox("", label="search ids")
        api_tag = gr.Textbox("any", label="tag (any, untagged or a tag)")
        api_sort = gr.Textbox("largest margin first", label="sort")
        api_button = gr.Button("list errors")
        api_table = gr.Dataframe(headers=ERROR_COLUMNS, label="errors")
        api_count = gr.Markdown()
    state = gr.State(None, time_to_live=models.hosting.session_ttl, delete_callback=cleanup)

    # ------------------------------------------------------------------------ handlers
    def run(
        who: object,
        upload: str | None,
        use_example: bool,
        on_error: str,
        image_templates: str,
        audio_templates: str,
        server_choice: str | None,
        hubness_choice: str,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple:
        try:
            method = method_of(hubness_choice or NONE)
        except ValueError as exc:
            raise refuse(str(exc), title="The evaluation did not run") from None
        try:
            chosen = choose(upload, use_example, server_choice, example=example, datasets=datasets)
        except InputError as exc:
            raise refuse(str(exc), title="The evaluation did not run") from None
        if chosen is None:
            raise refuse(
                "Upload a paired dataset (.csv, .jsonl, .zip) or embeddings (.npz, .safetensors, a zip of parquet "
                "shards), or tick 'use the bundled example'."
            )
        try:
            return evaluate_chosen(chosen, who, on_error, method, image_templates, audio_templates, request, progress)
        finally:
            if chosen.temporary is not None:
                shutil.rmtree(chosen.temporary, ignore_errors=True)

    def evaluate_chosen(
        chosen: Chosen,
        who: object,
        on_error: str,
        hubness: str,
        image_templates: str,
        audio_templates: str,
        request: gr.Request,
        progress: gr.Progress,
    ) -> tuple:
        started = time.perf_counter()
        templates = {
            "image": nonblank_lines(image_templates) or TEMPLATES["image"],
            "audio": nonblank_lines(audio_templates) or TEMPLATES["audio"],
        }
        models.settle(progress)  # the imports below (torch) must not race the background load's
        from alignment.views.report_figures import evaluation_figures

        visitor = visitor_of(who, request)
        try:
            with models.gate.run(visitor, "this evaluation"):  # type: ignore[arg-type]
                explorer = open_dataset(
                    models,
                    database,
                    chosen,
                    visitor=visitor,  # type: ignore[arg-type]
                    templates=templates,
                    on_error=on_error,
                    hubness=hubness,
                    public=public,
                    report=lambda f, m: progress(f, desc=m),
                )
        except (InputError, ValueError, OSError) as exc:
            hint = (
                " A manifest uploaded alone has no media beside it: upload a .zip holding the manifest and its files."
                if chosen.path.suffix.lower() in (".csv", ".jsonl") and not chosen.example
                else ""
            )
            raise refuse(f"{exc}{hint}", title="The evaluation did not run") from None
        evaluation, first = explorer.evaluation, explorer.spaces[0]
        charts = evaluation_figures(evaluation)
        log.info(
            "Evaluated %s rows, %s errors in %.1f s",
            sum(len(e) for e in evaluation.spaces.values()),
            len(evaluation.errors),
            time.perf_counter() - started,
        )
        return (
            explorer,
            summary_markdown(explorer),
            correction_html(explorer),
            metrics_table(evaluation),
            gr.update(choices=list(charts), value="Retrieval"),
            charts["Retrieval"],
            evaluation.to_json(),
            gr.update(choices=explorer.spaces, value=first, visible=len(explorer.spaces) > 1),
            layout_line(explorer, first),
            show_projection(explorer, first),
            explore.cluster_table(explorer, first),
            grid.show(
                evaluation,
                item=explorer.media,
                tagger=explorer.tagger,
                clusters=explorer.clusters,
                embed_query=explorer.embed_query,
            ),
        )

    def layout_line(explorer: Explorer, name: str) -> str:
        layout = explorer.layouts[name]
        data = explorer.evaluation.spaces[name]
        line = f"**{esc(name)} space**: {len(data):,} points, {layout.title}."
        if name not in explorer.refined:
            line += " UMAP and clusters follow (computed once per dataset, then cached)."
        elif name in explorer.clusters:
            c = explorer.clusters[name]
            line += f" {c.count} clusters (HDBSCAN{', fitted on a sample' if c.sampled else ''})."
        return line

    def show_projection(explorer: Explorer, name: str) -> str:
        return projection.show(
            explorer.points(name),
            embeddings=explorer.evaluation.spaces[name].embeddings,
            item=explorer.media,
            tagger=explorer.tagger,
            colour_by="outcome",
        )

    def refine(explorer: Explorer | None, name: str, grid_value: str) -> tuple:
        """The UMAP layout and clusters of the shown space (cached per dataset), after the first drawing."""
        if explorer is None or name not in explorer.layouts:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        had_clusters = name in explorer.clusters
        if not explore.refine(explorer, name):
            return layout_line(explorer, name), gr.skip(), gr.skip(), gr.skip()
        table = grid_value
        if not had_clusters and name in explorer.clusters:
            table = grid.refreshed(grid_value, evaluation=explorer.evaluation, clusters=explorer.clusters)
        return (
            layout_line(explorer, name),
            show_projection(explorer, name),
            explore.cluster_table(explorer, name),
            table,
        )

    def switch_space(explorer: Explorer | None, name: str) -> tuple:
        if explorer is None or name not in explorer.spaces:
            raise refuse("Evaluate a dataset first.")
        if name not in explorer.layouts:
            explore.first_layout(explorer, name)
        return layout_line(explorer, name), show_projection(explorer, name), explore.cluster_table(explorer, name)

    def chart_of(explorer: Explorer | None, name: str) -> object:
        from alignment.views.report_figures import evaluation_figures

        if explorer is None:
            raise refuse("Evaluate a dataset first.")
        charts = evaluation_figures(explorer.evaluation)
        if name not in charts:
            raise refuse(f"No figure {name!r}: choose one of {', '.join(charts)}.")
        return charts[name]

    def error_detail(explorer: Explorer | None, number: str) -> tuple:
        explorer, error = error_at(explorer, number)
        return detail(explorer, int(str(number).strip()))

    def open_worst(explorer: Explorer | None) -> tuple:
        """The error the grid lists first (the largest margin), opened at once after an evaluation."""
        if explorer is None or not explorer.evaluation.errors:
            return (gr.skip(),) * (1 + len(detail_outputs))
        e = max(range(len(explorer.evaluation.errors)), key=lambda i: (explorer.evaluation.errors[i].margin, -i))
        return str(e), *detail(explorer, e)

    def open_from_grid(explorer: Explorer | None, evt: gr.EventData) -> tuple:
        _, e = grid.opened(evt)
        explorer, _ = error_at(explorer, e)
        return str(e), *detail(explorer, e)

    def open_from_point(explorer: Explorer | None, evt: gr.EventData) -> tuple:
        points, row = projection.opened(evt)
        if explorer is None:
            raise refuse("Evaluate a dataset first.")
        found = explorer.errors_at(points.space, row)
        if not found:
            gr.Info(f"{points.ids[row]} takes part in no error: it and its partners rank each other first.")
            return (gr.skip(),) * (1 + len(detail_outputs))
        return str(found[0]), *detail(explorer, found[0])

    def lasso(grid_value: str, evt: gr.EventData) -> str:
        _, rows, keys = projection.selected(evt)
        return grid.scoped(grid_value, keys, label=f"the errors of the {len(rows):,} selected points")

    def cluster_click(
        explorer: Explorer | None, name: str, table: pd.DataFrame, grid_value: str, evt: gr.SelectData
    ) -> str:
        if explorer is None or name not in explorer.clusters:
            raise refuse("The clusters are not ready yet.")
        picked = int(table.iloc[evt.index[0]]["cluster"])
        keys = explore.cluster_keys(explorer, name, picked)
        return grid.scoped(grid_value, keys, label=f"cluster {explorer.clusters[name].name(picked)}")

    def save(explorer: Explorer | None, number: str, tag: str | None, note: str, grid_value: str) -> tuple:
        explorer, error = error_at(explorer, number)
        if not tag or not str(tag).strip():
            raise refuse(f"Choose a tag first ({', '.join(TAGS)}, or type your own).")
        try:
            entry = explorer.tags.set(error_key(error.direction, error.query), tag, note or "")
        except (ValueError, OSError) as exc:
            raise refuse(f"The tag was not saved: {exc}") from None
        message = f"Saved: error {int(number)} is **{esc(entry.tag)}**."
        return message, refreshed(grid_value)

    def refreshed(grid_value: str) -> str:
        try:
            return grid.refreshed(grid_value)
        except gr.Error:  # no grid drawn in this page (an API client), or its view expired: nothing to refresh
            return gr.skip()  # type: ignore[return-value]

    def export(explorer: Explorer | None) -> object:
        if explorer is None:
            raise refuse("Evaluate a dataset first.")
        try:
            path = export_csv(explorer.tags, name=explorer.name)
        except OSError as exc:
            raise refuse(f"The tags could not be written: {exc}") from None
        return gr.File(str(path), visible=True)

    def import_tags(explorer: Explorer | None, upload: str | None, grid_value: str) -> tuple:
        if explorer is None:
            raise refuse("Evaluate a dataset first: tags are imported into the dataset shown.")
        if not upload:
            raise refuse("Choose a tags CSV to import (one exported from this tab).")
        from alignment.core.names import display_name

        try:
            message = import_csv(explorer.tags, Path(upload), name=display_name(upload))
        except (ValueError, OSError) as exc:
            raise refuse(str(exc), title="Nothing was imported") from None
        return message, refreshed(grid_value)

    def errors_api(explorer: Explorer | None, direction: str, search: str, tag: str, sort: str) -> tuple:
        if explorer is None:
            raise refuse("Evaluate a dataset first.")
        return error_list(explorer, direction, search, tag, sort)

    # ------------------------------------------------------------------------ events
    detail_outputs = pane.outputs
    evaluated = run_button.click(
        run,
        [visitor, upload, use_example, on_error, image_templates, audio_templates, server, hubness],
        [state, summary, hub_fix, metrics, chart_name, chart, numbers, space, layout_note, projection.html, clusters]
        + [grid.html],
        api_name="evaluate",
        concurrency_limit=models.hosting.model_jobs,
        concurrency_id=concurrency_id,
    )
    wire_stop(stop, models.gate, visitor, cancels=[evaluated])
    explore_queue = {"concurrency_limit": 1, "concurrency_id": "explore", "api_visibility": "private"}
    refine_outputs = [layout_note, projection.html, clusters, grid.html]
    evaluated.success(refine, [state, space, grid.html], refine_outputs, show_progress="minimal", **explore_queue)  # type: ignore[arg-type]
    space.input(
        switch_space, [state, space], [layout_note, projection.html, clusters], api_visibility="private"
    ).success(
        refine,
        [state, space, grid.html],
        refine_outputs,
        show_progress="minimal",
        **explore_queue,  # type: ignore[arg-type]
    )
    evaluated.success(open_worst, [state], [number, *detail_outputs], api_visibility="private")
    chart_name.input(chart_of, [state, chart_name], [chart], api_name="figure")
    number.submit(error_detail, [state, number], detail_outputs, api_name="error_detail").then(
        None, js=SCROLL_TO_DETAIL
    )
    grid.html.open(open_from_grid, [state], [number, *detail_outputs], api_visibility="private").then(  # type: ignore[attr-defined]
        None, js=SCROLL_TO_DETAIL
    )
    projection.html.open(open_from_point, [state], [number, *detail_outputs], api_visibility="private").then(  # type: ignore[attr-defined]
        None, js=SCROLL_TO_DETAIL
    )
    projection.html.selection(lasso, [grid.html], [grid.html], api_visibility="private")  # type: ignore[attr-defined]
    clusters.select(cluster_click, [state, space, clusters, grid.html], [grid.html], api_visibility="private")
    save_button.click(save, [state, number, tag, note, grid.html], [saved, grid.html], api_name="tag_error")
    export_button.click(export, [state], [exported], api_name="export_tags")
    to_import.upload(import_tags, [state, to_import, grid.html], [imported, grid.html], api_name="import_tags")
    api_button.click(
        errors_api, [state, api_direction, api_search, api_tag, api_sort], [api_table, api_count], api_name="errors"
    )
    return ErrorsTab(state, number, pane.explain)
