"""Chunked top-k and first-true-match ranks against a brute-force full-matrix reference, hand cases, memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from alignment.analysis.topk import Ranks, TopK, rank_of_first_true, topk_similarity


def quantized_unit(rng: np.random.Generator, n: int, d: int, *, step: float = 2.0**-11) -> np.ndarray:
    """Random unit-ish rows on a 2**-11 grid: every dot product is exact in float32 whatever the summation order,
    so chunked and full-matrix scores are bit-identical and rankings can be compared exactly."""
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return (np.round(x / step) * step).astype(np.float32)  # norms within ~1e-3 of 1


def sign_unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    """Rows of +-1/sqrt(d): exactly unit, scores on a grid of 1/d, so ties are everywhere."""
    return (rng.choice([-1.0, 1.0], size=(n, d)) / np.sqrt(d)).astype(np.float32)


def brute_order(scores: np.ndarray, prefer: np.ndarray | None = None) -> np.ndarray:
    """Full sort of every row by (score desc, preferred first, index asc)."""
    idx = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    not_pref = ~prefer if prefer is not None else np.zeros(scores.shape, dtype=bool)
    return np.stack([np.lexsort((idx[r], not_pref[r], -scores[r])) for r in range(len(scores))])


def data(kind: str, nq: int, ng: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "ties":
        q, g = sign_unit(rng, nq), sign_unit(rng, ng)
        g[5] = g[3]  # exact duplicates in the gallery too
        return q, g
    return quantized_unit(rng, nq, 24), quantized_unit(rng, ng, 24)


# ---------------------------------------------------------------------------- topk_similarity


def test_topk_hand_case() -> None:
    # gallery = basis vectors, so score[q, j] = queries[q, j] exactly
    gallery = np.eye(4, dtype=np.float32)
    queries = np.array(
        [
            [0.5, 0.5, 0.5, 0.5],  # all four tied: lower index first -> 0, 1, 2
            [0.0, 0.6, 0.8, 0.0],
        ],
        dtype=np.float32,
    )  # 2 (0.8), 1 (0.6), then 0 and 3 tie at 0 -> 0
    top = topk_similarity(queries, gallery, 3)
    assert isinstance(top, TopK)
    np.testing.assert_array_equal(top.indices, [[0, 1, 2], [2, 1, 0]])
    np.testing.assert_allclose(top.scores, [[0.5, 0.5, 0.5], [0.8, 0.6, 0.0]], rtol=0, atol=1e-7)
    assert top.indices.dtype == np.int64 and top.scores.dtype == np.float32


@pytest.mark.parametrize("kind", ["continuous", "ties"])
@pytest.mark.parametrize("chunk", [1, 7, 64, 1000, None])
@pytest.mark.parametrize("k", [1, 5, 40])
def test_topk_matches_bruteforce(kind: str, chunk: int | None, k: int) -> None:
    q, g = data(kind, 50, 40)
    scores = q.astype(np.float64) @ g.T.astype(np.float64)  # (50, 40) exact reference
    expected = brute_order(scores)[:, :k]
    top = topk_similarity(q, g, k, chunk=chunk)
    np.testing.assert_array_equal(top.indices, expected)
    np.testing.assert_array_equal(top.scores, np.take_along_axis(scores, expected, axis=1).astype(np.float32))
    assert (np.diff(top.scores, axis=1) <= 0).all()


def test_topk_rejects_bad_input() -> None:
    rng = np.random.default_rng(1)
    q, g = quantized_unit(rng, 3, 8), quantized_unit(rng, 4, 6)
    with pytest.raises(ValueError, match=r"differ in dimension \(got \(3, 8\) and \(4, 6\)\)"):
        topk_similarity(q, g, 1)
    g = quantized_unit(rng, 4, 8)
    with pytest.raises(ValueError, match=r"k=5 for 4 gallery items"):
        topk_similarity(q, g, 5)
    with pytest.raises(ValueError, match=r"k=0"):
        topk_similarity(q, g, 0)
    with pytest.raises(ValueError, match=r"got 0"):
        topk_similarity(q, g, 1, chunk=0)
    with pytest.raises(ValueError, match=r"unit-normalized \(got norm 3.0\d* in row 0"):
        topk_similarity(q * 3, g, 1)
    bad = q.copy()
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"non-finite values in rows \[2\]"):
        topk_similarity(bad, g, 1)
    with pytest.raises(ValueError, match=r"gallery is empty"):
        topk_similarity(q, g[:0], 1)


def test_topk_no_queries() -> None:
    g = np.eye(3, dtype=np.float32)
    top = topk_similarity(np.zeros((0, 3), dtype=np.float32), g, 2)
    assert top.indices.shape == (0, 2) and top.scores.shape == (0, 2)


def test_topk_20k_by_20k_stays_chunk_sized() -> None:
    n, d, chunk, k = 20_000, 64, 256, 10
    rng = np.random.default_rng(2)
    q, g = quantized_unit(rng, n, d), quantized_unit(rng, n, d)
    tracemalloc.start()  # numpy reports its buffers to tracemalloc; the N x N matrix would be 1.6 GB
    try:
        top = topk_similarity(q, g, k, chunk=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full_matrix = n * n * 4
    block = chunk * n * 4  # one (chunk, Ng) float32 block: 20 MB
    assert peak < 2 * block + g.nbytes + 2 * top.indices.nbytes, (peak, block)
    assert peak < full_matrix / 25
    rows = rng.choice(n, 30, replace=False)
    scores = q[rows].astype(np.float64) @ g.T.astype(np.float64)  # (30, N) exact
    np.testing.assert_array_equal(top.indices[rows], brute_order(scores)[:, :k])


# ---------------------------------------------------------------------------- rank_of_first_true


def test_ranks_hand_case() -> None:
    gallery = np.eye(4, dtype=np.float32)
    gallery_pairs = ["x", "y", "x", "z"]
    queries = np.array(
        [
            [0.5, 0.7, 0.5, 0.1],  # "x": g1 (0.7, false) above; g0, g2 (true) tie at 0.5 -> rank 2
            [0.0, 0.6, 0.8, 0.0],  # "y": g2 (0.8, false) above g1 (0.6, true) -> rank 2
            [0.5, 0.5, 0.5, 0.5],  # "z": everything ties at 0.5; ties favour the query -> rank 1
            [0.5, 0.5, 0.5, 0.5],
        ],
        dtype=np.float32,
    )  # "w": no true match -> rank 0
    ranks = rank_of_first_true(queries, gallery, ["x", "y", "z", "w"], gallery_pairs, k=3)
    assert isinstance(ranks, Ranks)
    np.testing.assert_array_equal(ranks.rank, [2, 2, 1, 0])
    np.testing.assert_array_equal(ranks.best_true, [0, 1, 3, -1])
    np.testing.assert_array_equal(ranks.n_true, [2, 1, 1, 0])
    np.testing.assert_array_equal(ranks.has_true, [True, True, True, False])
    np.testing.assert_allclose(ranks.best_true_score[:3], [0.5, 0.6, 0.5], atol=1e-7)
    assert np.isnan(ranks.best_true_score[3])
    # top-3 lists: true matches go first among equal scores, then the lower index
    np.testing.assert_array_equal(ranks.top_indices, [[1, 0, 2], [2, 1, 0], [3, 0, 1], [0, 1, 2]])
    np.testing.assert_array_equal(
        ranks.top_is_true, [[False, True, True], [False, True, False], [True, False, False], [False, False, False]]
    )


def test_ranks_accept_none_keys_and_cap_k() -> None:
    gallery = np.eye(3, dtype=np.float32)
    queries = np.eye(3, dtype=np.float32)
    ranks = rank_of_first_true(queries, gallery, ["a", None, "c"], ["a", None, None], k=10)
    np.testing.assert_array_equal(ranks.rank, [1, 0, 0])  # None never matches, not even another None
    assert ranks.top_indices.shape == (3, 3)  # k capped at the gallery size


def brute_ranks(q: np.ndarray, g: np.ndarray, qp: list[str], gp: list[str], k: int) -> dict[str, np.ndarray]:
    scores = q.astype(np.float64) @ g.T.astype(np.float64)  # (Nq, Ng) the full matrix
    is_true = np.asarray(qp)[:, None] == np.asarray(gp)[None, :]
    order = brute_order(scores, is_true)
    ranked_true = np.take_along_axis(is_true, order, axis=1)
    n_true = is_true.sum(axis=1)
    rank = np.where(n_true > 0, ranked_true.argmax(axis=1) + 1, 0)  # position of the first true in the full sort
    return {"rank": rank, "n_true": n_true, "top_indices": order[:, :k], "top_is_true": ranked_true[:, :k]}


@pytest.mark.parametrize("kind", ["continuous", "ties"])
@pytest.mark.parametrize("chunk", [1, 9, 1000, None])
def test_ranks_match_bruteforce(kind: str, chunk: int | None) -> None:
    q, g = data(kind, 60, 45, seed=3)
    rng = np.random.default_rng(4)
    gp = [f"k{i}" for i in rng.integers(0, 15, len(g))]  # several true matches per key
    qp = [f"k{i}" for i in rng.integers(0, 18, len(q))]  # keys 15..17 have no gallery item
    ref = brute_ranks(q, g, qp, gp, 10)
    ranks = rank_of_first_true(q, g, qp, gp, k=10, chunk=chunk)
    for name, expected in ref.items():
        np.testing.assert_array_equal(getattr(ranks, name), expected, err_msg=name)
    # the documented identity: rank = 1 + number of gallery items scoring strictly higher than the best true match
    scores = q.astype(np.float64) @ g.T.astype(np.float64)
    found = ranks.has_true
    higher = (scores > ranks.best_true_score[:, None].astype(np.float64)).sum(axis=1)
    np.testing.assert_array_equal(ranks.rank[found], 1 + higher[found])
    # the top list agrees with the rank: first true at position rank - 1 when rank <= k
    seen = found & (ranks.rank <= 10)
    np.testing.assert_array_equal(ranks.top_is_true[seen].argmax(axis=1), ranks.rank[seen] - 1)
    assert not ranks.top_is_true[found & (ranks.rank > 10)].any()


def test_ranks_reject_mismatched_keys() -> None:
    g = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"got 2 query keys for 3 queries and 3 gallery keys for 3 gallery items"):
        rank_of_first_true(g, g, ["a", "b"], ["a", "b", "c"])
