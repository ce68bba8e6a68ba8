"""Hubness: how unevenly gallery items appear in the queries' top-k lists (Radovanovic et al. 2010)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import skew

from .topk import topk_similarity


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class Hubness:
    """How unevenly gallery items appear in the queries' top-k lists (Radovanovic et al. 2010)."""

    k: int  # the k of the top-k lists (capped at the gallery size)
    k_occurrence: np.ndarray  # (Ng,) int64 N_k: in how many queries' top k each gallery item appears
    skewness: float  # scipy.stats.skew of N_k (biased estimator); 0.0 when every item appears equally often
    hubs: np.ndarray  # (h,) int64 gallery indices with the largest N_k, most frequent first (ties: lower index)
    hub_counts: np.ndarray  # (h,) int64 their N_k
    n_antihubs: int  # gallery items in no query's top k (N_k = 0)

    def to_json(self) -> dict:
        """Plain numbers: skewness, the hubs and the number of anti-hubs."""
        return {
            "k": self.k,
            "skewness": self.skewness,
            "hubs": self.hubs.tolist(),
            "hub_counts": self.hub_counts.tolist(),
            "n_antihubs": self.n_antihubs,
        }


def hubness_from_indices(top_indices: np.ndarray, n_gallery: int, *, n_hubs: int = 10) -> Hubness:
    """Hubness from top-k lists already computed: (Nq, k) gallery indices, e.g. `TopK.indices`."""
    top = np.asarray(top_indices)
    if top.ndim != 2 or (top.size and (top.min() < 0 or top.max() >= n_gallery)):
        raise ValueError(
            f"top_indices must be (Nq, k) indices into a gallery of {n_gallery} items "
            f"(got shape {top.shape}{f', range {top.min()}..{top.max()}' if top.size else ''})"
        )
    counts = np.bincount(top.ravel(), minlength=n_gallery).astype(np.int64)  # (Ng,)
    spread = float(skew(counts)) if counts.size > 1 and counts.min() != counts.max() else 0.0
    order = np.argsort(-counts, kind="stable")[: max(0, n_hubs)]  # most frequent first, then lower index
    return Hubness(
        k=top.shape[1],
        k_occurrence=counts,
        skewness=spread,
        hubs=order.astype(np.int64),
        hub_counts=counts[order],
        n_antihubs=int((counts == 0).sum()),
    )


def hubness(
    queries: np.ndarray, gallery: np.ndarray, *, k: int = 10, n_hubs: int = 10, chunk: int | None = None
) -> Hubness:
    """k-occurrence of gallery items in the queries' cosine top-k (k capped at the gallery size), its skew, hubs."""
    if k < 1:
        raise ValueError(f"k must be at least 1 (got k={k})")
    g = np.asarray(gallery)
    top = topk_similarity(queries, gallery, min(k, max(len(g), 1)), chunk=chunk)
    return hubness_from_indices(top.indices, len(g), n_hubs=n_hubs)
