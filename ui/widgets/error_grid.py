"""The error grid for triage: many errors at once, each a row of query, truth and top wrong match as thumbnails,
texts or players, with range and facet filters, keyboard tagging (j/k, 1-4, x, Enter) and bulk tags.

The list is virtual: the browser holds the filtered count and fetches rows in blocks of 40 as they scroll into
view (with their thumbnails), and only the rows on screen are in the DOM, so 100k errors cost what 20 do. Sounds
are encoded only when their play button is pressed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import gradio as gr
import numpy as np

from alignment.analysis.clusters import Clusters
from alignment.inputs.embeddings import Embedded
from alignment.store.tags import TAGS
from alignment.views.previews import preview
from alignment.views.triage import SORT_BY, ErrorTable, error_table, errors_near, facets, filter_from_json, grid_row
from alignment.views.triage import select_errors as select
from ui.widgets.islands import (
    ItemLookup,
    Tagger,
    Views,
    check_tag,
    event_payload,
    server_function,
    static_js,
    static_text,
)

if TYPE_CHECKING:  # evaluate imports torch and scipy.stats: not on the app's build path
    from alignment.analysis.evaluate import Evaluation

ROW_H = 132  # px per row; the list's scroll height is rows x ROW_H, so only the visible rows need to exist
MAX_BLOCK = 100  # rows per request
THUMB_PX = 96
QueryKind = Literal["text", "image", "audio"]
EmbedQuery = Callable[[QueryKind, str], Mapping[str, np.ndarray]]  # (kind, text or file path) -> space -> unit vector

TEMPLATE = static_text("error_grid.html")

CSS = static_text("error_grid.css")


@dataclass
class GridView:
    """One evaluated dataset in the grid, server side."""

    table: ErrorTable
    spaces: Mapping[str, Embedded]
    item: ItemLookup
    tagger: Tagger | None
    embed_query: EmbedQuery | None = None
    near: np.ndarray | None = None  # errors_near of the last query, or None
    near_label: str = ""
    only: frozenset[str] | None = None  # keys the grid is scoped to (a lasso, a cluster), or None
    only_label: str = ""
    previews: dict[tuple[str, str], dict] = field(default_factory=dict)  # bounded in `_side`
    last: tuple[str, np.ndarray] | None = None  # (request signature, order): scrolling re-reads one filtering

    def changed(self) -> None:
        """Tags, scope or nearness changed: the cached order is stale."""
        self.last = None

    def tags(self) -> dict[str, str]:
        return dict(self.tagger.tags()) if self.tagger is not None else {}


class ErrorGrid:
    """A gr.HTML island and the 'errors near this text, image or sound' inputs; build it inside a gr.Blocks.

    Python API: `value = grid.show(evaluation, item=..., tagger=..., clusters=...)` is the island's value;
    `grid.scoped(value, keys, label=...)` narrows the current view to some error keys (a lasso, a cluster) and
    `grid.near(value, vectors, label=...)` sorts it by nearness to a query vector per space; both return the new
    value. Browser event: `grid.html.open(fn, ...)`, gr.EventData fields token, e (index into
    evaluation.errors), key, direction, space, query, truth, top (Enter, a double click, or a row's "open" button).
    `grid.refreshed(value)` re-reads the rows in place. Tags go through `tagger.tag(keys, tag)`.
    """

    def __init__(
        self,
        *,
        elem_id: str = "error-grid",
        height: int = 620,
        near_inputs: bool = True,
        max_views: int = 32,
    ) -> None:
        self.views: Views[GridView] = Views(limit=max_views)
        self._refreshes = 0  # makes each refreshed value differ from the last, so the browser re-reads it
        functions = [
            server_function("eg_rows", self._rows),
            server_function("eg_tag", self._tag),
            server_function("eg_audio", self._audio),
            server_function("eg_keys", self._keys),
            server_function("eg_unscope", self._unscope),
        ]
        self.html = gr.HTML(
            json.dumps({"message": "No errors to show yet."}),
            html_template=TEMPLATE,
            css_template=CSS + f"\n.eg-list {{ height: {int(height)}px; }}\n.eg-row {{ height: {ROW_H}px; }}",
            js_on_load=static_js("error_grid.js", prefix="eg", TAGS=json.dumps(list(TAGS)), ROW_H=str(ROW_H)),
            server_functions=functions,
            elem_id=elem_id,
            padding=False,
        )
        if near_inputs:
            self._near_inputs(elem_id)

    def _near_inputs(self, elem_id: str) -> None:
        with gr.Accordion("Errors near this text, image or sound", open=False, elem_id=f"{elem_id}-near"):
            with gr.Row():
                text = gr.Textbox(label="Text", placeholder="e.g. a parrot on a branch", scale=2)
                image = gr.Image(label="Image", type="filepath", height=120, scale=1)
                audio = gr.Audio(label="Sound", type="filepath", scale=1)
            with gr.Row():
                find = gr.Button("Sort the grid by nearness", variant="secondary")
                clear = gr.Button("Clear nearness")
        find.click(self._find_near, [self.html, text, image, audio], [self.html], api_visibility="private")
        clear.click(lambda value: self.near(value, {}, label=""), [self.html], [self.html], api_visibility="private")

    # ------------------------------------------------------------------------ Python side

    def show(
        self,
        evaluation: Evaluation,
        *,
        item: ItemLookup,
        tagger: Tagger | None = None,
        clusters: Mapping[str, Clusters] | None = None,
        embed_query: EmbedQuery | None = None,
    ) -> str:
        """The island's value for `evaluation`'s errors; `embed_query(kind, text or path)` gives a query's unit
        vector per space, for 'errors near this text, image or sound' (None: that search says it is off)."""
        view = GridView(error_table(evaluation, clusters=clusters), evaluation.spaces, item, tagger, embed_query)
        return self._value(self.views.put(view), view)

    def scoped(self, value: str, keys: list[str] | None, *, label: str) -> str:
        """The grid narrowed to `keys` (None: every error again), with `label` saying what they are."""
        token, view = self._current(value)
        view.only = None if keys is None else frozenset(keys)
        view.only_label = label if keys is not None else ""
        view.changed()
        return self._value(token, view)

    def near(self, value: str, vectors: Mapping[str, np.ndarray], *, label: str) -> str:
        """The grid sorted by nearness of each error's query to `vectors[space]` ({}: nearness off)."""
        token, view = self._current(value)
        view.near = errors_near(view.table, view.spaces, vectors) if vectors else None
        view.near_label = label if vectors else ""
        view.changed()
        return self._value(token, view)

    def refreshed(
        self, value: str, *, evaluation: Evaluation | None = None, clusters: Mapping[str, Clusters] | None = None
    ) -> str:
        """The current view again: the browser re-reads its rows where the reader is (tags changed elsewhere, e.g. in
        an error's detail or by an import). With `evaluation`, the table is rebuilt first with `clusters` (computed
        after the first show), so rows and the cluster filter name them."""
        token, view = self._current(value)
        if evaluation is not None:
            view.table = error_table(evaluation, clusters=clusters)
        view.changed()
        self._refreshes += 1
        return json.dumps({**json.loads(self._value(token, view)), "keep": True, "refresh": self._refreshes})

    def opened(self, evt: gr.EventData) -> tuple[ErrorTable, int]:
        data = event_payload(evt)
        try:
            view = self.views.get(data.get("token"))
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        e = data.get("e")
        if not isinstance(e, int) or not 0 <= e < len(view.table):
            raise gr.Error(f"No error {e!r} in this grid.")
        return view.table, e

    def _current(self, value: str) -> tuple[str, GridView]:
        try:
            token = json.loads(value).get("token")
            return token, self.views.get(token)
        except (ValueError, AttributeError, TypeError) as exc:
            raise gr.Error(f"Show a dataset in the error grid first ({exc}).") from None

    def _value(self, token: str, view: GridView) -> str:
        custom = sorted({t for t in view.tags().values() if t not in TAGS})
        scope = f"Showing {view.only_label} ({len(view.only):,} errors)" if view.only is not None else None
        return json.dumps(
            {
                "token": token,
                "facets": facets(view.table),
                "near": view.near_label or None,
                "scope": scope,
                "can_tag": view.tagger is not None,
                "custom_tags": custom,
            }
        )

    def _find_near(self, value: str, text: str | None, image: str | None, audio: str | None) -> str:
        token, view = self._current(value)
        if view.embed_query is None:
            raise gr.Error("This dataset has no model to embed a query with (precomputed embeddings).")
        kind: QueryKind
        if text and text.strip():
            kind, query, label = "text", text.strip(), f"“{text.strip()[:40]}”"
        elif image:
            kind, query, label = "image", image, "the image"
        elif audio:
            kind, query, label = "audio", audio, "the sound"
        else:
            raise gr.Error("Type a text, or drop an image or a sound, to find the errors nearest to it.")
        try:
            vectors = view.embed_query(kind, query)
            return self.near(value, vectors, label=label)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None

    # ------------------------------------------------------------------------ server functions

    def _order(self, view: GridView, request: dict) -> np.ndarray:
        sort, descending = request.get("sort", "margin"), request.get("descending", True)
        if sort not in SORT_BY or not isinstance(descending, bool):
            raise ValueError(f"sort must be one of {', '.join(SORT_BY)} with descending true or false")
        if sort == "near" and view.near is None:
            sort = "margin"  # nearness was cleared meanwhile
        signature = json.dumps([request.get("filter"), sort, descending], sort_keys=True)
        if view.last is not None and view.last[0] == signature:
            return view.last[1]
        flt = filter_from_json(request.get("filter"), only=view.only)
        order = select(view.table, flt, tags=view.tags(), sort=sort, descending=descending, near=view.near)
        view.last = (signature, order)
        return order

    def _side(self, view: GridView, modality: str, item_id: str) -> dict:
        key = (modality, item_id)
        if key not in view.previews:
            if len(view.previews) > 2_000:
                view.previews.clear()
            view.previews[key] = preview(view.item(modality, item_id), px=THUMB_PX).to_json()
        return {"id": item_id, "modality": modality, "preview": view.previews[key]}

    def _rows(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        start, count = request.get("start", 0), request.get("count", 40)
        if not isinstance(start, int) or not isinstance(count, int) or start < 0 or not 1 <= count <= MAX_BLOCK:
            raise ValueError(f"rows: start must be >= 0 and count 1 to {MAX_BLOCK} (got {start!r}, {count!r})")
        order = self._order(view, request)
        tags, t, rows = view.tags(), view.table, []
        for e in order[start : start + count].tolist():
            row = grid_row(t, e, tags=tags)
            data = view.spaces[t.space[e]]
            for side, table_row in (("q", t.query_row), ("t", t.truth_row), ("w", t.top_row)):
                r = int(table_row[e])
                row[side] = self._side(view, data.modality[r], data.ids[r])
            if view.near is not None:
                row["near"] = round(float(view.near[e]), 4)
            rows.append(row)
        return {"total": len(order), "start": start, "rows": rows}

    def _keys(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        return {"keys": [view.table.keys[e] for e in self._order(view, request).tolist()]}

    def _tag(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        if view.tagger is None:
            raise ValueError("tagging is off for this grid (no tag store was given)")
        keys, tag = request.get("keys"), check_tag(request.get("tag"))
        known = set(view.table.keys)
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k in known for k in keys):
            raise ValueError("tag: keys must be a non-empty list of this grid's error keys")
        tagged = view.tagger.tag(list(dict.fromkeys(keys)), tag)
        view.changed()
        return {"tagged": tagged, "message": f"Tagged {tagged} error(s) '{tag}'."}

    def _audio(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        item = view.item(str(request.get("modality")), str(request.get("id")))
        if item is None or item.modality != "audio":
            raise ValueError(f"no sound {request.get('id')!r} in this dataset")
        return {"audio": preview(item, audio=True).audio}

    def _unscope(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        view.only, view.only_label = None, ""
        view.changed()
        return {"ok": True}
