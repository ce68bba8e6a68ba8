"""The modality gap between two sets of unit embeddings, and its removal by centering each modality."""

from __future__ import annotations

import numpy as np

from .pass_kernel import Affine
from .topk import as_unit_rows


def modality_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two modalities' centroids of unit embeddings (Liang et al. 2022, "Mind the Gap")."""
    x, y = as_unit_rows(a, "first modality"), as_unit_rows(b, "second modality")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"the two modalities differ in dimension (got {x.shape} and {y.shape})")
    if len(x) == 0 or len(y) == 0:
        raise ValueError(f"each modality needs at least one embedding (got {len(x)} and {len(y)})")
    centroid_gap = x.mean(axis=0, dtype=np.float64) - y.mean(axis=0, dtype=np.float64)  # (D,)
    return float(np.linalg.norm(centroid_gap))


def remove_modality_gap(*modalities: np.ndarray) -> tuple[np.ndarray, ...]:
    """Center each modality on its own mean and renormalize its rows, so metrics can be recomputed without the gap.

    The centroids are those of the sets given: compute metrics on the returned arrays, all from one call.
    """
    out = []
    for m, emb in enumerate(modalities):
        x = as_unit_rows(emb, f"modality {m}")
        if len(x) < 2:
            raise ValueError(f"centering needs at least 2 embeddings per modality (got {len(x)} in modality {m})")
        centered = x - x.mean(axis=0, dtype=np.float64)  # (N, D) float64
        norms = np.linalg.norm(centered, axis=1, keepdims=True)  # (N, 1)
        flat = np.flatnonzero(norms[:, 0] < 1e-6)
        if flat.size:
            raise ValueError(
                f"rows {flat[:5].tolist()} of modality {m} equal its mean, so they have no direction "
                "after centering (are all its embeddings identical?)"
            )
        out.append((centered / norms).astype(np.float32))
    return tuple(out)


def gap_maps(x: np.ndarray, y: np.ndarray, *, chunk: int = 1 << 14) -> tuple[Affine, Affine]:
    """The centering of `remove_modality_gap` as a rank-one correction of the cosines x_i . y_j, both ways.

    With x' = (x - mx) / |x - mx| and y' likewise, x'.y' = (x.y - x.my - mx.y + mx.my) / (|x - mx| |y - my|):
    an affine function of x.y per row and column, so the blockwise pass ranks without a second matrix product.
    Returns (x's queries over y, y's queries over x). Raises ValueError as `remove_modality_gap` does.
    """
    units = [as_unit_rows(emb, f"modality {m}") for m, emb in enumerate((x, y))]
    for m, v in enumerate(units):
        if len(v) < 2:
            raise ValueError(f"centering needs at least 2 embeddings per modality (got {len(v)} in modality {m})")
    means = [v.mean(axis=0, dtype=np.float64) for v in units]  # (D,) each
    scales, cross = [], []
    for m, v in enumerate(units):
        norms, dots = np.empty(len(v)), np.empty(len(v))
        own, other = means[m].astype(np.float32), means[1 - m].astype(np.float32)  # float32 rows: 1e-7 relative
        for s in range(0, len(v), chunk):
            part = v[s : s + chunk]  # (c, D)
            centred = part - own  # (c, D)
            norms[s : s + chunk] = np.sqrt(np.einsum("nd,nd->n", centred, centred, dtype=np.float64))
            dots[s : s + chunk] = part @ other  # (c, D) @ (D,) -> (c,): each row against the other mean
        flat = np.flatnonzero(norms < 1e-6)
        if flat.size:
            raise ValueError(
                f"rows {flat[:5].tolist()} of modality {m} equal its mean, so they have no direction "
                "after centering (are all its embeddings identical?)"
            )
        scales.append(1.0 / norms)
        cross.append(dots)
    (ux, uy), (x_my, y_mx) = scales, cross
    both = float(means[0] @ means[1])
    xv, yv = units
    ones_x, ones_y = np.ones(len(xv)), np.ones(len(yv))
    forward = Affine(ones_x, both - x_my, ux, -y_mx, uy)
    backward = Affine(ones_y, both - y_mx, uy, -x_my, ux)
    return forward, backward
