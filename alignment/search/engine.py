"""Search a gallery with a query: pick the space, embed the query, take the top-k, and explain the scores.

`search` is the one call the CLI and the Search tab make. Given several galleries of one collection (a CLIP
space and a CLAP space), it searches the one where the query and the targets need no bridge, else the CLIP
space with audio mapped in. Results carry what a UI needs to preview and explain each item, and, when the
query crosses modalities, the modality gap between the query's modality and the results', in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..inputs.items import MODALITIES, Modality
from ..inputs.limits import Limits
from .gallery import NATIVE, Correction, Gallery, Space
from .query import Query, QueryVector, UsedPart, embed_query

if TYPE_CHECKING:
    from ..models.cache import EmbeddingCache
    from ..models.encoders import Encoders
    from ..space.bridge import Bridge
    from ..space.fusion import FusionModel

Galleries = Gallery | Mapping[str, Gallery]  # one gallery, or one per space of a collection
SMALL_GAP = 0.1  # centre distance below which the note calls the gap small (CLIP's text-image gap is ~0.8)


@dataclass(frozen=True)
class Hit:
    """One result: where it ranks, how it scored, and what a UI needs to preview and explain it."""

    rank: int  # 1-based
    row: int  # row in the gallery
    id: str
    modality: Modality
    score: float  # the ranking score: the cosine, or the corrected score under a hubness correction
    cosine: float  # cosine between the query and the item in the search space
    pair: str | None
    label: str | None
    source: str | None  # media file path (image, audio) where known
    text: str | None  # full text of a text item where known
    crosses: bool  # the item's modality is not among the query's


@dataclass(frozen=True)
class GapNote:
    """How far apart two modalities sit in the searched space, and what that means for the scores."""

    query_modality: Modality
    target_modality: Modality
    gap: float | None  # distance between the modalities' centres of unit vectors; None = not measurable here
    mean_cosine_across: float | None  # mean cosine of a random (query-modality, target-modality) pair
    mean_cosine_within: float | None  # mean cosine of two random target-modality items
    text: str  # the above in words


@dataclass(frozen=True)
class SearchResult:
    """The top-k of one query, and everything needed to say what was searched and how."""

    gallery: str
    space: Space
    query: tuple[UsedPart, ...]
    combination: str  # which combination of the parts was used, in words
    targets: tuple[Modality, ...]
    k: int
    hits: tuple[Hit, ...]
    method: dict[str, str]  # per target modality: exact search, or the FAISS index (with its measured recall)
    gaps: tuple[GapNote, ...]
    correction: str | None  # the hubness correction applied, None = plain cosine
    problems: tuple[str, ...]  # query parts that were refused, each named
    notes: tuple[str, ...]

    def to_json(self) -> dict:
        return {
            "gallery": self.gallery,
            "space": self.space.to_json(),
            "query": [p.__dict__ for p in self.query],
            "combination": self.combination,
            "targets": list(self.targets),
            "k": self.k,
            "method": self.method,
            "correction": self.correction,
            "hits": [h.__dict__ for h in self.hits],
            "modality_gap": [g.__dict__ for g in self.gaps],
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------- choosing the space


def choose_gallery(
    galleries: Galleries, query_modalities: Sequence[Modality], targets: Sequence[Modality] | None
) -> Gallery:
    """The gallery to search: one holding every target whose space embeds every query modality, bridging least."""
    if isinstance(galleries, Gallery):
        return galleries
    if not galleries:
        raise ValueError("no gallery to search")
    usable = []
    for gallery in galleries.values():
        holds = gallery.modalities if targets is None else targets
        if not all(t in gallery.parts for t in holds) or (
            gallery.space.backbone == "clap" and "image" in query_modalities
        ):
            continue
        native = NATIVE[gallery.space.backbone]
        bridged = sum(m not in native for m in (*query_modalities, *holds))
        usable.append((bridged, -len(gallery.modalities), gallery.space.backbone != "clip", gallery.name, gallery))
    if not usable:
        spaces = "; ".join(g.describe() for g in galleries.values())
        wanted = ", ".join(targets) if targets else "any"
        raise ValueError(
            f"no gallery can answer a {' + '.join(query_modalities)} query for {wanted} results ({spaces}); "
            "images and audio meet only in CLIP space, with the audio mapped in by the bridge"
        )
    return min(usable, key=lambda u: u[:4])[-1]


# ---------------------------------------------------------------------------- search


def search(
    galleries: Galleries,
    query: Query | QueryVector,
    *,
    k: int = 10,
    targets: Sequence[Modality] | None = None,
    encoders: Encoders | None = None,
    bridge: Bridge | None = None,
    fusion: FusionModel | None = None,
    correction: Correction | None = None,
    cache: EmbeddingCache | None = None,
    limits: Limits = Limits(),
) -> SearchResult:
    """Top-k gallery items for one query, among the `targets` modalities (default: every one in the gallery).

    `query`: a `Query` (embedded here with `encoders`, audio into CLIP space through `bridge`, several parts
    combined by `fusion` when it covers their modalities, else by a weighted sum) or an already embedded
    `QueryVector`. `correction`: a hubness correction (CSLS, inverted softmax, QB-Norm) re-scoring the cosine
    neighbours; None = plain cosine.
    """
    if isinstance(query, QueryVector):
        gallery = choose_gallery(galleries, query.modalities, targets)
        a, b = query.space, gallery.space
        other_model = a.model_id and b.model_id and (a.model_id, a.revision) != (b.model_id, b.revision)
        if a.backbone != b.backbone or a.dim != b.dim or other_model:
            raise ValueError(
                f"the query lives in the {query.space.describe()}, the gallery {gallery.name} in the "
                f"{gallery.space.describe()}"
            )
        embedded = query
    else:
        bad = [p.modality for p in query.parts if p.modality not in MODALITIES]
        if bad:
            raise ValueError(f"query: unknown modality {bad[0]!r} (expected text, image or audio)")
        gallery = choose_gallery(galleries, query.modalities, targets)
        embedded = embed_query(
            query, space=gallery.space, encoders=encoders, bridge=bridge, fusion=fusion, cache=cache, limits=limits
        )
    chosen = gallery.check_targets(targets)
    found = gallery.search(embedded.vector[None, :], k, targets=chosen, correction=correction)
    query_modalities = embedded.modalities
    hits = []
    for place, (row, score, cosine) in enumerate(zip(found.rows[0], found.scores[0], found.cosines[0], strict=True)):
        if row < 0:
            continue
        items = gallery.items
        hits.append(
            Hit(
                place + 1,
                int(row),
                items.ids[row],
                items.modality[row],
                float(score),
                float(cosine),
                items.pair[row],
                items.label[row],
                items.source[row],
                items.text[row],
                items.modality[row] not in query_modalities,
            )
        )
    notes = list(embedded.notes)
    if model_note := _unrecorded_model(gallery.space):
        notes.append(model_note)
    if len(chosen) > 1 and any(t in query_modalities for t in chosen):
        notes.append(
            f"the list mixes {', '.join(chosen)}: because of the modality gap, items of the query's own modality "
            "usually outscore the others; choose one target modality to rank like with like"
        )
    if len(hits) < min(k, sum(len(gallery.parts[t].rows) for t in chosen)):
        notes.append(f"the approximate index found {len(hits)} of the {k} results asked for")
    return SearchResult(
        gallery.name,
        gallery.space,
        embedded.parts,
        embedded.combination,
        chosen,
        k,
        tuple(hits),
        {t: gallery.parts[t].searcher.describe() for t in chosen},
        gap_notes(gallery, query_modalities, chosen),
        correction.name if correction is not None else None,
        embedded.problems,
        tuple(notes),
    )


def _unrecorded_model(space: Space) -> str | None:
    if space.model_id is not None:
        return None
    return (
        f"the gallery does not record which {space.backbone.upper()} checkpoint embedded it: only its dimension matched"
    )


# ---------------------------------------------------------------------------- the modality gap, in words


def gap_notes(
    gallery: Gallery, query_modalities: Sequence[Modality], targets: Sequence[Modality]
) -> tuple[GapNote, ...]:
    """One note per (query modality, different target modality) pair."""
    notes = []
    for q in query_modalities:
        for t in targets:
            if q != t:
                notes.append(gap_note(gallery, q, t))
    return tuple(notes)


def gap_note(gallery: Gallery, q: Modality, t: Modality) -> GapNote:
    """The gap between q and t in this gallery's space and what it does to the scores."""
    bridged = (
        " (the audio reached CLIP space through the bridge)"
        if "audio" in (q, t) and gallery.space.backbone == "clip"
        else ""
    )
    if q not in gallery.parts:
        return GapNote(
            q,
            t,
            None,
            None,
            gallery.mean_cosine(t, t) if len(gallery.parts[t].rows) > 1 else None,
            f"{q} → {t} crosses modalities{bridged}. The gap between them cannot be measured here: the gallery holds "
            f"no {q} items in this space. Cosines across modalities usually run lower than within one, so judge a "
            f"score against the other {t} results of this query, not against a fixed threshold.",
        )
    gap = gallery.gap(q, t)
    across = gallery.mean_cosine(q, t)
    within = gallery.mean_cosine(t, t) if len(gallery.parts[t].rows) > 1 else None
    typical = f", two random {t} items {within:.2f}" if within is not None and np.isfinite(within) else ""
    where = (
        "they sit in separate regions of the space"
        if gap >= SMALL_GAP
        else "a small gap: the two modalities share one region of the space"
    )
    return GapNote(
        q,
        t,
        gap,
        across,
        within,
        f"{q} → {t} crosses modalities{bridged}. In this gallery the centres of the {q} and {t} embeddings are "
        f"{gap:.2f} apart (the modality gap; 0 = none, 2 = opposite): {where}. A random {q}-{t} pair scores "
        f"{across:.2f} on average{typical}; judge a cross-modal score against the other {t} results of this "
        "query, not against same-modality scores.",
    )


__all__ = ["GapNote", "Galleries", "Hit", "SearchResult", "choose_gallery", "gap_note", "gap_notes", "search"]
