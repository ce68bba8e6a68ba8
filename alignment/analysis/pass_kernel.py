"""The fused per-element work of the one-pass evaluation on CPU: one numba sweep over each score block.

For every score s of a (c, Ng) block it counts, both ways, the false matches strictly above each query's best
true score, keeps the row and the column top-k, histograms the false pairs for the threshold curve, and does
the same counting and top-k on two affine corrections of s (the modality gap removed, or a hubness
correction), so the block is read from memory once. Per (row, tile of columns) a branch-free loop (which LLVM
vectorises) counts and marks the scores that may enter a top-k list; only the marked ones take the scalar
path. Columns are split into one slice per thread, so every column's state belongs to one thread; each
thread keeps its own partial row state, merged after the block (`merge_rows`).

Order of a top-k list: higher score first; among equal scores a true match first, then the lower index.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

HIST_SCALE = 1 << 14  # histogram bins per unit of cosine: 2**-14 = 6.1e-5 wide
N_BINS = 2 * HIST_SCALE + 1  # edges -1, -1 + 2**-14, ..., 1: bin b holds scores in [b / 2**14 - 1, (b + 1) / 2**14 - 1)
NO_INDEX = np.iinfo(np.int64).max  # the index of an empty top-k slot: after every real one
TILE = 2048  # columns per tile (a multiple of 8): its column state (~100 B per column) stays in L2 while rows sweep it
PREFILL = 256  # scores of a row's first tile that seed its top-k list before the vectorised loop
SUB_HISTOGRAMS = (
    4  # (a power of two) interleaved histograms per thread, so increments of one bin do not wait on each other
)


class RowSide(NamedTuple):
    """Per-query state when the queries are the block's rows; the partial arrays have a leading thread axis."""

    best: np.ndarray  # (Nq,) float32 best true score per query (+inf without one: nothing counts)
    above: np.ndarray  # (T, c) int32 false matches strictly above it, per thread, this block
    top_v: np.ndarray  # (T, c, k) float32 partial top-k scores, best first
    top_i: np.ndarray  # (T, c, k) int64 their column indices
    top_t: np.ndarray  # (T, c, k) uint8 whether each is a true match


class ColSide(NamedTuple):
    """Per-query state when the queries are the block's columns: accumulated over all blocks."""

    best: np.ndarray  # (Ng,) float32
    above: np.ndarray  # (Ng,) int32 (a count of rows: below 2**31)
    top_v: np.ndarray  # (Ng, k) float32
    top_i: np.ndarray  # (Ng, k) int64 row indices
    top_t: np.ndarray  # (Ng, k) uint8
    kth: np.ndarray  # (Ng,) float32 = top_v[:, k - 1], contiguous for the sweep


class Affine(NamedTuple):
    """t = (s + e_q * c_g + c_q) * (a_q * f_g): q indexes the query side, g the gallery side.

    The sweep ranks by t / a_q (the same order for each query) and the factor is put back in the results.
    """

    e_q: np.ndarray  # (Nq,) float64
    c_q: np.ndarray  # (Nq,) float64
    a_q: np.ndarray  # (Nq,) float64, > 0
    c_g: np.ndarray  # (Ng,) float64
    f_g: np.ndarray  # (Ng,) float64, > 0


@njit(cache=True, inline="always")
def affine(s: float, e_q: float, c_q: float, c_g: float, f_g: float) -> float:
    """The one formula every corrected score goes through in the sweep (the true matches' scores too).

    float32 throughout (8 lanes a vector); it leaves out the query's own positive factor a_q, which does not
    change that query's ranking.
    """
    return (s + e_q * c_g + c_q) * f_g


@njit(cache=True, inline="always")
def score_bin(s: float) -> int:
    """Histogram bin of a cosine: exact in float64, so bin(s) >= b iff s >= b / 2**14 - 1."""
    b = int(np.floor((s + 1.0) * HIST_SCALE))
    return min(max(b, 0), N_BINS - 1)


@njit(cache=True, inline="always")
def _better(v: float, t: int, i: int, v2: float, t2: int, i2: int) -> bool:
    if v != v2:
        return v > v2
    if t != t2:
        return t > t2
    return i < i2


@njit(cache=True, inline="always")
def _insert(top_v: np.ndarray, top_i: np.ndarray, top_t: np.ndarray, v: float, t: int, i: int) -> None:
    """Put (v, t, i) into a sorted list of k that it beats at its last place."""
    p = top_v.shape[0] - 1
    while p > 0 and _better(v, t, i, top_v[p - 1], top_t[p - 1], top_i[p - 1]):
        top_v[p] = top_v[p - 1]
        top_i[p] = top_i[p - 1]
        top_t[p] = top_t[p - 1]
        p -= 1
    top_v[p] = v
    top_i[p] = i
    top_t[p] = t


@njit(cache=True, inline="always")
def _offer(top_v: np.ndarray, top_i: np.ndarray, top_t: np.ndarray, v: float, t: bool, i: int) -> None:
    """Insert (v, t, i) if it beats the list's last entry; a later index loses a full tie."""
    kth = top_v[-1]
    if v > kth or (v == kth and t and top_t[-1] == 0):
        _insert(top_v, top_i, top_t, v, t, i)


@njit(parallel=True, cache=True, nogil=True)
def sweep(
    block: np.ndarray,  # (c, Ng) float32 scores of rows row0 .. row0 + c
    row0: int,
    n_slices: int,  # column slices, one per thread: the leading axis of every per-thread array
    q_codes: np.ndarray,  # (Nq,) int32 pair codes of the rows
    g_codes: np.ndarray,  # (Ng,) int32 pair codes of the columns
    plain: bool,  # rank the cosine both ways and histogram it (the first pass); else only fwd and bwd
    pr_best: np.ndarray,  # plain, rows as queries (a RowSide): best true score float32, counts, top-k
    pr_count: np.ndarray,
    pr_v: np.ndarray,
    pr_i: np.ndarray,
    pr_t: np.ndarray,
    pc_best: np.ndarray,  # plain, columns as queries (a ColSide)
    pc_count: np.ndarray,
    pc_v: np.ndarray,
    pc_i: np.ndarray,
    pc_t: np.ndarray,
    pc_kth: np.ndarray,
    hist: np.ndarray,  # (T, SUB, N_BINS + 1) int32 false pairs per score bin this block (last bin: true pairs)
    corrected: bool,  # rank the two affine corrections (fwd for the rows, bwd for the columns)
    fr_best: np.ndarray,  # corrected, rows as queries (a RowSide), then its Affine (q = rows), all float32
    fr_count: np.ndarray,
    fr_v: np.ndarray,
    fr_i: np.ndarray,
    fr_t: np.ndarray,
    f_eq: np.ndarray,
    f_cq: np.ndarray,
    f_cg: np.ndarray,
    f_fg: np.ndarray,
    bc_best: np.ndarray,  # corrected, columns as queries (a ColSide), then its Affine (q = columns), float32
    bc_count: np.ndarray,
    bc_v: np.ndarray,
    bc_i: np.ndarray,
    bc_t: np.ndarray,
    bc_kth: np.ndarray,
    b_eq: np.ndarray,
    b_cq: np.ndarray,
    b_cg: np.ndarray,
    b_fg: np.ndarray,
) -> None:
    """Sweep one block: per (row, tile), a vectorised count-and-mark loop, the marked top-k candidates, the bins.

    The arrays come one by one: numba's parallel loops lose writes made through tuples of arrays.
    """
    c, ng = block.shape
    for s in prange(n_slices):
        mask = np.zeros(TILE, dtype=np.uint8)
        words = mask.view(np.uint64)
        bins = np.full(TILE, N_BINS, dtype=np.int32)
        j_start = s * ng // n_slices
        j_stop = (s + 1) * ng // n_slices
        for tile in range(j_start, j_stop, TILE):
            width = min(TILE, j_stop - tile)
            mask[:] = 0
            for i in range(c):
                r = row0 + i
                qc = q_codes[r]
                row = block[i, tile : tile + width]
                codes = g_codes[tile : tile + width]
                hit = False
                # a row's partial top-k starts empty in each slice: fill it from the tile's first scores, so the
                # vectorised loop marks only what beats a real k-th best (those first scores are then in it)
                row_from = 0
                if pr_v.shape[2] and (
                    (plain and pr_v[s, i, -1] == -np.inf) or (corrected and fr_v[s, i, -1] == -np.inf)
                ):
                    row_from = min(width, PREFILL)
                    for j in range(row_from):
                        true = codes[j] == qc
                        if plain:
                            _offer(pr_v[s, i], pr_i[s, i], pr_t[s, i], row[j], true, tile + j)
                        if corrected:
                            t = affine(row[j], f_eq[r], f_cq[r], f_cg[tile + j], f_fg[tile + j])
                            _offer(fr_v[s, i], fr_i[s, i], fr_t[s, i], t, true, tile + j)
                if plain:
                    p_count, p_hit = _count_plain(
                        row, codes, qc, pr_best[r], pr_v[s, i, -1],
                        pc_best[tile:], pc_count[tile:], pc_kth[tile:], mask, bins,
                    )  # fmt: skip
                    pr_count[s, i] += p_count
                    hit |= p_hit
                zero = np.float32(0.0)
                fe, fc, bc, bf = zero, zero, zero, zero
                if corrected:
                    fe, fc = f_eq[r], f_cq[r]
                    bc, bf = b_cg[r], b_fg[r]
                    f_count, f_hit = _count_corrected(
                        row, codes, qc, fr_best[r], fr_v[s, i, -1], fe, fc, f_cg[tile:], f_fg[tile:],
                        b_eq[tile:], b_cq[tile:], bc, bf, bc_best[tile:], bc_count[tile:], bc_kth[tile:],
                        mask,
                    )  # fmt: skip
                    fr_count[s, i] += f_count
                    hit |= f_hit
                if hit:
                    _candidates(
                        words, row, codes, qc, r, tile, s, i, plain, corrected, row_from,
                        pr_v, pr_i, pr_t, pc_v, pc_i, pc_t, pc_kth,
                        fr_v, fr_i, fr_t, fe, fc, f_cg, f_fg,
                        bc_v, bc_i, bc_t, bc_kth, b_eq, b_cq, bc, bf,
                    )  # fmt: skip
                    mask[:] = 0
                if plain:
                    _add_bins(hist[s], bins, width)


@njit(cache=True, nogil=True)
def _count_plain(row, codes, qc, p_best, p_kth, c_best, c_count, c_kth, mask, bins):  # type: ignore[no-untyped-def]
    """One row of a tile, branch-free (LLVM vectorises it): false matches above the row's and each column's best
    true score, a mark on scores that may enter the row's or the column's top-k, and each false pair's bin."""
    p_count = np.int32(0)
    hit = False
    for j in range(row.shape[0]):
        v = row[j]
        false = codes[j] != qc
        p_count += np.int32((v > p_best) & false)
        c_count[j] += np.int32((v > c_best[j]) & false)
        m = (v >= p_kth) | (v >= c_kth[j])
        mask[j] = m
        hit |= m
        b = min(max(np.int32(np.floor((np.float64(v) + 1.0) * HIST_SCALE)), 0), N_BINS - 1)
        bins[j] = b if false else N_BINS
    return p_count, hit


@njit(cache=True, nogil=True)
def _count_corrected(  # type: ignore[no-untyped-def]
    row, codes, qc, f_best, f_kth, fe, fc, f_cg, f_fg, b_eq, b_cq, bc, bf, b_best, b_count, b_kth, mask
):
    """The same for the two corrected scores: the row's (forward map) and each column's (backward map)."""
    f_count = np.int32(0)
    hit = False
    for j in range(row.shape[0]):
        v = row[j]
        false = codes[j] != qc
        t = affine(v, fe, fc, f_cg[j], f_fg[j])
        f_count += np.int32((t > f_best) & false)
        u = affine(v, b_eq[j], b_cq[j], bc, bf)
        b_count[j] += np.int32((u > b_best[j]) & false)
        m = (t >= f_kth) | (u >= b_kth[j])
        mask[j] |= m
        hit |= m
    return f_count, hit


@njit(cache=True, nogil=True)
def _add_bins(hist: np.ndarray, bins: np.ndarray, width: int) -> None:
    """Scatter one row's bins into interleaved histograms (so runs of one bin do not chain on one counter)."""
    for j in range(width):
        hist[j & (SUB_HISTOGRAMS - 1), bins[j]] += 1


@njit(cache=True, nogil=True)
def _candidates(
    words, row, codes, qc, r, tile, s, i, plain, corrected, row_from,
    pr_v, pr_i, pr_t, pc_v, pc_i, pc_t, pc_kth,
    fr_v, fr_i, fr_t, fe, fc, f_cg, f_fg,
    bc_v, bc_i, bc_t, bc_kth, b_eq, b_cq, bc, bf,
):  # fmt: skip
    """The marked scores of one row of a tile, checked exactly against each top-k list they may enter."""
    for w in range(words.shape[0]):
        if words[w] == 0:
            continue
        for j in range(8 * w, min(8 * w + 8, row.shape[0])):
            if (words[w] >> np.uint64(8 * (j - 8 * w))) & np.uint64(0xFF) == 0:
                continue
            g = tile + j
            true = codes[j] == qc
            v32 = row[j]
            mine = j >= row_from  # the first scores of a tile may already be in the row's list
            if plain:
                if mine:
                    _offer(pr_v[s, i], pr_i[s, i], pr_t[s, i], v32, true, g)
                col_kth = pc_kth[g]
                if v32 > col_kth or (v32 == col_kth and true and pc_t[g, -1] == 0):
                    _insert(pc_v[g], pc_i[g], pc_t[g], v32, true, r)
                    pc_kth[g] = pc_v[g, -1]
            if corrected:
                t = affine(v32, fe, fc, f_cg[g], f_fg[g])
                if mine:
                    _offer(fr_v[s, i], fr_i[s, i], fr_t[s, i], t, true, g)
                u = affine(v32, b_eq[g], b_cq[g], bc, bf)
                b_kth = bc_kth[g]
                if u > b_kth or (u == b_kth and true and bc_t[g, -1] == 0):
                    _insert(bc_v[g], bc_i[g], bc_t[g], u, true, r)
                    bc_kth[g] = bc_v[g, -1]


@njit(cache=True, nogil=True)  # serial: c * T * k entries, less work than waking the threads would take
def merge_rows(
    part_v: np.ndarray,  # (T, c, k) float32 per-thread sorted lists
    part_i: np.ndarray,  # (T, c, k) int64
    part_t: np.ndarray,  # (T, c, k) uint8
    out_v: np.ndarray,  # (c, k) float32
    out_i: np.ndarray,  # (c, k) int64
    out_t: np.ndarray,  # (c, k) uint8
) -> None:
    """The k best of each row over the threads' partial lists (same order as the lists themselves)."""
    n_parts, c, k = part_v.shape
    for i in range(c):
        for p in range(k):
            out_v[i, p] = -np.inf
            out_i[i, p] = NO_INDEX
            out_t[i, p] = 0
        for s in range(n_parts):
            for p in range(k):
                v, t, j = part_v[s, i, p], part_t[s, i, p], part_i[s, i, p]
                if _better(v, t, j, out_v[i, k - 1], out_t[i, k - 1], out_i[i, k - 1]):
                    _insert(out_v[i], out_i[i], out_t[i], v, t, j)
                else:
                    break  # the rest of this sorted list is worse still


@njit(cache=True, nogil=True)
def histogram(scores: np.ndarray) -> np.ndarray:
    """(N_BINS,) int64 counts of float scores per bin: the true pairs' side of the threshold curve."""
    out = np.zeros(N_BINS, dtype=np.int64)
    for s in scores:
        out[score_bin(np.float64(s))] += 1
    return out


def threads() -> int:
    """Threads the sweep splits the columns over (numba's, i.e. the cores unless NUMBA_NUM_THREADS says less)."""
    return int(numba.get_num_threads())
