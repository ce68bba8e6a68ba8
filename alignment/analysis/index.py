"""A FAISS inner-product index over unit vectors: exact flat by default, IVF or HNSW with measured recall@10.

Pure vectors in, row indices out: what the rows are (ids, modalities) is the caller's business. faiss is
imported on first use, never at import time, so the app's startup path does not load it.

Approximate kinds tune their one search knob (IVF `nprobe`, HNSW `efSearch`) at build time: it is raised
until recall@10 against the exact flat answer, measured on a sample of queries, reaches `target_recall`
(or the knob's largest value); the recall reached and the knob are kept with the index.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from .topk import TopK, as_unit_rows, topk_similarity

IndexKind = Literal["flat", "ivf", "hnsw"]
KINDS: tuple[IndexKind, ...] = get_args(IndexKind)
APPROXIMATE_FROM = 1_000_000  # `kind="auto"` builds flat below this many vectors, IVF from there (see IndexSettings)
MIN_APPROXIMATE = 256  # fewer vectors than this get a flat index whatever the kind asked: exact costs nothing there
RECALL_K = 10


def load_faiss() -> Any:
    """The faiss module, imported now; ImportError says how to install it."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a runtime requirement
        raise ImportError(f"gallery indexes need faiss: pip install faiss-cpu==1.15.1 ({exc})") from None
    return faiss


@dataclass(frozen=True)
class IndexSettings:
    """How to build an index; the defaults suit CLIP/CLAP galleries of 10^5-10^7 unit vectors."""

    # auto: flat below APPROXIMATE_FROM vectors, IVF from there: in bench/bench_search.py IVF built 3-5x faster than
    # HNSW at equal recall (HNSW took 356 s for 100k items on 2 cores, so about an hour for 1M, extrapolated)
    kind: IndexKind | Literal["auto"] = "auto"
    target_recall: float = 0.95  # approximate kinds: smallest nprobe / efSearch whose recall@10 reaches this
    recall_queries: int = 1_000  # queries sampled to measure recall@10 against flat
    nlist: int | None = None  # IVF cells; None = 4 * sqrt(N), at most N / 39 (FAISS's training minimum)
    hnsw_m: int = 32  # HNSW neighbours per node: more = better recall, more memory and build time
    ef_construction: int = 80  # HNSW build-time beam width
    seed: int = 0  # IVF training sample and the recall query sample

    def resolve(self, n: int) -> IndexKind:
        """The kind to build for n vectors: below MIN_APPROXIMATE an asked-for IVF or HNSW is flat (exact)."""
        if self.kind == "auto":
            return "flat" if n < APPROXIMATE_FROM else "ivf"
        if self.kind not in KINDS:
            raise ValueError(f"unknown index kind {self.kind!r} (expected auto, {', '.join(KINDS)})")
        return "flat" if n < MIN_APPROXIMATE else self.kind


DEFAULT_SETTINGS = IndexSettings()


@dataclass(frozen=True)
class Recall:
    """recall@10 of an approximate index against exact search, measured when it was built."""

    at_10: float  # mean over the sample of |approximate top-10 ∩ exact top-10| / 10
    n_queries: int  # queries not in the index: held-out items, and other modalities' items when given
    knob: str  # "nprobe" or "efSearch"
    value: int  # the value chosen for it (kept with the index)

    def to_json(self) -> dict:
        return {"recall@10": self.at_10, "n_queries": self.n_queries, "knob": self.knob, "value": self.value}


@dataclass(frozen=True, eq=False)  # wraps a faiss object
class VectorIndex:
    """A built index: `search` returns the top-k rows (0..size-1) per query, best first."""

    kind: IndexKind
    faiss_index: Any = field(repr=False)
    recall: Recall | None  # None for flat: it is exact
    build_seconds: float

    @property
    def size(self) -> int:
        return int(self.faiss_index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.faiss_index.d)

    def describe(self) -> str:
        """One line: the kind, and for approximate kinds the recall@10 against exact search."""
        if self.recall is None:
            return f"FAISS flat (exact inner product, {self.size:,} vectors)"
        r = self.recall
        return (
            f"FAISS {self.kind.upper()} (approximate, {self.size:,} vectors): recall@10 {r.at_10:.3f} against "
            f"exact search, measured at build time on {r.n_queries:,} queries it did not hold ({r.knob}={r.value})"
        )

    def search(self, queries: np.ndarray, k: int) -> TopK:
        """Top-k rows per query (k capped at the size), ordered by (score desc, row asc).

        Flat results are exact and break ties like `alignment.analysis.topk` (lower row first, also when a tie
        straddles the k-th place). Approximate kinds may find fewer than k: missing places hold row -1, score -inf.
        """
        q = as_unit_rows(queries, "queries")
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have {q.shape[1]} dimensions but the index holds {self.dim}-dimensional vectors")
        if k < 1:
            raise ValueError(f"k must be at least 1 (got {k})")
        k = min(k, self.size)
        if self.kind != "flat" or k == self.size:
            scores, rows = self.faiss_index.search(q, k)  # (Q, k) each
            return _ordered(rows, scores, k)
        scores, rows = self.faiss_index.search(q, k + 1)  # one more shows whether a tie straddles the k-th place
        out = _ordered(rows, scores, k)
        for r in np.flatnonzero(scores[:, k] == scores[:, k - 1]):
            out.indices[r], out.scores[r] = self._resolve_tie(q[r : r + 1], k)
        return out

    def _resolve_tie(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Widen the search until every item tied with the k-th score is in view, then keep the lowest rows."""
        wide = k + 1
        while True:
            wide = min(2 * wide, self.size)
            scores, rows = self.faiss_index.search(query, wide)  # (1, wide)
            if wide == self.size or scores[0, -1] < scores[0, k - 1]:
                picked = _ordered(rows, scores, k)
                return picked.indices[0], picked.scores[0]


def _ordered(rows: np.ndarray, scores: np.ndarray, k: int) -> TopK:
    """The first k of each row by (score desc, row asc); FAISS's -1 (not found) sorts last with score -inf."""
    rows = rows.astype(np.int64)
    scores = np.where(rows < 0, -np.inf, scores).astype(np.float32)
    order = np.lexsort((np.where(rows < 0, np.iinfo(np.int64).max, rows), -scores), axis=1)[:, :k]  # (Q, k)
    return TopK(np.take_along_axis(rows, order, axis=1), np.take_along_axis(scores, order, axis=1))


# ---------------------------------------------------------------------------- building


def build_index(
    vectors: np.ndarray,
    *,
    settings: IndexSettings = DEFAULT_SETTINGS,
    queries: np.ndarray | None = None,
) -> VectorIndex:
    """Index (N, D) unit vectors (row i gets id i); approximate kinds are tuned and their recall@10 measured.

    Recall is measured on queries the index does not hold: a random sample of the vectors is kept out while
    the rest is indexed and the knob tuned, then added (ids stay the row numbers). `queries` (Q, D), e.g. another
    modality's items, join the sample (half of it). At most `settings.recall_queries` queries in all, and at
    most a tenth of the vectors held out. Queries taken from the index itself would inflate the recall: HNSW
    links an indexed item straight to its neighbours (on random data such a leave-one-out sample reported 0.97
    where new queries got 0.54).
    """
    faiss = load_faiss()
    x = as_unit_rows(vectors, "vectors")
    n, d = x.shape
    if n == 0:
        raise ValueError("cannot index an empty set of vectors")
    kind = settings.resolve(n)
    start = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
        index.add(x)
        return VectorIndex("flat", index, None, time.perf_counter() - start)
    extra = None
    if queries is not None:
        extra = _sample(as_unit_rows(queries, "recall queries"), settings.recall_queries // 2, rng)
        if extra.shape[1] != d:
            raise ValueError(f"recall queries have {extra.shape[1]} dimensions, the vectors {d}")
    n_out = min(settings.recall_queries - (len(extra) if extra is not None else 0), n // 10)
    held = np.sort(rng.choice(n, n_out, replace=False))  # (n_out,) rows kept out while tuning
    kept = np.setdiff1d(np.arange(n), held)  # (n - n_out,)
    if kind == "ivf":
        nlist = settings.nlist or int(4 * math.sqrt(n))
        nlist = max(1, min(nlist, len(kept) // 39))  # FAISS wants >= 39 training points per cell
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        train = kept if len(kept) <= 256 * nlist else np.sort(rng.choice(kept, 256 * nlist, replace=False))
        index.train(x[train])
        knob, values = "nprobe", _doubling(1, nlist)
    else:
        graph = faiss.IndexHNSWFlat(d, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = settings.ef_construction
        index = faiss.IndexIDMap2(graph)  # HNSW numbers items in insertion order; the map keeps the row ids
        knob, values = "efSearch", _doubling(16, 4096)
    index.add_with_ids(x[kept], kept)
    sample = x[held] if extra is None else np.concatenate([x[held], extra])  # (Q, D)
    k = min(RECALL_K, len(kept))
    exact = kept[topk_similarity(sample, x[kept], k).indices]  # (Q, k) row ids
    tuning = VectorIndex(kind, index, None, 0.0)
    recall = 0.0
    for value in values:
        _set_knob(index, kind, value)
        recall = recall_at_k(tuning.search(sample, k).indices, exact)
        if recall >= settings.target_recall:
            break
    index.add_with_ids(x[held], held)
    return VectorIndex(kind, index, Recall(recall, len(sample), knob, value), time.perf_counter() - start)


def _sample(queries: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    if len(queries) <= count:
        return queries
    return queries[np.sort(rng.choice(len(queries), count, replace=False))]


def _doubling(first: int, last: int) -> list[int]:
    values = [first]
    while values[-1] < last:
        values.append(min(2 * values[-1], last))
    return values


def _set_knob(index: Any, kind: IndexKind, value: int) -> None:
    if kind == "ivf":
        index.nprobe = value
    elif kind == "hnsw":
        load_faiss().downcast_index(index.index).hnsw.efSearch = value  # the graph inside the id map


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean over queries of |found_i ∩ exact_i| / k, for (Q, k) row arrays (-1 = not found)."""
    if found.shape != exact.shape:
        raise ValueError(f"found and exact differ in shape (got {found.shape} and {exact.shape})")
    hits = sum(len(np.intersect1d(f[f >= 0], e)) for f, e in zip(found, exact, strict=True))
    return hits / exact.size if exact.size else 1.0


# ---------------------------------------------------------------------------- files


def write_index(path: str | os.PathLike[str], index: VectorIndex) -> None:
    """The FAISS index alone (its kind, recall and knob are the caller's metadata)."""
    load_faiss().write_index(index.faiss_index, str(path))


def read_index(
    path: str | os.PathLike[str], *, kind: IndexKind, recall: Recall | None, build_seconds: float = 0.0
) -> VectorIndex:
    """Read a FAISS index written by `write_index`; ValueError names the file when it is unreadable or not ours."""
    faiss = load_faiss()
    path = Path(path)
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:  # FAISS reports a damaged or foreign file as a C++ exception
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise ValueError(f"{path.name}: not a readable FAISS index ({first})") from None
    expected = {"flat": "IndexFlatIP", "ivf": "IndexIVFFlat", "hnsw": "IndexIDMap2 of IndexHNSWFlat"}[kind]
    found = type(index).__name__
    if found == "IndexIDMap2":
        found = f"IndexIDMap2 of {type(faiss.downcast_index(index.index)).__name__}"
    if found != expected:
        raise ValueError(f"{path.name}: holds a {found}, expected a {kind} index ({expected})")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise ValueError(f"{path.name}: the index does not use inner product (metric {index.metric_type})")
    if recall is not None:
        _set_knob(index, kind, recall.value)
    return VectorIndex(kind, index, recall, build_seconds)
