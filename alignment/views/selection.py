"""What the projection says about points: one point's card, a selection's metrics, and a selection as a table."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from ..analysis.clusters import NOISE
from .points import PointSet

ExportFormat = Literal["csv", "parquet"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
EXPORT_COLUMNS = ("id", "modality", "pair", "label", "cluster", "tags", "outcome", "margin", "x", "y", "embedding")
OUTCOME_WORDS = ("not a query", "correct", "error")


def point_card(points: PointSet, row: int, *, tags: Mapping[str, str]) -> dict:
    """One point's facts for a hover card: id, modality, pair, label, cluster, tags and each direction's outcome."""
    if not 0 <= row < len(points):
        raise ValueError(f"row {row} is outside the {len(points)} points of space {points.space!r}")
    o = points.outcomes
    mine = np.flatnonzero(o.rows == row)
    cluster = None
    if points.clusters is not None:
        cluster = points.clusters.name(int(points.clusters.labels[row]))
    return {
        "row": row,
        "id": points.ids[row],
        "modality": points.modality[row],
        "pair": points.pair[row],
        "label": points.label[row],
        "cluster": cluster,
        "tags": list(points.tags_of(row, tags)),
        "outcomes": [
            {
                "direction": o.directions[int(o.direction[q])],
                "rank": int(o.rank[q]),
                "margin": None if np.isnan(o.margin[q]) else round(float(o.margin[q]), 4),
            }
            for q in mine.tolist()
        ],
    }


@dataclass(frozen=True)
class SelectionStats:
    """A selection's numbers, over the evaluated (query, direction) pairs whose query is selected."""

    n: int  # selected points
    by_modality: dict[str, int]
    queries: int
    r1: float | None  # share of those queries whose truth ranked first; None without queries
    mean_margin: float | None  # mean best-wrong minus truth score (negative: the truth won on average)
    errors: int  # queries whose truth did not rank first
    error_points: int  # selected points that are the query of at least one error

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "by_modality": self.by_modality,
            "queries": self.queries,
            "r1": self.r1,
            "mean_margin": self.mean_margin,
            "errors": self.errors,
            "error_points": self.error_points,
        }


def selection_stats(points: PointSet, rows: np.ndarray) -> SelectionStats:
    rows = np.asarray(rows, np.int64)
    o = points.outcomes
    mine = np.isin(o.rows, rows)  # (Q,)
    queries = int(mine.sum())
    wrong = mine & (o.rank > 1)
    margins = o.margin[mine]
    margins = margins[np.isfinite(margins)]
    return SelectionStats(
        len(rows),
        dict(Counter(points.modality[r] for r in rows.tolist())),
        queries,
        (queries - int(wrong.sum())) / queries if queries else None,
        float(margins.mean()) if len(margins) else None,
        int(wrong.sum()),
        len(np.unique(o.rows[wrong])),
    )


def selection_keys(points: PointSet, rows: np.ndarray) -> list[str]:
    """The error keys of the selected points (what "tag all" tags), in row order."""
    return [k for r in np.asarray(rows, np.int64).tolist() for k in points.error_keys[r]]


def selection_frame(
    points: PointSet, rows: np.ndarray, embeddings: np.ndarray, *, tags: Mapping[str, str]
) -> pd.DataFrame:
    """The selected rows as a table: EXPORT_COLUMNS, `embedding` a float32 vector per row."""
    rows = np.asarray(rows, np.int64)
    if embeddings.ndim != 2 or len(embeddings) != len(points):
        raise ValueError(f"embeddings must be ({len(points)}, D) for space {points.space!r}, got {embeddings.shape}")
    labels = points.clusters.labels if points.clusters is not None else np.full(len(points), NOISE)
    clusters = points.clusters
    outcome, margin = points.outcome, points.margin
    pick = rows.tolist()
    return pd.DataFrame(
        {
            "id": [points.ids[r] for r in pick],
            "modality": [points.modality[r] for r in pick],
            "pair": [points.pair[r] for r in pick],
            "label": [points.label[r] or "" for r in pick],
            "cluster": [clusters.name(int(labels[r])) if clusters is not None else "" for r in pick],
            "tags": ["; ".join(points.tags_of(r, tags)) for r in pick],
            "outcome": [OUTCOME_WORDS[int(outcome[r])] for r in pick],
            "margin": margin[rows].astype(np.float64),
            "x": points.coords[rows, 0].astype(np.float64),
            "y": points.coords[rows, 1].astype(np.float64),
            "embedding": list(np.asarray(embeddings[rows], np.float32)),
        },
        columns=list(EXPORT_COLUMNS),
    )


def selection_bytes(frame: pd.DataFrame, fmt: ExportFormat) -> bytes:
    """The table as CSV (the embedding as space-separated numbers in one cell) or Parquet (a list<float> column)."""
    if fmt == "parquet":
        out = io.BytesIO()
        frame.to_parquet(out, index=False)  # pyarrow: embedding becomes list<float>
        return out.getvalue()
    if fmt == "csv":
        flat = frame.assign(embedding=[" ".join(f"{v:.7g}" for v in e.tolist()) for e in frame["embedding"]])
        return flat.to_csv(index=False).encode("utf-8")
    raise ValueError(f"export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")


def read_selection(data: bytes, fmt: ExportFormat) -> pd.DataFrame:
    """An exported selection read back, `embedding` as float32 vectors again (the inverse of `selection_bytes`)."""
    if fmt == "parquet":
        frame = pd.read_parquet(io.BytesIO(data))
        return frame.assign(embedding=[np.asarray(e, np.float32) for e in frame["embedding"]])
    if fmt == "csv":
        numbers = {c: [""] for c in ("margin", "x", "y")}  # only numbers may be missing; an id "NA" stays "NA"
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=numbers)
        frame = frame.astype({c: np.float64 for c in numbers})
        return frame.assign(embedding=[np.array(e.split(), np.float32) for e in frame["embedding"]])
    raise ValueError(f"export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
