"""What the "Alignment errors" tab shows for an evaluated dataset: tables, previews and figures, and the pair an
error hands to the Explain tab. Pure view helpers; the layout and its events are in ui/errors_tab.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import pandas as pd

from alignment.inputs.items import Item
from alignment.store.tags import TagStore, error_key
from alignment.views import figures
from alignment.views.projection import project
from ui.widgets.errors import refuse
from ui.widgets.handoff import Pair, pair

if TYPE_CHECKING:  # evaluation imports scipy: loaded when a dataset is evaluated
    from alignment.analysis.evaluate import ErrorRow, Evaluation
    from alignment.models.sources import Source

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
        raise refuse("Evaluate a dataset and pick an error first.")
    error = error_at(explorer, number)
    data = explorer.evaluation.spaces[error.space]
    sides = [(data.modality[r], data.ids[r]) for r in (error.query_row, error.truth_row)]
    text_side = next(((m, i) for m, i in sides if m == "text"), None)
    media_side = next(((m, i) for m, i in sides if m != "text"), None)
    text_item = explorer.source.item(*text_side) if text_side else None
    media_item = explorer.source.item(*media_side) if media_side else None
    if text_item is None or media_item is None:
        raise refuse(
            "This error has no text-and-media pair with content to explain (precomputed embeddings "
            "carry no images or sounds)."
        )
    return pair(text_item, media_item)


def error_at(explorer: Explorer, number: str) -> ErrorRow:
    try:
        return explorer.evaluation.errors[int(number)]
    except (ValueError, IndexError):
        raise refuse(
            f"No error #{number!r}: pick a row of the error list (0 to {len(explorer.evaluation.errors) - 1})."
        ) from None


def nonblank_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())
