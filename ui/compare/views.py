"""What the Compare tab shows for a comparison: the clickable matrices, the best-match table, the projection, the
report. Pure view helpers; the layout and its events are in ui/compare/tab.py."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping

import gradio as gr
import numpy as np
import pandas as pd

from alignment.analysis.comparison import Comparison
from alignment.views.compare_points import ComparedSpace, compared_space
from alignment.views.projection import pca_2d, project
from ui.widgets import matrix as matrix_view
from ui.widgets.errors import refuse
from ui.widgets.handoff import Pair, pair
from ui.widgets.text import md

SCORE_KINDS = ["cosine", "probability"]
MATCH_COLUMNS = [
    "query",
    "query modality",
    "best match",
    "match modality",
    "cosine",
    "P(text | item)",
    "runner-up",
    "margin",
]
MATRICES = (("text_image", "Text × image (CLIP)"), ("text_audio", "Text × audio (CLAP)"))


def heatmap_views(result: dict | None, kind: str) -> tuple[str, str]:
    """Text x image and text x audio matrices (clickable HTML) from a compare result (the JSON the API returns)."""
    if kind not in SCORE_KINDS:
        raise refuse(f"Unknown score '{kind}': choose cosine or probability.")
    if not result:
        message = matrix_view.message_html("Run a comparison to see the similarity matrix")
        return message, message
    out = []
    for key, title in MATRICES:
        block = result[key]
        matrix = np.asarray(block[kind], dtype=np.float32).reshape(len(block["rows"]), len(block["cols"]))
        probability = kind == "probability"
        out.append(
            matrix_view.matrix_html(
                matrix,
                block["rows"],
                block["cols"],
                title=title,
                value_name="P(text | item)" if probability else "cosine",
                bounds=(0.0, 1.0) if probability else None,
                hint="Click a cell to explain why that text matches that " + key.split("_")[1] + ".",
            )
        )
    return out[0], out[1]


def picked_pair(comparison: Comparison | None, key: str, evt: gr.SelectData) -> Pair:
    """The (text, image or clip) pair of the clicked cell of the `key` matrix of the session's comparison."""
    if comparison is None:
        raise refuse("Run a comparison first: its matrices are what a click explains.")
    media = comparison.images if key == "text_image" else comparison.audio
    row, col = matrix_view.picked_cell(evt, (len(comparison.texts), len(media)))
    try:
        return pair(comparison.texts[row], media[col])
    except ValueError as exc:
        raise refuse(str(exc)) from None


def matches_table(result: dict) -> pd.DataFrame:
    rows = [
        [
            m["query"],
            m["query_modality"],
            m["best"],
            m["target_modality"],
            round(m["cosine"], 3),
            "—" if m["probability"] is None else round(m["probability"], 3),
            m["runner_up"],
            None if m["margin"] is None else round(m["margin"], 3),
        ]
        for m in result["best_matches"]
    ]
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def _digest(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()


class _Recent:
    """A few UMAP projections by the bytes they were computed from: a repeated comparison reuses its projection."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[np.ndarray, str]] = OrderedDict()
        self.lock = threading.Lock()

    def __contains__(self, x: np.ndarray) -> bool:
        return _digest(x) in self.items

    def project(self, x: np.ndarray) -> tuple[np.ndarray, str]:
        key = _digest(x)
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        projected = project(x)
        with self.lock:
            self.items[key] = (projected.coords, projected.method)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return projected.coords, projected.method


_RECENT = _Recent()


def _spaces(comparison: Comparison) -> list[ComparedSpace]:
    """The two backbone spaces: CLIP (texts + images) and CLAP (texts + audio)."""
    return [compared_space(comparison, "clip"), compared_space(comparison, "clap")]


def projection_panels(comparison: Comparison, *, fast: bool) -> dict:
    """Both spaces projected to 2-D: PCA when `fast`, else UMAP where there are enough points (reused when the same
    embeddings were projected recently)."""
    panels = {}
    for space in _spaces(comparison):
        x = space.embeddings
        coords, method = (pca_2d(x), "pca") if fast or not len(x) else _RECENT.project(x)
        panels[space.name] = {
            "title": space.title,
            "ids": [i.id for i in space.items],
            "modalities": [i.modality for i in space.items],
            "coords": np.round(coords, 5).tolist(),
            "method": method,
        }
    return panels


def projected_recently(comparison: Comparison) -> bool:
    """Whether `projection_panels(comparison, fast=False)` is answered from memory (no UMAP to wait for)."""
    return all(len(s.embeddings) == 0 or s.embeddings in _RECENT for s in _spaces(comparison))


def report_markdown(result: dict, *, intended: Mapping[str, str] | None = None, random_weights: bool = False) -> str:
    """What the comparison says in plain words: its size, how to read the matrices, how often the intended caption
    won (when the inputs are a bundled example whose pairs are known), what was skipped or truncated."""
    ids = result["ids"]
    counts = " × ".join(
        f"{len(ids[m])} {noun}{'' if len(ids[m]) == 1 else 's'}"
        for m, noun in (("text", "text"), ("image", "image"), ("audio", "sound"))
        if ids[m]
    )
    lines = [
        f"**{counts}.** Brighter cells are closer in the model's embedding space; in each column the outlined cell "
        "is the text the model ranks first for that image or sound. **Click any cell** to see why they match."
    ]
    won = _intended_wins(result, intended or {})
    if won:
        lines.append("The caption each item was made with came first for " + " and ".join(won) + ".")
    if random_weights:
        lines.append("*(Tiny preset: random weights, so these matches mean nothing.)*")
    if result["problems"]:
        lines += ["", "**Skipped inputs**", *[f"- {md(p)}" for p in result["problems"]]]
    if result["notes"]:
        lines += ["", "**Truncated texts**", *[f"- {md(n)}" for n in result["notes"]]]
    cache = result["cache"]
    hits = sum(v["hits"] for v in cache.values())
    computed = sum(v["computed"] for v in cache.values())
    lines += ["", f"<small>Embeddings: {computed} computed, {hits} from the cache.</small>"]
    return "\n".join(lines)


def _intended_wins(result: dict, intended: Mapping[str, str]) -> list[str]:
    """'5 of 6 images', '3 of 6 sounds': items whose known caption is the best text, when every item's is known."""
    out = []
    for key, modality, noun in (("text_image", "image", "images"), ("text_audio", "audio", "sounds")):
        block, names = result[key], result["ids"][modality]
        if not names or not all(intended.get(n) in block["rows"] for n in names):
            continue
        cosine = np.asarray(block["cosine"], dtype=np.float32).reshape(len(block["rows"]), len(names))
        best = cosine.argmax(axis=0)
        hits = sum(block["rows"][best[j]] == intended[n] for j, n in enumerate(names))
        out.append(f"**{hits} of {len(names)} {noun}**")
    return out


def gallery_items(comparison: Comparison) -> list[tuple[object, str]]:
    """(image, caption) pairs for the gallery: the uploaded file itself where there is one (nothing re-encoded)."""
    return [(item.path or item.payload, item.id) for item in comparison.images]
