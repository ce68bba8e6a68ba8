"""Threshold P/R/F1 against sklearn's precision_recall_curve, one-to-one assignment against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve

from alignment.analysis.matching import Assignment, ThresholdCurve, assignment_accuracy, threshold_curve


def quantized_unit(x: np.ndarray, *, step: float = 2.0**-11) -> np.ndarray:
    """Normalize rows and round them to a 2**-11 grid: dot products are then exact in float32 and float64 alike."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (np.round(x / step) * step).astype(np.float32)


def paired(n: int, *, seed: int, noise: float = 1.0, d: int = 16) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """n one-to-one pairs around shared latents."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, d))
    a = quantized_unit(latent + noise * rng.standard_normal((n, d)))
    b = quantized_unit(latent + noise * rng.standard_normal((n, d)))
    return a, b, [f"p{i}" for i in range(n)]


# ---------------------------------------------------------------------------- threshold


def test_threshold_hand_case() -> None:
    # gallery = basis vectors; scores and truth (keys a, b on both sides):
    #          g0 "a"   g1 "b"
    #   q0 "a"  0.8 T    0.6 F
    #   q1 "b"  0.0 F    1.0 T
    # match iff cos >= t:  t = 1.0 -> TP 1 FP 0: P 1, R 1/2;  t = 0.8 -> TP 2 FP 0: P 1, R 1 (F1 = 1, the best)
    #                      t = 0.6 -> TP 2 FP 1: P 2/3;       t = 0.0 -> TP 2 FP 2: P 1/2
    queries = np.array([[0.8, 0.6], [0.0, 1.0]], dtype=np.float32)
    curve = threshold_curve(queries, np.eye(2, dtype=np.float32), ["a", "b"], ["a", "b"], n_thresholds=3)
    assert isinstance(curve, ThresholdCurve) and curve.exact
    np.testing.assert_allclose(curve.thresholds, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(curve.precision, [1 / 2, 2 / 3, 1.0])  # t = 0.5 counts as t = 0.6
    np.testing.assert_allclose(curve.recall, [1.0, 1.0, 0.5])
    np.testing.assert_allclose(curve.f1, [2 / 3, 0.8, 2 / 3])
    assert curve.best_threshold == pytest.approx(0.8) and curve.best_f1 == 1.0
    assert (curve.best_precision, curve.best_recall) == (1.0, 1.0)
    assert (curve.n_pairs, curve.n_positive, curve.n_scored) == (4, 2, 4)
    assert set(curve.to_json()) >= {"thresholds", "precision", "recall", "f1", "best_threshold", "exact"}


@pytest.mark.parametrize("chunk", [1, 11, None])
def test_threshold_exact_against_sklearn(chunk: int | None) -> None:
    a, b, keys = paired(40, seed=1)
    b_keys = keys[:30] + ["other"] * 10  # some queries without a match, some gallery items without one
    curve = threshold_curve(a, b, keys, b_keys, n_thresholds=101, chunk=chunk)
    scores = (a.astype(np.float64) @ b.T.astype(np.float64)).ravel()  # (1600,)
    labels = (np.asarray(keys)[:, None] == np.asarray(b_keys)[None, :]).ravel()
    precision, recall, thresholds = precision_recall_curve(labels, scores)  # thresholds ascending
    # at a grid threshold t the counts are those at the smallest distinct score >= t
    for t, p, r in zip(curve.thresholds, curve.precision, curve.recall, strict=True):
        i = np.searchsorted(thresholds, t, side="left")
        if i == 0 and t < thresholds[0]:
            continue  # sklearn may drop thresholds below the first point of full recall
        assert (p, r) == pytest.approx((precision[i], recall[i]), abs=1e-12), t
    with np.errstate(invalid="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))[:-1]  # the last point has no threshold
    best = len(f1) - 1 - np.argmax(f1[::-1])  # the highest threshold reaching the best F1
    assert curve.best_f1 == pytest.approx(f1[best], abs=1e-12)
    assert curve.best_threshold == pytest.approx(thresholds[best], abs=1e-9)
    assert curve.n_positive == labels.sum() == 30


def brute_counts(a: np.ndarray, b: np.ndarray, a_keys: list[str], b_keys: list[str], t: np.ndarray) -> tuple:
    """True and false pairs with cosine >= each threshold, from every pair's float64 score."""
    scores = (a.astype(np.float64) @ b.T.astype(np.float64)).ravel()
    labels = (np.asarray(a_keys)[:, None] == np.asarray(b_keys)[None, :]).ravel()
    tp = np.array([(scores[labels] >= x).sum() for x in t])
    fp = np.array([(scores[~labels] >= x).sum() for x in t])
    return tp, fp, labels.sum()


# Above max_pairs the pairs are no longer sampled (that path said F1 0.904 where the exact answer was 0.887 at
# 50k): one blockwise pass counts them per score bin. These two tests replace the two that checked the sampled
# estimate against the exact curve; they check the binned curve against every pair's score instead.


def test_threshold_above_max_pairs_is_exact_at_every_bin_edge() -> None:
    a, b, keys = paired(400, seed=2, noise=0.7)
    exact = threshold_curve(a, b, keys, keys)
    binned = threshold_curve(a, b, keys, keys, max_pairs=40_000, chunk=37)
    assert exact.exact and binned.exact and exact.resolution == 0.0 and binned.resolution == 2.0**-14
    assert binned.n_scored == binned.n_pairs == exact.n_pairs == 160_000 and binned.n_positive == 400
    tp, fp, n_pos = brute_counts(a, b, keys, keys, binned.thresholds)
    np.testing.assert_array_equal(binned.precision, tp / (tp + fp))
    np.testing.assert_array_equal(binned.recall, tp / n_pos)
    # the best F1 over every threshold (the full sort's) lies between the best edge's and the stated bound
    assert binned.best_f1 <= exact.best_f1 + 1e-12 and exact.best_f1 <= binned.best_f1_bound + 1e-12
    assert abs(binned.best_threshold - exact.best_threshold) <= 2.0**-14
    at = brute_counts(a, b, keys, keys, np.array([binned.best_threshold]))
    assert binned.best_f1 == pytest.approx(2 * at[0][0] / (at[0][0] + at[1][0] + 400), abs=1e-12)


def test_threshold_above_max_pairs_with_many_true_pairs() -> None:
    rng = np.random.default_rng(4)
    latent = rng.standard_normal((4, 16))
    group = rng.integers(0, 4, 300)  # 4 keys: about a quarter of all pairs are true
    a = quantized_unit(latent[group] + rng.standard_normal((300, 16)))
    b = quantized_unit(latent[group] + rng.standard_normal((300, 16)))
    keys = [f"k{i}" for i in group]
    exact = threshold_curve(a, b, keys, keys)
    binned = threshold_curve(a, b, keys, keys, max_pairs=20_000)
    assert binned.n_scored == 90_000 and binned.n_positive == exact.n_positive > 10_000
    tp, fp, _ = brute_counts(a, b, keys, keys, binned.thresholds)
    np.testing.assert_array_equal(binned.precision, tp / (tp + fp))
    assert binned.best_f1 <= exact.best_f1 + 1e-12 <= binned.best_f1_bound + 2e-12
    assert exact.best_f1 - binned.best_f1 < 1e-3


def test_threshold_rejects_bad_input() -> None:
    eye = np.eye(2, dtype=np.float32)
    with pytest.raises(ValueError, match=r"0 of 4 pairs"):
        threshold_curve(eye, eye, ["a", "b"], ["c", "d"])
    with pytest.raises(ValueError, match=r"n_thresholds must be at least 2 \(got 1\)"):
        threshold_curve(eye, eye, ["a", "b"], ["a", "b"], n_thresholds=1)


# ---------------------------------------------------------------------------- assignment


def test_assignment_hand_case() -> None:
    # scores (gallery = basis vectors):   g0 "b"  g1 "a"
    #                            q0 "a"    0.8     0.6
    #                            q1 "b"    0.6     0.0
    # both queries' argmax is g0 (top-1 accuracy 1/2); the best one-to-one total is q0->g1 + q1->g0 = 1.2 > 0.8
    queries = np.array([[0.8, 0.6, 0.0], [0.6, 0.0, 0.8]], dtype=np.float32)
    gallery = np.eye(2, 3, dtype=np.float32)
    result = assignment_accuracy(queries, gallery, ["a", "b"], ["b", "a"])
    assert isinstance(result, Assignment)
    np.testing.assert_array_equal(result.assigned, [1, 0])
    assert result.accuracy == 1.0 and result.correct.all() and (result.n_queries, result.n_skipped) == (2, 0)


@pytest.mark.parametrize(("nq", "ng"), [(6, 6), (5, 7), (7, 5)])
def test_assignment_against_brute_force(nq: int, ng: int) -> None:
    rng = np.random.default_rng(nq * 10 + ng)
    q = quantized_unit(rng.standard_normal((nq, 8)))
    g = quantized_unit(rng.standard_normal((ng, 8)))
    qp = [f"k{i}" for i in rng.integers(0, 5, nq)]
    gp = [f"k{i}" for i in rng.integers(0, 5, ng)]
    scores = q.astype(np.float64) @ g.T.astype(np.float64)
    n = min(nq, ng)
    best_total, best = -np.inf, None  # every injective map of the smaller side into the larger
    for rows in itertools.permutations(range(nq), n) if nq > ng else [tuple(range(nq))]:
        for cols in itertools.permutations(range(ng), n) if nq <= ng else [tuple(range(ng))]:
            total = scores[list(rows), list(cols)].sum()
            if total > best_total + 1e-12:
                best_total, best = total, (rows, cols)
    assert best is not None
    assigned = np.full(nq, -1)
    assigned[list(best[0])] = best[1]
    result = assignment_accuracy(q, g, qp, gp)
    np.testing.assert_array_equal(result.assigned, assigned)
    has_true = np.isin(qp, gp)
    correct = [assigned[i] >= 0 and qp[i] == gp[assigned[i]] for i in range(nq)]
    assert result.accuracy == pytest.approx(np.mean(np.array(correct)[has_true]))
    assert result.n_queries == has_true.sum()


def test_assignment_size_limit() -> None:
    eye = np.eye(4, dtype=np.float32)
    with pytest.raises(ValueError, match=r"limited to 3 items per side \(got 4 queries and 4 gallery items\)"):
        assignment_accuracy(eye, eye, list("abcd"), list("abcd"), max_size=3)
