"""The error grid's data: the table against the evaluation, every filter, sorting, and errors near a query vector."""

from __future__ import annotations

import numpy as np
import pytest
from planted import planted

from alignment.analysis.clusters import ClusterParams, find_clusters
from alignment.views.triage import (
    UNTAGGED,
    ErrorFilter,
    error_table,
    errors_near,
    facets,
    filter_from_json,
    grid_row,
    select_errors,
)


@pytest.fixture(scope="module")
def space():
    return planted(per_concept=25, n_swapped=12, seed=3)


@pytest.fixture(scope="module")
def table(space):
    e = space.embedded
    found = find_clusters(e.embeddings, e.modality, e.pair, space.captions, params=ClusterParams(min_cluster_size=8))
    return error_table(space.evaluation, clusters={"shared": found})


def test_the_table_is_the_error_list(space, table) -> None:
    errors = space.evaluation.errors
    assert len(table) == len(errors) > 10
    for i, err in enumerate(errors):
        row = grid_row(table, i, tags={})
        assert (row["query"], row["truth"], row["top"], row["rank"]) == (err.query, err.truth, err.top, err.rank)
        assert row["margin"] == round(err.margin, 4) and row["score"] == round(err.top_score, 4)
        assert row["key"] == f"{err.direction}|{err.query}" and row["direction"] == err.direction
        label = space.embedded.label[err.query_row] or space.embedded.label[err.truth_row]
        assert row["label"] == label and row["cluster"].startswith("#")


def test_range_filters_are_inclusive_and_open_ended(table) -> None:
    mid = float(np.median(table.margin))
    kept = select_errors(table, ErrorFilter(margin=(mid, None)), tags={})
    assert set(kept.tolist()) == set(np.flatnonzero(table.margin >= mid).tolist())
    rank2 = select_errors(table, ErrorFilter(rank=(2, 2)), tags={})
    assert set(rank2.tolist()) == set(np.flatnonzero(table.rank == 2).tolist())
    lo, hi = float(np.quantile(table.score, 0.25)), float(np.quantile(table.score, 0.75))
    both = select_errors(table, ErrorFilter(score=(lo, hi), rank=(None, 3)), tags={})
    expected = (table.score >= lo) & (table.score <= hi) & (table.rank <= 3)
    assert set(both.tolist()) == set(np.flatnonzero(expected).tolist())


def test_facet_filters(table) -> None:
    label = table.label[0]
    assert all(table.label[i] == label for i in select_errors(table, ErrorFilter(labels=(label,)), tags={}))
    cluster = table.cluster[0]
    got = select_errors(table, ErrorFilter(clusters=(cluster,)), tags={})
    assert len(got) == sum(c == cluster for c in table.cluster)
    direction = table.directions[1]
    got = select_errors(table, ErrorFilter(directions=(direction,)), tags={})
    assert len(got) and all(table.directions[table.direction[i]] == direction for i in got)
    tags = {table.keys[0]: "model error", table.keys[1]: "needs review"}  # a custom tag beside the four
    assert select_errors(table, ErrorFilter(tags=("needs review",)), tags=tags).tolist() == [1]
    untagged = select_errors(table, ErrorFilter(tags=(UNTAGGED,)), tags=tags)
    assert 0 not in untagged and 1 not in untagged and len(untagged) == len(table) - 2
    only = frozenset(table.keys[2:5])
    assert sorted(select_errors(table, ErrorFilter(only=only), tags={}).tolist()) == [2, 3, 4]
    needle = table.truth[3].upper()[:12]  # search is case-insensitive over query, truth and top ids
    assert 3 in select_errors(table, ErrorFilter(search=needle), tags={})


def test_sorting(table) -> None:
    worst = select_errors(table, ErrorFilter(), tags={}, sort="margin")
    assert (np.diff(table.margin[worst]) <= 0).all()
    best = select_errors(table, ErrorFilter(), tags={}, sort="rank", descending=False)
    assert (np.diff(table.rank[best]) >= 0).all()
    assert select_errors(table, ErrorFilter(), tags={}, sort="order", descending=False).tolist() == list(
        range(len(table))
    )
    with pytest.raises(ValueError, match="sort by 'size'"):
        select_errors(table, ErrorFilter(), tags={}, sort="size")  # type: ignore[arg-type]


def test_errors_near_a_query_vector_put_the_closest_query_first(space, table) -> None:
    e = space.embedded
    target = int(table.query_row[7])
    vector = e.embeddings[target] * 3.0  # any length: it is normalised
    near = errors_near(table, {"shared": e}, {"shared": vector})
    expected = e.embeddings[table.query_row] @ e.embeddings[target]
    np.testing.assert_allclose(near, expected, rtol=1e-5)
    order = select_errors(table, ErrorFilter(), tags={}, sort="near", near=near)
    assert int(table.query_row[order[0]]) == target
    assert (np.diff(near[order]) <= 1e-7).all()
    with pytest.raises(ValueError, match="must be finite, non-zero and 32-D"):
        errors_near(table, {"shared": e}, {"shared": np.zeros(32)})
    with pytest.raises(ValueError, match="space 'clip'"):
        errors_near(table, {"shared": e}, {"clip": vector})
    with pytest.raises(ValueError, match="needs the errors_near array"):
        select_errors(table, ErrorFilter(), tags={}, sort="near")


def test_filters_from_the_browser_are_checked() -> None:
    flt = filter_from_json({"margin": [0.1, None], "rank": [None, 5], "labels": ["cat"], "search": "dog"})
    assert flt == ErrorFilter(margin=(0.1, None), rank=(None, 5.0), labels=("cat",), search="dog")
    assert filter_from_json(None) == ErrorFilter()
    for bad, message in (
        ([], "must be an object"),
        ({"colour": 1}, "unknown filter fields: colour"),
        ({"margin": [1]}, r"margin must be \[low, high\]"),
        ({"rank": ["1", 2]}, "finite numbers or null"),
        ({"score": [float("nan"), 1]}, "finite numbers or null"),
        ({"labels": "cat"}, "labels must be a list"),
        ({"tags": [1]}, "tags must be a list"),
        ({"search": "x" * 500}, "at most 200 characters"),
    ):
        with pytest.raises(ValueError, match=message):
            filter_from_json(bad)


def test_facets_offer_what_the_table_holds(table) -> None:
    f = facets(table)
    assert f["total"] == len(table)
    assert sum(n for _, n in f["directions"]) == len(table)
    assert sum(n for _, n in f["labels"]) == sum(bool(v) for v in table.label)
    assert f["margin"] == [pytest.approx(float(table.margin.min())), pytest.approx(float(table.margin.max()))]
    assert f["rank"][0] >= 2
