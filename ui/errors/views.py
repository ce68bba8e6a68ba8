"""What the errors tab shows for one error (both sides and the top wrong match with their media, the query's
neighbours, where it sits in the space), the pair it hands to Explain, and the error list of the /errors API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import pandas as pd

from alignment.core.hygiene import escape_markdown as esc
from alignment.inputs.items import Item
from alignment.store.tags import error_key
from ui.widgets.errors import refuse
from ui.widgets.handoff import Pair, pair

if TYPE_CHECKING:  # evaluate imports torch and scipy: loaded when a dataset is evaluated
    from alignment.analysis.evaluate import ErrorRow
    from ui.errors.session import Explorer

ERROR_COLUMNS = [
    "#",
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
SORTS = {
    "largest margin first": ("margin", False),
    "worst rank first": ("rank of truth", False),
    "smallest margin first": ("margin", True),
    "dataset order": ("#", True),
}
MAX_ROWS = 500  # rows of one /errors answer; filters narrow the rest (the page's grid is virtual: no cap)
MAX_PROJECTED = 1_500  # points per space in the error's own small figure (a seeded sample beyond that)
NEIGHBOURS = 10
TEXT_CHARS = 600


def error_at(explorer: Explorer | None, number: str | int | None) -> tuple[Explorer, ErrorRow]:
    """The session's dataset and its error `number` (an index into evaluation.errors), or a refusal naming it."""
    if explorer is None:
        raise refuse("Evaluate a dataset first.")
    errors = explorer.evaluation.errors
    try:
        e = int(str(number).strip())
        if e < 0:
            raise IndexError
        return explorer, errors[e]
    except (ValueError, IndexError):
        last = f"0 to {len(errors) - 1}" if errors else "this dataset has none"
        raise refuse(f"No error #{str(number)[:40]!r}: pick one from the grid or the projection ({last}).") from None


# ---------------------------------------------------------------------------- the error's detail


def side(item: Item | None, item_id: str, modality: str, role: str, score: float | None) -> tuple:
    """(markdown, image, audio) updates for one side of an error; media decoded from its file for this view."""
    heading = f"**{role}** · {modality} · {esc(item_id)}" + ("" if score is None else f" · cosine {score:.3f}")
    text = image = audio = None
    if item is None or item.payload is None:
        text = "(precomputed embedding: no content to show)" if item is None else "(its file cannot be read now)"
    elif modality == "text":
        full = str(item.payload)
        text = esc(full if len(full) <= TEXT_CHARS else full[: TEXT_CHARS - 1] + "…")
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


def detail(explorer: Explorer, e: int) -> tuple:
    """head, 3 x (markdown, image, audio), neighbours table, figure, tag, note: the outputs of /error_detail."""
    from alignment.analysis.evaluate import neighbours

    error = explorer.error(e)
    data = explorer.evaluation.spaces[error.space]
    panes: list = []
    for role, row, score in (
        ("query", error.query_row, None),
        ("truth", error.truth_row, error.truth_score),
        ("top wrong match", error.top_row, error.top_score),
    ):
        modality, item_id = data.modality[row], data.ids[row]
        panes += side(explorer.media.get(modality, item_id, size="full"), item_id, modality, role, score)
    near = pd.DataFrame(
        [
            [i + 1, item, round(score, 3), "✓" if true else ""]
            for i, (item, score, true) in enumerate(neighbours(explorer.evaluation, error, k=NEIGHBOURS))
        ],
        columns=["rank", "item", "cosine", "true match"],
    )
    entry = explorer.tags.get(error_key(error.direction, error.query))
    head = (
        f"**Error {e}** · {esc(error.direction)} · truth ranked **{error.rank}**, lost by **{error.margin:.3f}** "
        f"to {esc(error.top)}" + (f" · tagged **{esc(entry.tag)}**" if entry else "")
    )
    return (head, *panes, near, where(explorer, error), entry.tag if entry else None, entry.note if entry else "")


def where(explorer: Explorer, error: ErrorRow) -> object:
    """The error's space at its current layout (a seeded sample of it at scale), true pairs joined, its three
    items ringed."""
    from alignment.views import figures

    data = explorer.evaluation.spaces[error.space]
    layout = explorer.layouts.get(error.space)
    if layout is None:
        from ui.errors.explore import first_layout

        first_layout(explorer, error.space)
        layout = explorer.layouts[error.space]
    rows = np.arange(len(data))
    if len(rows) > MAX_PROJECTED:
        rows = np.sort(np.random.default_rng(0).choice(rows, MAX_PROJECTED, replace=False))
    rows = np.unique(np.concatenate([rows, [error.query_row, error.truth_row, error.top_row]]))
    at = {int(r): i for i, r in enumerate(rows.tolist())}
    highlight = {"query": at[error.query_row], "truth": at[error.truth_row], "top wrong": at[error.top_row]}
    shown = f"{len(rows):,} of {len(data):,} points" if len(rows) < len(data) else f"{len(rows):,} points"
    return figures.pair_projection(
        layout.coords[rows],
        [data.ids[r] for r in rows.tolist()],
        [data.modality[r] for r in rows.tolist()],
        [data.pair[r] for r in rows.tolist()],
        highlight=highlight,
        title=f"Where the error sits: {error.space} space ({layout.title}, {shown})",
    )


def explain_pair(explorer: Explorer | None, number: str) -> Pair:
    """An error's text side and its other side (the truth when the query is the text, else the query), the media
    decoded from its file and written to a temp file for the Explain tab."""
    if explorer is None:
        raise refuse("Evaluate a dataset and pick an error first.")
    explorer, error = error_at(explorer, number)
    data = explorer.evaluation.spaces[error.space]
    sides = [(data.modality[r], data.ids[r]) for r in (error.query_row, error.truth_row)]
    text_side = next(((m, i) for m, i in sides if m == "text"), None)
    media_side = next(((m, i) for m, i in sides if m != "text"), None)
    text_item = explorer.media.ref(*text_side) if text_side else None
    media_item = explorer.media.get(*media_side, size="full") if media_side else None
    if text_item is None or media_item is None or media_item.payload is None:
        raise refuse(
            "This error has no text-and-media pair with content to explain (precomputed embeddings "
            "carry no images or sounds)."
        )
    return pair(text_item, media_item)


# ---------------------------------------------------------------------------- the /errors API


def error_list(
    explorer: Explorer, direction: str = "all", search: str = "", tag: str = "any", sort: str = "largest margin first"
) -> tuple[pd.DataFrame, str]:
    """The filtered, sorted errors (at most MAX_ROWS rows) and a line saying how many matched."""
    tags = explorer.tags.labels()
    needle = (search or "").strip().lower()
    rows = []
    for n, e in enumerate(explorer.evaluation.errors):
        label = tags.get(error_key(e.direction, e.query), "")
        if direction not in ("all", "", e.direction) or (
            tag not in ("any", "") and label != ("" if tag == "untagged" else tag)
        ):
            continue
        if needle and needle not in f"{e.query}\x1f{e.truth}\x1f{e.top}".lower():
            continue
        rows.append([n, e.direction, e.query, e.truth, e.truth_score, e.top, e.top_score, e.rank, e.margin, label])
    frame = pd.DataFrame(rows, columns=ERROR_COLUMNS)
    column, ascending = SORTS.get(sort, SORTS["largest margin first"])
    frame = frame.sort_values(column, ascending=ascending, kind="stable").round(3)
    total = len(explorer.evaluation.errors)
    note = f"{len(frame)} of {total} errors match" + (
        f"; the first {MAX_ROWS} are listed (filter to narrow)" if len(frame) > MAX_ROWS else ""
    )
    return frame.head(MAX_ROWS), note


def nonblank_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())
