"""The k-NN graph's matching against the Hungarian algorithm where both run, its certificate, and its limits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import alignment.analysis.pair_eval as pair_eval
from alignment.analysis.blockwise import scan_pair
from alignment.analysis.evaluate import evaluate
from alignment.analysis.sparse_matching import match_knn
from alignment.inputs.embeddings import from_arrays


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def pairs(nx: int, ny: int, noise: float, *, seed: int, d: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((max(nx, ny), d))
    return unit(latent[:nx] + noise * rng.standard_normal((nx, d))), unit(
        latent[:ny] + noise * rng.standard_normal((ny, d))
    )


def knn_matching(x: np.ndarray, y: np.ndarray, k: int = 10):  # type: ignore[no-untyped-def]
    codes = np.arange(max(len(x), len(y)))
    scan = scan_pair(x, y, codes[: len(x)], codes[: len(y)], k=k)
    assert scan.rows is not None and scan.cols is not None
    return match_knn(scan.rows.top_indices, scan.rows.top_scores, scan.cols.top_indices, scan.cols.top_scores)


@pytest.mark.parametrize(("nx", "ny", "noise", "seed"), [(300, 300, 0.5, 0), (300, 260, 1.0, 1), (240, 300, 1.0, 2)])
def test_certified_matching_equals_hungarian(nx: int, ny: int, noise: float, seed: int) -> None:
    x, y = pairs(nx, ny, noise, seed=seed)
    m = knn_matching(x, y)
    scores = (x @ y.T).astype(np.float64)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    assert m.certified and m.gap_bound == 0.0
    assert m.total == pytest.approx(scores[rows, cols].sum(), abs=1e-6)
    assert set(zip(m.rows.tolist(), m.cols.tolist(), strict=True)) == set(
        zip(rows.tolist(), cols.tolist(), strict=True)
    )


@pytest.mark.parametrize("seed", range(4))
def test_uncertified_matching_is_within_its_bound_of_hungarian(seed: int) -> None:
    """Noisy pairs: the k-NN graph can miss the optimum's pairs; then it must say so and bound the loss."""
    x, y = pairs(250, 250, 4.0, seed=seed)
    m = knn_matching(x, y, k=3)
    scores = (x @ y.T).astype(np.float64)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    best = scores[rows, cols].sum()
    assert m.total <= best + 1e-6  # a matching on fewer pairs cannot beat the full optimum
    assert best - m.total <= m.gap_bound + 1e-6
    if m.certified:
        assert m.total == pytest.approx(best, abs=1e-6)


def test_a_graph_with_every_pair_is_always_certified() -> None:
    x, y = pairs(12, 9, 3.0, seed=7)
    m = knn_matching(x, y, k=12)  # 12 >= both sides: the graph is complete
    scores = (x @ y.T).astype(np.float64)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    assert m.certified and m.n_edges == 12 * 9
    assert m.total == pytest.approx(scores[rows, cols].sum(), abs=1e-9)


def test_a_graph_without_a_full_matching_says_so() -> None:
    # every row's and every column's only neighbour involves row 0 / column 0: at most 2 of 3 can be matched
    row_top = np.array([[0], [0], [0]])
    col_top = np.array([[0], [0], [0]])
    scores = np.full((3, 1), 0.5, dtype=np.float32)
    with pytest.raises(
        ValueError, match=r"k-NN graph \(5 pairs from each side's top 1\) has no matching that covers all 3"
    ):
        match_knn(row_top, scores, col_top, scores)


def test_evaluate_beyond_the_hungarian_limit_gives_the_same_accuracy(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = pairs(400, 400, 0.6, seed=11)
    data = from_arrays(
        [f"t{i}" for i in range(400)] + [f"i{i}" for i in range(400)],
        ["text"] * 400 + ["image"] * 400,
        [str(i) for i in range(400)] * 2,
        np.concatenate([x, y]),
    )
    hungarian = evaluate({"s": data})
    monkeypatch.setattr(pair_eval, "MAX_PAIRS", 1000)  # nothing kept: the pass alone, as at 100k
    sparse = evaluate({"s": data}, max_assignment=100)
    for name, d in sparse.directions.items():
        assert d.assignment is not None and d.assignment.method == "sparse" and d.assignment.certified
        assert hungarian.directions[name].assignment is not None
        assert d.assignment.accuracy == hungarian.directions[name].assignment.accuracy  # type: ignore[union-attr]
        np.testing.assert_array_equal(d.assignment.assigned, hungarian.directions[name].assignment.assigned)  # type: ignore[union-attr]
    assert sparse.to_json()["assignment"]["text->image"]["method"] == "sparse"
