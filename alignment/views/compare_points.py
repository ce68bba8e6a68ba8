"""A comparison's items as projection points: CLIP space (texts + images), CLAP space (texts + audio) or the one
space (CLIP with the audio brought over by the bridge), with outcomes where each item's intended caption is known.

A comparison has no paired dataset behind it, so "right" and "wrong" exist only for items whose caption is known
(the bundled examples name the caption each image and sound was made with). Each such item is a query against the
texts (its caption should rank first), and each such caption a query against the items of each modality; the
rest are drawn without an outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..analysis.comparison import Comparison
from ..inputs.items import MODALITIES, Item
from ..store.entries import error_key
from .points import PointSet, QueryOutcomes

CompareSpace = Literal["clip", "clap", "one"]
TITLES = {
    "clip": "CLIP space: texts and images",
    "clap": "CLAP space: texts and sounds",
    "one": "One space: texts, images and sounds (through the bridge)",
}


@dataclass(frozen=True, eq=False)
class ComparedSpace:
    """The items of one space of a comparison and their unit embeddings there, rows in item order."""

    name: CompareSpace
    items: tuple[Item, ...]
    embeddings: np.ndarray  # (N, D) float32

    @property
    def title(self) -> str:
        return TITLES[self.name]

    def __len__(self) -> int:
        return len(self.items)


def compared_space(
    comparison: Comparison, name: CompareSpace, *, bridged_audio: np.ndarray | None = None
) -> ComparedSpace:
    """The texts with the images (clip), the sounds (clap), or both in CLIP space (one: `bridged_audio`, the
    comparison's CLAP audio embeddings mapped into CLIP space, (A, D_clip))."""
    c = comparison
    if name == "clip":
        items, parts = c.texts + c.images, [c.clip_text, c.clip_image]
    elif name == "clap":
        items, parts = c.texts + c.audio, [c.clap_text, c.clap_audio]
    elif name == "one":
        if bridged_audio is None or bridged_audio.shape[0] != len(c.audio):
            got = None if bridged_audio is None else bridged_audio.shape
            raise ValueError(f"the one space needs the {len(c.audio)} sounds mapped into CLIP space (got {got})")
        items, parts = c.texts + c.images + c.audio, [c.clip_text, c.clip_image, bridged_audio]
    else:
        raise ValueError(f"space {name!r}: expected one of {', '.join(TITLES)}")
    width = max((p.shape[1] for p in parts if p.ndim == 2 and len(p)), default=1)
    x = np.concatenate([p.reshape(-1, width) if len(p) else np.zeros((0, width), np.float32) for p in parts])
    return ComparedSpace(name, tuple(items), x.astype(np.float32))


def compared_points(
    space: ComparedSpace,
    coords: np.ndarray,
    *,
    captions: Mapping[str, str] | None = None,
    method: str = "",
) -> PointSet:
    """The space's items at `coords` (N, 2). `captions` maps an image or sound id to the text it was made with;
    items whose caption is among the texts get outcomes (see the module docstring) and share its pair key."""
    coords = np.asarray(coords, np.float32)
    n = len(space)
    if coords.shape != (n, 2):
        raise ValueError(f"coords of the {space.name} space must be ({n}, 2), got {coords.shape}")
    if not np.isfinite(coords).all():
        raise ValueError(f"coords of the {space.name} space hold non-finite values")
    items = space.items
    text_row = {str(item.payload): i for i, item in enumerate(items) if item.modality == "text"}
    truth = np.full(n, -1, np.int64)  # medium row -> the row of its caption, -1 when unknown
    for i, item in enumerate(items):
        caption = (captions or {}).get(item.id)
        if item.modality != "text" and caption in text_row:
            truth[i] = text_row[caption]
    pair = tuple(items[truth[i]].id if truth[i] >= 0 else item.id for i, item in enumerate(items))
    outcomes, errors = _outcomes(space, truth)
    keys: list[list[str]] = [[] for _ in range(n)]
    involved = np.zeros(n, bool)
    for direction, query, right, top in errors:
        keys[query].append(error_key(direction, items[query].id))
        involved[[query, right, top]] = True
    return PointSet(
        space.name,
        coords,
        tuple(i.id for i in items),
        tuple(i.modality for i in items),  # type: ignore[misc]
        pair,
        tuple(None for _ in items),
        outcomes,
        tuple(tuple(k) for k in keys),
        involved,
        None,
        method,
    )


def _outcomes(space: ComparedSpace, truth: np.ndarray) -> tuple[QueryOutcomes, list[tuple[str, int, int, int]]]:
    """Each item with a known caption ranked against the texts, each such caption against the items of each
    modality; and the errors as (direction, query row, best true row, top wrong row)."""
    x, modality = space.embeddings, np.array([i.modality for i in space.items])
    names: list[str] = []
    rows, direction, rank, margin = [], [], [], []
    errors: list[tuple[str, int, int, int]] = []

    def ask(name: str, query: int, gallery: np.ndarray, true: np.ndarray) -> None:
        """One query against `gallery` rows, `true` (a subset) its right answers."""
        if name not in names:
            names.append(name)
        scores = x[gallery] @ x[query]  # (G,)
        is_true = np.isin(gallery, true)
        best_true = float(scores[is_true].max())
        wrong = scores[~is_true]
        rows.append(query)
        direction.append(names.index(name))
        rank.append(1 + int((wrong > best_true).sum()))
        margin.append(float(wrong.max()) - best_true if len(wrong) else np.nan)
        if rank[-1] > 1:
            right = int(gallery[is_true][scores[is_true].argmax()])
            errors.append((name, query, right, int(gallery[~is_true][wrong.argmax()])))

    texts = np.flatnonzero(modality == "text")
    for m in (m for m in MODALITIES if m != "text"):
        media = np.flatnonzero((modality == m) & (truth >= 0))
        for i in media.tolist():
            ask(f"{m}->text", i, texts, truth[[i]])
        gallery = np.flatnonzero(modality == m)
        for t in np.unique(truth[media]).tolist():
            ask(f"text->{m}", t, gallery, media[truth[media] == t])
    return (
        QueryOutcomes(
            tuple(names),
            np.asarray(rows, np.int64),
            np.asarray(direction, np.int64),
            np.asarray(rank, np.int64),
            np.asarray(margin, np.float32),
        ),
        errors,
    )


def best_counterpart(
    modality: Sequence[str], embeddings: np.ndarray, row: int, *, prefer: Sequence[str] = ("image", "audio")
) -> int | None:
    """The row a click on `row` is explained with: a text's closest image (else sound), an image's or a sound's
    closest text, by cosine of the unit `embeddings` (N, D); None when there is no such row."""
    if not 0 <= row < len(modality):
        raise ValueError(f"row {row} is outside the {len(modality)} points")
    kinds = np.asarray(modality)
    for wanted in prefer if kinds[row] == "text" else ("text",):
        gallery = np.flatnonzero(kinds == wanted)
        if len(gallery):
            return int(gallery[(embeddings[gallery] @ embeddings[row]).argmax()])
    return None
