"""The CPU scanner of the blockwise pass: numpy's float32 matrix product per block, then one fused numba sweep."""

from __future__ import annotations

import numpy as np

from .pass_kernel import N_BINS, NO_INDEX, SUB_HISTOGRAMS, Affine, ColSide, RowSide, merge_rows, sweep, threads
from .scanner import Side, Sweep, block_rows
from .true_pairs import Best, TrueScan


def _top(shape: tuple[int, ...], dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.full(shape, -np.inf, dtype), np.full(shape, NO_INDEX, np.int64), np.zeros(shape, np.uint8)


def _row_side(best: Best | None, n_slices: int, rows: int, k: int, dtype: type) -> RowSide:
    """Per-thread partial row state for blocks of up to `rows` rows (a one-slot stand-in for a channel that is off)."""
    if best is None:
        return RowSide(np.zeros(1, dtype), np.zeros((1, 1), np.int32), *_top((1, 1, 1), dtype))
    return RowSide(
        best.threshold.astype(dtype), np.zeros((n_slices, rows), np.int32), *_top((n_slices, rows, k), dtype)
    )


def _col_side(best: Best | None, k: int, dtype: type) -> ColSide:
    if best is None:
        return ColSide(np.zeros(1, dtype), np.zeros(1, np.int32), *_top((1, 1), dtype), np.zeros(1, dtype))
    n = len(best.score)
    return ColSide(
        best.threshold.astype(dtype), np.zeros(n, np.int32), *_top((n, k), dtype), np.full(n, -np.inf, dtype)
    )


class NumbaScanner:
    """Feeds the blocks of one pass through `pass_kernel.sweep` and collects each side's result.

    Scores are float32: the plain cosine as the matrix product gives it, corrected ones by `pass_kernel.affine`.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_codes: np.ndarray,
        y_codes: np.ndarray,
        truth: TrueScan,
        *,
        kr: int,
        kc: int,
        histogram: bool,
        forward: Affine | None,
        backward: Affine | None,
        beta: float,
        device: str | None = None,
    ) -> None:
        if (forward is None) != (backward is None):
            raise ValueError("the corrected channel needs both maps, forward and backward (use an identity)")
        self.x, self.y_t = x, y.T  # (D, Ny) a view: BLAS reads the transpose in place
        self.x_codes, self.y_codes = _narrow(x_codes), _narrow(y_codes)  # int32: 8 lanes next to float32
        self.n_slices = threads()
        rows = min(len(x), block_rows(len(y), None))
        self.rows = rows
        self.buffer: np.ndarray | None = None
        self.plain = truth.plain_rows is not None
        self.corrected = forward is not None
        self.plain_rows = _row_side(truth.plain_rows, self.n_slices, rows, kr, np.float32)
        self.plain_cols = _col_side(truth.plain_cols, kc, np.float32)
        self.fwd_rows = _row_side(truth.forward, self.n_slices, rows, kr, np.float32)
        self.bwd_cols = _col_side(truth.backward, kc, np.float32)
        stand_in = Affine(np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1), np.ones(1))
        self.forward, self.backward = forward or stand_in, backward or stand_in
        shape = (self.n_slices, SUB_HISTOGRAMS, N_BINS + 1) if self.plain else (1, 1, 1)
        self.hist = np.zeros(shape, np.int32)
        self.negatives = np.zeros(N_BINS, np.int64) if histogram and self.plain else None
        self.beta = beta
        self.row_sum = np.zeros(len(x)) if beta > 0 else None
        self.col_sum = np.zeros(len(y)) if beta > 0 else None
        self.rows_out = _side_arrays(len(x), kr, np.float32) if self.plain else None
        self.fwd_out = _side_arrays(len(x), kr, np.float32) if self.corrected else None

    def step(self, rows: slice, given: np.ndarray | None, *, keep: bool) -> np.ndarray | None:
        """Sweep the block of `rows` (computed here unless `given`); return its scores if `keep`."""
        c = rows.stop - rows.start
        if c > self.rows:
            raise ValueError(f"a block of {c} rows is larger than the {self.rows} the scanner was sized for")
        if given is not None:
            block = np.ascontiguousarray(given, dtype=np.float32)
        else:
            if self.buffer is None:
                self.buffer = np.empty((self.rows, self.y_t.shape[1]), dtype=np.float32)
            block = self.buffer[:c]
            np.matmul(self.x[rows], self.y_t, out=block)  # (c, D) @ (D, Ny) -> (c, Ny)
        sweep(  # type: ignore[call-arg]
            block,
            rows.start,
            self.n_slices,
            self.x_codes,
            self.y_codes,
            self.plain,
            *self.plain_rows,
            *self.plain_cols,
            self.hist,
            self.corrected,
            *self.fwd_rows,
            *_sweep_terms(self.forward),
            *self.bwd_cols,
            *_sweep_terms(self.backward),
        )
        if self.rows_out is not None:
            self._collect(self.plain_rows, self.rows_out, rows)
        if self.fwd_out is not None:
            self._collect(self.fwd_rows, self.fwd_out, rows)
        if self.negatives is not None:
            self.negatives += self.hist[:, :, :N_BINS].sum(axis=(0, 1))
            self.hist[:] = 0
        if self.row_sum is not None and self.col_sum is not None:
            wide = self.beta > 40  # exp(beta * (s - 1)) reaches exp(-2 beta): float32 underflows past ~exp(-87)
            e = np.exp(self.beta * ((block.astype(np.float64) if wide else block) - 1.0))  # (c, Ny)
            self.row_sum[rows] = e.sum(axis=1, dtype=np.float64)
            self.col_sum += e.sum(axis=0, dtype=np.float64)
        return block if keep else None

    def _collect(self, side: RowSide, out: tuple[np.ndarray, ...], rows: slice) -> None:
        """Sum the threads' counts and merge their top-k lists into the rows' final state; clear the partials."""
        c = rows.stop - rows.start
        above, top_v, top_i, top_t = out
        above[rows] = side.above[:, :c].sum(axis=0, dtype=np.int64)
        merge_rows(side.top_v[:, :c], side.top_i[:, :c], side.top_t[:, :c], top_v[rows], top_i[rows], top_t[rows])
        side.above[:] = 0
        side.top_v[:] = -np.inf
        side.top_i[:] = NO_INDEX
        side.top_t[:] = 0

    def finish(self) -> Sweep:
        return Sweep(
            rows=_side(self.rows_out),
            cols=_col_result(self.plain_cols) if self.plain else None,
            forward=_side(self.fwd_out),
            backward=_col_result(self.bwd_cols) if self.corrected else None,
            negatives=self.negatives,
            row_sum=self.row_sum,
            col_sum=self.col_sum,
        )


def _narrow(codes: np.ndarray) -> np.ndarray:
    """Pair codes as int32 (the sweep only compares them; -1 and -2 stay apart from every real code)."""
    if len(codes) and int(codes.max()) >= 2**31:
        raise ValueError(f"too many distinct pair keys for the CPU sweep (got codes up to {int(codes.max())})")
    return codes.astype(np.int32)


def _sweep_terms(t: Affine) -> tuple[np.ndarray, ...]:
    """What the sweep reads of a map, in float32: all but the query's factor a_q (see `pass_kernel.affine`)."""
    return tuple(np.ascontiguousarray(a, dtype=np.float32) for a in (t.e_q, t.c_q, t.c_g, t.f_g))


def _side_arrays(n: int, k: int, dtype: type) -> tuple[np.ndarray, ...]:
    return np.zeros(n, np.int64), *_top((n, k), dtype)


def _side(out: tuple[np.ndarray, ...] | None) -> Side | None:
    if out is None:
        return None
    above, top_v, top_i, top_t = out
    return Side(above, top_v, top_i, top_t.astype(bool))


def _col_result(side: ColSide) -> Side:
    return Side(side.above.astype(np.int64), side.top_v, side.top_i, side.top_t.astype(bool))
