"""The "Alignment errors" tab: evaluate a paired dataset, then walk through its errors and tag them by hand (layout
and events; what it shows is built in ui/error_views.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import gradio as gr
import pandas as pd

from alignment.analysis.prompts import TEMPLATES
from alignment.core.errors import InputError
from alignment.store.tags import TAGS, error_key
from ui.errors.views import (
    ERROR_COLUMNS,
    METRIC_COLUMNS,
    SORTS,
    Explorer,
    error_at,
    error_table,
    metrics_table,
    nonblank_lines,
    preview,
    projection_for,
    similarity_block,
    summary_markdown,
)
from ui.models import AppModels
from ui.widgets.errors import refuse


def build_errors_tab(
    models: AppModels,
    *,
    example: Path,
    concurrency_id: str,
) -> tuple[gr.State, gr.Textbox, gr.Button, gr.Dataframe]:
    """Lay out the tab inside the current gr.Blocks and wire its events (api names: evaluate, errors, ...).

    Returns (state, selected error number, "explain this pair" button, error list) for the app to wire to the
    Explain tab."""

    def run(
        upload: str | None,
        use_example: bool,
        on_error: str,
        image_templates: str,
        audio_templates: str,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple:
        path = Path(upload) if upload else example if use_example else None
        if path is None:
            raise refuse(
                "Upload a paired dataset (.csv, .jsonl, .zip) or embeddings (.npz, .safetensors), "
                "or tick 'use the bundled example'."
            )
        templates = {
            "image": nonblank_lines(image_templates) or TEMPLATES["image"],
            "audio": nonblank_lines(audio_templates) or TEMPLATES["audio"],
        }
        models.settle(progress)  # the imports below (torch) must not race the background load's
        from alignment.analysis.evaluate import evaluate  # numpy and scipy: only once a dataset is evaluated
        from alignment.models.sources import is_embeddings, read_dataset, read_embeddings
        from alignment.views.report_figures import evaluation_figures

        report = lambda f, m: progress(f, desc=m)  # noqa: E731

        def encoders_for(modalities: set[str]) -> tuple[object, dict]:
            return models.get(progress), models.describe()

        try:
            source = (
                read_embeddings(path)
                if is_embeddings(path)
                else read_dataset(
                    path,
                    encoders_for,  # type: ignore[arg-type]
                    limits=models.settings.limits,
                    on_error=on_error,
                    cache=models.cache,
                    progress=report,
                )
            )
            evaluation = evaluate(source.spaces, embed_text=source.embed_text, templates=templates)
        except (InputError, ValueError) as exc:
            hint = (
                " A manifest uploaded alone has no media beside it: upload a .zip holding the manifest and its files."
                if path.suffix.lower() in (".csv", ".jsonl") and upload
                else ""
            )
            raise refuse(f"{exc}{hint}", title="The evaluation did not run") from None
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        explorer = Explorer(evaluation, source, models.root / "tags" / f"{path.stem[:40]}-{digest}.json")
        table, note = error_table(explorer)
        first = next(iter(evaluation.directions))
        selected = str(int(table.iloc[0]["#"])) if len(table) else ""  # open the worst error at once
        charts = evaluation_figures(evaluation)
        return (
            explorer,
            summary_markdown(explorer),
            metrics_table(evaluation),
            table,
            note,
            gr.update(choices=["all", *evaluation.directions], value="all"),
            similarity_block(explorer, first),
            evaluation.to_json(),
            selected,
            gr.update(choices=list(charts), value="Retrieval"),
            charts["Retrieval"],
        )

    def chart(explorer: Explorer | None, name: str) -> object:
        from alignment.views.report_figures import evaluation_figures

        if explorer is None:
            raise refuse("Evaluate a dataset first.")
        charts = evaluation_figures(explorer.evaluation)
        if name not in charts:
            raise refuse(f"No figure {name!r}: choose one of {', '.join(charts)}.")
        return charts[name]

    def refilter(explorer: Explorer | None, direction: str, search: str, tag: str, sort: str) -> tuple:
        if explorer is None:
            raise refuse("Evaluate a dataset first.")
        table, note = error_table(explorer, direction, search, tag, sort)
        return table, note, similarity_block(explorer, direction)

    def pick(table: pd.DataFrame, evt: gr.SelectData) -> str:
        row = evt.row_value if evt.row_value is not None else table.iloc[evt.index[0]].tolist()
        return str(int(row[0]))

    def show(explorer: Explorer | None, number: str) -> tuple:
        if explorer is None:
            raise refuse("Evaluate a dataset first.")
        error = error_at(explorer, number)
        src = explorer.source
        data = explorer.evaluation.spaces[error.space]
        parts = []
        for role, row, score in (
            ("query", error.query_row, None),
            ("truth", error.truth_row, error.truth_score),
            ("top wrong match", error.top_row, error.top_score),
        ):
            modality, item_id = data.modality[row], data.ids[row]
            parts += preview(src.item(modality, item_id), item_id, modality, role, score)
        from alignment.analysis.evaluate import neighbours

        near = pd.DataFrame(
            [
                [i + 1, item, round(score, 3), "✓" if true else ""]
                for i, (item, score, true) in enumerate(neighbours(explorer.evaluation, error, k=10))
            ],
            columns=["rank", "item", "cosine", "true match"],
        )
        entry = explorer.tags.get(error_key(error.direction, error.query))
        head = (
            f"**Error {number}** · {error.direction} · truth ranked **{error.rank}**, lost by "
            f"**{error.margin:.3f}** to `{error.top}`"
        )
        return (
            head,
            *parts,
            near,
            projection_for(explorer, error),
            entry.tag if entry else None,
            entry.note if entry else "",
        )

    def save(
        explorer: Explorer | None,
        number: str,
        tag: str | None,
        note: str,
        direction: str,
        search: str,
        tag_filter: str,
        sort: str,
    ) -> tuple:
        if explorer is None:
            raise refuse("Evaluate a dataset first.")
        if not tag:
            raise refuse(f"Choose a tag first ({', '.join(TAGS)}).")
        error = error_at(explorer, number)
        try:
            explorer.tags.set(error_key(error.direction, error.query), tag, note or "")
        except (ValueError, OSError) as exc:
            raise refuse(f"The tag was not saved: {exc}") from None
        table, count = error_table(explorer, direction, search, tag_filter, sort)
        return f"Saved: error {number} is **{tag}**.", table, count

    def export(explorer: Explorer | None) -> str:
        if explorer is None:
            raise refuse("Evaluate a dataset first.")
        out = explorer.tags_path.with_suffix(".csv")
        out.write_text(explorer.tags.to_csv(), encoding="utf-8")
        return str(out)

    with gr.Row():
        upload = gr.File(
            label="Paired dataset: manifest (.csv/.jsonl), .zip with media, or embeddings (.npz/.safetensors)",
            file_types=[".csv", ".jsonl", ".zip", ".npz", ".safetensors"],
            height=140,
        )
        with gr.Column():
            use_example = gr.Checkbox(
                value=True, label="Use the bundled example (assets/paired.csv) when nothing is uploaded"
            )
            on_error = gr.Radio(
                ["skip", "stop"],
                value="skip",
                label="Bad rows",
                info="skip: report and go on · stop: refuse the dataset at the first bad row",
            )
        with gr.Accordion("Zero-shot prompt templates ({} = the label)", open=False):
            image_templates = gr.Textbox("\n".join(TEMPLATES["image"]), lines=2, label="Images")
            audio_templates = gr.Textbox("\n".join(TEMPLATES["audio"]), lines=2, label="Audio")
    run_button = gr.Button("Evaluate", variant="primary")
    summary = gr.Markdown()
    metrics = gr.Dataframe(label="Retrieval metrics per direction", headers=METRIC_COLUMNS, interactive=False)
    with gr.Row(equal_height=False):
        chart_name = gr.Dropdown(["Retrieval"], value="Retrieval", label="Figure", scale=0, min_width=220)
        chart_plot = gr.Plot(label="Evaluation figure")
    with gr.Row():
        direction = gr.Dropdown(["all"], value="all", label="Direction")
        search = gr.Textbox(label="Search ids", placeholder="part of a query, truth or match id")
        tag_filter = gr.Dropdown(["any", "untagged", *TAGS], value="any", label="Tag")
        sort = gr.Dropdown(list(SORTS), value="largest margin first", label="Sort")
    count = gr.Markdown()
    errors = gr.Dataframe(
        label="Alignment errors (click a row to open it, or its 'explain →' cell to explain its pair)",
        headers=ERROR_COLUMNS,
        interactive=False,
        max_height=420,
    )
    number = gr.Textbox(label="Selected error #", max_lines=1)
    head = gr.Markdown()
    with gr.Row(equal_height=False):
        panes = []
        for role in ("Query", "Truth", "Top wrong match"):
            with gr.Column(min_width=240):
                panes += [
                    gr.Markdown(f"**{role}**"),
                    gr.Image(label=role, visible=False, height=220),
                    gr.Audio(label=role, visible=False),
                ]
    with gr.Row(equal_height=False):
        near = gr.Dataframe(label="Nearest neighbours of the query", interactive=False)
        with gr.Column():
            tag = gr.Radio(list(TAGS), label="Tag this error")
            note = gr.Textbox(label="Note", lines=2)
            with gr.Row():
                save_button = gr.Button("Save tag", variant="primary")
                export_button = gr.Button("Export tags (CSV)")
            explain_button = gr.Button("Explain this pair (text vs image or sound) →")
            saved = gr.Markdown()
            exported = gr.File(label="Tags CSV", height=60)
    with gr.Row():
        projection = gr.Plot(label="Where the error sits")
        block = gr.Plot(label="Similarity block")
    with gr.Accordion("metrics.json (as the CLI writes it)", open=False):
        numbers = gr.JSON()
    state = gr.State(None, time_to_live=models.hosting.session_ttl)  # an idle session's evaluation is dropped

    filters = [direction, search, tag_filter, sort]
    run_button.click(
        run,
        [upload, use_example, on_error, image_templates, audio_templates],
        [state, summary, metrics, errors, count, direction, block, numbers, number, chart_name, chart_plot],
        api_name="evaluate",
        concurrency_limit=models.hosting.model_jobs,
        concurrency_id=concurrency_id,
    )
    chart_name.input(chart, [state, chart_name], [chart_plot], api_name="figure")
    gr.on(
        [direction.change, search.submit, tag_filter.change, sort.change],
        refilter,
        [state, *filters],
        [errors, count, block],
        api_name="errors",
        show_progress="hidden",
    )
    # a click in the table carries gr.SelectData, which only a browser sends: not documented as API
    errors.select(pick, [errors], [number], api_name="select_error", api_visibility="undocumented")
    number.change(show, [state, number], [head, *panes, near, projection, tag, note], api_name="error_detail")
    save_button.click(save, [state, number, tag, note, *filters], [saved, errors, count], api_name="tag_error")
    export_button.click(export, [state], [exported], api_name="export_tags")
    return state, number, explain_button, errors
