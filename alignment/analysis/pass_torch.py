"""The torch scanner of the blockwise pass, for a GPU: the same counts, top-k lists and histogram as
`pass_numba`, as whole-block tensor operations on the device (where a few extra reads of a block are cheap).

Its results equal the CPU scanner's exactly (ties included); on a machine without CUDA it runs on the CPU,
which is how the tests check it.
"""

from __future__ import annotations

import numpy as np
import torch

from .pass_kernel import HIST_SCALE, N_BINS, NO_INDEX, Affine
from .scanner import Side, Sweep
from .true_pairs import Best, TrueScan

Top = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # values, indices, is-true: (n, k) each, best first


def _order(v: torch.Tensor, i: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Per row, the permutation that sorts (n, m) candidates by score desc, true first, index asc."""
    order = torch.argsort(i, dim=1, stable=True)
    order = order.gather(1, torch.argsort((~t).gather(1, order).to(torch.int8), dim=1, stable=True))
    return order.gather(1, torch.argsort(-v.gather(1, order), dim=1, stable=True))


def _sorted(v: torch.Tensor, i: torch.Tensor, t: torch.Tensor, k: int) -> Top:
    order = _order(v, i, t)[:, :k]
    return v.gather(1, order), i.gather(1, order), t.gather(1, order)


def top_rows(values: torch.Tensor, true: torch.Tensor, k: int, offset: int = 0) -> Top:
    """The k best of each row of an (n, m) block in the sweep's order; indices are column + offset.

    torch.topk's order among equal scores is unspecified, so it only proposes k + 1 candidates: rows where a
    tie straddles the k-th place are re-selected exactly from the whole row.
    """
    n, m = values.shape
    kk = min(k + 1, m)
    cand_v, cand_i = torch.topk(values, kk, dim=1)  # (n, kk) sorted descending
    picked = cand_i[:, :k].clone()
    if kk > k:
        for r in torch.nonzero(cand_v[:, k] == cand_v[:, k - 1]).flatten().tolist():
            row, kth = values[r], cand_v[r, k - 1]
            above = torch.nonzero(row > kth).flatten()
            tied = torch.nonzero(row == kth).flatten()  # ascending index
            tied = tied[torch.argsort((~true[r, tied]).to(torch.int8), stable=True)]  # true ones first
            picked[r] = torch.cat([above, tied[: k - len(above)]])
    v, t = values.gather(1, picked), true.gather(1, picked)
    return _sorted(v, picked + offset, t, k)


def _merge(state: Top, new: Top, k: int) -> Top:
    """The k best of two sorted lists per row."""
    v, i, t = (torch.cat([a, b], dim=1) for a, b in zip(state, new, strict=True))
    return _sorted(v, i, t, k)


def _empty_top(n: int, k: int, dtype: torch.dtype, device: torch.device) -> Top:
    return (
        torch.full((n, k), -torch.inf, dtype=dtype, device=device),
        torch.full((n, k), NO_INDEX, dtype=torch.int64, device=device),
        torch.zeros((n, k), dtype=torch.bool, device=device),
    )


class TorchScanner:
    """Feeds the blocks of one pass through torch on `device` and collects each side's result."""

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
        dev = self.device = torch.device(device or "cpu")
        self.x, self.y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
        self.x_codes, self.y_codes = torch.from_numpy(x_codes).to(dev), torch.from_numpy(y_codes).to(dev)
        self.kr, self.kc, self.beta = kr, kc, beta
        self.plain = truth.plain_rows is not None and truth.plain_cols is not None
        self.corrected = forward is not None and backward is not None

        def tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device=dev, dtype=dtype)

        def best(b: Best | None, dtype: torch.dtype) -> torch.Tensor:
            return tensor(b.threshold, dtype) if b is not None else torch.zeros(0, device=dev)

        nx, ny = len(x), len(y)
        self.pr_best, self.pc_best = best(truth.plain_rows, torch.float32), best(truth.plain_cols, torch.float32)
        self.fr_best, self.bc_best = best(truth.forward, torch.float32), best(truth.backward, torch.float32)
        self.maps = [
            {name: tensor(getattr(t, name), torch.float32) for name in ("e_q", "c_q", "c_g", "f_g")}
            for t in (forward, backward)
            if t is not None
        ]
        self.rows_above = torch.zeros(nx, dtype=torch.int64, device=dev)
        self.fwd_above = torch.zeros(nx, dtype=torch.int64, device=dev)
        self.cols_above = torch.zeros(ny, dtype=torch.int64, device=dev)
        self.bwd_above = torch.zeros(ny, dtype=torch.int64, device=dev)
        self.rows_top = _empty_top(nx, kr, torch.float32, dev)
        self.fwd_top = _empty_top(nx, kr, torch.float32, dev)
        self.cols_top = _empty_top(ny, kc, torch.float32, dev)
        self.bwd_top = _empty_top(ny, kc, torch.float32, dev)
        self.negatives = torch.zeros(N_BINS, dtype=torch.int64, device=dev) if histogram and self.plain else None
        self.row_sum = torch.zeros(nx, dtype=torch.float64, device=dev) if beta > 0 else None
        self.col_sum = torch.zeros(ny, dtype=torch.float64, device=dev) if beta > 0 else None

    def step(self, rows: slice, given: np.ndarray | None, *, keep: bool) -> np.ndarray | None:
        """Sweep the block of `rows` (computed here unless `given`); return its scores if `keep`."""
        if given is not None:
            block = torch.from_numpy(np.ascontiguousarray(given, dtype=np.float32)).to(self.device)
        else:
            block = self.x[rows] @ self.y.T  # (c, D) @ (D, Ny) -> (c, Ny)
        true = self.x_codes[rows, None] == self.y_codes[None, :]  # (c, Ny)
        false = ~true
        if self.plain:
            self.rows_above[rows] = ((block > self.pr_best[rows, None]) & false).sum(dim=1)
            self.cols_above += ((block > self.pc_best[None, :]) & false).sum(dim=0)
            top = top_rows(block, true, self.kr)
            for held, new in zip(self.rows_top, top, strict=True):
                held[rows] = new
            self.cols_top = _merge(self.cols_top, top_rows(block.T, true.T, self.kc, rows.start), self.kc)
            if self.negatives is not None:
                bins = torch.floor((block.double() + 1.0) * HIST_SCALE).clamp_(0, N_BINS - 1).long()  # (c, Ny)
                self.negatives += torch.bincount(bins[false], minlength=N_BINS)
        if self.row_sum is not None and self.col_sum is not None:
            wide = block.double() if self.beta > 40 else block  # float32 exp underflows past ~exp(-87)
            e = torch.exp(self.beta * (wide - 1.0))  # (c, Ny)
            self.row_sum[rows] = e.sum(dim=1, dtype=torch.float64)
            self.col_sum += e.sum(dim=0, dtype=torch.float64)
        if self.corrected:
            f, b = self.maps
            s = block
            t = (s + f["e_q"][rows, None] * f["c_g"][None, :] + f["c_q"][rows, None]) * f["f_g"][None, :]  # (c, Ny)
            self.fwd_above[rows] = ((t > self.fr_best[rows, None]) & false).sum(dim=1)
            top = top_rows(t, true, self.kr)
            for held, new in zip(self.fwd_top, top, strict=True):
                held[rows] = new
            u = (s + b["e_q"][None, :] * b["c_g"][rows, None] + b["c_q"][None, :]) * b["f_g"][rows, None]  # (c, Ny)
            self.bwd_above += ((u > self.bc_best[None, :]) & false).sum(dim=0)
            self.bwd_top = _merge(self.bwd_top, top_rows(u.T, true.T, self.kc, rows.start), self.kc)
        return block.float().cpu().numpy() if keep else None

    def finish(self) -> Sweep:
        def side(above: torch.Tensor, top: Top) -> Side:
            v, i, t = (a.cpu().numpy() for a in top)
            return Side(above.cpu().numpy(), v, i, t)

        def host(a: torch.Tensor | None) -> np.ndarray | None:
            return None if a is None else a.cpu().numpy()

        return Sweep(
            rows=side(self.rows_above, self.rows_top) if self.plain else None,
            cols=side(self.cols_above, self.cols_top) if self.plain else None,
            forward=side(self.fwd_above, self.fwd_top) if self.corrected else None,
            backward=side(self.bwd_above, self.bwd_top) if self.corrected else None,
            negatives=host(self.negatives),
            row_sum=host(self.row_sum),
            col_sum=host(self.col_sum),
        )
