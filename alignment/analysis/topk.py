"""Chunked cosine top-k and rank of the first true match, without ever building the full Nq x Ng matrix."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

# Scores per block when `chunk` is None: 2**23 float32 = 32 MiB, so a block and its few same-sized
# temporaries (the true-match mask, the masked copy) stay near 100 MiB whatever the gallery size.
BLOCK_SCORES = 1 << 23
UNIT_TOLERANCE = 1e-2  # |norm - 1| allowed: catches raw (unnormalized) embeddings, tolerates float16 storage

PairKeys = Sequence[str | None] | np.ndarray  # one group key per item; None never matches anything


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class TopK:
    """The k most similar gallery items of each query, best first (ties: lower gallery index first)."""

    indices: np.ndarray  # (Nq, k) int64 gallery indices
    scores: np.ndarray  # (Nq, k) float32 cosine, descending along each row


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class Ranks:
    """Where each query's true matches land in its ranking of the gallery, plus its top-k list.

    Ties are broken in the query's favour: among equal scores, true matches come before false ones, then
    the lower gallery index. So `rank` = 1 + (number of gallery items scoring strictly higher than the best
    true match), and `top_is_true` agrees with it (its first True is at position rank - 1 when rank <= k).
    """

    rank: np.ndarray  # (Nq,) int64, 1-based rank of the best-ranked true match; 0 where the query has none
    best_true: np.ndarray  # (Nq,) int64 gallery index of that match (lowest index among tied ones); -1 if none
    best_true_score: np.ndarray  # (Nq,) float32 its cosine; nan where the query has no true match
    n_true: np.ndarray  # (Nq,) int64 number of true matches of each query in the gallery
    top_indices: np.ndarray  # (Nq, k) int64 the query's top-k gallery items, best first
    top_scores: np.ndarray  # (Nq, k) float32 their cosines, descending
    top_is_true: np.ndarray  # (Nq, k) bool whether each of them is a true match

    @property
    def has_true(self) -> np.ndarray:
        """(Nq,) bool: queries with at least one true match in the gallery (the ones metrics count)."""
        return self.n_true > 0


# ---------------------------------------------------------------------------- validation


def as_unit_rows(x: np.ndarray, name: str) -> np.ndarray:
    """Check an (N, D) array of finite unit-norm rows and return it as C-contiguous float32 (no copy if it is)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array (got shape {x.shape})")
    if x.size and not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ValueError(f"{name} has non-finite values in rows {bad[:5].tolist()}")
    norms = np.sqrt(np.einsum("nd,nd->n", x, x, dtype=np.float64))  # (N,) no (N, D) temporary
    off = np.flatnonzero(np.abs(norms - 1.0) > UNIT_TOLERANCE)
    if off.size:
        raise ValueError(
            f"{name} rows must be unit-normalized (got norm {norms[off[0]]:.4g} in row {off[0]}, "
            f"{off.size} of {len(x)} rows off by more than {UNIT_TOLERANCE})"
        )
    return x


def check_pair(queries: np.ndarray, gallery: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate queries (Nq, D) and gallery (Ng, D) as unit rows of the same dimension."""
    q, g = as_unit_rows(queries, "queries"), as_unit_rows(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"queries and gallery differ in dimension (got {q.shape} and {g.shape})")
    if len(g) == 0:
        raise ValueError(f"the gallery is empty (got shape {g.shape})")
    return q, g


def pair_codes(
    query_pairs: PairKeys, gallery_pairs: PairKeys, n_queries: int, n_gallery: int
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for the pair keys; equal codes = true match. None gets -1 (queries) and -2 (gallery)."""
    if len(query_pairs) != n_queries or len(gallery_pairs) != n_gallery:
        raise ValueError(
            f"need one pair key per embedding (got {len(query_pairs)} query keys for {n_queries} "
            f"queries and {len(gallery_pairs)} gallery keys for {n_gallery} gallery items)"
        )
    table: dict[str, int] = {}
    q = np.array([-1 if key is None else table.setdefault(str(key), len(table)) for key in query_pairs], dtype=np.int64)
    g = np.array(
        [-2 if key is None else table.setdefault(str(key), len(table)) for key in gallery_pairs], dtype=np.int64
    )
    return q, g


def query_chunks(n_queries: int, n_gallery: int, chunk: int | None) -> Iterator[slice]:
    """Slices of `chunk` query rows; None picks rows so one (rows, n_gallery) block holds ~BLOCK_SCORES scores."""
    if chunk is None:
        chunk = max(1, BLOCK_SCORES // max(n_gallery, 1))
    elif chunk < 1:
        raise ValueError(f"chunk must be a positive number of query rows (got {chunk})")
    for start in range(0, n_queries, chunk):
        yield slice(start, min(start + chunk, n_queries))


def _score_blocks(q: np.ndarray, g: np.ndarray, chunk: int | None) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, (c, Ng) cosine block) per query chunk, all written into one reused buffer."""
    gallery_t = np.ascontiguousarray(g.T)  # (D, Ng)
    buffer: np.ndarray | None = None
    for rows in query_chunks(len(q), len(g), chunk):
        if buffer is None:
            buffer = np.empty((rows.stop - rows.start, len(g)), dtype=np.float32)  # the first chunk is the largest
        block = buffer[: rows.stop - rows.start]
        np.matmul(q[rows], gallery_t, out=block)  # (c, D) @ (D, Ng) -> (c, Ng)
        yield rows, block


# ---------------------------------------------------------------------------- selection


def select_top(scores: np.ndarray, k: int, prefer: np.ndarray | None) -> np.ndarray:
    """Indices of the k best columns of each row, ordered by (score desc, preferred first, index asc).

    scores: (c, Ng); prefer: (c, Ng) bool or None. Returns (c, k) int64. torch.topk's order among equal
    scores is unspecified, so it only proposes candidates: k + 1 of them show whether a tie straddles the
    k-th place, and only those rows are re-selected exactly from the full row.
    """
    c, n = scores.shape
    if k >= n:
        picked = np.broadcast_to(np.arange(n, dtype=np.int64), (c, n)).copy()
    else:
        top_t, indices_t = torch.topk(torch.from_numpy(scores), k + 1, dim=1)  # (c, k + 1), sorted
        values, picked = top_t.numpy(), indices_t.numpy()[:, :k].astype(np.int64)
        for r in np.flatnonzero(values[:, k] == values[:, k - 1]):
            row, kth = scores[r], values[r, k - 1]
            above = np.flatnonzero(row > kth)
            tied = np.flatnonzero(row == kth)
            if prefer is not None:
                tied = tied[np.argsort(~prefer[r, tied], kind="stable")]  # preferred first, then by index
            picked[r] = np.concatenate([above, tied[: k - len(above)]])
    top = np.take_along_axis(scores, picked, axis=1)  # (c, k)
    not_preferred = (
        ~np.take_along_axis(prefer, picked, axis=1) if prefer is not None else np.zeros_like(picked, dtype=bool)
    )
    order = np.lexsort((picked, not_preferred, -top), axis=1)  # last key is the primary one
    return np.take_along_axis(picked, order, axis=1)


# ---------------------------------------------------------------------------- public


def topk_similarity(queries: np.ndarray, gallery: np.ndarray, k: int, *, chunk: int | None = None) -> TopK:
    """Cosine top-k gallery items per query, computed `chunk` query rows at a time (memory O(Nq*k + chunk*Ng)).

    `chunk=None` picks rows so that one block holds about BLOCK_SCORES scores.
    """
    q, g = check_pair(queries, gallery)
    if not 1 <= k <= len(g):
        raise ValueError(f"k must be between 1 and the gallery size (got k={k} for {len(g)} gallery items)")
    indices = np.empty((len(q), k), dtype=np.int64)
    scores = np.empty((len(q), k), dtype=np.float32)
    for rows, block in _score_blocks(q, g, chunk):
        indices[rows] = select_top(block, k, None)
        scores[rows] = np.take_along_axis(block, indices[rows], axis=1)
    return TopK(indices, scores)


def rank_of_first_true(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_pairs: PairKeys,
    gallery_pairs: PairKeys,
    *,
    k: int = 10,
    chunk: int | None = None,
) -> Ranks:
    """Rank of each query's best true match (1 + items scoring strictly higher) and its top-k, chunk-wise.

    A gallery item is a true match of a query when their pair keys are equal. `k` is capped at the gallery
    size; the top-k list is what mAP@k needs. Queries without a true match get rank 0 (see `Ranks.has_true`).
    """
    q, g = check_pair(queries, gallery)
    q_codes, g_codes = pair_codes(query_pairs, gallery_pairs, len(q), len(g))
    if k < 1:
        raise ValueError(f"k must be at least 1 (got k={k})")
    k = min(k, len(g))
    nq = len(q)
    rank = np.zeros(nq, dtype=np.int64)
    best_true = np.full(nq, -1, dtype=np.int64)
    best_score = np.full(nq, np.nan, dtype=np.float32)
    top_indices = np.empty((nq, k), dtype=np.int64)
    top_scores = np.empty((nq, k), dtype=np.float32)
    top_is_true = np.empty((nq, k), dtype=bool)
    sorted_codes = np.sort(g_codes)
    n_true = (
        np.searchsorted(sorted_codes, q_codes, side="right") - np.searchsorted(sorted_codes, q_codes, side="left")
    ).astype(np.int64)  # (Nq,)

    for rows, block in _score_blocks(q, g, chunk):
        is_true = q_codes[rows, None] == g_codes[None, :]  # (c, Ng)
        picked = select_top(block, k, is_true)  # (c, k)
        top_indices[rows] = picked
        top_scores[rows] = np.take_along_axis(block, picked, axis=1)
        top_is_true[rows] = np.take_along_axis(is_true, picked, axis=1)

        masked = np.where(is_true, block, -np.inf)  # (c, Ng): only true matches keep their score
        best = masked.argmax(axis=1)  # (c,) lowest index among tied best true matches
        del masked
        found = n_true[rows] > 0
        score = np.take_along_axis(block, best[:, None], axis=1)[:, 0]  # (c,)
        higher = (block > score[:, None]).sum(axis=1)  # (c,) strictly higher only: ties favour the query
        rank[rows] = np.where(found, 1 + higher, 0)
        best_true[rows] = np.where(found, best, -1)
        best_score[rows] = np.where(found, score, np.nan)
    return Ranks(rank, best_true, best_score, n_true, top_indices, top_scores, top_is_true)
