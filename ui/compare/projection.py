"""A comparison in the projection component (ui/widgets/projection.py): the Compare tab's CLIP and CLAP spaces and
the one space, with hover previews from the compared files, and a click on a point handed to Explain."""

from __future__ import annotations

from collections.abc import Mapping

import gradio as gr
import numpy as np

from alignment.analysis.comparison import Comparison
from alignment.views.compare_points import TITLES, CompareSpace, best_counterpart, compared_points, compared_space
from ui.widgets.errors import refuse
from ui.widgets.handoff import Pair, pair
from ui.widgets.media import MediaLookup
from ui.widgets.projection import ProjectionExplorer

SPACES = [("CLIP: texts and images", "clip"), ("CLAP: texts and sounds", "clap")]
EMPTY = {
    "clip": "No texts or images in this comparison: add some and press Compare.",
    "clap": "No texts or sounds in this comparison: add some and press Compare.",
    "one": "The one space needs sounds and texts or images.",
}


def show_space(
    explorer: ProjectionExplorer,
    comparison: Comparison,
    name: CompareSpace,
    coords: object,
    *,
    method: str,
    captions: Mapping[str, str] | None = None,
    bridged_audio: np.ndarray | None = None,
    shared: str | None = None,
) -> str:
    """The explorer's value for one space of `comparison` at `coords` (N, 2): coloured by whether each item's
    caption came first where the captions are known, else by modality. `shared`: see ProjectionExplorer.show
    (only for the bundled example, which every visitor sees)."""
    space = compared_space(comparison, name, bridged_audio=bridged_audio)
    if not len(space):
        return explorer.message(EMPTY[name])
    points = compared_points(space, np.asarray(coords, np.float32), captions=captions, method=method)
    items = MediaLookup({(i.modality, i.id): i for i in space.items})
    return explorer.show(
        points,
        embeddings=space.embeddings,
        item=items,
        colour_by="outcome" if len(points.outcomes.rows) else "modality",
        shared=None if shared is None else f"{shared}:{name}",
        title=TITLES[name],
    )


def opened_pair(explorer: ProjectionExplorer, evt: gr.EventData) -> Pair:
    """The (text, image or sound) pair a click on a point opens in Explain: the point and its closest partner."""
    view, row = explorer.opened_view(evt)
    points = view.points
    other = best_counterpart(points.modality, view.embeddings, row)
    if other is None:
        wanted = "an image or a sound" if points.modality[row] == "text" else "a text"
        raise refuse(f"{points.ids[row]} has no partner to explain it with: this space holds no {wanted}.")
    text, media = sorted((row, other), key=lambda r: points.modality[r] != "text")
    items = view.item
    if not isinstance(items, MediaLookup):
        raise refuse("This projection cannot open its items.")
    found = items.ref(points.modality[text], points.ids[text]), items.ref(points.modality[media], points.ids[media])
    if found[0] is None or found[1] is None:
        raise refuse(f"{points.ids[media]}: its file is gone from the server; compare it again to explain it.")
    try:
        return pair(found[0], found[1])
    except ValueError as exc:
        raise refuse(str(exc)) from None
