"""The points of one space for the projection component: per-row outcomes, colourings with legends, compact payloads."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
from plotly.colors import qualitative

from ..analysis.clusters import Clusters
from ..inputs.items import MODALITIES, Modality
from ..store.tags import TAGS, error_key

if TYPE_CHECKING:  # evaluate imports torch and scipy.stats: not on the app's build path
    from ..analysis.evaluate import Evaluation

ColourBy = Literal["modality", "outcome", "label", "tag", "cluster", "margin"]
COLOUR_BY: tuple[str, ...] = get_args(ColourBy)
MAX_CATEGORIES = 40  # legend entries; the rarest categories beyond this are drawn as one "other"
GREY = "#a3a3a3"  # none / other / noise / not a query
MODALITY_COLOURS = {"text": "#2563eb", "image": "#ea580c", "audio": "#059669"}
OUTCOME_COLOURS = {"error": "#dc2626", "correct": "#16a34a", "not a query": GREY}
TAG_COLOURS = dict(zip(TAGS, ("#dc2626", "#7c3aed", "#d97706", "#16a34a"), strict=True))
PALETTE = tuple(qualitative.Dark24) + tuple(qualitative.Light24)
MARGIN_SCALE = "RdBu_r"  # diverging: blue = the truth won by a margin, red = it lost by one


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class QueryOutcomes:
    """Every evaluated (query, direction) of one space: where its truth ranked and by how much it won or lost."""

    directions: tuple[str, ...]  # direction names, indexed by `direction`
    rows: np.ndarray  # (Q,) int64 query row in the space
    direction: np.ndarray  # (Q,) int64 index into `directions`
    rank: np.ndarray  # (Q,) int64 rank of the best true match, 1 = right
    margin: np.ndarray  # (Q,) float32 best wrong score - truth score: > 0 lost by, < 0 won by; nan: no wrong item
    # in the top-k


def query_outcomes(evaluation: Evaluation, space: str) -> QueryOutcomes:
    """The outcomes of every direction evaluated in `space` (queries without a true match left out)."""
    names, rows, direction, rank, margin = [], [], [], [], []
    for name, d in evaluation.directions.items():
        if d.space != space:
            continue
        r = d.ranks
        keep = r.has_true  # (Nq,)
        wrong = ~r.top_is_true[keep]  # (q, k)
        first = wrong.argmax(axis=1)  # (q,) position of the best wrong item in the top-k
        best_wrong = np.where(wrong.any(axis=1), r.top_scores[keep][np.arange(len(first)), first], np.nan)
        names.append(name)
        rows.append(d.query_rows[keep])
        direction.append(np.full(int(keep.sum()), len(names) - 1))
        rank.append(r.rank[keep])
        margin.append(best_wrong - r.best_true_score[keep])
    if not names:
        raise ValueError(f"no direction was evaluated in space {space!r} (spaces: {sorted(evaluation.spaces)})")
    cat = np.concatenate
    return QueryOutcomes(
        tuple(names),
        cat(rows).astype(np.int64),
        cat(direction).astype(np.int64),
        cat(rank).astype(np.int64),
        cat(margin).astype(np.float32),
    )


@dataclass(frozen=True, eq=False)
class PointSet:
    """One space's rows placed in 2-D, with what the projection colours, shows on hover and exports."""

    space: str
    coords: np.ndarray  # (N, 2) float32
    ids: tuple[str, ...]
    modality: tuple[Modality, ...]
    pair: tuple[str, ...]
    label: tuple[str | None, ...]
    outcomes: QueryOutcomes
    error_keys: tuple[tuple[str, ...], ...]  # per row: the keys (see store.tags.error_key) of errors it is the query of
    involved: np.ndarray  # (N,) bool: the row takes part in an error (as query, truth or top wrong match)
    clusters: Clusters | None = None
    method: str = ""  # how `coords` were made ("umap", "pca"), for titles

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def outcome(self) -> np.ndarray:
        """(N,) int8: 0 not a query, 1 right in every direction it was asked, 2 wrong in at least one."""
        out = np.zeros(len(self), np.int8)
        out[self.outcomes.rows] = 1
        out[self.outcomes.rows[self.outcomes.rank > 1]] = 2  # fancy-index assignment: the later (error) wins
        return out

    @property
    def margin(self) -> np.ndarray:
        """(N,) float32: each row's worst margin over the directions it was a query in; nan for none."""
        out = np.full(len(self), -np.inf, np.float32)
        np.maximum.at(out, self.outcomes.rows, np.nan_to_num(self.outcomes.margin, nan=-np.inf))
        out[np.isneginf(out)] = np.nan
        return out

    def tags_of(self, row: int, tags: Mapping[str, str]) -> tuple[str, ...]:
        """The distinct tags on the errors of one row, in key order."""
        return tuple(dict.fromkeys(tags[k] for k in self.error_keys[row] if k in tags))

    def rows_of(self, ids: list[str] | tuple[str, ...]) -> np.ndarray:
        """Rows whose id is in `ids` (any modality)."""
        wanted = set(ids)
        return np.array([i for i, item in enumerate(self.ids) if item in wanted], np.int64)


def point_set(
    evaluation: Evaluation,
    space: str,
    coords: np.ndarray,
    *,
    clusters: Clusters | None = None,
    method: str = "",
) -> PointSet:
    """The rows of `space` at `coords` (N, 2), with their outcomes, error keys and clusters."""
    data = evaluation.spaces[space]
    coords = np.asarray(coords, dtype=np.float32)
    if coords.shape != (len(data), 2):
        raise ValueError(f"coords of space {space!r} must be ({len(data)}, 2), got {coords.shape}")
    if not np.isfinite(coords).all():
        bad = int(np.argwhere(~np.isfinite(coords))[0, 0])
        raise ValueError(f"coords of space {space!r} hold non-finite values (first in row {bad})")
    if clusters is not None and len(clusters.labels) != len(data):
        raise ValueError(f"clusters label {len(clusters.labels)} rows, space {space!r} has {len(data)}")
    keys: list[list[str]] = [[] for _ in range(len(data))]
    involved = np.zeros(len(data), bool)
    for e in evaluation.errors:
        if e.space == space:
            keys[e.query_row].append(error_key(e.direction, e.query))
            involved[[e.query_row, e.truth_row, e.top_row]] = True
    return PointSet(
        space,
        coords,
        data.ids,
        data.modality,
        data.pair,
        data.label,
        query_outcomes(evaluation, space),
        tuple(tuple(k) for k in keys),
        involved,
        clusters,
        method,
    )


# ---------------------------------------------------------------------------- colourings


@dataclass(frozen=True, eq=False)
class Colouring:
    """Either categories (a code per point, a colour and count per category) or a continuous value per point."""

    by: ColourBy
    title: str
    codes: np.ndarray | None = None  # (N,) uint8 category of each point
    categories: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    values: np.ndarray | None = None  # (N,) float32, nan = no value (drawn grey)
    bounds: tuple[float, float] = (0.0, 0.0)  # colour range of `values`


def colouring(points: PointSet, by: ColourBy, *, tags: Mapping[str, str] | None = None) -> Colouring:
    """Colour the points by one property; `tags` (error key -> tag) is read for by='tag'."""
    if by == "modality":
        present: list[str] = [m for m in MODALITIES if m in points.modality]
        return _categorical(by, "Modality", [str(m) for m in points.modality], present, MODALITY_COLOURS)
    if by == "outcome":
        words = np.array(["not a query", "correct", "error"])[points.outcome]
        return _categorical(by, "Top match", words.tolist(), list(OUTCOME_COLOURS), OUTCOME_COLOURS)
    if by == "label":
        labels = [label or "(no label)" for label in points.label]
        return _categorical(by, "Label", labels, _by_count(labels, last="(no label)"), {"(no label)": GREY})
    if by == "tag":
        tags = tags or {}
        per_row = [" + ".join(points.tags_of(i, tags)) or "untagged" for i in range(len(points))]
        order = [t for t in TAGS if t in per_row] + [t for t in _by_count(per_row, last="untagged") if t not in TAGS]
        return _categorical(by, "Tag", per_row, order, {**TAG_COLOURS, "untagged": GREY})
    if by == "cluster":
        if points.clusters is None:
            raise ValueError("colour by cluster: no clusters were computed for this space")
        c = points.clusters
        per_point = [c.name(int(label)) for label in c.labels.tolist()]
        order = [c.name(k) for k in range(c.count) if (c.labels == k).any()] + ["noise"]
        return _categorical(by, "Cluster", per_point, order, {"noise": GREY})
    if by == "margin":
        values = points.margin
        finite = values[np.isfinite(values)]
        reach = float(np.abs(finite).max()) if len(finite) else 1.0
        reach = reach or 1.0
        return Colouring(by, "Margin (wrong − truth)", values=values, bounds=(-reach, reach))
    raise ValueError(f"colour by {by!r}: expected one of {', '.join(COLOUR_BY)}")


def _by_count(values: list[str], *, last: str) -> list[str]:
    """Distinct values, most frequent first (ties alphabetical), `last` at the end."""
    counts = Counter(values)
    return sorted((v for v in counts if v != last), key=lambda v: (-counts[v], v)) + ([last] if last in counts else [])


def _categorical(by: ColourBy, title: str, values: list[str], order: list[str], fixed: Mapping[str, str]) -> Colouring:
    """Codes in `order` (absent categories dropped); beyond MAX_CATEGORIES the rest become 'other'."""
    counts = Counter(values)
    order = [v for v in order if counts[v]]
    if len(order) > MAX_CATEGORIES:
        keep = order[: MAX_CATEGORIES - 1]
        order = [*keep, "other"]
        kept = set(keep)
        values = [v if v in kept else "other" for v in values]
        counts = Counter(values)
    index = {v: i for i, v in enumerate(order)}
    codes = np.fromiter((index[v] for v in values), dtype=np.uint8, count=len(values))
    palette = iter(c for c in PALETTE if c not in fixed.values())
    colours = tuple(fixed.get(v) or (GREY if v == "other" else next(palette)) for v in order)
    return Colouring(by, title, codes, tuple(order), colours, tuple(counts[v] for v in order))


# ---------------------------------------------------------------------------- payloads


def b64(array: np.ndarray) -> str:
    """Little-endian bytes of an array, base64: what the browser reads into a typed array."""
    return base64.b64encode(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()).decode()


def colouring_payload(c: Colouring) -> dict:
    """JSON for the browser: category codes (uint8) or values (float32), base64."""
    if c.codes is not None:
        return {
            "by": c.by,
            "title": c.title,
            "kind": "category",
            "codes": b64(c.codes),
            "categories": list(c.categories),
            "colours": list(c.colours),
            "counts": list(c.counts),
        }
    assert c.values is not None
    return {
        "by": c.by,
        "title": c.title,
        "kind": "scale",
        "values": b64(c.values.astype(np.float32)),
        "bounds": list(c.bounds),
        "scale": MARGIN_SCALE,
    }


def points_payload(points: PointSet, c: Colouring, *, token: str) -> dict:
    """Everything the browser needs to draw: coordinates (float32, base64), one colouring, no ids or captions
    (hover and selection fetch those for the rows they name)."""
    drawn = c.codes if c.codes is not None else c.values
    if drawn is None or len(drawn) != len(points):
        raise ValueError(f"the colouring has a different number of points than the point set ({len(points)})")
    return {
        "token": token,
        "n": len(points),
        "space": points.space,
        "method": points.method,
        "xy": b64(points.coords.astype(np.float32)),
        "colour": colouring_payload(c),
        "colour_by": colour_options(points),
    }


def colour_options(points: PointSet) -> list[str]:
    """The colourings that say something about these points: no outcomes or margins without evaluated queries
    (e.g. a comparison whose captions are unknown), no labels, tags or clusters where there are none."""
    has = {
        "outcome": len(points.outcomes.rows) > 0,
        "margin": len(points.outcomes.rows) > 0,
        "label": any(label is not None for label in points.label),
        "tag": any(points.error_keys),
        "cluster": points.clusters is not None,
    }
    return [b for b in COLOUR_BY if has.get(b, True)]


def pair_lines(points: PointSet, rows: np.ndarray | None = None, *, limit: int = 20_000) -> tuple[np.ndarray, int]:
    """True-pair lines as (M, 2) int32 row pairs, at most `limit`, and how many there were in all.

    Within a pair key, for each two modalities, every row of the side with more rows (e.g. five captions) is
    joined to the first row of the other side (their clip). With `rows`, only lines touching those rows."""
    groups: dict[str, dict[str, list[int]]] = {}
    for i, (key, m) in enumerate(zip(points.pair, points.modality, strict=True)):
        groups.setdefault(key, {}).setdefault(m, []).append(i)
    wanted = None if rows is None else set(np.asarray(rows).tolist())
    lines = []
    for by_modality in groups.values():
        present = [m for m in MODALITIES if m in by_modality]
        for a_index, a in enumerate(present):
            for b in present[a_index + 1 :]:
                many, one = sorted((by_modality[a], by_modality[b]), key=len, reverse=True)
                lines += [(i, one[0]) for i in many if wanted is None or i in wanted or one[0] in wanted]
    total = len(lines)
    return np.array(lines[:limit], np.int32).reshape(-1, 2), total


def rows_from(points: PointSet, raw: object) -> np.ndarray:
    """Row indices sent back by the browser, checked: a list of ints within the point set, unique, sorted."""
    if not isinstance(raw, list | tuple) or not all(isinstance(r, int) and not isinstance(r, bool) for r in raw):
        raise ValueError(f"rows must be a list of integers (got {type(raw).__name__})")
    rows = np.unique(np.asarray(raw, np.int64))
    if len(rows) and (rows[0] < 0 or rows[-1] >= len(points)):
        bad = int(rows[0] if rows[0] < 0 else rows[-1])
        raise ValueError(f"row {bad} is outside the {len(points)} points of space {points.space!r}")
    return rows
