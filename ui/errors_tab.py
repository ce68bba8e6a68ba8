"""The "Alignment errors" tab: evaluate a paired dataset, then walk through its errors and tag them by hand."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from alignment import figures
from alignment.data import Item
from alignment.errors import InputError
from alignment.evaluate import ErrorRow, Evaluation, evaluate, neighbours
from alignment.metrics import TEMPLATES
from alignment.projection import project
from alignment.report_figures import evaluation_figures
from alignment.sources import Source, is_embeddings, read_dataset, read_embeddings
from alignment.tags import TAGS, TagStore, error_key
from ui.handoff import Pair, pair

ERROR_COLUMNS = [
    "#",
    "explain",  # a click on this cell sends the error's pair to the Explain tab (wired in app.py)
    "direction",
    "query",
    "truth",
    "truth score",
    "top wrong match",
    "top score",
    "rank of truth",
    "margin",
    "tag",
]
EXPLAIN_CELL = "explain →"
METRIC_COLUMNS = [
    "direction",
    "space",
    "queries",
    "R@1",
    "R@5",
    "R@10",
    "MRR",
    "median rank",
    "mean rank",
    "mAP@10",
    "1-to-1 accuracy",
    "R@1 without gap",
]
SORTS = {
    "largest margin first": ("margin", False),
    "worst rank first": ("rank of truth", False),
    "smallest margin first": ("margin", True),
    "dataset order": ("#", True),
}
MAX_ROWS = 500  # error rows sent to the browser at once; filters narrow the rest
MAX_PROJECTED = 1_500  # points per space in the projection (a seeded sample beyond that)
BLOCK = 24  # pairs in the sampled similarity block


@dataclass
class Explorer:
    """One evaluated dataset in a browser session: the numbers, the decoded items and where its tags live."""

    evaluation: Evaluation
    source: Source
    tags_path: Path
    projections: dict[str, tuple[np.ndarray, np.ndarray, str]] = field(
        default_factory=dict
    )  # space -> rows, xy, method

    @property
    def tags(self) -> TagStore:
        return TagStore(self.tags_path)  # read afresh: another tab or a restart may have written since


# ---------------------------------------------------------------------------- pure view helpers


def metrics_table(evaluation: Evaluation) -> pd.DataFrame:
    rows = []
    for name, d in evaluation.directions.items():
        m = d.metrics
        rows.append(
            [
                name,
                d.space,
                m.n_queries,
                m.r1,
                m.r5,
                m.r10,
                m.mrr,
                m.median_rank,
                m.mean_rank,
                m.map10,
                None if d.assignment is None else d.assignment.accuracy,
                d.metrics_without_gap.r1 if d.metrics_without_gap else None,
            ]
        )
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return frame.round(3)


def summary_markdown(explorer: Explorer) -> str:
    ev, info = explorer.evaluation, explorer.source.dataset
    items = ", ".join(f"{n} {m}" for m, n in info.get("items", {}).items())
    lines = [f"**{info.get('name', '')}**: {items}; {len(ev.errors)} errors over {len(ev.directions)} directions."]
    for p in ev.pairs.values():
        t = p.threshold
        lines.append(
            f"- **{p.name}** ({p.space} space): modality gap {p.gap:.3f}; best threshold {t.best_threshold:.3f} "
            f"(F1 {t.best_f1:.3f}, precision {t.best_precision:.3f}, recall {t.best_recall:.3f}"
            f"{'' if t.exact else ', sampled'})"
        )
    for name, d in ev.directions.items():
        hubs = ", ".join(
            f"{ev.row(d.space, int(d.gallery_rows[h]))[0]} ({c})"
            for h, c in zip(d.hubness.hubs[:3].tolist(), d.hubness.hub_counts[:3].tolist(), strict=True)
        )
        lines.append(f"- {name}: hubness skew {d.hubness.skewness:.2f}; top hubs {hubs}")
    for modality, z in ev.zero_shot.items():
        lines.append(
            f"- zero-shot {modality}: accuracy {z.accuracy:.3f} over {z.n_items} labelled items, "
            f"{len(z.classes)} classes"
        )
    if explorer.source.models.get("random_weights"):
        lines.append("\n> ⚠️ Random-weight models (tiny preset): these numbers only exercise the interface.")
    notes = [*ev.notes, *explorer.source.dataset.get("notes", [])]
    if notes:
        lines += ["", "**Notes**", *[f"- {n}" for n in notes]]
    if explorer.source.problems:
        lines += [
            "",
            f"**Skipped ({len(explorer.source.problems)})**",
            *[f"- {p}" for p in explorer.source.problems[:20]],
        ]
    return "\n".join(lines)


def error_table(
    explorer: Explorer, direction: str = "all", search: str = "", tag: str = "any", sort: str = "largest margin first"
) -> tuple[pd.DataFrame, str]:
    """The filtered, sorted error list (at most MAX_ROWS rows) and a line saying how many matched."""
    tags = {e.key: e.tag for e in explorer.tags.all()}
    needle = search.strip().lower()
    rows = []
    for n, e in enumerate(explorer.evaluation.errors):
        label = tags.get(error_key(e.direction, e.query), "")
        if direction not in ("all", e.direction) or (tag != "any" and label != (tag if tag != "untagged" else "")):
            continue
        if needle and needle not in f"{e.query} {e.truth} {e.top}".lower():
            continue
        rows.append(
            [n, EXPLAIN_CELL, e.direction, e.query, e.truth, e.truth_score, e.top, e.top_score, e.rank, e.margin, label]
        )
    frame = pd.DataFrame(rows, columns=ERROR_COLUMNS)
    column, ascending = SORTS.get(sort, SORTS["largest margin first"])
    frame = frame.sort_values(column, ascending=ascending, kind="stable").round(3)
    shown = min(len(frame), MAX_ROWS)
    note = f"{len(frame)} of {len(explorer.evaluation.errors)} errors match" + (
        f"; showing the first {shown} (filter to narrow)" if len(frame) > MAX_ROWS else ""
    )
    return frame.head(MAX_ROWS), note


def similarity_block(explorer: Explorer, direction: str) -> object:
    """A readable view of one direction at any N: the first BLOCK pairs' queries x their true gallery items."""
    ev = explorer.evaluation
    name = direction if direction in ev.directions else next(iter(ev.directions))
    d = ev.directions[name]
    data = ev.spaces[d.space]
    gallery_by_pair: dict[str, int] = {}
    for row in d.gallery_rows.tolist():
        gallery_by_pair.setdefault(data.pair[row], row)
    queries, gallery = [], []
    for row in d.query_rows.tolist():
        if data.pair[row] in gallery_by_pair and gallery_by_pair[data.pair[row]] not in gallery:
            queries.append(row)
            gallery.append(gallery_by_pair[data.pair[row]])
        if len(queries) == BLOCK:
            break
    if not queries:
        return figures.empty_figure(f"{name}: no query has a true match")
    matrix = data.embeddings[queries] @ data.embeddings[gallery].T  # (b, b), truth on the diagonal
    total = len(d.query_rows)
    return figures.heatmap(
        matrix,
        [data.ids[i] for i in queries],
        [data.ids[j] for j in gallery],
        title=f"{name}: {len(queries)} of {total} queries × their true match (diagonal)",
    )


# ---------------------------------------------------------------------------- previews


def preview(item: Item | None, item_id: str, modality: str, role: str, score: float | None) -> tuple:
    """(markdown, image, audio) updates showing one item; media come from the decoded items in memory."""
    heading = f"**{role}** · {modality} · `{item_id}`" + ("" if score is None else f" · cosine {score:.3f}")
    text = image = audio = None
    if item is None:
        text = "(precomputed embedding: no content to show)"
    elif modality == "text":
        text = str(item.payload)
    elif modality == "image":
        image = item.payload
    else:
        audio = (item.payload.sample_rate, item.payload.samples)  # type: ignore[union-attr]
    markdown = heading + ("" if text is None else f"\n\n> {text}")
    return (
        markdown,
        gr.update(value=image, visible=image is not None),
        gr.update(value=audio, visible=audio is not None),
    )


def projection_for(explorer: Explorer, error: ErrorRow) -> object:
    """The error's space projected to 2-D (cached per space), true pairs joined, the three items ringed."""
    data = explorer.evaluation.spaces[error.space]
    if error.space not in explorer.projections:
        rows = np.arange(len(data.ids))
        if len(rows) > MAX_PROJECTED:
            rows = np.sort(np.random.default_rng(0).choice(rows, MAX_PROJECTED, replace=False))
        projected = project(data.embeddings[rows])
        explorer.projections[error.space] = (rows, projected.coords, projected.method)
    rows, coords, method = explorer.projections[error.space]
    extra = [r for r in (error.query_row, error.truth_row, error.top_row) if r not in set(rows.tolist())]
    if extra:  # sampled away: place them by their nearest projected neighbour
        near = (data.embeddings[extra] @ data.embeddings[rows].T).argmax(axis=1)
        rows, coords = np.concatenate([rows, extra]), np.concatenate([coords, coords[near]])
    where = {int(r): i for i, r in enumerate(rows.tolist())}
    highlight = {"query": where[error.query_row], "truth": where[error.truth_row], "top wrong": where[error.top_row]}
    return figures.pair_projection(
        coords,
        [data.ids[r] for r in rows],
        [data.modality[r] for r in rows],
        [data.pair[r] for r in rows],
        highlight=highlight,
        title=f"{error.space} space ({method.upper()}, {len(rows)} points), true pairs joined",
    )


# ---------------------------------------------------------------------------- the tab


def build_errors_tab(
    *,
    tags_root: Path,
    encoders_for: Callable[[set[str]], tuple[object, dict]],
    cache: object,
    limits: object,
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
            raise gr.Error(
                "Upload a paired dataset (.csv, .jsonl, .zip) or embeddings (.npz, .safetensors), "
                "or tick 'use the bundled example'."
            )
        templates = {
            "image": _lines(image_templates) or TEMPLATES["image"],
            "audio": _lines(audio_templates) or TEMPLATES["audio"],
        }
        report = lambda f, m: progress(f, desc=m)  # noqa: E731
        try:
            source = (
                read_embeddings(path)
                if is_embeddings(path)
                else read_dataset(path, encoders_for, limits=limits, on_error=on_error, cache=cache, progress=report)
            )  # type: ignore[arg-type]
            evaluation = evaluate(source.spaces, embed_text=source.embed_text, templates=templates)
        except (InputError, ValueError) as exc:
            hint = (
                " A manifest uploaded alone has no media beside it: upload a .zip holding the manifest and its files."
                if path.suffix.lower() in (".csv", ".jsonl") and upload
                else ""
            )
            raise gr.Error(f"{exc}{hint}") from None
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        explorer = Explorer(evaluation, source, tags_root / f"{path.stem[:40]}-{digest}.json")
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
        if explorer is None:
            raise gr.Error("Evaluate a dataset first.")
        charts = evaluation_figures(explorer.evaluation)
        if name not in charts:
            raise gr.Error(f"No figure {name!r}: choose one of {', '.join(charts)}.")
        return charts[name]

    def refilter(explorer: Explorer | None, direction: str, search: str, tag: str, sort: str) -> tuple:
        if explorer is None:
            raise gr.Error("Evaluate a dataset first.")
        table, note = error_table(explorer, direction, search, tag, sort)
        return table, note, similarity_block(explorer, direction)

    def pick(table: pd.DataFrame, evt: gr.SelectData) -> str:
        row = evt.row_value if evt.row_value is not None else table.iloc[evt.index[0]].tolist()
        return str(int(row[0]))

    def show(explorer: Explorer | None, number: str) -> tuple:
        if explorer is None:
            raise gr.Error("Evaluate a dataset first.")
        error = _error(explorer, number)
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
            raise gr.Error("Evaluate a dataset first.")
        if not tag:
            raise gr.Error(f"Choose a tag first ({', '.join(TAGS)}).")
        error = _error(explorer, number)
        try:
            explorer.tags.set(error_key(error.direction, error.query), tag, note or "")
        except (ValueError, OSError) as exc:
            raise gr.Error(f"The tag was not saved: {exc}") from None
        table, count = error_table(explorer, direction, search, tag_filter, sort)
        return f"Saved: error {number} is **{tag}**.", table, count

    def export(explorer: Explorer | None) -> str:
        if explorer is None:
            raise gr.Error("Evaluate a dataset first.")
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
    state = gr.State(None)

    filters = [direction, search, tag_filter, sort]
    run_button.click(
        run,
        [upload, use_example, on_error, image_templates, audio_templates],
        [state, summary, metrics, errors, count, direction, block, numbers, number, chart_name, chart_plot],
        api_name="evaluate",
        concurrency_limit=1,
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


def explain_cell(table: pd.DataFrame, evt: gr.SelectData) -> str | None:
    """The error number of a click on an 'explain →' cell of the error list; None for a click anywhere else."""
    index = evt.index
    if not isinstance(index, list | tuple) or len(index) != 2 or index[1] != ERROR_COLUMNS.index("explain"):
        return None
    row = evt.row_value if evt.row_value is not None else table.iloc[index[0]].tolist()
    return str(int(row[0]))


def explain_pair(explorer: Explorer | None, number: str) -> Pair:
    """An error's text side and its other side (the truth when the query is the text, else the query), the media
    written to a temp file for the Explain tab."""
    if explorer is None:
        raise gr.Error("Evaluate a dataset and pick an error first.")
    error = _error(explorer, number)
    data = explorer.evaluation.spaces[error.space]
    sides = [(data.modality[r], data.ids[r]) for r in (error.query_row, error.truth_row)]
    text_side = next(((m, i) for m, i in sides if m == "text"), None)
    media_side = next(((m, i) for m, i in sides if m != "text"), None)
    text_item = explorer.source.item(*text_side) if text_side else None
    media_item = explorer.source.item(*media_side) if media_side else None
    if text_item is None or media_item is None:
        raise gr.Error(
            "This error has no text-and-media pair with content to explain (precomputed embeddings "
            "carry no images or sounds)."
        )
    return pair(text_item, media_item)


def _error(explorer: Explorer, number: str) -> ErrorRow:
    try:
        return explorer.evaluation.errors[int(number)]
    except (ValueError, IndexError):
        raise gr.Error(
            f"No error #{number!r}: pick a row of the error list (0 to {len(explorer.evaluation.errors) - 1})."
        ) from None


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())
