"""One blockwise pass over S = X @ Y.T for a modality pair: both directions' ranks and top-k, the threshold
histogram, softmax statistics and up to two corrected rankings, with memory O(N * k + block).

The true pairs' scores are computed first (`true_pairs`), so each query's best true score is known before
the pass; ranks then reduce to counting the false matches strictly above it, row-wise and column-wise, while
the block is swept once (`pass_kernel` on CPU, `pass_torch` on a GPU). Ties go the query's way, as in
`topk.Ranks`: rank = 1 + the number of items scoring strictly higher than the best true match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..models.turns import checkpoint
from .pass_kernel import Affine
from .scanner import Scanner, Side, block_rows
from .topk import Ranks, query_chunks
from .true_pairs import Best, group_counts, scan_true_pairs

Backend = Literal["auto", "numba", "torch"]


@dataclass(frozen=True, eq=False)
class PairScan:
    """Everything one pass measured for a modality pair (x = the rows, y = the columns)."""

    rows: Ranks | None  # x -> y, plain cosine
    cols: Ranks | None  # y -> x
    forward: Ranks | None  # x -> y, corrected (its scores are the corrected ones)
    backward: Ranks | None  # y -> x, corrected
    positives: np.ndarray  # (N_BINS,) int64 true pairs per score bin (`pass_kernel.score_bin`)
    negatives: np.ndarray | None  # (N_BINS,) int64 false pairs per score bin
    row_log_sum: np.ndarray | None  # (Nx,) float64 log sum_j exp(beta * s_ij)
    col_log_sum: np.ndarray | None  # (Ny,) float64 log sum_i exp(beta * s_ij)
    matrix: np.ndarray | None  # (Nx, Ny) float32, kept when asked (small pairs: the assignment reads it)
    n_true_pairs: int
    backend: str  # "numba" or "torch:<device>"


def resolve_backend(backend: Backend) -> tuple[str, str | None]:
    """("numba", None) on CPU, ("torch", device) otherwise; "auto" takes torch on CUDA when one is present."""
    if backend not in ("auto", "numba", "torch"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'torch' (got {backend!r})")
    import torch

    cuda = torch.cuda.is_available()
    if backend == "numba" or (backend == "auto" and not cuda):
        return "numba", None
    return "torch", "cuda" if cuda else "cpu"


def scan_pair(
    x: np.ndarray,
    y: np.ndarray,
    x_codes: np.ndarray,
    y_codes: np.ndarray,
    *,
    k: int = 10,
    plain: bool = True,
    histogram: bool = True,
    forward: Affine | None = None,
    backward: Affine | None = None,
    beta: float | None = None,
    keep_matrix: bool = False,
    matrix: np.ndarray | None = None,
    backend: Backend = "auto",
    chunk: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> PairScan:
    """One pass over x @ y.T (unit rows, float32, already checked) in blocks of rows.

    `plain`: ranks and top-k both ways on the cosine, and (with `histogram`) the false pairs per score bin.
    `forward` / `backward`: an affine correction ranking y for each x / x for each y (`pass_kernel.Affine`).
    `beta`: also the log-sum-exp of beta * cosine along every row and column. `matrix`: the scores already
    computed (no matrix product then); `keep_matrix`: return them (Nx * Ny floats: small pairs only).
    `progress(fraction)` is called after every block.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1 (got k={k})")
    if beta is not None and not beta > 0:
        raise ValueError(f"beta must be positive (got {beta})")
    wanted = (forward is not None, backward is not None)
    if any(wanted):  # the sweep corrects both ways or neither: a missing map is the identity, dropped at the end
        forward = forward or identity(len(x), len(y))
        backward = backward or identity(len(y), len(x))
    truth = scan_true_pairs(x, y, x_codes, y_codes, plain=plain, forward=forward, backward=backward)
    kind, device = resolve_backend(backend)
    kr, kc = min(k, len(y)), min(k, len(x))
    if kind == "numba":
        from .pass_numba import NumbaScanner as make
    else:
        from .pass_torch import TorchScanner as make  # type: ignore[assignment]
    scanner: Scanner = make(
        x,
        y,
        x_codes,
        y_codes,
        truth,
        kr=kr,
        kc=kc,
        histogram=plain and histogram,
        forward=forward,
        backward=backward,
        beta=beta or 0.0,
        device=device,
    )
    rows_per_block = block_rows(len(y), chunk)
    kept = np.empty((len(x), len(y)), dtype=np.float32) if keep_matrix and matrix is None else matrix
    for rows in query_chunks(len(x), len(y), rows_per_block):
        checkpoint()  # a job past its time, or stopped by its owner, ends between two blocks
        keep = keep_matrix and matrix is None
        block = scanner.step(rows, None if matrix is None else matrix[rows], keep=keep)
        if keep and kept is not None and block is not None:
            kept[rows] = block
        if progress is not None:
            progress(rows.stop / max(len(x), 1))
    swept = scanner.finish()
    n_x, n_y = group_counts(x_codes, y_codes), group_counts(y_codes, x_codes)
    return PairScan(
        rows=_ranks(swept.rows, truth.plain_rows, n_x),
        cols=_ranks(swept.cols, truth.plain_cols, n_y),
        forward=_ranks(swept.forward, truth.forward, n_x, forward) if wanted[0] else None,
        backward=_ranks(swept.backward, truth.backward, n_y, backward) if wanted[1] else None,
        positives=truth.positives,
        negatives=swept.negatives,
        row_log_sum=None if swept.row_sum is None else np.log(swept.row_sum) + (beta or 0.0),
        col_log_sum=None if swept.col_sum is None else np.log(swept.col_sum) + (beta or 0.0),
        matrix=kept if keep_matrix else None,
        n_true_pairs=truth.n_pairs,
        backend=kind if device is None else f"torch:{device}",
    )


def identity(n_queries: int, n_gallery: int) -> Affine:
    """The map that leaves every score as it is."""
    return Affine(np.zeros(n_queries), np.zeros(n_queries), np.ones(n_queries), np.zeros(n_gallery), np.ones(n_gallery))


def _ranks(side: Side | None, best: Best | None, n_true: np.ndarray, scale: Affine | None = None) -> Ranks | None:
    """Counts and lists as a `Ranks`; a corrected channel gets its query factor a_q back on its scores."""
    if side is None or best is None:
        return None
    found = n_true > 0
    a = np.ones(len(n_true)) if scale is None else scale.a_q  # (Nq,)
    return Ranks(
        rank=np.where(found, 1 + side.above, 0).astype(np.int64),
        best_true=np.where(found, best.index, -1).astype(np.int64),
        best_true_score=np.where(found, best.score * a, np.nan).astype(np.float32),
        n_true=n_true,
        top_indices=side.top_i.astype(np.int64, copy=False),
        top_scores=(side.top_v * a[:, None]).astype(np.float32),  # (Nq, k)
        top_is_true=side.top_t.astype(bool, copy=False),
    )
