"""The projection component: one space's points in a WebGL scatter that shows an item on hover, opens it on click,
and fills a selection panel (metrics, thumbnails, tag all, export) from a lasso or box.

Drawn with plotly.js `scattergl`, reused from gradio's own frontend: gradio ships the full plotly.js (3.x) as a
lazy chunk (`assets/PlotlyPlot-*.js`, loaded for gr.Plot) that sets `window.Plotly`. Importing that chunk adds
no download the app does not already serve, no CDN and nothing to vendor, and keeps the same plotly version as
the app's other figures; scattergl draws 100k points with WebGL. The lasso and box are the island's own (an SVG
path while dragging, the points inside found once on release): plotly's re-select and redraw every point on each
mouse move, 1.3 s per move at 100k points without a GPU.

The browser gets coordinates and one colouring (float32 and uint8, base64: ~1.2 MB at 100k points); ids,
captions, thumbnails and sounds are fetched for the one point hovered or the selection shown, through gradio
server functions, from a server-side view found by an unguessable token.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np

from alignment.store.tags import TAGS
from alignment.views.points import COLOUR_BY, ColourBy, PointSet, colouring, pair_lines, points_payload, rows_from
from alignment.views.points import b64 as encode
from alignment.views.previews import AUDIO_SECONDS, preview
from alignment.views.selection import (
    EXPORT_FORMATS,
    point_card,
    selection_bytes,
    selection_frame,
    selection_keys,
    selection_stats,
)
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

GRID_ITEMS = 60  # thumbnails in the selection panel; the rest are counted (and exported)
GRID_PX = 96
MAX_LINES = 20_000


def plotly_chunk() -> str:
    """File name of the plotly.js chunk in gradio's frontend assets (its hash changes with gradio's version)."""
    assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
    found = sorted(p.name for p in assets.glob("PlotlyPlot-*.js"))
    if not found:
        raise RuntimeError(
            f"gradio {gr.__version__} ships no PlotlyPlot-*.js in {assets}: the projection component reuses "
            "that chunk for plotly.js; pin gradio to a version that has it (6.31 does)"
        )
    return found[0]


TEMPLATE = static_text("projection.html")

CSS = static_text("projection.css")


@dataclass
class ProjectionView:
    """One drawn space, server side: what hover, selection, tagging and export read."""

    points: PointSet
    embeddings: np.ndarray  # (N, D) rows of the space, for export
    item: ItemLookup
    tagger: Tagger | None
    thumbs: dict[int, dict] = field(default_factory=dict)  # row -> selection-grid preview, bounded in `thumb`

    def thumb(self, row: int) -> dict:
        """The small preview of one row for the selection grid, encoded once per view."""
        if row not in self.thumbs:
            if len(self.thumbs) > 2_000:
                self.thumbs.clear()
            p = self.points
            self.thumbs[row] = preview(self.item(p.modality[row], p.ids[row]), px=GRID_PX).to_json()
        return self.thumbs[row]

    def tags(self) -> dict[str, str]:
        return dict(self.tagger.tags()) if self.tagger is not None else {}


class ProjectionExplorer:
    """A gr.HTML island plus the gr.File its exports land in; build it inside a gr.Blocks.

    Python API: `value = explorer.show(points, embeddings=..., item=..., tagger=...)` is the island's value (return
    it to `explorer.html` from an event). Browser events, each with gr.EventData whose fields are:
    - `explorer.html.open(fn, ...)`: a point was clicked (or "Open" in its card): token, space, row, id, modality,
      pair. `explorer.opened(evt)` returns (PointSet, row).
    - `explorer.html.selection(fn, ...)`: a lasso or box selection: token, space, rows (row indices).
      `explorer.selected(evt)` returns (PointSet, rows, error keys of the selected points).
    Export is wired inside: the CSV or Parquet file appears in `explorer.file`.
    """

    def __init__(self, *, elem_id: str = "projection", height: int = 560, max_views: int = 32) -> None:
        self.views: Views[ProjectionView] = Views(limit=max_views)
        self.export_dir = Path(tempfile.mkdtemp(prefix="alignment-selection-"))
        functions = [
            server_function("xp_card", self._card),
            server_function("xp_selected", self._selected),
            server_function("xp_colour", self._colour),
            server_function("xp_lines", self._lines),
            server_function("xp_tag", self._tag),
        ]
        self.html = gr.HTML(
            json.dumps({"message": "Nothing to project yet."}),
            html_template=TEMPLATE.replace('class="xp"', f'class="xp" data-height="{int(height)}"'),
            css_template=CSS,
            js_on_load=static_js(
                "projection.js",
                prefix="xp",
                PLOTLY_CHUNK=plotly_chunk(),
                TAGS=json.dumps(list(TAGS)),
                AUDIO_SECONDS=f"{AUDIO_SECONDS:g}",
            ),
            server_functions=functions,
            elem_id=elem_id,
            padding=False,
        )
        self.file = gr.File(label="Exported selection", visible=False, height=60, elem_id=f"{elem_id}-export")
        self.html.export(self._export, None, self.file, api_visibility="private")  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------ Python side

    def show(
        self,
        points: PointSet,
        *,
        embeddings: np.ndarray,
        item: ItemLookup,
        tagger: Tagger | None = None,
        colour_by: ColourBy = "modality",
        shared: str | None = None,
        title: str | None = None,
    ) -> str:
        """The island's value for `points`: registers a view and returns its payload as JSON text. `shared` names
        public content every visitor may be shown (see `Views.put`); never a visitor's own data."""
        if len(embeddings) != len(points):
            raise ValueError(f"{len(embeddings)} embeddings for {len(points)} points of space {points.space!r}")
        view = ProjectionView(points, np.asarray(embeddings), item, tagger)
        token = self.views.put(view, shared=shared)
        payload = points_payload(points, colouring(points, colour_by, tags=view.tags()), token=token)
        return json.dumps({**payload, "can_tag": tagger is not None, "title": title})

    @staticmethod
    def message(text: str) -> str:
        """A value that shows `text` in place of the plot (nothing loaded, or what went wrong)."""
        return json.dumps({"message": text})

    def opened(self, evt: gr.EventData) -> tuple[PointSet, int]:
        view, row = self.opened_view(evt)
        return view.points, row

    def opened_view(self, evt: gr.EventData) -> tuple[ProjectionView, int]:
        """The view a click came from (its points, embeddings and items) and the clicked row."""
        data = event_payload(evt)
        view = self._view(data)
        return view, int(rows_from(view.points, [data.get("row")])[0])

    def selected(self, evt: gr.EventData) -> tuple[PointSet, np.ndarray, list[str]]:
        data = event_payload(evt)
        view = self._view(data)
        rows = rows_from(view.points, data.get("rows"))
        return view.points, rows, selection_keys(view.points, rows)

    def _view(self, data: dict) -> ProjectionView:
        try:
            return self.views.get(data.get("token"))
        except ValueError as exc:
            raise gr.Error(str(exc)) from None

    # ------------------------------------------------------------------------ server functions

    def _card(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        row = int(rows_from(view.points, [request.get("row")])[0])
        p = view.points
        card = point_card(p, row, tags=view.tags())
        card["preview"] = preview(view.item(p.modality[row], p.ids[row]), audio=True).to_json()
        return card

    def _selected(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        rows = rows_from(view.points, request.get("rows"))
        p = view.points
        items = []
        for row in rows[:GRID_ITEMS].tolist():
            items.append({"row": row, "id": p.ids[row], "modality": p.modality[row], "preview": view.thumb(row)})
        return {"n": len(rows), "stats": selection_stats(p, rows).to_json(), "items": items}

    def _colour(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        by = request.get("by")
        if by not in COLOUR_BY:
            raise ValueError(f"colour by {by!r}: expected one of {', '.join(COLOUR_BY)}")
        payload = points_payload(view.points, colouring(view.points, by, tags=view.tags()), token="")
        return payload["colour"]

    def _lines(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        raw = request.get("rows")
        rows = None if raw is None else rows_from(view.points, raw)
        lines, total = pair_lines(view.points, rows, limit=MAX_LINES)
        return {"pairs": encode(lines.astype(np.int32).ravel()), "total": total}

    def _tag(self, request: dict) -> dict:
        view = self.views.get(request.get("token"))
        if view.tagger is None:
            raise ValueError("tagging is off for this projection (no tag store was given)")
        rows = rows_from(view.points, request.get("rows"))
        tag = check_tag(request.get("tag"))
        keys = selection_keys(view.points, rows)
        if not keys:
            return {"tagged": 0, "message": f"None of the {len(rows)} selected points is the query of an error."}
        tagged = view.tagger.tag(keys, tag)
        return {"tagged": tagged, "message": f"Tagged {tagged} error(s) of {len(rows)} selected point(s) '{tag}'."}

    def _export(self, evt: gr.EventData) -> gr.File:
        data = event_payload(evt)
        view = self._view(data)
        fmt = data.get("format")
        if fmt not in EXPORT_FORMATS:
            raise gr.Error(f"Export as {fmt!r}? Choose one of {', '.join(EXPORT_FORMATS)}.")
        try:
            rows = rows_from(view.points, data.get("rows"))
        except ValueError as exc:
            raise gr.Error(f"The selection cannot be exported: {exc}") from None
        frame = selection_frame(view.points, rows, view.embeddings, tags=view.tags())
        folder = Path(tempfile.mkdtemp(dir=self.export_dir))  # one per export: two sessions never share a file
        out = folder / f"selection-{view.points.space}-{len(rows)}-points.{fmt}"
        out.write_bytes(selection_bytes(frame, fmt))
        return gr.File(str(out), visible=True)
