"""The threshold curve from per-bin counts against a brute-force sort of every pair, by hand and inside evaluate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve

import alignment.analysis.pair_eval as pair_eval
from alignment.analysis.evaluate import evaluate
from alignment.analysis.pass_kernel import N_BINS, score_bin
from alignment.analysis.thresholds import BIN_WIDTH, curve_from_histograms, curve_from_scores, edge
from alignment.inputs.embeddings import from_arrays


def test_histogram_hand_case() -> None:
    # true pairs at 0.5 and 0.25, false pairs at 0.25 and -0.5 (all on bin edges):
    # t = 0.5: TP 1 FP 0 -> P 1, R 1/2, F1 2/3;  t = 0.25: TP 2 FP 1 -> P 2/3, R 1, F1 0.8 (the best)
    pos, neg = np.zeros(N_BINS, np.int64), np.zeros(N_BINS, np.int64)
    for s in (0.5, 0.25):
        pos[score_bin(s)] += 1
    for s in (0.25, -0.5):
        neg[score_bin(s)] += 1
    curve = curve_from_histograms(pos, neg, n_thresholds=4)
    assert (curve.best_threshold, curve.best_f1) == (0.25, pytest.approx(0.8))
    assert (curve.best_precision, curve.best_recall) == (pytest.approx(2 / 3), 1.0)
    assert curve.thresholds[0] == -0.5 and curve.thresholds[-1] == 0.5 and curve.resolution == BIN_WIDTH
    # the bound is loose here: from the counts alone a threshold inside the 0.25 bin might keep both true pairs
    # and drop the false one (it cannot: they share a score), which would give F1 = 1
    assert curve.best_f1_bound == pytest.approx(1.0)
    assert (curve.n_pairs, curve.n_positive, curve.exact) == (4, 2, True)
    assert edge(score_bin(0.3)) <= 0.3 < edge(score_bin(0.3) + 1)
    with pytest.raises(ValueError, match="no true pair among 2 pairs"):
        curve_from_histograms(np.zeros(N_BINS, np.int64), neg)


def test_scores_curve_against_sklearn() -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal(500)
    labels = rng.random(500) < 0.2
    curve = curve_from_scores(scores, labels, int(labels.sum()))
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))[:-1]
    assert curve.best_f1 == pytest.approx(f1.max(), abs=1e-12) and curve.best_f1_bound == curve.best_f1
    assert curve.resolution == 0.0


@pytest.mark.parametrize("captions", [1, 5])
def test_evaluate_threshold_against_every_pair_sorted(monkeypatch: pytest.MonkeyPatch, captions: int) -> None:
    """At 50k and more the pass counts pairs per bin; forced here on 60 x 300 pairs: exact to one bin (6.1e-5)."""
    rng = np.random.default_rng(captions)
    n = 300 // captions
    latent = rng.standard_normal((n, 64))
    images = latent + 1.5 * rng.standard_normal((n, 64))
    texts = np.repeat(latent, captions, axis=0) + 1.5 * rng.standard_normal((n * captions, 64))
    data = from_arrays(
        [f"t{i}" for i in range(n * captions)] + [f"i{i}" for i in range(n)],
        ["text"] * (n * captions) + ["image"] * n,
        [str(i // captions) for i in range(n * captions)] + [str(i) for i in range(n)],
        np.concatenate([texts, images]).astype(np.float32),
    )
    exact = evaluate({"s": data}).pairs["text-image"].threshold  # small: every pair sorted
    monkeypatch.setattr(pair_eval, "MAX_PAIRS", 100)
    binned = evaluate({"s": data}).pairs["text-image"].threshold
    assert exact.resolution == 0.0 and binned.resolution == BIN_WIDTH
    t, i = data.embeddings[: n * captions].astype(np.float64), data.embeddings[n * captions :].astype(np.float64)
    scores = (t @ i.T).ravel()
    labels = (np.repeat(np.arange(n), captions)[:, None] == np.arange(n)[None, :]).ravel()
    order = np.argsort(-scores)
    tp, fp = np.cumsum(labels[order]), np.cumsum(~labels[order])
    f1 = 2 * tp / (tp + fp + labels.sum())
    best = int(np.argmax(f1))
    brute_threshold, brute_f1 = scores[order][best], f1[best]
    assert abs(binned.best_threshold - brute_threshold) <= 1e-4
    assert binned.best_f1 <= brute_f1 + 1e-12 <= binned.best_f1_bound + 1e-12
    assert exact.best_f1 == pytest.approx(brute_f1, abs=1e-6)
    assert abs(exact.best_threshold - brute_threshold) <= 1e-6
    # at its own threshold the binned curve's counts are those of every pair
    kept = scores >= binned.best_threshold
    assert binned.best_precision == pytest.approx(labels[kept].mean(), abs=1e-12)
    assert binned.best_recall == pytest.approx(labels[kept].sum() / labels.sum(), abs=1e-12)
