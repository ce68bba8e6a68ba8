"""2-D projection: PCA against an independent SVD, the small-N fallbacks, and input checks (UMAP is not run here)."""

from __future__ import annotations

import numpy as np
import pytest

from alignment.views.projection import pca_2d, project


def test_pca_matches_an_independent_svd_up_to_sign() -> None:
    x = np.random.default_rng(0).normal(size=(12, 6)) * np.array([5, 3, 1, 0.5, 0.1, 0.1])
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T  # (N, 2)
    out = pca_2d(x.astype(np.float32))
    assert out.shape == (12, 2) and out.dtype == np.float32
    for k in range(2):
        sign = np.sign(out[:, k] @ expected[:, k])
        np.testing.assert_allclose(sign * out[:, k], expected[:, k], atol=1e-4)


def test_pca_pads_low_rank_input() -> None:
    line = np.arange(5, dtype=np.float32)[:, None]  # (5, 1): one dimension only
    out = pca_2d(line)
    assert out.shape == (5, 2)
    np.testing.assert_array_equal(out[:, 1], 0)
    np.testing.assert_allclose(np.abs(out[:, 0]), np.abs(line[:, 0] - 2), atol=1e-5)


def test_project_small_inputs_without_umap() -> None:
    assert project(np.zeros((1, 4))).method == "none"
    assert project(np.zeros((0, 4))).coords.shape == (0, 2)
    x = np.random.default_rng(1).normal(size=(6, 16))
    first, second = project(x), project(x)
    assert first.method == "pca" and first.coords.shape == (6, 2)
    np.testing.assert_array_equal(first.coords, second.coords)  # deterministic
    assert project(x[:3], method="umap").method == "pca"  # too few points for UMAP's init


def test_project_rejects_a_vector() -> None:
    with pytest.raises(ValueError, match=r"\(N, D\) array, got shape \(5,\)"):
        project(np.zeros(5))


def test_pca_equals_scikit_learn_signs_included() -> None:
    from sklearn.decomposition import PCA

    from alignment.views.projection import pca

    x = np.random.default_rng(3).normal(size=(40, 12))
    assert np.allclose(pca(x, 5), PCA(n_components=5, svd_solver="full").fit_transform(x), atol=1e-9)
