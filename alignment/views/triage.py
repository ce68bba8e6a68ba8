"""The error grid's data: every error as columns, range and facet filters, sorting, and errors near a query vector."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from ..analysis.clusters import Clusters
from ..inputs.embeddings import Embedded
from ..store.tags import error_key

if TYPE_CHECKING:  # evaluate imports torch and scipy.stats: not on the app's build path
    from ..analysis.evaluate import Evaluation

SortBy = Literal["margin", "rank", "score", "near", "order"]
SORT_BY: tuple[str, ...] = get_args(SortBy)
UNTAGGED = "untagged"  # a tag filter value: errors without a tag
MAX_FACETS = 200  # label and cluster choices offered (most frequent first)
MAX_FILTER_VALUES = 1_000  # values per facet a browser may send
MAX_SEARCH_CHARS = 200


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class ErrorTable:
    """Every error of an evaluation as columns (index e = evaluation.errors[e]), for filtering 100k rows at once."""

    keys: tuple[str, ...]  # store.tags.error_key of each error
    directions: tuple[str, ...]
    direction: np.ndarray  # (E,) int64 index into `directions`
    space: tuple[str, ...]
    query: tuple[str, ...]  # ids
    truth: tuple[str, ...]
    top: tuple[str, ...]
    query_row: np.ndarray  # (E,) int64 rows in the error's space
    truth_row: np.ndarray
    top_row: np.ndarray
    rank: np.ndarray  # (E,) int64 rank of the truth
    margin: np.ndarray  # (E,) float32 top wrong score - truth score
    truth_score: np.ndarray  # (E,) float32
    score: np.ndarray  # (E,) float32 the top wrong match's score
    label: tuple[str, ...]  # the query's label, else its truth's ("" for none)
    cluster: tuple[str, ...]  # name of the query row's cluster ("" without clusters)

    def __len__(self) -> int:
        return len(self.keys)


def error_table(evaluation: Evaluation, *, clusters: Mapping[str, Clusters] | None = None) -> ErrorTable:
    """The errors of `evaluation` as an ErrorTable; `clusters[space]` names each query's cluster."""
    errors = evaluation.errors
    directions = tuple(dict.fromkeys([*evaluation.directions, *(e.direction for e in errors)]))
    where = {d: i for i, d in enumerate(directions)}
    clusters = clusters or {}

    def label(e_space: str, query_row: int, truth_row: int) -> str:
        data = evaluation.spaces[e_space]
        return data.label[query_row] or data.label[truth_row] or ""

    def cluster(e_space: str, row: int) -> str:
        c = clusters.get(e_space)
        return c.name(int(c.labels[row])) if c is not None else ""

    ints = lambda values: np.fromiter(values, np.int64, count=len(errors))  # noqa: E731
    floats = lambda values: np.fromiter(values, np.float32, count=len(errors))  # noqa: E731
    return ErrorTable(
        tuple(error_key(e.direction, e.query) for e in errors),
        directions,
        ints(where[e.direction] for e in errors),
        tuple(e.space for e in errors),
        tuple(e.query for e in errors),
        tuple(e.truth for e in errors),
        tuple(e.top for e in errors),
        ints(e.query_row for e in errors),
        ints(e.truth_row for e in errors),
        ints(e.top_row for e in errors),
        ints(e.rank for e in errors),
        floats(e.margin for e in errors),
        floats(e.truth_score for e in errors),
        floats(e.top_score for e in errors),
        tuple(label(e.space, e.query_row, e.truth_row) for e in errors),
        tuple(cluster(e.space, e.query_row) for e in errors),
    )


# ---------------------------------------------------------------------------- filters


Range = tuple[float | None, float | None]


@dataclass(frozen=True)
class ErrorFilter:
    """Which errors the grid shows; ranges are inclusive, None is open, an empty facet tuple means any."""

    margin: Range = (None, None)
    rank: Range = (None, None)
    score: Range = (None, None)  # the top wrong match's score
    directions: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()  # cluster names
    tags: tuple[str, ...] = ()  # tags, or UNTAGGED
    search: str = ""  # part of the query, truth or top match id (case-insensitive)
    only: frozenset[str] | None = field(default=None, compare=False)  # error keys (e.g. a lasso's), None = all


def filter_from_json(raw: object, *, only: frozenset[str] | None = None) -> ErrorFilter:
    """An ErrorFilter from what a browser sent, every field checked: ValueError names the bad one."""
    if raw is None:
        return ErrorFilter(only=only)
    if not isinstance(raw, dict):
        raise ValueError(f"the filter must be an object (got {type(raw).__name__})")
    unknown = set(raw) - {"margin", "rank", "score", "directions", "labels", "clusters", "tags", "search"}
    if unknown:
        raise ValueError(f"unknown filter fields: {', '.join(sorted(unknown))}")
    search = raw.get("search") or ""
    if not isinstance(search, str) or len(search) > MAX_SEARCH_CHARS:
        raise ValueError(f"search must be text of at most {MAX_SEARCH_CHARS} characters")
    return ErrorFilter(
        _range(raw, "margin"),
        _range(raw, "rank"),
        _range(raw, "score"),
        _strings(raw, "directions"),
        _strings(raw, "labels"),
        _strings(raw, "clusters"),
        _strings(raw, "tags"),
        search,
        only,
    )


def _range(raw: dict, name: str) -> Range:
    value = raw.get(name)
    if value is None:
        return (None, None)
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"filter {name} must be [low, high] (got {value!r})")
    out = []
    for v in value:
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)):
            raise ValueError(f"filter {name} bounds must be finite numbers or null (got {v!r})")
        out.append(None if v is None else float(v))
    return (out[0], out[1])


def _strings(raw: dict, name: str) -> tuple[str, ...]:
    value = raw.get(name) or []
    if not isinstance(value, list | tuple) or len(value) > MAX_FILTER_VALUES:
        raise ValueError(f"filter {name} must be a list of at most {MAX_FILTER_VALUES} strings")
    if not all(isinstance(v, str) for v in value):
        raise ValueError(f"filter {name} must be a list of at most {MAX_FILTER_VALUES} strings")
    return tuple(value)


def _within(values: np.ndarray, bounds: Range) -> np.ndarray:
    lo, hi = bounds
    keep = np.ones(len(values), bool)
    if lo is not None:
        keep &= values >= lo
    if hi is not None:
        keep &= values <= hi
    return keep


def errors_near(table: ErrorTable, spaces: Mapping[str, Embedded], vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    """(E,) float32 cosine between each error's query and the query vector of its space; nan for errors in a space
    without a vector. `vectors[space]` is a unit (D,) vector in that space (e.g. a text embedded by its model)."""
    out = np.full(len(table), np.nan, np.float32)
    space = np.asarray(table.space, dtype=object)
    for name, vector in vectors.items():
        if name not in spaces:
            raise ValueError(f"a query vector for space {name!r}, which the evaluation does not have")
        v = np.asarray(vector, np.float32).reshape(-1)
        data = spaces[name]
        if v.shape[0] != data.dim or not np.isfinite(v).all() or not np.linalg.norm(v):
            raise ValueError(f"the query vector for space {name!r} must be finite, non-zero and {data.dim}-D")
        mine = np.flatnonzero(space == name)
        out[mine] = data.embeddings[table.query_row[mine]] @ (v / np.linalg.norm(v))  # (m,)
    return out


def select_errors(
    table: ErrorTable,
    flt: ErrorFilter,
    *,
    tags: Mapping[str, str],
    sort: SortBy = "margin",
    descending: bool = True,
    near: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the errors `flt` keeps, sorted (ties in evaluation order); sort='near' needs `near` (errors_near),
    and then keeps only errors that have a nearness (the query vector's spaces)."""
    keep = _within(table.margin, flt.margin) & _within(table.rank, flt.rank) & _within(table.score, flt.score)
    if flt.directions:
        keep &= np.isin(np.asarray(table.directions, dtype=object)[table.direction], list(flt.directions))
    for column, wanted in ((table.label, flt.labels), (table.cluster, flt.clusters)):
        if wanted:
            chosen = set(wanted)
            keep &= np.fromiter((v in chosen for v in column), bool, count=len(table))
    if flt.tags:
        chosen = set(flt.tags)
        keep &= np.fromiter((tags.get(k, UNTAGGED) in chosen for k in table.keys), bool, count=len(table))
    if flt.only is not None:
        keep &= np.fromiter((k in flt.only for k in table.keys), bool, count=len(table))
    if flt.search.strip():
        needle = flt.search.strip().lower()
        ids = zip(table.query, table.truth, table.top, strict=True)
        keep &= np.fromiter((needle in f"{q}\x1f{t}\x1f{p}".lower() for q, t, p in ids), bool, count=len(table))
    index = np.flatnonzero(keep)
    if sort == "order":
        return index[::-1] if descending else index
    if sort == "near":
        if near is None or len(near) != len(table):
            raise ValueError("sort='near' needs the errors_near array of this table")
        index = index[np.isfinite(near[index])]
        key = near[index]
    elif sort in ("margin", "rank", "score"):
        key = {"margin": table.margin, "rank": table.rank, "score": table.score}[sort][index]
    else:
        raise ValueError(f"sort by {sort!r}: expected one of {', '.join(SORT_BY)}")
    order = np.argsort(-key if descending else key, kind="stable")
    return index[order]


def facets(table: ErrorTable) -> dict:
    """What the grid's filters offer: directions, labels and clusters (most frequent first), numeric bounds."""

    def top(values: tuple[str, ...]) -> list[list]:
        counts = Counter(v for v in values if v)
        return [[v, n] for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_FACETS]]

    def bounds(values: np.ndarray) -> list[float] | None:
        return [float(values.min()), float(values.max())] if len(values) else None

    return {
        "directions": [[d, int((table.direction == i).sum())] for i, d in enumerate(table.directions)],
        "labels": top(table.label),
        "clusters": top(table.cluster),
        "margin": bounds(table.margin),
        "rank": bounds(table.rank.astype(np.float64)),
        "score": bounds(table.score),
        "total": len(table),
    }


def grid_row(table: ErrorTable, e: int, *, tags: Mapping[str, str]) -> dict:
    """One error's numbers for the grid (previews are added by the caller, which holds the items)."""
    return {
        "e": e,
        "key": table.keys[e],
        "direction": table.directions[int(table.direction[e])],
        "space": table.space[e],
        "query": table.query[e],
        "truth": table.truth[e],
        "top": table.top[e],
        "rank": int(table.rank[e]),
        "margin": round(float(table.margin[e]), 4),
        "truth_score": round(float(table.truth_score[e]), 4),
        "score": round(float(table.score[e]), 4),
        "label": table.label[e],
        "cluster": table.cluster[e],
        "tag": tags.get(table.keys[e], ""),
    }
