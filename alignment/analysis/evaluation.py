"""What `evaluate` returns: directions, modality pairs, errors, a hubness correction's effect; and metrics.json."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..inputs.embeddings import Embedded
from ..inputs.items import Modality
from .hubness import Hubness
from .matching import Assignment
from .metrics import RetrievalMetrics, ZeroShot
from .thresholds import ThresholdCurve
from .topk import Ranks


@dataclass(frozen=True)
class Change:
    """A query whose top-1 a hubness correction changed from wrong to right (fixed) or right to wrong (created)."""

    direction: str
    space: str
    query: str  # query id
    truth: str  # its best-ranked true match before the correction
    top_before: str  # the item ranked first before
    top_after: str  # ... and after the correction
    rank_before: int  # rank of the truth before (1-based; ties in the query's favour)
    rank_after: int  # rank of the best true match after
    query_row: int  # rows in the space's Embedded, for previews
    truth_row: int
    top_before_row: int
    top_after_row: int

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "truth": self.truth,
            "top_before": self.top_before,
            "top_after": self.top_after,
            "rank_before": self.rank_before,
            "rank_after": self.rank_after,
        }


@dataclass(frozen=True, eq=False)
class Corrected:
    """One direction after a hubness correction (`hubness_correction`), ranked over the same items."""

    method: str  # "csls", "isf" or "qbnorm"
    ranks: Ranks  # top_scores are the corrected scores
    metrics: RetrievalMetrics
    hubness: Hubness  # k-occurrence of the gallery in the corrected top-k
    fixed: list[Change]  # wrong before, right after
    created: list[Change]  # right before, wrong after


@dataclass(frozen=True, eq=False)
class Direction:
    """Retrieval from one modality to another inside one space (e.g. text->image in CLIP space)."""

    name: str  # "text->image"
    pair: str  # the PairSummary it belongs to, "text-image"
    space: str
    query_modality: Modality
    gallery_modality: Modality
    query_rows: np.ndarray  # (Nq,) row indices into the space's Embedded
    gallery_rows: np.ndarray  # (Ng,)
    ranks: Ranks
    metrics: RetrievalMetrics
    metrics_without_gap: RetrievalMetrics | None  # after per-modality centering (gap.gap_maps: the rank-one
    # correction equal to gap.remove_modality_gap); None when centering is impossible (a modality with one
    # item, or all its items identical): see the notes
    hubness: Hubness  # of gallery items in the queries' top-K
    assignment: Assignment | None
    assignment_note: str | None  # why assignment was skipped, or how far the sparse one is from proven optimal
    ranks_without_gap: Ranks | None = None  # the ranking the metrics without the gap come from
    corrected: Corrected | None = None  # with evaluate(..., hubness=...): the same queries, corrected
    corrected_note: str | None = None  # why this direction has no correction (e.g. no query bank)


@dataclass(frozen=True, eq=False)
class PairSummary:
    """Direction-free numbers of one modality pair: the gap between the two and the threshold curve."""

    name: str  # "text-image"
    space: str
    gap: float  # distance between the two modality centroids of the unit embeddings
    threshold: ThresholdCurve
    backend: str = "numba"  # what ran the blockwise pass: "numba" (CPU) or "torch:<device>"


@dataclass(frozen=True)
class ErrorRow:
    """One query whose top match is not a true match."""

    direction: str
    space: str
    query: str  # query id
    query_modality: Modality
    truth: str  # the best-ranked true match
    truth_score: float
    top: str  # the wrong item ranked first
    top_score: float
    rank: int  # rank of the truth (1-based)
    margin: float  # top_score - truth_score: how far the truth lost by
    query_row: int  # row in the space's Embedded, for neighbours and previews
    truth_row: int
    top_row: int


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Everything `evaluate` measured; `to_json` is the metrics.json the CLI writes."""

    spaces: dict[str, Embedded]
    directions: dict[str, Direction]
    pairs: dict[str, PairSummary]
    zero_shot: dict[str, ZeroShot]  # keyed "image", "audio" (the labelled modality)
    errors: list[ErrorRow]
    notes: list[str] = field(default_factory=list)  # what could not be computed, and why
    hubness_correction: dict | None = None  # the correction asked for: settings and query bank, or None

    def to_json(self) -> dict:
        """metrics.json: one object per direction, then modality_gap, hubness, threshold, assignment, zero_shot,
        and with a correction, hubness_correction."""
        out: dict = {
            name: {**d.metrics.to_json(), "n_skipped": d.metrics.n_skipped, "space": d.space}
            for name, d in self.directions.items()
        }
        out["modality_gap"] = {
            p.name: {
                "space": p.space,
                "gap": p.gap,
                "after_removal": {
                    d.name: (d.metrics_without_gap.to_json() if d.metrics_without_gap else None)
                    for d in self.directions.values()
                    if d.pair == p.name
                },
            }
            for p in self.pairs.values()
        }
        out["hubness"] = {name: d.hubness.to_json() for name, d in self.directions.items()}
        out["threshold"] = {name: _threshold_json(p.threshold) for name, p in self.pairs.items()}
        out["assignment_accuracy"] = {
            name: (d.assignment.accuracy if d.assignment else None) for name, d in self.directions.items()
        }
        out["assignment"] = {
            name: (d.assignment.to_json() if d.assignment else {"skipped": d.assignment_note})
            for name, d in self.directions.items()
        }
        if self.zero_shot:
            out["zero_shot"] = {
                m: {
                    "accuracy": z.accuracy,
                    "classes": list(z.classes),
                    "confusion": z.confusion.tolist(),
                    "n_items": z.n_items,
                }
                for m, z in self.zero_shot.items()
            }
        if self.hubness_correction is not None:
            out["hubness_correction"] = {**self.hubness_correction, "directions": self._corrections_json()}
        out["n_errors"] = len(self.errors)
        out["notes"] = self.notes
        out["backend"] = {name: p.backend for name, p in self.pairs.items()}
        return out

    def _corrections_json(self) -> dict:
        out: dict = {}
        for name, d in self.directions.items():
            c = d.corrected
            if c is None:
                out[name] = {"skipped": d.corrected_note}
                continue
            out[name] = {
                "before": _summary(d.metrics, d.hubness),
                "after": _summary(c.metrics, c.hubness),
                "n_fixed": len(c.fixed),
                "n_created": len(c.created),
                "fixed": [e.to_json() for e in c.fixed],
                "created": [e.to_json() for e in c.created],
            }
        return out

    def row(self, space: str, index: int) -> tuple[str, Modality, str, str | None]:
        """(id, modality, pair, label) of one row of a space."""
        data = self.spaces[space]
        return data.ids[index], data.modality[index], data.pair[index], data.label[index]


def _summary(metrics: RetrievalMetrics, hubness: Hubness) -> dict:
    return {"R@1": metrics.r1, "R@5": metrics.r5, "R@10": metrics.r10, "MRR": metrics.mrr, "hub_skew": hubness.skewness}


def _threshold_json(curve: ThresholdCurve) -> dict:
    summary = curve.to_json()
    return {
        "best_threshold": summary["best_threshold"],
        "precision": summary["best_precision"],
        "recall": summary["best_recall"],
        "F1": summary["best_f1"],
        "F1_upper_bound": summary["best_f1_upper_bound"],
        "resolution": summary["resolution"],
        "exact": summary["exact"],
        "n_pairs": summary["n_pairs"],
        "n_positive": summary["n_positive"],
    }
