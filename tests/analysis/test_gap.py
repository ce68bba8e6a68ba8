"""Modality gap and its removal, hubness: hand cases and scipy / brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import euclidean
from scipy.stats import skew

from alignment.analysis.gap import modality_gap, remove_modality_gap
from alignment.analysis.hubness import Hubness, hubness, hubness_from_indices
from alignment.analysis.metrics import retrieval_metrics


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def quantized_unit(x: np.ndarray, *, step: float = 2.0**-11) -> np.ndarray:
    """Normalize rows and round them to a 2**-11 grid: dot products are then exact in float32 and float64 alike."""
    return (np.round(unit(x) / step) * step).astype(np.float32)


@pytest.fixture(scope="module")
def gapped() -> dict:
    """Two modalities sharing latents, each pushed into its own cone by a modality offset (like CLIP's gap)."""
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((200, 32))
    offset = 2.5 * unit(rng.standard_normal((2, 32)))
    a = unit(unit(latent + 0.5 * rng.standard_normal((200, 32))) + offset[0])
    b = unit(unit(latent + 0.5 * rng.standard_normal((200, 32))) + offset[1])
    return {"a": a, "b": b, "keys": [f"p{i}" for i in range(200)]}


# ---------------------------------------------------------------------------- modality gap


def test_gap_hand_case() -> None:
    # centroids (0.5, 0.5) and (-0.5, -0.5): distance sqrt(1 + 1)
    a = np.array([[1, 0], [0, 1]], dtype=np.float32)
    assert modality_gap(a, -a) == pytest.approx(np.sqrt(2))
    assert modality_gap(a, a) == 0.0
    assert modality_gap(a, a[::-1]) == 0.0  # order does not matter


def test_gap_against_scipy(gapped: dict) -> None:
    a, b = gapped["a"], gapped["b"]
    expected = euclidean(a.mean(axis=0, dtype=np.float64), b.mean(axis=0, dtype=np.float64))
    assert modality_gap(a, b) == pytest.approx(expected, rel=1e-9)
    assert modality_gap(a, b) == modality_gap(b, a)
    assert modality_gap(a, b) > 1.0


def test_removing_the_gap(gapped: dict) -> None:
    a, b, keys = gapped["a"], gapped["b"], gapped["keys"]
    ca, cb = remove_modality_gap(a, b)
    assert ca.shape == a.shape and ca.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ca, axis=1), 1.0, atol=1e-6)
    before, after = modality_gap(a, b), modality_gap(ca, cb)
    assert after < 0.1 * before, (before, after)
    # metrics recomputed on the centered embeddings: here the offsets squeezed the shared signal (R@1 0.11)
    assert retrieval_metrics(ca, cb, keys, keys).r1 > 0.9 > 0.5 > retrieval_metrics(a, b, keys, keys).r1
    (c3,) = remove_modality_gap(a)
    np.testing.assert_array_equal(c3, ca)  # each modality is centered on its own mean only


def test_removing_the_gap_rejects_degenerate_input() -> None:
    with pytest.raises(ValueError, match=r"at least 2 embeddings per modality \(got 1 in modality 1\)"):
        remove_modality_gap(np.eye(2, dtype=np.float32), np.eye(1, 2, dtype=np.float32))
    same = np.tile(np.eye(1, 3, dtype=np.float32), (3, 1))
    with pytest.raises(ValueError, match=r"rows \[0, 1, 2\] of modality 0 equal its mean"):
        remove_modality_gap(same)
    with pytest.raises(ValueError, match=r"differ in dimension"):
        modality_gap(np.eye(2, dtype=np.float32), np.eye(3, dtype=np.float32))


# ---------------------------------------------------------------------------- hubness


def test_hubness_hand_case() -> None:
    # gallery = basis vectors e0, e1, e2; with k = 1 the queries e0, e0, e0, e1 pick g0, g0, g0, g1
    gallery = np.eye(3, dtype=np.float32)
    queries = np.eye(3, dtype=np.float32)[[0, 0, 0, 1]]
    h = hubness(queries, gallery, k=1, n_hubs=2)
    assert isinstance(h, Hubness) and h.k == 1
    np.testing.assert_array_equal(h.k_occurrence, [3, 1, 0])
    # skew of (3, 1, 0): mean 4/3, m2 = 14/9, m3 = 20/27 -> m3 / m2**1.5
    assert h.skewness == pytest.approx((20 / 27) / (14 / 9) ** 1.5)
    np.testing.assert_array_equal(h.hubs, [0, 1])
    np.testing.assert_array_equal(h.hub_counts, [3, 1])
    assert h.n_antihubs == 1
    assert h.to_json()["hubs"] == [0, 1]


def test_hubness_against_bruteforce_and_scipy() -> None:
    rng = np.random.default_rng(7)
    q = quantized_unit(rng.standard_normal((300, 64)))
    g = quantized_unit(rng.standard_normal((250, 64)))
    scores = q.astype(np.float64) @ g.T.astype(np.float64)
    order = np.stack([np.lexsort((np.arange(250), -row)) for row in scores])[:, :10]  # ties: lower index
    counts = np.bincount(order.ravel(), minlength=250)
    h = hubness(q, g, k=10, n_hubs=5, chunk=64)
    np.testing.assert_array_equal(h.k_occurrence, counts)
    assert h.k_occurrence.sum() == 300 * 10
    assert h.skewness == pytest.approx(skew(counts))
    assert h.skewness > 0  # high-dimensional random data has hubs
    np.testing.assert_array_equal(h.hubs, np.argsort(-counts, kind="stable")[:5])
    assert h.n_antihubs == (counts == 0).sum()


def test_hubness_edge_cases() -> None:
    g = np.eye(3, dtype=np.float32)
    h = hubness(g, g, k=10)  # k capped at 3: every item in every list
    assert h.k == 3 and h.skewness == 0.0 and h.n_antihubs == 0
    np.testing.assert_array_equal(h.k_occurrence, [3, 3, 3])
    with pytest.raises(ValueError, match=r"gallery of 3 items \(got shape \(1, 2\), range 0\.\.5\)"):
        hubness_from_indices(np.array([[0, 5]]), 3)
    with pytest.raises(ValueError, match=r"k=0"):
        hubness(g, g, k=0)
