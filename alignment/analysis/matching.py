"""Match decisions over a paired dataset: precision/recall/F1 against a cosine threshold, one-to-one assignment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .blockwise import scan_pair
from .thresholds import ThresholdCurve, curve_from_histograms, curve_from_scores
from .topk import PairKeys, check_pair, pair_codes, query_chunks
from .true_pairs import group_counts

__all__ = [
    "MAX_ASSIGNMENT",
    "MAX_PAIRS",
    "Assignment",
    "ThresholdCurve",
    "assignment_accuracy",
    "from_matching",
    "threshold_curve",
]

MAX_PAIRS = 4_000_000  # pairs sorted whole (about 2,000 x 2,000); above that, counted per score bin in one pass
MAX_ASSIGNMENT = 5_000  # largest side of the matrix handed to the Hungarian algorithm (O(n^3) time, n^2 memory)


# ---------------------------------------------------------------------------- threshold


def threshold_curve(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_pairs: PairKeys,
    gallery_pairs: PairKeys,
    *,
    n_thresholds: int = 101,
    max_pairs: int = MAX_PAIRS,
    chunk: int | None = None,
) -> ThresholdCurve:
    """P/R/F1 against the cosine threshold on an evenly spaced grid, and the threshold with the best F1. Exact.

    Up to `max_pairs` pairs (Nq * Ng) every pair's score is sorted, so every distinct score is a candidate
    threshold. Above that, one blockwise pass counts the pairs per score bin (`thresholds.curve_from_histograms`):
    the counts at every bin edge are exact, and the best F1 is bracketed within one bin (6.1e-5 of cosine).
    """
    q, g = check_pair(queries, gallery)
    q_codes, g_codes = pair_codes(query_pairs, gallery_pairs, len(q), len(g))
    if n_thresholds < 2:
        raise ValueError(f"n_thresholds must be at least 2 (got {n_thresholds})")
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be at least 1 (got {max_pairs})")
    n_pairs = len(q) * len(g)
    n_positive = int(group_counts(q_codes, g_codes).sum())
    if n_positive == 0:
        raise ValueError(
            f"no (query, gallery) pair shares a pair key (0 of {n_pairs} pairs): precision and "
            "recall are undefined; check that both sides use the same pair keys"
        )
    if n_pairs > max_pairs:
        scan = scan_pair(q, g, q_codes, g_codes, k=1, chunk=chunk)
        assert scan.negatives is not None  # a plain pass with the histogram on
        return curve_from_histograms(scan.positives, scan.negatives, n_thresholds=n_thresholds)
    scores = np.empty(n_pairs, dtype=np.float32)
    labels = np.empty(n_pairs, dtype=bool)
    gallery_t = np.ascontiguousarray(g.T)  # (D, Ng)
    for rows in query_chunks(len(q), len(g), chunk):
        flat = slice(rows.start * len(g), rows.stop * len(g))
        scores[flat] = (q[rows] @ gallery_t).ravel()  # (c, Ng) -> (c * Ng,)
        labels[flat] = (q_codes[rows, None] == g_codes[None, :]).ravel()
    return curve_from_scores(scores, labels, n_positive, n_thresholds=n_thresholds)


# ---------------------------------------------------------------------------- one-to-one assignment


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class Assignment:
    """The one-to-one query -> gallery assignment that maximises the total cosine.

    `method` "hungarian": the exact optimum over the full matrix (scipy's linear_sum_assignment). "sparse":
    the optimum over the k-NN graph (`sparse_matching`), `certified` when proven optimal over every pair too;
    otherwise the full optimum's total is at most `gap_bound` higher.
    """

    accuracy: float  # share of evaluated queries assigned to one of their true matches
    assigned: np.ndarray  # (Nq,) int64 gallery index given to each query; -1 where none is left (Nq > Ng)
    correct: np.ndarray  # (Nq,) bool whether that gallery item is a true match
    n_queries: int  # queries evaluated (with at least one true match in the gallery)
    n_skipped: int  # queries without a true match: they take part in the assignment but are not scored
    method: str = "hungarian"  # "hungarian" (full matrix) or "sparse" (k-NN graph)
    certified: bool = True  # optimal over the full matrix (always for "hungarian")
    gap_bound: float = 0.0  # how much higher the full optimum's total can be (0.0 when certified)
    n_edges: int = 0  # pairs the sparse method could use (0 for "hungarian": all of them)

    def to_json(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "method": self.method,
            "certified_optimal": self.certified,
            "total_gap_bound": self.gap_bound,
            "n_edges": self.n_edges,
            "n_queries": self.n_queries,
        }


def from_matching(
    rows: np.ndarray, cols: np.ndarray, q_codes: np.ndarray, g_codes: np.ndarray, **info: object
) -> Assignment:
    """The Assignment of queries `rows[n]` to gallery items `cols[n]` (pair codes say which are right)."""
    has_true = np.isin(q_codes, g_codes)  # (Nq,)
    if not has_true.any():
        raise ValueError(
            f"no query has a true match in the gallery (0 of {len(q_codes)} queries; "
            "check that queries and gallery use the same pair keys)"
        )
    assigned = np.full(len(q_codes), -1, dtype=np.int64)
    assigned[rows] = cols
    correct = np.zeros(len(q_codes), dtype=bool)
    correct[rows] = q_codes[rows] == g_codes[cols]
    return Assignment(
        float(correct[has_true].mean()),
        assigned,
        correct,
        int(has_true.sum()),
        int((~has_true).sum()),
        **info,  # type: ignore[arg-type]
    )


def assignment_accuracy(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_pairs: PairKeys,
    gallery_pairs: PairKeys,
    *,
    max_size: int = MAX_ASSIGNMENT,
) -> Assignment:
    """Share of queries that the similarity-maximising one-to-one assignment gives a true match.

    Each gallery item goes to at most one query, so with several true queries per item (e.g. 5 captions per
    clip) at most one of them can be right: the number is meant for one-to-one datasets. Among assignments
    with the same total, scipy picks one. Raises ValueError when either side exceeds `max_size`.
    """
    q, g = check_pair(queries, gallery)
    q_codes, g_codes = pair_codes(query_pairs, gallery_pairs, len(q), len(g))
    if max(len(q), len(g)) > max_size:
        raise ValueError(
            f"one-to-one assignment is limited to {max_size} items per side (got {len(q)} queries "
            f"and {len(g)} gallery items); evaluate a subset"
        )
    if not np.isin(q_codes, g_codes).any():
        raise ValueError(
            f"no query has a true match in the gallery (0 of {len(q)} queries; "
            "check that queries and gallery use the same pair keys)"
        )
    rows, cols = linear_sum_assignment(q @ g.T, maximize=True)  # (Nq, Ng) -> min(Nq, Ng) pairs
    return from_matching(rows, cols, q_codes, g_codes)
