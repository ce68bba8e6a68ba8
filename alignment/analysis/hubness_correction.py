"""Hubness corrections of cross-modal scores: CSLS, inverted softmax and QB-Norm (dynamic inverted softmax).

Each correction rescores a (query, gallery item) pair from its cosine s and statistics of the gallery item
(and, for CSLS, of the query), so that items that sit near everything stop crowding every top-k list:

* csls: 2 s - r_q - r_g, r = mean cosine of an item to its k nearest neighbours on the other side
  (Conneau et al. 2017, "Word translation without parallel data"; k = 10 there).
* isf: the inverted softmax, log of exp(beta s) / sum_q' exp(beta s(q', g)): each gallery item's scores are
  normalised over the queries (Smith et al. 2017, "Offline bilingual word vectors, orthogonal
  transformations and the inverted softmax").
* qbnorm: QB-Norm with the dynamic inverted softmax (Bogolin et al. 2022, "Cross Modal Retrieval with
  Querybank Normalisation"): the same normalisation, over a bank of queries from elsewhere (beta = 20 and
  k = 1 there), applied only to queries whose plain top-1 item is "activated", i.e. in some bank query's
  top-k; other queries keep their cosines.

Two ways in. Over a gallery to search (the Search tab): `prepare(method, gallery, bank)` once, then
`correct(block, stats, ...)` on any (queries x gallery-block) cosine block, or `search(...)` for an exact
corrected top-k. Inside `evaluate`: `maps(...)` turns the plain pass's statistics into the affine maps the
blockwise pass ranks by (`pass_kernel.Affine`), for both directions at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .blockwise import Backend, PairScan, scan_pair
from .pass_kernel import Affine
from .topk import TopK, check_pair, query_chunks, select_top, topk_similarity

Method = Literal["csls", "isf", "qbnorm"]
HubnessOption = Literal["none", "csls", "isf", "qbnorm"]
METHODS: tuple[Method, ...] = ("csls", "isf", "qbnorm")
NEEDS_BANK: tuple[Method, ...] = ("qbnorm",)


@dataclass(frozen=True)
class Settings:
    """A correction and its parameters (the defaults are the papers')."""

    method: Method
    k: int = 10  # csls: neighbours averaged into r (Conneau et al.: 10); at most 10 inside evaluate
    beta: float = 20.0  # isf / qbnorm: inverse temperature of the softmax (QB-Norm's default 20)
    bank_k: int = 1  # qbnorm: an item is activated when it is in some bank query's top bank_k (QB-Norm: 1)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown hubness correction {self.method!r} (choose from {', '.join(METHODS)})")
        if self.k < 1 or self.bank_k < 1:
            raise ValueError(f"k and bank_k must be at least 1 (got k={self.k}, bank_k={self.bank_k})")
        if not self.beta > 0:
            raise ValueError(f"beta must be positive (got {self.beta})")

    def to_json(self) -> dict:
        return {"method": self.method, "k": self.k, "beta": self.beta, "bank_k": self.bank_k}


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class GalleryStats:
    """What a correction knows about each gallery item, measured against a query bank (`prepare`)."""

    settings: Settings
    r: np.ndarray | None  # (Ng,) csls: mean cosine of each item to its k nearest bank queries
    log_z: np.ndarray | None  # (Ng,) isf, qbnorm: log sum_b exp(beta * cos(b, item))
    active: np.ndarray | None  # (Ng,) bool qbnorm: items in some bank query's top bank_k
    n_bank: int  # bank queries the statistics come from


# ---------------------------------------------------------------------------- a gallery to search


def prepare(
    method: Method,
    gallery: np.ndarray,
    bank: np.ndarray,
    *,
    k: int = 10,
    beta: float = 20.0,
    bank_k: int = 1,
    backend: Backend = "auto",
    chunk: int | None = None,
) -> GalleryStats:
    """Gallery statistics from a bank of queries in the query modality's space: unit rows (Ng, D) and (Nb, D).

    One blockwise pass over bank x gallery (memory O((Nb + Ng) * k)); for a search, the bank stands in for
    the queries to come (e.g. the bundled caption corpus embedded by the text tower).
    """
    settings = Settings(method, k=k, beta=beta, bank_k=bank_k)
    b, g = check_pair(bank, gallery)
    if len(b) == 0:
        raise ValueError(f"the query bank is empty (got shape {b.shape})")
    never = np.full(len(b), -1, dtype=np.int64), np.full(len(g), -2, dtype=np.int64)  # no pair is a true match
    scan = scan_pair(
        b,
        g,
        *never,
        k=max(k, bank_k),
        histogram=False,
        beta=beta if method != "csls" else None,
        backend=backend,
        chunk=chunk,
    )
    assert scan.rows is not None and scan.cols is not None
    r = log_z = active = None
    if method == "csls":
        r = scan.cols.top_scores[:, :k].mean(axis=1, dtype=np.float64)  # (Ng,) over min(k, Nb) bank queries
    else:
        log_z = scan.col_log_sum
    if method == "qbnorm":
        active = np.zeros(len(g), dtype=bool)
        active[scan.rows.top_indices[:, :bank_k].ravel()] = True
    return GalleryStats(settings, r, log_z, active, len(b))


def correct(
    block: np.ndarray,
    stats: GalleryStats,
    *,
    columns: slice | np.ndarray = slice(None),
    query_top1: np.ndarray | None = None,
) -> np.ndarray:
    """Corrected scores of a (queries, gallery-block) cosine block whose columns are gallery items `columns`.

    Ranking each query's row by them is the correction. csls returns 2 s - r_g (the query's own -r_q is the
    same for its whole row, so it is left out); isf returns beta s - log_z_g; qbnorm returns beta s - log_z_g
    on the rows of queries whose plain top-1 gallery item (`query_top1`, (Nq,) indices over the whole gallery)
    is activated, and s elsewhere.
    """
    s = np.asarray(block, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"block must be a 2-D (queries, gallery items) array (got shape {s.shape})")
    method, beta = stats.settings.method, stats.settings.beta
    if method == "csls":
        assert stats.r is not None
        return 2.0 * s - stats.r[columns][None, :]  # (Nq, c)
    assert stats.log_z is not None
    normalised = beta * s - stats.log_z[columns][None, :]  # (Nq, c)
    if method == "isf":
        return normalised
    assert stats.active is not None
    if query_top1 is None or len(query_top1) != len(s):
        raise ValueError(
            f"qbnorm needs each query's plain top-1 gallery index (query_top1 of length {len(s)}; "
            f"got {None if query_top1 is None else len(query_top1)})"
        )
    return np.where(stats.active[np.asarray(query_top1)][:, None], normalised, s)


def search(
    queries: np.ndarray, gallery: np.ndarray, stats: GalleryStats, *, k: int = 10, chunk: int | None = None
) -> TopK:
    """Exact corrected top-k of every query over the whole gallery, a block of queries at a time.

    TopK.scores holds the corrected scores (see `correct`). Ties go to the lower gallery index.
    """
    q, g = check_pair(queries, gallery)
    if not 1 <= k <= len(g):
        raise ValueError(f"k must be between 1 and the gallery size (got k={k} for {len(g)} gallery items)")
    top1 = topk_similarity(q, g, 1, chunk=chunk).indices[:, 0] if stats.settings.method == "qbnorm" else None
    indices = np.empty((len(q), k), dtype=np.int64)
    scores = np.empty((len(q), k), dtype=np.float32)
    for rows in query_chunks(len(q), len(g), chunk):
        block = correct(q[rows] @ g.T, stats, query_top1=None if top1 is None else top1[rows])  # (c, Ng)
        indices[rows] = select_top(block, k, None)
        scores[rows] = np.take_along_axis(block, indices[rows], axis=1)
    return TopK(indices, scores)


def rescore_neighbours(scores: np.ndarray, rows: np.ndarray, stats: GalleryStats) -> np.ndarray:
    """Corrected scores of each query's own candidate neighbours: `scores` (Nq, c) their cosines, `rows` (Nq, c)
    their gallery indices (-1 where a place is empty; its score is then meaningless).

    The same scores as `correct`, per query over its candidates only: re-ranking a query's c cosine nearest is
    the exact corrected top-k whenever the corrected top-k lies among them (always for c = the gallery size).
    For qbnorm a query's plain top-1 is its best-cosine candidate.
    """
    s = np.asarray(scores, dtype=np.float64)
    r = np.asarray(rows)
    if s.ndim != 2 or s.shape != r.shape:
        raise ValueError(f"scores and rows must be 2-D arrays of one shape (got {s.shape} and {r.shape})")
    safe = np.maximum(r, 0)
    method, beta = stats.settings.method, stats.settings.beta
    if method == "csls":
        assert stats.r is not None
        return 2.0 * s - stats.r[safe]
    assert stats.log_z is not None
    normalised = beta * s - stats.log_z[safe]
    if method == "isf" or len(s) == 0 or s.shape[1] == 0:
        return normalised
    assert stats.active is not None
    best = np.argmax(np.where(r >= 0, s, -np.inf), axis=1)  # (Nq,) the plain top-1 among the candidates
    top1 = safe[np.arange(len(s)), best]
    return np.where(stats.active[top1][:, None], normalised, s)


# ---------------------------------------------------------------------------- inside evaluate


def maps(
    settings: Settings,
    plain: PairScan,
    *,
    forward_bank: GalleryStats | None = None,
    backward_bank: GalleryStats | None = None,
) -> tuple[Affine | None, Affine | None]:
    """The affine maps (x's queries over y, y's queries over x) that rank a pair's scores as `settings` says.

    csls and isf take their statistics from the plain pass over the evaluated items themselves (both ways);
    qbnorm needs a bank for the queries' modality, `forward_bank` (x's) / `backward_bank` (y's): a direction
    without one gets None.
    """
    assert plain.rows is not None and plain.cols is not None
    nx, ny = len(plain.rows.rank), len(plain.cols.rank)
    if settings.method == "csls":
        r_x = plain.rows.top_scores[:, : settings.k].mean(axis=1, dtype=np.float64)  # (Nx,) to their nearest y
        r_y = plain.cols.top_scores[:, : settings.k].mean(axis=1, dtype=np.float64)  # (Ny,)
        return _csls(r_x, r_y), _csls(r_y, r_x)
    if settings.method == "isf":
        if plain.row_log_sum is None or plain.col_log_sum is None:
            raise ValueError("isf needs the plain pass's log-sum-exp statistics (scan_pair(..., beta=...))")
        beta = settings.beta
        return _softmax(np.ones(nx), plain.col_log_sum, beta), _softmax(np.ones(ny), plain.row_log_sum, beta)
    forward = backward = None
    if forward_bank is not None:
        forward = _dynamic(forward_bank, plain.rows.top_indices[:, 0], settings.beta)
    if backward_bank is not None:
        backward = _dynamic(backward_bank, plain.cols.top_indices[:, 0], settings.beta)
    return forward, backward


def _csls(r_query: np.ndarray, r_gallery: np.ndarray) -> Affine:
    """2 s - r_q - r_g = (s - r_g / 2 - r_q / 2) * 2."""
    return Affine(
        np.ones(len(r_query)), -r_query / 2, np.full(len(r_query), 2.0), -r_gallery / 2, np.ones(len(r_gallery))
    )


def _softmax(on: np.ndarray, log_z: np.ndarray, beta: float) -> Affine:
    """beta s - log_z_g = (s - log_z_g / beta) * beta on queries where `on` is 1, s where it is 0."""
    return Affine(on, np.zeros(len(on)), np.where(on > 0, beta, 1.0), -log_z / beta, np.ones(len(log_z)))


def _dynamic(bank: GalleryStats, top1: np.ndarray, beta: float) -> Affine:
    assert bank.log_z is not None and bank.active is not None
    return _softmax(bank.active[top1].astype(np.float64), bank.log_z, beta)
