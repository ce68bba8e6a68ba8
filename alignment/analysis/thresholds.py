"""Precision, recall and F1 of "match iff cosine >= threshold": exact, from every pair's score or from per-bin counts.

Two exact ways. From the scores themselves (small sets: every distinct score is a candidate threshold), or
from the blockwise pass's histograms: the true pairs counted per score bin from their exact scores, the false
pairs counted per bin block by block. At every bin edge the counts are exact, so precision, recall and F1
there are too; the best edge is reported with an upper bound on the F1 any threshold between edges could
reach, so the true best F1 lies between the two numbers and its threshold within one bin (6.1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pass_kernel import HIST_SCALE, N_BINS

BIN_WIDTH = 1.0 / HIST_SCALE  # 2**-14 = 6.1e-5 of cosine


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class ThresholdCurve:
    """Precision, recall and F1 of "match iff cosine >= threshold" over all (query, gallery) pairs.

    Every pair is counted (`exact`). With `resolution` 0 every distinct score was a candidate threshold;
    otherwise the candidates are the edges of score bins that wide, and the best F1 over every possible
    threshold lies in [best_f1, best_f1_bound].
    """

    thresholds: np.ndarray  # (T,) float64, ascending from the lowest to the highest scored pair's cosine
    precision: np.ndarray  # (T,) float64
    recall: np.ndarray  # (T,) float64
    f1: np.ndarray  # (T,) float64
    best_threshold: float  # the candidate threshold with the highest F1 (the highest such one)
    best_precision: float
    best_recall: float
    best_f1: float
    n_pairs: int  # Nq * Ng pairs in total
    n_positive: int  # true pairs (equal pair keys) in total
    n_scored: int  # pairs counted: n_pairs
    exact: bool  # every pair counted (no sampling)
    resolution: float = 0.0  # bin width of the candidate thresholds; 0.0: every distinct pair score
    best_f1_bound: float = float("nan")  # no threshold reaches a higher F1 (= best_f1 when resolution is 0)

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
            "best_f1_upper_bound": self.best_f1_bound,
            "resolution": self.resolution,
            "n_pairs": self.n_pairs,
            "n_positive": self.n_positive,
            "n_scored": self.n_scored,
            "exact": self.exact,
        }


def _f1(tp: np.ndarray, fp: np.ndarray, n_positive: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 from true- and false-positive counts (tp + fp >= 1 everywhere)."""
    precision = tp / (tp + fp)
    recall = tp / n_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def curve_from_scores(
    scores: np.ndarray, labels: np.ndarray, n_positive: int, *, n_thresholds: int = 101
) -> ThresholdCurve:
    """Every distinct score of the pairs as a candidate threshold: scores (n,), labels (n,) bool (true pair)."""
    order = np.argsort(-scores)  # the order within equal scores does not matter: only run ends are read
    ranked = scores[order]  # (n,) descending
    tp = np.cumsum(labels[order], dtype=np.float64)  # (n,) true pairs with score >= ranked[i]
    fp = np.cumsum(~labels[order], dtype=np.float64)
    last = np.append(np.flatnonzero(np.diff(ranked) != 0), len(ranked) - 1)  # last position of each distinct score
    thresholds, tp, fp = ranked[last], tp[last], fp[last]  # (U,) distinct scores, descending
    precision, recall, f1 = _f1(tp, fp, n_positive)
    best = int(np.argmax(f1))  # first maximum = the highest threshold reaching the best F1
    grid = np.linspace(float(thresholds[-1]), float(thresholds[0]), n_thresholds)  # (T,) ascending
    at = len(thresholds) - 1 - np.searchsorted(thresholds[::-1], grid, side="left")  # smallest score >= t
    return ThresholdCurve(
        thresholds=grid,
        precision=precision[at],
        recall=recall[at],
        f1=f1[at],
        best_threshold=float(thresholds[best]),
        best_precision=float(precision[best]),
        best_recall=float(recall[best]),
        best_f1=float(f1[best]),
        n_pairs=len(scores),
        n_positive=n_positive,
        n_scored=len(scores),
        exact=True,
        best_f1_bound=float(f1[best]),
    )


def edge(b: np.ndarray | int) -> np.ndarray | float:
    """The cosine at the lower edge of bin b (`pass_kernel.score_bin`): exactly b / 2**14 - 1."""
    return np.asarray(b, dtype=np.float64) / HIST_SCALE - 1.0


def curve_from_histograms(positives: np.ndarray, negatives: np.ndarray, *, n_thresholds: int = 101) -> ThresholdCurve:
    """The curve at the bin edges from true- and false-pair counts per bin ((N_BINS,) int64 each)."""
    if positives.shape != (N_BINS,) or negatives.shape != (N_BINS,):
        raise ValueError(f"need two histograms of {N_BINS} bins (got {positives.shape} and {negatives.shape})")
    n_positive = int(positives.sum())
    if n_positive == 0:
        raise ValueError(
            f"no true pair among {int(negatives.sum())} pairs: precision and recall are undefined; "
            "check that both sides use the same pair keys"
        )
    occupied = np.flatnonzero((positives + negatives) > 0)
    lo, hi = int(occupied[0]), int(occupied[-1])
    tp = np.cumsum(positives[::-1])[::-1][lo : hi + 1].astype(np.float64)  # (B,) true pairs >= edge(lo + n)
    fp = np.cumsum(negatives[::-1])[::-1][lo : hi + 1].astype(np.float64)
    precision, recall, f1 = _f1(tp, fp, n_positive)
    best = len(f1) - 1 - int(np.argmax(f1[::-1]))  # the highest edge reaching the best F1
    # a threshold inside bin b keeps at most tp[b] true pairs and at least fp[b + 1] false ones
    fp_above = np.append(fp[1:], 0.0)
    bound = float(np.max(2 * tp / (tp + fp_above + n_positive)))
    shown = np.unique(np.round(np.linspace(0, hi - lo, n_thresholds)).astype(np.int64))  # (T,) bins, ascending
    return ThresholdCurve(
        thresholds=np.asarray(edge(lo + shown)),
        precision=precision[shown],
        recall=recall[shown],
        f1=f1[shown],
        best_threshold=float(edge(lo + best)),
        best_precision=float(precision[best]),
        best_recall=float(recall[best]),
        best_f1=float(f1[best]),
        n_pairs=int(positives.sum() + negatives.sum()),
        n_positive=n_positive,
        n_scored=int(positives.sum() + negatives.sum()),
        exact=True,
        resolution=BIN_WIDTH,
        best_f1_bound=max(bound, float(f1[best])),
    )
