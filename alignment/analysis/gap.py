"""The modality gap between two sets of unit embeddings, and its removal by centering each modality."""

from __future__ import annotations

import numpy as np

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
