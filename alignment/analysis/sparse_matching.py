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

from ..models.turns import checkpoint

SHIFT = 2.0  # cosine + 2 > 0: scipy reads a zero weight as a missing edge
TOLERANCE = 1e-9  # slack allowed in the dual check (the potentials are sums of float64 differences)
MAX_RELAXATIONS = 200  # per arc: a cap on the label-correcting search (it converges in a few rounds in practice)
MAX_ROUNDS = 50  # rounds of the bound arcs before giving up on a certificate (a negative cycle never settles)


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
        certified, gap = _certify(r, c, w, rows, cols, n_rows, n_cols, row_bound, col_bound)
    else:  # the same problem seen from the columns, the smaller side
        certified, gap = _certify(c, r, w, cols, rows, n_cols, n_rows, col_bound, row_bound)
    return SparseMatching(rows, cols, total, len(w), certified, gap)


def _certify(
    a: np.ndarray,
    b: np.ndarray,
    w: np.ndarray,
    matched_a: np.ndarray,
    matched_b: np.ndarray,
    n_a: int,
    n_b: int,
    a_bound: np.ndarray,
    b_bound: np.ndarray,
) -> tuple[bool, float]:
    """Whether the sparse optimum is optimal over every pair, else a bound on how much total it can miss.

    The max-weight matching LP (each a of the smaller side exactly once, each b at most once) has duals
    u_a + v_b >= w_ab, v >= 0, tight on matched pairs and v = 0 on unmatched b. With u_a = w_{a, m(a)} - v_{m(a)},
    u_a + v_b >= x reads v_{m(a)} <= v_b + w_{a, m(a)} - x: an arc b -> m(a) of that length, so feasible
    potentials are shortest-path distances (from the unmatched b at 0). The graph's own pairs give one arc
    each; every other pair scores at most min(a's k-th best, b's k-th best), which gives arcs from every b to
    every m(a), relaxed all at once in O(n log n) by sorting b on its bound. Potentials that satisfy both
    prove optimality; potentials of the graph alone bound the loss by the uncovered slack.
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
    head, length = head[order], length[order]
    matched_b_mask = np.zeros(n_b, dtype=bool)
    matched_b_mask[matched_b] = True
    start = np.where(matched_b_mask, 4.0 * (n_b + 1), 0.0)  # longer than any path: |length| <= 2
    budget = MAX_RELAXATIONS * max(len(length), 1)
    v, converged = _label_correcting(ptr, head, length, start, np.arange(n_b), budget)
    if not converged or np.any(own[a] - v[mate[a]] + v[b] < w - TOLERANCE):  # graph duals must hold on its edges
        return False, float("inf")
    by_bound = np.argsort(b_bound, kind="stable")
    position = np.searchsorted(b_bound[by_bound], a_bound, side="left")  # (n_a,) b's with a lower bound than a's
    slack = _slack(v, own, mate, a_bound, b_bound, by_bound, position)
    if np.all(slack >= -TOLERANCE):
        return True, 0.0
    gap = float(np.maximum(0.0, -slack).sum())
    strong, converged = _cover_bounds(
        ptr, head, length, v, own, mate, a_bound, b_bound[by_bound], by_bound, position, budget
    )
    if converged and np.all(strong >= -TOLERANCE):
        if np.all(_slack(strong, own, mate, a_bound, b_bound, by_bound, position) >= -TOLERANCE):
            return True, 0.0
    return False, gap


def _slack(
    v: np.ndarray,
    own: np.ndarray,
    mate: np.ndarray,
    a_bound: np.ndarray,
    b_bound: np.ndarray,
    by_bound: np.ndarray,
    position: np.ndarray,
) -> np.ndarray:
    """(n_a,) min over every b of u_a + v_b - min(a_bound, b_bound), u_a = own_a - v_{m(a)}: >= 0 covers them all."""
    bounds, vs = b_bound[by_bound], v[by_bound]
    below = np.minimum.accumulate(vs - bounds)  # prefix: min of v_b - bound_b over b with a lower bound
    above = np.minimum.accumulate(vs[::-1])[::-1]  # suffix: min of v_b over b with a bound >= a's
    n_b = len(v)
    low = np.where(position > 0, below[np.maximum(position - 1, 0)], np.inf)
    high = np.where(position < n_b, above[np.minimum(position, n_b - 1)] - a_bound, np.inf)
    return np.asarray(own - v[mate] + np.minimum(low, high))


def _cover_bounds(
    ptr: np.ndarray,
    head: np.ndarray,
    length: np.ndarray,
    v: np.ndarray,
    own: np.ndarray,
    mate: np.ndarray,
    a_bound: np.ndarray,
    sorted_bounds: np.ndarray,
    by_bound: np.ndarray,
    position: np.ndarray,
    budget: int,
) -> tuple[np.ndarray, bool]:
    """Potentials satisfying the graph's arcs and the bound arcs, from `v`; False if none (a negative cycle).
    One compiled round at a time, with a checkpoint between rounds: at 40,000 per side the rounds take seconds,
    and a stopped job, or one past its time, must end in between (models.turns)."""
    d = v.copy()
    n_b = len(d)
    below, above = np.empty(n_b), np.empty(n_b)
    changed = np.empty(n_b, dtype=np.int64)
    for _ in range(MAX_ROUNDS):
        checkpoint()
        d, status = _cover_round(
            ptr, head, length, d, own, mate, a_bound, sorted_bounds, by_bound, position, budget, below, above, changed
        )
        if status != CONTINUE:
            return d, status == CONVERGED
    return d, False


CONVERGED, CONTINUE, FAILED = 0, 1, 2  # what one round of `_cover_bounds` ended in


@njit(cache=True, nogil=True)
def _cover_round(
    ptr: np.ndarray,
    head: np.ndarray,
    length: np.ndarray,
    d: np.ndarray,
    own: np.ndarray,
    mate: np.ndarray,
    a_bound: np.ndarray,
    sorted_bounds: np.ndarray,
    by_bound: np.ndarray,
    position: np.ndarray,
    budget: int,
    below: np.ndarray,
    above: np.ndarray,
    changed: np.ndarray,
) -> tuple[np.ndarray, int]:
    """One round: lower the potentials the bound arcs violate, then restore the graph's arcs from those."""
    n_b = len(d)
    acc = np.inf
    for p in range(n_b):
        acc = min(acc, d[by_bound[p]] - sorted_bounds[p])
        below[p] = acc
    acc = np.inf
    for p in range(n_b - 1, -1, -1):
        acc = min(acc, d[by_bound[p]])
        above[p] = acc
    n_changed = 0
    for i in range(len(own)):
        best = np.inf
        if position[i] > 0:
            best = below[position[i] - 1]
        if position[i] < n_b:
            best = min(best, above[position[i]] - a_bound[i])
        h = mate[i]
        if own[i] + best < d[h] - 1e-12:
            d[h] = own[i] + best
            changed[n_changed] = h
            n_changed += 1
    if n_changed == 0:
        return d, 0  # CONVERGED
    d, ok = _label_correcting(ptr, head, length, d, changed[:n_changed].copy(), budget)
    return d, 1 if ok else 2  # CONTINUE, FAILED


@njit(cache=True, nogil=True)
def _label_correcting(
    ptr: np.ndarray, head: np.ndarray, length: np.ndarray, dist: np.ndarray, start: np.ndarray, budget: int
) -> tuple[np.ndarray, bool]:
    """Shortest distances from the labels `dist`, relaxing from the nodes `start` (FIFO label correcting);
    False if it takes more than `budget` relaxations (a negative cycle never settles)."""
    n = len(dist)
    d = dist.copy()
    queue = np.empty(n, dtype=np.int64)
    queued = np.zeros(n, dtype=np.bool_)
    size = 0
    for j in start:
        if not queued[j]:
            queue[size] = j
            queued[j] = True
            size += 1
    first, work = 0, 0
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
