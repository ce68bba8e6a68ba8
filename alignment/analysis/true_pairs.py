"""The true pairs' scores, computed before the pass: each query's best true match, both ways, and their histogram.

A pair is true when its two pair keys are equal. The scores come from float64 dot products rounded once to
float32 (O(P * D) for P true pairs: small key groups are enumerated pair by pair, large ones go through one
matrix product each), so the blockwise pass only has to count what lies strictly above them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .pass_kernel import NO_INDEX, Affine, histogram

PAIR_CHUNK = 1 << 16  # pairs scored per step on the enumerated path: two (chunk, D) float64 gathers
SMALL_GROUP = 64  # key groups with at most this many pairs (e.g. 1 x 1, 5 x 1 captions) are enumerated
GROUP_SCORES = 1 << 22  # scores per matrix product of a large group


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class Best:
    """Each query's best true match on one side of one channel: score and index (lowest among ties)."""

    score: np.ndarray  # (Nq,) float64; -inf where the query has no true match
    index: np.ndarray  # (Nq,) int64; NO_INDEX where none

    @property
    def threshold(self) -> np.ndarray:
        """What the pass compares with: the best true score, +inf where there is none (so nothing counts)."""
        return np.where(self.index == NO_INDEX, np.inf, self.score)


def group_counts(q_codes: np.ndarray, g_codes: np.ndarray) -> np.ndarray:
    """(Nq,) int64: how many gallery items share each query's pair code."""
    sorted_codes = np.sort(g_codes)
    return (
        np.searchsorted(sorted_codes, q_codes, side="right") - np.searchsorted(sorted_codes, q_codes, side="left")
    ).astype(np.int64)


def true_chunks(
    x: np.ndarray, y: np.ndarray, x_codes: np.ndarray, y_codes: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows of x, rows of y, float32-rounded cosine as float64) for every true pair, a chunk at a time."""
    x_order = np.argsort(x_codes, kind="stable")
    y_order = np.argsort(y_codes, kind="stable")
    x_sorted, y_sorted = x_codes[x_order], y_codes[y_order]
    codes, x_start, x_count = np.unique(x_sorted, return_index=True, return_counts=True)
    y_start = np.searchsorted(y_sorted, codes, side="left")
    y_count = np.searchsorted(y_sorted, codes, side="right") - y_start
    size = x_count * y_count  # (G,) pairs per key group
    small = np.flatnonzero((size > 0) & (size <= SMALL_GROUP))
    if small.size:
        group = np.repeat(small, size[small])  # (P_small,) the group of each enumerated pair
        within = np.arange(group.size) - np.repeat(np.cumsum(size[small]) - size[small], size[small])
        xi = x_order[x_start[group] + within // y_count[group]]
        yi = y_order[y_start[group] + within % y_count[group]]
        for s in range(0, xi.size, PAIR_CHUNK):
            a, b = xi[s : s + PAIR_CHUNK], yi[s : s + PAIR_CHUNK]
            dots = np.einsum("nd,nd->n", x[a].astype(np.float64), y[b].astype(np.float64))  # (n, D) . (n, D) -> (n,)
            yield a, b, dots.astype(np.float32).astype(np.float64)
    for g in np.flatnonzero(size > SMALL_GROUP).tolist():
        rows = x_order[x_start[g] : x_start[g] + x_count[g]]
        cols = y_order[y_start[g] : y_start[g] + y_count[g]]
        right = y[cols].astype(np.float64).T  # (D, m)
        step = max(1, GROUP_SCORES // len(cols))
        for s in range(0, len(rows), step):
            part = rows[s : s + step]
            dots = x[part].astype(np.float64) @ right  # (p, D) @ (D, m) -> (p, m)
            yield (
                np.repeat(part, len(cols)),
                np.tile(cols, len(part)),
                dots.astype(np.float32).astype(np.float64).ravel(),
            )


def apply_affine(t: Affine, s: np.ndarray, q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The ranking scores of pairs (q[n], g[n]) with cosines s[n], by the pass's formula (`pass_kernel.affine`:
    float32, without the query's own factor a_q), as float64."""
    f32 = np.float32
    e_q, c_q, c_g, f_g = (a.astype(f32)[i] for a, i in ((t.e_q, q), (t.c_q, q), (t.c_g, g), (t.f_g, g)))
    return ((s.astype(f32) + e_q * c_g + c_q) * f_g).astype(np.float64)


def _update(best: Best, q: np.ndarray, g: np.ndarray, t: np.ndarray) -> None:
    """Fold a chunk of (query, gallery, score) into each query's best (highest score, then lowest index)."""
    order = np.lexsort((g, -t, q))  # by query, then score descending, then gallery index
    q, g, t = q[order], g[order], t[order]
    first = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    q, g, t = q[first], g[first], t[first]
    better = (t > best.score[q]) | ((t == best.score[q]) & (g < best.index[q]))
    best.score[q[better]] = t[better]
    best.index[q[better]] = g[better]


@dataclass(frozen=True, eq=False)
class TrueScan:
    """What the true pairs give before the pass: best true match per query of each channel, and their histogram."""

    plain_rows: Best | None  # x's queries against y
    plain_cols: Best | None  # y's queries against x
    forward: Best | None  # x's queries, corrected by the forward affine map
    backward: Best | None  # y's queries, corrected by the backward map
    positives: np.ndarray  # (N_BINS,) int64 true pairs per plain score bin (zeros when not asked)
    n_pairs: int


def scan_true_pairs(
    x: np.ndarray,
    y: np.ndarray,
    x_codes: np.ndarray,
    y_codes: np.ndarray,
    *,
    plain: bool = True,
    forward: Affine | None = None,
    backward: Affine | None = None,
) -> TrueScan:
    """Best true score per query of every channel asked for, and the plain true scores' histogram."""
    from .pass_kernel import N_BINS

    def fresh(n: int) -> Best:
        return Best(np.full(n, -np.inf), np.full(n, NO_INDEX, dtype=np.int64))

    rows, cols = (fresh(len(x)), fresh(len(y))) if plain else (None, None)
    fwd = fresh(len(x)) if forward is not None else None
    bwd = fresh(len(y)) if backward is not None else None
    positives = np.zeros(N_BINS, dtype=np.int64)
    n = 0
    for a, b, s in true_chunks(x, y, x_codes, y_codes):
        n += len(s)
        if rows is not None and cols is not None:
            _update(rows, a, b, s)
            _update(cols, b, a, s)
            positives += histogram(s)
        if fwd is not None and forward is not None:
            _update(fwd, a, b, apply_affine(forward, s, a, b))
        if bwd is not None and backward is not None:
            _update(bwd, b, a, apply_affine(backward, s, b, a))
    return TrueScan(rows, cols, fwd, bwd, positives, n)
