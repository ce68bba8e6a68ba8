"""2-D projections of embeddings: PCA at once, UMAP when there are enough points (numba compiles lazily)."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["auto", "pca", "umap"]
MIN_UMAP_POINTS = 10  # below this UMAP's neighbour graph is too thin to mean anything; PCA is shown instead


@dataclass(frozen=True)
class Projection:
    """(N, 2) coordinates and the method that produced them ('pca', 'umap', or 'none' for < 2 points)."""

    coords: np.ndarray
    method: str


def pca(x: np.ndarray, k: int) -> np.ndarray:
    """Exact PCA scores (N, k) by a full SVD of the centred data; signs fixed as scikit-learn's svd_flip does
    (largest |loading| of each component positive), so the result is deterministic. NumPy only: importing
    scikit-learn for this cost seconds of start-up."""
    centred = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)  # (N, D)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)  # (N, r), (r,), (r, D)
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])  # (r,)
    signs[signs == 0] = 1.0
    return (u[:, :k] * s[:k]) * signs[:k]  # (N, k)


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Exact PCA to 2 dimensions; pads with zeros for rank < 2."""
    n = len(x)
    if n < 2:
        return np.zeros((n, 2), np.float32)
    k = min(2, n, x.shape[1])
    coords = pca(x, k)
    return np.pad(coords, ((0, 0), (0, 2 - k))).astype(np.float32)


def project(x: np.ndarray, *, method: Method = "auto", seed: int = 0) -> Projection:
    """Project (N, D) embeddings to 2-D. 'auto' is UMAP for N >= MIN_UMAP_POINTS, else PCA.

    UMAP runs on cosine distance after PCA to at most 50 dimensions, with n_neighbors clamped
    to N - 1; a fixed `random_state` makes it reproducible (and single-threaded).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"project needs an (N, D) array, got shape {x.shape}")
    if len(x) < 2:
        return Projection(np.zeros((len(x), 2), np.float32), "none")
    use_umap = method == "umap" or (method == "auto" and len(x) >= MIN_UMAP_POINTS)
    if not use_umap or len(x) < 4:  # UMAP's spectral init needs a few points even when asked for
        return Projection(pca_2d(x), "pca")
    import umap  # lazy: importing compiles numba code (~10 s the first time)

    dims = min(50, len(x) - 1, x.shape[1])
    reduced = pca(x, dims).astype(np.float32) if x.shape[1] > dims else x
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=max(2, min(15, len(x) - 1)),
        metric="cosine",
        min_dist=0.1,
        random_state=seed,
        init="spectral" if len(x) > 15 else "random",
    )
    with warnings.catch_warnings():  # a few duplicates disconnect the graph: said on every fit
        warnings.filterwarnings("ignore", category=UserWarning, module=r"umap\.")
        coords = reducer.fit_transform(reduced)
    return Projection(coords.astype(np.float32), "umap")


# A fixed random_state runs UMAP on one thread, on purpose (reproducible layouts); umap says so on every fit. This
# one message is silenced for the whole process: `catch_warnings` above restores the global filters when it exits,
# so with two fits on two threads (a layout and the warm-up) one thread's exit let the other's warning through.
warnings.filterwarnings(
    "ignore", message=r"n_jobs value .* overridden to 1 by setting random_state", category=UserWarning
)

_warm = threading.Event()


def warm_up_umap(background: bool = True) -> threading.Event:
    """Import UMAP and run it once on random data so numba's compile cost is paid before a user waits."""

    def run() -> None:
        try:
            project(np.random.default_rng(0).normal(size=(32, 8)), method="umap")
        finally:
            _warm.set()

    if not _warm.is_set():
        if background:
            threading.Thread(target=run, name="umap-warmup", daemon=True).start()
        else:
            run()
    return _warm
