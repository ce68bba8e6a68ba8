"""Layouts of a whole space: PCA by covariance equals the SVD, UMAP on a sample places the rest inside their
clusters, and a layout is computed once per dataset (cached on disk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alignment.views import layouts
from alignment.views.projection import pca_2d


def planted(n: int, *, clusters: int = 5, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)) * 3
    labels = rng.integers(0, clusters, n)
    x = centres[labels] + rng.standard_normal((n, d)) * 0.3
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def test_pca_by_covariance_equals_the_svd(monkeypatch: pytest.MonkeyPatch) -> None:
    x, _ = planted(2_000)
    by_svd = pca_2d(x)
    monkeypatch.setattr(layouts, "COVARIANCE_FROM", 100)
    by_covariance = layouts.pca_layout(x)
    assert by_covariance.method == "pca" and by_covariance.fitted == len(x)
    np.testing.assert_allclose(by_covariance.coords, by_svd, atol=1e-4)


def test_umap_on_a_sample_places_the_rest_inside_their_clusters() -> None:
    x, labels = planted(1_200)
    layout = layouts.umap_layout(x, sample=400)
    assert layout.method == "umap on a sample" and layout.fitted == 400
    assert layout.coords.shape == (1_200, 2) and np.isfinite(layout.coords).all()
    assert "400 sampled rows, 800 placed" in layout.title
    centres = np.stack([layout.coords[labels == c].mean(axis=0) for c in range(5)])  # (5, 2)
    nearest = np.linalg.norm(layout.coords[:, None] - centres[None], axis=2).argmin(axis=1)
    assert (nearest == labels).mean() > 0.95


def test_place_averages_the_nearest_anchors() -> None:
    anchors = np.eye(3, dtype=np.float32)
    xy = np.array([[0, 0], [10, 0], [0, 10]], np.float32)
    out = layouts.place(np.array([[1, 0.01, 0], [0, 0, 1]], np.float32), anchors, xy, k=1)
    np.testing.assert_allclose(out, [[0, 0], [0, 10]], atol=1e-5)


def test_a_layout_is_computed_once_per_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, _ = planted(300)
    assert layouts.cached_layout(x, "pca", cache_dir=tmp_path, compute=False) is None
    first = layouts.cached_layout(x, "pca", cache_dir=tmp_path)
    assert first is not None and len(list(tmp_path.glob("layout-pca-*.npz"))) == 1
    monkeypatch.setattr(layouts, "pca_layout", lambda x: pytest.fail("computed again"))
    again = layouts.cached_layout(x, "pca", cache_dir=tmp_path, compute=False)
    assert again is not None and np.array_equal(again.coords, first.coords) and again.method == "pca"
    other = x.copy()
    other[0, 0] += 0.5
    assert layouts.cached_layout(other, "pca", cache_dir=tmp_path, compute=False) is None  # other rows, other key
    next(tmp_path.glob("layout-pca-*.npz")).write_bytes(b"damaged")
    monkeypatch.undo()
    assert layouts.cached_layout(x, "pca", cache_dir=tmp_path) is not None  # a damaged file is computed again
    with pytest.raises(ValueError, match="expected 'pca' or 'umap'"):
        layouts.cached_layout(x, "tsne", cache_dir=tmp_path)  # type: ignore[arg-type]
