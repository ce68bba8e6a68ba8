"""Match decisions over a paired dataset: precision/recall/F1 against a cosine threshold, one-to-one assignment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .topk import PairKeys, check_pair, pair_codes, query_chunks

MAX_PAIRS = 4_000_000  # pairs scored exactly (about 2,000 x 2,000); above that, pairs are sampled
MAX_ASSIGNMENT = 5_000  # largest side of the matrix handed to the Hungarian algorithm (O(n^3) time, n^2 memory)
PAIR_BLOCK = 1 << 14  # sampled pairs scored per step: two (PAIR_BLOCK, D) gathers


# ---------------------------------------------------------------------------- threshold


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class ThresholdCurve:
    """Precision, recall and F1 of "match iff cosine >= threshold" over all (query, gallery) pairs.

    When `exact` is False the pairs were sampled (see `threshold_curve`) and the numbers are estimates.
    """

    thresholds: np.ndarray  # (T,) float64, evenly spaced from the lowest to the highest scored pair's cosine
    precision: np.ndarray  # (T,) float64
    recall: np.ndarray  # (T,) float64
    f1: np.ndarray  # (T,) float64
    best_threshold: float  # highest F1 over every distinct pair score (not only the grid); highest such score
    best_precision: float
    best_recall: float
    best_f1: float
    n_pairs: int  # Nq * Ng pairs in total
    n_positive: int  # true pairs (equal pair keys) in total
    n_scored: int  # pairs actually scored: n_pairs when exact
    exact: bool

    def to_json(self) -> dict:
        """Plain numbers: the curve as lists and the best operating point."""
        return {
            "thresholds": self.thresholds.round(6).tolist(),
            "precision": self.precision.round(6).tolist(),
            "recall": self.recall.round(6).tolist(),
            "f1": self.f1.round(6).tolist(),
            "best_threshold": self.best_threshold,
            "best_precision": self.best_precision,
            "best_recall": self.best_recall,
            "best_f1": self.best_f1,
            "n_pairs": self.n_pairs,
            "n_positive": self.n_positive,
            "n_scored": self.n_scored,
            "exact": self.exact,
        }


def threshold_curve(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_pairs: PairKeys,
    gallery_pairs: PairKeys,
    *,
    n_thresholds: int = 101,
    max_pairs: int = MAX_PAIRS,
    seed: int = 0,
    chunk: int | None = None,
) -> ThresholdCurve:
    """P/R/F1 against the cosine threshold on an evenly spaced grid, and the threshold with the best F1.

    Up to `max_pairs` pairs (Nq * Ng) every pair is scored, chunk-wise: the curve is exact. Above that, true
    pairs are all scored if they fit in half the budget (else sampled uniformly with replacement) and false
    pairs are sampled uniformly with replacement to fill the rest; each sample is weighted by
    (pairs of its kind) / (samples of its kind), so the true- and false-positive counts at each threshold are
    unbiased estimates, and precision, recall and F1 are computed from them. `seed` makes the sample reproducible.
    """
    q, g = check_pair(queries, gallery)
    q_codes, g_codes = pair_codes(query_pairs, gallery_pairs, len(q), len(g))
    if n_thresholds < 2:
        raise ValueError(f"n_thresholds must be at least 2 (got {n_thresholds})")
    if max_pairs < 2:
        raise ValueError(f"max_pairs must be at least 2 (got {max_pairs})")
    n_pairs = len(q) * len(g)
    order = np.argsort(g_codes, kind="stable")  # gallery indices grouped by pair key
    sorted_codes = g_codes[order]
    start = np.searchsorted(sorted_codes, q_codes, side="left")  # (Nq,) each query's group in `order`
    n_true = np.searchsorted(sorted_codes, q_codes, side="right") - start  # (Nq,)
    n_positive = int(n_true.sum())
    if n_positive == 0:
        raise ValueError(
            f"no (query, gallery) pair shares a pair key (0 of {n_pairs} pairs): precision and "
            "recall are undefined; check that both sides use the same pair keys"
        )

    if n_pairs <= max_pairs:
        scores = np.empty(n_pairs, dtype=np.float32)
        labels = np.empty(n_pairs, dtype=bool)
        gallery_t = np.ascontiguousarray(g.T)  # (D, Ng)
        for rows in query_chunks(len(q), len(g), chunk):
            flat = slice(rows.start * len(g), rows.stop * len(g))
            scores[flat] = (q[rows] @ gallery_t).ravel()  # (c, Ng) -> (c * Ng,)
            labels[flat] = (q_codes[rows, None] == g_codes[None, :]).ravel()
        weights = np.ones(n_pairs)
        exact = True
    else:
        rng = np.random.default_rng(seed)
        if n_positive <= max_pairs // 2:  # every true pair: q repeated n_true times, g its group in turn
            pos_q = np.repeat(np.arange(len(q)), n_true)
            within = np.arange(n_positive) - np.repeat(np.cumsum(n_true) - n_true, n_true)
        else:
            pos_q = rng.choice(len(q), size=max_pairs // 2, p=n_true / n_positive)
            within = rng.integers(0, n_true[pos_q])
        pos_g = order[start[pos_q] + within]
        neg_q, neg_g = _sample_false_pairs(rng, q_codes, g_codes, max_pairs - len(pos_q), n_pairs - n_positive)
        pair_q, pair_g = np.concatenate([pos_q, neg_q]), np.concatenate([pos_g, neg_g])
        scores = np.empty(len(pair_q), dtype=np.float32)
        for s in range(0, len(pair_q), PAIR_BLOCK):
            e = s + PAIR_BLOCK
            scores[s:e] = np.einsum("nd,nd->n", q[pair_q[s:e]], g[pair_g[s:e]])  # (n, D) . (n, D) -> (n,)
        labels = np.concatenate([np.ones(len(pos_q), dtype=bool), np.zeros(len(neg_q), dtype=bool)])
        weights = np.concatenate(
            [
                np.full(len(pos_q), n_positive / len(pos_q)),
                np.full(len(neg_q), (n_pairs - n_positive) / max(len(neg_q), 1)),
            ]
        )
        exact = False
    return _curve(scores, labels, weights, n_positive, n_thresholds=n_thresholds, n_pairs=n_pairs, exact=exact)


def _sample_false_pairs(
    rng: np.random.Generator, q_codes: np.ndarray, g_codes: np.ndarray, n: int, n_false: int
) -> tuple[np.ndarray, np.ndarray]:
    """n (query, gallery) pairs drawn uniformly with replacement among the pairs with different keys."""
    if n_false == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    share = n_false / (len(q_codes) * len(g_codes))
    qs, gs, have = [], [], 0
    while have < n:  # rejection sampling; `share` of draws are kept, so this loops about once
        want = int((n - have) / share * 1.1) + 16
        qi, gi = rng.integers(0, len(q_codes), want), rng.integers(0, len(g_codes), want)
        keep = q_codes[qi] != g_codes[gi]
        qs.append(qi[keep])
        gs.append(gi[keep])
        have += int(keep.sum())
    return np.concatenate(qs)[:n], np.concatenate(gs)[:n]


def _curve(
    scores: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    n_positive: int,
    *,
    n_thresholds: int,
    n_pairs: int,
    exact: bool,
) -> ThresholdCurve:
    order = np.argsort(-scores)  # the order within equal scores does not matter: only run ends are read
    ranked = scores[order]  # (n,) descending
    tp = np.cumsum(np.where(labels[order], weights[order], 0.0))  # (n,) weighted true pairs with score >= ranked[i]
    fp = np.cumsum(np.where(labels[order], 0.0, weights[order]))
    last = np.append(np.flatnonzero(np.diff(ranked) != 0), len(ranked) - 1)  # last position of each distinct score
    thresholds, tp, fp = ranked[last], tp[last], fp[last]  # (U,) distinct scores, descending
    precision = tp / (tp + fp)
    recall = tp / n_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))  # first maximum = the highest threshold reaching the best F1
    grid = np.linspace(float(thresholds[-1]), float(thresholds[0]), n_thresholds)  # (T,) ascending
    # the counts at t are those at the smallest distinct score >= t
    at = len(thresholds) - 1 - np.searchsorted(thresholds[::-1], grid, side="left")
    return ThresholdCurve(
        thresholds=grid,
        precision=precision[at],
        recall=recall[at],
        f1=f1[at],
        best_threshold=float(thresholds[best]),
        best_precision=float(precision[best]),
        best_recall=float(recall[best]),
        best_f1=float(f1[best]),
        n_pairs=n_pairs,
        n_positive=n_positive,
        n_scored=len(scores),
        exact=exact,
    )


# ---------------------------------------------------------------------------- one-to-one assignment


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class Assignment:
    """The one-to-one query -> gallery assignment that maximises the total cosine (Hungarian algorithm)."""

    accuracy: float  # share of evaluated queries assigned to one of their true matches
    assigned: np.ndarray  # (Nq,) int64 gallery index given to each query; -1 where none is left (Nq > Ng)
    correct: np.ndarray  # (Nq,) bool whether that gallery item is a true match
    n_queries: int  # queries evaluated (with at least one true match in the gallery)
    n_skipped: int  # queries without a true match: they take part in the assignment but are not scored


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
    has_true = np.isin(q_codes, g_codes)  # (Nq,)
    if not has_true.any():
        raise ValueError(
            f"no query has a true match in the gallery (0 of {len(q)} queries; "
            "check that queries and gallery use the same pair keys)"
        )
    rows, cols = linear_sum_assignment(q @ g.T, maximize=True)  # (Nq, Ng) -> min(Nq, Ng) pairs
    assigned = np.full(len(q), -1, dtype=np.int64)
    assigned[rows] = cols
    correct = np.zeros(len(q), dtype=bool)
    correct[rows] = q_codes[rows] == g_codes[cols]
    return Assignment(
        accuracy=float(correct[has_true].mean()),
        assigned=assigned,
        correct=correct,
        n_queries=int(has_true.sum()),
        n_skipped=int((~has_true).sum()),
    )
