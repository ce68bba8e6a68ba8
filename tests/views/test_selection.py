"""A point's hover card, a selection's metrics against an independent count, and exports read back exactly."""

from __future__ import annotations

import numpy as np
import pytest
from planted import planted

from alignment.analysis.clusters import ClusterParams, find_clusters
from alignment.views.points import point_set
from alignment.views.selection import (
    EXPORT_COLUMNS,
    point_card,
    read_selection,
    selection_bytes,
    selection_frame,
    selection_keys,
    selection_stats,
)

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def space():
    return planted(per_concept=20)


@pytest.fixture(scope="module")
def points(space):
    e = space.embedded
    found = find_clusters(e.embeddings, e.modality, e.pair, space.captions, params=ClusterParams(min_cluster_size=8))
    return point_set(space.evaluation, "shared", e.embeddings[:, :2], clusters=found)


def test_a_card_names_the_point_and_its_outcomes(space, points) -> None:
    err = space.evaluation.errors[0]
    key = points.error_keys[err.query_row][0]
    card = point_card(points, err.query_row, tags={key: "data error"})
    assert (
        card["id"] == err.query
        and card["modality"] == err.query_modality
        and card["pair"] == points.pair[err.query_row]
    )
    assert card["tags"] == ["data error"] and card["cluster"].startswith("#")
    (outcome,) = card["outcomes"]
    assert outcome == {"direction": err.direction, "rank": err.rank, "margin": round(err.margin, 4)}
    with pytest.raises(ValueError, match="row 9999 is outside"):
        point_card(points, 9999, tags={})


def test_selection_metrics_against_an_independent_count(space, points) -> None:
    rows = np.arange(0, len(points), 3)
    stats = selection_stats(points, rows)
    chosen = set(rows.tolist())
    evaluated = [
        (int(d.query_rows[i]), int(d.ranks.rank[i]))
        for d in space.evaluation.directions.values()
        for i in range(len(d.query_rows))
        if d.ranks.has_true[i] and int(d.query_rows[i]) in chosen
    ]
    hits = sum(rank == 1 for _, rank in evaluated)
    errors_here = [e for e in space.evaluation.errors if e.query_row in chosen]
    assert stats.n == len(rows) and stats.queries == len(evaluated)
    assert stats.r1 == pytest.approx(hits / len(evaluated))
    assert stats.errors == len(errors_here) and stats.error_points == len({e.query_row for e in errors_here})
    assert stats.by_modality == {
        "text": sum(points.modality[r] == "text" for r in chosen),
        "image": stats.n - stats.by_modality["text"],
    }
    margins = points.outcomes.margin[np.isin(points.outcomes.rows, rows)]
    assert stats.mean_margin == pytest.approx(float(np.nanmean(margins)))
    empty = selection_stats(points, np.array([], np.int64))
    assert (empty.n, empty.queries, empty.r1, empty.mean_margin) == (0, 0, None, None)


def test_selection_keys_are_the_selected_errors(space, points) -> None:
    rows = np.array(sorted({e.query_row for e in space.evaluation.errors}))
    keys = selection_keys(points, rows)
    assert sorted(keys) == sorted(f"{e.direction}|{e.query}" for e in space.evaluation.errors)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_export_reads_back_exactly(space, points, fmt) -> None:
    a, b, c = np.flatnonzero(points.outcome == 1)[:3].tolist()
    ids = list(points.ids)
    ids[b] = XSS  # ids come from strangers: they must survive as plain data
    ids[c] = "NA"  # and a word pandas would read as missing stays a word
    odd = type(points)(**{**points.__dict__, "ids": tuple(ids)})
    rows = np.array([a, b, c, space.evaluation.errors[0].query_row])
    key = odd.error_keys[space.evaluation.errors[0].query_row][0]
    frame = selection_frame(odd, rows, space.embedded.embeddings, tags={key: "model error"})
    back = read_selection(selection_bytes(frame, fmt), fmt)  # type: ignore[arg-type]
    assert list(back.columns) == list(EXPORT_COLUMNS)
    assert back["id"].tolist() == [ids[r] for r in rows.tolist()]
    assert back["modality"].tolist() == [points.modality[r] for r in rows.tolist()]
    assert back["pair"].tolist() == [points.pair[r] for r in rows.tolist()]
    assert back["tags"].tolist() == ["", "", "", "model error"]
    assert back["outcome"].tolist()[-1] == "error"
    np.testing.assert_allclose(back["margin"].to_numpy(), points.margin[rows], rtol=1e-6)
    got = np.stack(back["embedding"].to_list())
    np.testing.assert_allclose(got, space.embedded.embeddings[rows], rtol=1e-6)  # 7 significant digits in CSV
    assert got.dtype == np.float32 and got.shape == (4, space.embedded.dim)


def test_export_checks_its_inputs(space, points) -> None:
    with pytest.raises(ValueError, match="embeddings must be"):
        selection_frame(points, np.array([0]), space.embedded.embeddings[:5], tags={})
    frame = selection_frame(points, np.array([0]), space.embedded.embeddings, tags={})
    with pytest.raises(ValueError, match="export format 'xlsx'"):
        selection_bytes(frame, "xlsx")  # type: ignore[arg-type]
