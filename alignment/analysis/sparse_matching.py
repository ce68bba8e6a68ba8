"""One-to-one assignment beyond the Hungarian algorithm's reach: the optimal matching on the k-NN graph, with a
certificate that says whether it is also optimal on the full score matrix.

The graph holds every pair in either direction's top-k list (the blockwise pass keeps both), and
`scipy.sparse.csgraph.min_weight_full_bipartite_matching` (LAPJVsp) finds its best full matching. A pair
outside the graph scores at most min(its row's k-th best, its column's k-th best). Dual potentials of the
sparse optimum (shortest paths in its residual graph) that also cover those bounds prove the matching optimal
over all pairs (LP duality); otherwise the uncovered part bounds how much total score an outside pair could add.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

SHIFT = 2.0  # cosine + 2 > 0: scipy reads a zero weight as a missing edge
TOLERANCE = 1e-9  # slack allowed in the dual check (the potentials are sums of float64 differences)
MAX_RELAXATIONS = 200  # per arc: a cap on the label-correcting search (it converges in a few rounds in practice)


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class SparseMatching:
    """The best full matching on the k-NN graph, in the score matrix's own rows and columns."""

    rows: np.ndarray  # (m,) int64 matched rows, m = min(n_rows, n_cols)
    cols: np.ndarray  # (m,) int64 their columns
    total: float  # sum of the matched cosines
    n_edges: int  # pairs in the graph
    certified: bool  # proven optimal over every pair of the full matrix
    gap_bound: float  # the full optimum's total exceeds `total` by at most this (0.0 when certified)


def knn_edges(
    row_top: np.ndarray, row_scores: np.ndarray, col_top: np.ndarray, col_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The union of both directions' top-k pairs: (rows, cols, cosines), each pair once.

    row_top / row_scores: (n_rows, k) each row's best columns; col_top / col_scores: (n_cols, k') each
    column's best rows.
    """
    n_rows, k = row_top.shape
    n_cols, kc = col_top.shape
    r = np.concatenate([np.repeat(np.arange(n_rows), k), col_top.ravel()])
    c = np.concatenate([row_top.ravel(), np.repeat(np.arange(n_cols), kc)])
    w = np.concatenate([row_scores.ravel(), col_scores.ravel()]).astype(np.float64)
    _, first = np.unique(r * n_cols + c, return_index=True)  # a pair in both lists has the same score in both
    return r[first], c[first], w[first]


def kth_bound(scores: np.ndarray, n_other: int) -> np.ndarray:
    """(n,) the highest score a pair outside each top-k list can have: its k-th score (-inf if it lists all)."""
    if scores.shape[1] >= n_other:
        return np.full(len(scores), -np.inf)
    return scores[:, -1].astype(np.float64)


def match_knn(
    row_top: np.ndarray, row_scores: np.ndarray, col_top: np.ndarray, col_scores: np.ndarray
) -> SparseMatching:
    """The maximum-total full matching on the k-NN graph, certified against the full matrix when possible.

    Raises ValueError, naming the graph's size, when the graph has no matching covering the smaller side.
    """
    n_rows, n_cols = len(row_top), len(col_top)
    r, c, w = knn_edges(row_top, row_scores, col_top, col_scores)
    graph = sp.csr_matrix((w + SHIFT, (r, c)), shape=(n_rows, n_cols))
    try:
        rows, cols = min_weight_full_bipartite_matching(graph, maximize=True)
    except ValueError as exc:
        raise ValueError(
            f"the k-NN graph ({len(w)} pairs from each side's top {row_top.shape[1]}) has no matching that "
            f"covers all {min(n_rows, n_cols)} items of the smaller side ({exc})"
        ) from None
    rows, cols = rows.astype(np.int64), cols.astype(np.int64)
    total = float(np.asarray(graph[rows, cols]).sum() - SHIFT * len(rows))
    row_bound, col_bound = kth_bound(row_scores, n_cols), kth_bound(col_scores, n_rows)
    if n_rows <= n_cols:
        slack = _dual_slack(r, c, w, rows, cols, n_rows, n_cols, row_bound, col_bound)
    else:  # the same problem seen from the columns, the smaller side
        slack = _dual_slack(c, r, w, cols, rows, n_cols, n_rows, col_bound, row_bound)
    certified = slack is not None and bool(np.all(slack >= -TOLERANCE))
    gap = 0.0 if certified else float(np.maximum(0.0, -slack).sum()) if slack is not None else float("inf")
    return SparseMatching(rows, cols, total, len(w), certified, gap)


def _dual_slack(
    a: np.ndarray,
    b: np.ndarray,
    w: np.ndarray,
    matched_a: np.ndarray,
    matched_b: np.ndarray,
    n_a: int,
    n_b: int,
    a_bound: np.ndarray,
    b_bound: np.ndarray,
) -> np.ndarray | None:
    """Per item of the smaller side A (all matched), how far the dual potentials cover every pair; None if the
    potentials could not be found.

    The max-weight matching LP (each a exactly once, each b at most once) has duals u_a + v_b >= w_ab,
    v >= 0, tight on matched pairs and v = 0 on unmatched b. With u_a = w_{a, m(a)} - v_{m(a)}, feasibility
    on an edge (a, b) reads v_{m(a)} <= v_b + w_{a, m(a)} - w_ab: shortest-path distances on arcs b -> m(a)
    from the unmatched b (distance 0) satisfy it; b's no path reaches start from a large common constant.
    """
    mate = np.full(n_a, -1, dtype=np.int64)
    mate[matched_a] = matched_b
    own = np.full(n_a, np.nan)
    hit = mate[a] == b
    own[a[hit]] = w[hit]  # (n_a,) each a's matched score
    arcs = ~hit
    tail, head = b[arcs], mate[a[arcs]]  # arc b -> m(a)
    length = own[a[arcs]] - w[arcs]  # (E',) w_{a, m(a)} - w_ab
    order = np.argsort(tail, kind="stable")
    ptr = np.searchsorted(tail[order], np.arange(n_b + 1))
    matched_b_mask = np.zeros(n_b, dtype=bool)
    matched_b_mask[matched_b] = True
    start = np.where(matched_b_mask, 4.0 * (n_b + 1), 0.0)  # longer than any path: |length| <= 4
    v, converged = _label_correcting(ptr, head[order], length[order], start, MAX_RELAXATIONS * max(len(length), 1))
    if not converged:
        return None
    u = own - v[mate]  # (n_a,)
    if np.any(u[a] + v[b] < w - TOLERANCE):  # the sparse optimum's own duals must hold on its edges
        return None
    # every other pair scores at most min(a's k-th best, b's k-th best): check u_a + v_b >= that, in O(n log n)
    by_bound = np.argsort(b_bound, kind="stable")
    bounds, vs = b_bound[by_bound], v[by_bound]
    below_min = np.minimum.accumulate(vs - bounds)  # min over b with bound < x of (v_b - bound_b): a prefix
    above_min = np.minimum.accumulate(vs[::-1])[::-1]  # min over b with bound >= x of v_b: a suffix
    p = np.searchsorted(bounds, a_bound, side="left")  # (n_a,) b's whose bound is below a's
    low = np.where(p > 0, below_min[np.maximum(p - 1, 0)], np.inf)
    high = np.where(p < n_b, above_min[np.minimum(p, n_b - 1)] - a_bound, np.inf)
    return np.asarray(u + np.minimum(low, high))


@njit(cache=True, nogil=True)
def _label_correcting(
    ptr: np.ndarray, head: np.ndarray, length: np.ndarray, dist: np.ndarray, budget: int
) -> tuple[np.ndarray, bool]:
    """Shortest distances from the starting labels `dist` (FIFO label correcting); False if over `budget`."""
    n = len(dist)
    d = dist.copy()
    queue = np.empty(n, dtype=np.int64)
    queued = np.ones(n, dtype=np.bool_)
    for j in range(n):
        queue[j] = j
    first, size, work = 0, n, 0
    while size > 0:
        j = queue[first]
        first = (first + 1) % n
        size -= 1
        queued[j] = False
        for e in range(ptr[j], ptr[j + 1]):
            work += 1
            h = head[e]
            nd = d[j] + length[e]
            if nd < d[h] - 1e-12:
                d[h] = nd
                if not queued[h]:
                    queue[(first + size) % n] = h
                    size += 1
                    queued[h] = True
        if work > budget:
            return d, False
    return d, True
