"""Similarity maths against independent computations and a hand-made matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignment.analysis.similarity import Scores, best_matches, cosine, softmax_over_rows


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("scale", [1.0, 14.3, 100.0])
def test_softmax_over_rows_matches_torch(scale: float) -> None:
    scores = np.random.default_rng(0).uniform(-1, 1, (7, 5)).astype(np.float32)
    expected = torch.softmax(scale * torch.from_numpy(scores).double(), dim=0).numpy()
    out = softmax_over_rows(scores, scale)
    assert out.dtype == np.float32 and out.shape == (7, 5)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-6)


def test_softmax_is_stable_for_large_logits() -> None:
    out = softmax_over_rows(np.array([[1.0, -1.0], [0.99, 1.0]], np.float32), 1_000.0)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [[1.0, 0.0], [0.0, 1.0]], atol=1e-4)


def test_softmax_of_nothing_is_nothing() -> None:
    assert softmax_over_rows(np.zeros((0, 3), np.float32), 10.0).shape == (0, 3)
    assert softmax_over_rows(np.zeros((3, 0), np.float32), 10.0).shape == (3, 0)


def test_cosine_against_an_independent_formula_and_shape_errors() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 8)), rng.normal(size=(3, 8))
    expected = np.array([[x @ y / np.linalg.norm(x) / np.linalg.norm(y) for y in b] for x in a])
    np.testing.assert_allclose(cosine(_unit(a), _unit(b)), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(4, 8\) and \(3, 7\)"):
        cosine(_unit(a), _unit(b[:, :7]))


def test_scores_between() -> None:
    rows, cols = _unit(np.eye(3)[:2]), _unit(np.array([[1.0, 0, 0], [1.0, 1.0, 0], [0, 0, 1.0]]))
    s = Scores.between(["r0", "r1"], rows, ["c0", "c1", "c2"], cols, 10.0)
    np.testing.assert_allclose(s.cosine, [[1, 2**-0.5, 0], [0, 2**-0.5, 0]], atol=1e-6)
    np.testing.assert_allclose(s.probability[:, 1], [0.5, 0.5], atol=1e-6)  # a tie between the two texts
    assert s.logit_scale == 10.0


# The hand-made case: 2 texts x 3 images.
COSINE = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.75]], np.float32)


def _scores(cos: np.ndarray = COSINE, scale: float = 10.0) -> Scores:
    rows = [f"t{i}" for i in range(cos.shape[0])]
    cols = [f"i{j}" for j in range(cos.shape[1])]
    return Scores(rows, cols, cos, softmax_over_rows(cos, scale), scale)


def test_best_matches_on_a_hand_made_matrix() -> None:
    scores = _scores()
    matches = {m.query: m for m in best_matches(scores, "text", "image")}
    assert list(matches) == ["t0", "t1", "i0", "i1", "i2"]

    t0, t1 = matches["t0"], matches["t1"]
    assert (t0.query_modality, t0.target_modality) == ("text", "image")
    assert (t0.best, t0.runner_up, t0.probability) == ("i0", "i2", None)
    assert t0.cosine == pytest.approx(0.9) and t0.margin == pytest.approx(0.6)
    assert (t1.best, t1.runner_up) == ("i1", "i2") and t1.margin == pytest.approx(0.05)  # fragile

    i0, i2 = matches["i0"], matches["i2"]
    assert (i0.query_modality, i0.target_modality) == ("image", "text")
    assert (i0.best, i0.runner_up) == ("t0", "t1") and i0.margin == pytest.approx(0.7)
    assert i0.probability == pytest.approx(1 / (1 + np.exp(10 * (0.2 - 0.9))), rel=1e-5)
    assert (i2.best, i2.runner_up) == ("t1", "t0") and i2.margin == pytest.approx(0.45)
    assert i2.probability == pytest.approx(1 / (1 + np.exp(10 * (0.3 - 0.75))), rel=1e-5)


def test_best_matches_with_one_target_and_ties() -> None:
    single = {m.query: m for m in best_matches(_scores(np.array([[0.4], [0.6]], np.float32)), "text", "audio")}
    assert single["t0"].best == "i0" and single["t0"].runner_up is None and single["t0"].margin is None
    assert single["i0"].best == "t1" and single["i0"].runner_up == "t0"
    tie = best_matches(_scores(np.array([[0.5, 0.5]], np.float32)), "text", "image")
    assert (tie[0].best, tie[0].runner_up, tie[0].margin) == ("i0", "i1", 0.0)  # ties go to the first column
    assert best_matches(_scores(np.zeros((0, 2), np.float32)), "text", "image") == []
