"""What a scanner of the blockwise pass hands back, and the block size: shared by the CPU and GPU scanners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .topk import BLOCK_SCORES


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class Side:
    """One ranking of one channel, as the pass leaves it (before it becomes a `topk.Ranks`)."""

    above: np.ndarray  # (Nq,) int64 false matches strictly above the query's best true score
    top_v: np.ndarray  # (Nq, k) float64 top-k scores, best first
    top_i: np.ndarray  # (Nq, k) int64 their indices
    top_t: np.ndarray  # (Nq, k) bool whether each is a true match


@dataclass(frozen=True, eq=False)
class Sweep:
    """A whole pass: the sides asked for, the false pairs' histogram, and the softmax sums."""

    rows: Side | None  # plain cosine, x's queries against y
    cols: Side | None  # plain cosine, y's queries against x
    forward: Side | None  # corrected, x's queries
    backward: Side | None  # corrected, y's queries
    negatives: np.ndarray | None  # (N_BINS,) int64 false pairs per score bin
    row_sum: np.ndarray | None  # (Nx,) float64 sum_j exp(beta * (s_ij - 1))
    col_sum: np.ndarray | None  # (Ny,) float64 sum_i exp(beta * (s_ij - 1))


class Scanner(Protocol):
    """Built once per pass (see `pass_numba.NumbaScanner`), fed every block of rows in order, then finished."""

    def step(self, rows: slice, given: np.ndarray | None, *, keep: bool) -> np.ndarray | None:
        """Sweep the rows' block (computed unless `given`); return its scores as float32 on the host if `keep`."""
        ...

    def finish(self) -> Sweep: ...


def block_rows(n_cols: int, chunk: int | None, *, scores: int = BLOCK_SCORES) -> int:
    """Query rows per block: `chunk`, or as many as make one (rows, n_cols) block hold `scores` scores."""
    if chunk is not None:
        if chunk < 1:
            raise ValueError(f"chunk must be a positive number of query rows (got {chunk})")
        return chunk
    return max(1, scores // max(n_cols, 1))
