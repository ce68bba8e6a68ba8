"""2-D layouts of a whole space at any size, computed once per dataset and cached on disk: PCA at once, UMAP after.

Below `UMAP_FROM` rows the layout is PCA. Up to `UMAP_SAMPLE` rows UMAP sees them all (`projection.project`).
Beyond that UMAP is fitted on a seeded sample and every other row is placed at the similarity-weighted mean of its
`NEIGHBOURS` nearest sampled rows (cosine in the PCA-50 space UMAP was fitted in). Why not `umap.UMAP.transform`:
it builds a search index and runs an optimisation: at 100k rows (512-D, 2 shared cores) transforming 90k rows took
161 s against 16 s for the fit, while the placement (an exact FAISS search for the neighbours) takes seconds. The
placed rows land inside the fitted clusters they belong to, which is what a reader of the map looks for; they do
not refine local structure.

PCA for a large N uses the D x D covariance (one pass over the rows) instead of an SVD of the N x D matrix.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..core.files import atomic_write_bytes
from .projection import pca_2d, project

LayoutKind = Literal["pca", "umap"]
LAYOUT_VERSION = 1  # bump when a method changes: older cache files are then ignored
UMAP_FROM = 100  # fewer rows get PCA: UMAP of a few dozen points mostly pulls them into far-apart clumps
UMAP_SAMPLE = 5_000  # rows UMAP is fitted on; the rest are placed (see the module docstring)
NEIGHBOURS = 8  # sampled rows a placed row is averaged from
PCA_DIMS = 50  # the space UMAP and the placement work in
COVARIANCE_FROM = 5_000  # rows from which PCA goes through the covariance matrix
CHUNK = 4_096  # rows per block when placing: memory O(CHUNK x UMAP_SAMPLE)


@dataclass(frozen=True, eq=False)
class Layout:
    """(N, 2) float32 coordinates and how they were made."""

    coords: np.ndarray
    method: str  # "pca", "umap", "umap on a sample" (the rest placed), or "none" for fewer than 2 rows
    fitted: int  # rows the method itself saw (N unless sampled)

    @property
    def title(self) -> str:
        if self.fitted < len(self.coords):
            return f"UMAP of {self.fitted:,} sampled rows, {len(self.coords) - self.fitted:,} placed by neighbours"
        return self.method.upper() if self.method in ("pca", "umap") else self.method


def components(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), top-k principal axes (k, D)) of the rows of x, signs fixed as scikit-learn's svd_flip does."""
    mean = x.mean(axis=0, dtype=np.float64)  # (D,)
    cov = np.zeros((x.shape[1], x.shape[1]), np.float64)  # (D, D)
    for start in range(0, len(x), 65_536):
        block = x[start : start + 65_536].astype(np.float64) - mean  # (b, D)
        cov += block.T @ block
    values, vectors = np.linalg.eigh(cov)  # ascending
    axes = vectors[:, ::-1][:, :k].T  # (k, D)
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1.0
    return mean, axes * signs[:, None]


def pca_layout(x: np.ndarray) -> Layout:
    """Exact PCA to 2-D: the covariance route for many rows, `projection.pca_2d` (an SVD) for few."""
    x = np.asarray(x, np.float32)
    if len(x) < COVARIANCE_FROM or x.shape[1] < 2:
        return Layout(pca_2d(x), "pca" if len(x) >= 2 else "none", len(x))
    mean, axes = components(x, 2)
    coords = np.empty((len(x), 2), np.float32)
    for start in range(0, len(x), 65_536):
        coords[start : start + 65_536] = (x[start : start + 65_536] - mean) @ axes.T  # (b, 2)
    return Layout(coords, "pca", len(x))


def umap_layout(x: np.ndarray, *, sample: int = UMAP_SAMPLE, neighbours: int = NEIGHBOURS, seed: int = 0) -> Layout:
    """UMAP of every row up to `sample` rows; beyond, UMAP of a seeded sample and the rest placed by neighbours; PCA
    below UMAP_FROM rows."""
    x = np.asarray(x, np.float32)
    if len(x) < UMAP_FROM:
        return pca_layout(x)
    if len(x) <= sample:
        projected = project(x, method="umap", seed=seed)
        return Layout(projected.coords, projected.method, len(x))
    fit = np.sort(np.random.default_rng(seed).choice(len(x), sample, replace=False))
    mean, axes = components(x[fit], min(PCA_DIMS, x.shape[1]))
    reduced = ((x - mean) @ axes.T).astype(np.float32)  # (N, d)
    fitted = project(reduced[fit], method="umap", seed=seed).coords  # (S, 2)
    coords = np.empty((len(x), 2), np.float32)
    coords[fit] = fitted
    rest = np.setdiff1d(np.arange(len(x)), fit)
    coords[rest] = place(reduced[rest], reduced[fit], fitted, k=neighbours)
    return Layout(coords, "umap on a sample", sample)


def place(rows: np.ndarray, anchors: np.ndarray, anchor_xy: np.ndarray, *, k: int = NEIGHBOURS) -> np.ndarray:
    """(n, 2) positions of `rows` (n, d): the cosine-weighted mean of the 2-D positions of their k nearest `anchors`
    (S, d), whose positions are `anchor_xy` (S, 2). The neighbours come from an exact FAISS flat index (numpy's
    argpartition over the (n, S) scores was ten times slower)."""
    from ..analysis.index import load_faiss  # lazy: faiss is not on the app's import path

    faiss = load_faiss()
    k = max(1, min(k, len(anchors)))
    unit = lambda a: (a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)).astype(np.float32)  # noqa: E731
    index = faiss.IndexFlatIP(anchors.shape[1])
    index.add(unit(anchors))
    out = np.empty((len(rows), 2), np.float32)
    for start in range(0, len(rows), CHUNK * 8):
        sims, near = index.search(unit(rows[start : start + CHUNK * 8]), k)  # (b, k) each
        weights = np.maximum(sims, 0.0) + 1e-6
        weights /= weights.sum(axis=1, keepdims=True)
        out[start : start + CHUNK * 8] = np.einsum("bk,bkc->bc", weights, anchor_xy[near])  # (b, 2)
    return out


def layout_key(x: np.ndarray, kind: LayoutKind, *, sample: int = UMAP_SAMPLE, seed: int = 0) -> str:
    """SHA-256 over the rows' bytes and shape, the kind and its parameters."""
    h = hashlib.sha256()
    data = np.ascontiguousarray(x, dtype=np.float32)
    h.update(json.dumps([LAYOUT_VERSION, kind, list(data.shape), sample, NEIGHBOURS, seed]).encode())
    h.update(data.tobytes())
    return h.hexdigest()


def layout_path(x: np.ndarray, kind: LayoutKind, *, cache_dir: str | Path, seed: int = 0) -> Path:
    """Where the layout of x is cached."""
    if kind not in ("pca", "umap"):
        raise ValueError(f"layout kind {kind!r}: expected 'pca' or 'umap'")
    return Path(cache_dir) / f"layout-{kind}-{layout_key(x, kind, seed=seed)[:32]}.npz"


def cached_layout(
    x: np.ndarray, kind: LayoutKind, *, cache_dir: str | Path, seed: int = 0, compute: bool = True
) -> Layout | None:
    """`pca_layout` or `umap_layout` of x, read from `cache_dir` when the same rows were laid out before; with
    `compute=False`, None instead of computing it."""
    path = layout_path(x, kind, cache_dir=cache_dir, seed=seed)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as saved:
                meta = json.loads(str(saved["meta"]))
                coords = saved["coords"].astype(np.float32)
            if coords.shape == (len(x), 2) and np.isfinite(coords).all():
                return Layout(coords, str(meta["method"]), int(meta["fitted"]))
        except (OSError, ValueError, KeyError):  # damaged or foreign: compute again and overwrite it
            pass
    if not compute:
        return None
    layout = pca_layout(x) if kind == "pca" else umap_layout(x, seed=seed)
    buffer = io.BytesIO()
    meta_json = json.dumps({"method": layout.method, "fitted": layout.fitted})
    np.savez(buffer, coords=layout.coords, meta=np.array(meta_json))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return layout
