"""Hubness correction at search time: `alignment.analysis.hubness_correction` behind `gallery.Correction`.

A correction needs statistics of every gallery item measured against queries like the ones to come (the bank).
Here the bank is the gallery's own items of the query's modality (a text query: the gallery's texts), the way
`evaluate` takes them from the evaluated queries: csls averages each item's cosine to its k nearest bank items,
isf and qbnorm normalise each item's scores over the bank. The statistics are measured once per (gallery,
target, bank modality, method) by the caller's choice; each search then re-ranks its CANDIDATES_PER_RESULT x k
cosine nearest by the corrected score (`hubness_correction.rescore_neighbours`): exact whenever the corrected
top-k lies among them, which the test checks against the brute-force corrected ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..analysis.hubness_correction import METHODS, GalleryStats, Method, prepare, rescore_neighbours
from ..inputs.items import Modality
from .gallery import ExactSearcher, Gallery, Part

NAMES: dict[Method, str] = {"csls": "CSLS", "isf": "inverted softmax", "qbnorm": "QB-Norm"}
CANDIDATES_PER_RESULT = 10  # cosine neighbours re-ranked per result asked for ...
MIN_CANDIDATES = 100  # ... and at least this many
MAX_BANK = 5_000  # bank items used at most (spread evenly): one pass of bank x gallery, measured once
MIN_BANK = 2  # fewer bank items than this measure nothing about the gallery


@dataclass(frozen=True, eq=False)
class HubnessCorrection:
    """A `gallery.Correction`: the statistics of one target modality's items against a bank, re-ranking each
    query's cosine candidates."""

    method: Method
    stats: GalleryStats  # indexed by gallery row (rows outside the target are never looked up)
    target: str  # the target modalities, in words ("image", "image, audio")
    bank: str  # what the statistics were measured against, in words

    @property
    def name(self) -> str:
        return f"{NAMES[self.method]} (statistics of the {self.target} items against {self.bank})"

    def candidates(self, k: int) -> int:
        return max(k * CANDIDATES_PER_RESULT, MIN_CANDIDATES)

    def rescore(self, queries: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
        return rescore_neighbours(scores, rows, self.stats)


def hubness_correction(
    method: str,
    gallery: Gallery,
    targets: Modality | Sequence[Modality],
    bank_modality: Modality,
    *,
    k: int = 10,
    beta: float = 20.0,
) -> HubnessCorrection:
    """The correction `method` (csls, isf, qbnorm) for searching the `targets` items of `gallery` with queries of
    `bank_modality`, measured against the gallery's own `bank_modality` items. ValueError says why it cannot be
    built (unknown method, no target items, too few bank items, an index that cannot give its vectors back)."""
    if method not in METHODS:
        raise ValueError(f"unknown hubness correction {method!r} (choose from {', '.join(METHODS)})")
    chosen = (targets,) if isinstance(targets, str) else tuple(dict.fromkeys(targets))
    absent = [t for t in chosen if t not in gallery.parts]
    if absent or not chosen:
        raise ValueError(f"gallery {gallery.name} holds no {absent[0] if absent else 'target'} items")
    what = ", ".join(chosen)
    bank_part = gallery.parts.get(bank_modality)
    if bank_part is None or len(bank_part.rows) < MIN_BANK:
        held = 0 if bank_part is None else len(bank_part.rows)
        raise ValueError(
            f"a hubness correction measures the {what} items against the gallery's {bank_modality} items, the "
            f"queries' modality; gallery {gallery.name} holds {held} (at least {MIN_BANK} needed)"
        )
    bank = vectors_of(bank_part, gallery.name)
    if len(bank) > MAX_BANK:
        bank = bank[np.linspace(0, len(bank) - 1, MAX_BANK).round().astype(np.int64)]

    def measured(target: Modality) -> tuple[np.ndarray, GalleryStats]:
        part = gallery.parts[target]
        return part.rows, prepare(method, vectors_of(part, gallery.name), bank, k=k, beta=beta)  # type: ignore[arg-type]

    parts = [measured(t) for t in chosen]
    same = " (each item is its own nearest)" if bank_modality in chosen else ""
    return HubnessCorrection(
        method,  # type: ignore[arg-type]
        _by_row(parts, len(gallery)),
        what,
        f"the gallery's {len(bank):,} {bank_modality} items{same}",
    )


def bank_modality(modalities: Sequence[str], weights: Mapping[str, float] | None = None) -> Modality:
    """The query modality a correction measures the gallery against: the query's, or a mix's heaviest part
    (the first of equal weights)."""
    if not modalities:
        raise ValueError("the query has no part")
    weights = weights or {}
    order = list(modalities)
    return max(order, key=lambda m: (weights.get(m, 1.0), -order.index(m)))  # type: ignore[return-value]


def vectors_of(part: Part, name: str) -> np.ndarray:
    """The unit vectors of one modality of a gallery, in its searcher's order (float32, (n, D))."""
    if isinstance(part.searcher, ExactSearcher):
        return part.searcher.vectors
    index = part.searcher.faiss_index
    try:
        return np.asarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)
    except RuntimeError as exc:  # an IVF index without a direct map, a compressed index
        raise ValueError(
            f"gallery {name}: its {part.searcher.kind} index cannot give its vectors back ({exc})"
        ) from None


def _by_row(parts: list[tuple[np.ndarray, GalleryStats]], n: int) -> GalleryStats:
    """Each target's statistics, in its searcher's order -> one set indexed by gallery row."""

    def spread(field: str, fill: float | bool) -> np.ndarray | None:
        values = [(rows, getattr(stats, field)) for rows, stats in parts]
        if values[0][1] is None:
            return None
        out = np.full(n, fill, dtype=values[0][1].dtype)
        for rows, v in values:
            out[rows] = v
        return out

    first = parts[0][1]
    return GalleryStats(first.settings, spread("r", 0.0), spread("log_z", 0.0), spread("active", False), first.n_bank)
