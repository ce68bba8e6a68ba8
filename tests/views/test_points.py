"""The projection's data from the library side: outcomes, points, colourings and legends, the browser payload."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from planted import planted

from alignment.analysis.clusters import ClusterParams, find_clusters
from alignment.store.tags import error_key
from alignment.views.points import (
    COLOUR_BY,
    GREY,
    MAX_CATEGORIES,
    colouring,
    pair_lines,
    point_set,
    points_payload,
    query_outcomes,
    rows_from,
)


@pytest.fixture(scope="module")
def space():
    return planted(per_concept=20)


@pytest.fixture(scope="module")
def points(space):
    e = space.embedded
    found = find_clusters(e.embeddings, e.modality, e.pair, space.captions, params=ClusterParams(min_cluster_size=8))
    coords = e.embeddings[:, :2] * 10  # any (N, 2) will do here
    return point_set(space.evaluation, "shared", coords, clusters=found, method="test")


def decode(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<"))


def test_outcomes_agree_with_the_error_list_and_with_the_scores(space) -> None:
    ev, e = space.evaluation, space.embedded
    o = query_outcomes(ev, "shared")
    assert len(o.rows) == len(e)  # every row is a query in one direction here
    errors = {(err.direction, err.query_row): err for err in ev.errors}
    for q in range(len(o.rows)):
        key = (o.directions[o.direction[q]], int(o.rows[q]))
        if key in errors:
            assert o.rank[q] == errors[key].rank > 1
            assert o.margin[q] == pytest.approx(errors[key].margin, abs=1e-6)
        else:
            assert o.rank[q] == 1 and o.margin[q] < 0
    # an independent margin for one correct text query: best wrong image minus its own image
    q = int(np.flatnonzero((o.rank == 1) & (o.direction == o.directions.index("text->image")))[0])
    row = int(o.rows[q])
    images = np.flatnonzero(np.asarray(e.modality) == "image")
    scores = e.embeddings[images] @ e.embeddings[row]
    truth = np.asarray(e.pair)[images] == e.pair[row]
    assert o.margin[q] == pytest.approx(scores[~truth].max() - scores[truth].max(), abs=1e-5)
    with pytest.raises(ValueError, match="no direction was evaluated in space 'clap'"):
        query_outcomes(ev, "clap")


def test_points_know_their_errors(space, points) -> None:
    ev = space.evaluation
    assert points.outcome.tolist().count(2) == len({err.query_row for err in ev.errors})
    for err in ev.errors:
        assert points.outcome[err.query_row] == 2
        assert error_key(err.direction, err.query) in points.error_keys[err.query_row]
        assert points.involved[[err.query_row, err.truth_row, err.top_row]].all()
        assert points.margin[err.query_row] >= err.margin - 1e-6
    right = points.outcome == 1
    assert (points.margin[right] < 0).all() and not points.involved[right & ~points.involved].any()
    assert points.rows_of([ev.errors[0].query]).tolist() == [ev.errors[0].query_row]


@pytest.mark.parametrize("by", COLOUR_BY)
def test_every_colouring_covers_every_point_with_a_legend(points, by) -> None:
    tags = {points.error_keys[int(np.flatnonzero(points.outcome == 2)[0])][0]: "data error"}
    c = colouring(points, by, tags=tags)  # type: ignore[arg-type]
    if by == "margin":
        assert c.codes is None and c.values is not None and len(c.values) == len(points)
        assert c.bounds[0] == -c.bounds[1] and c.bounds[1] > 0 and np.nanmax(np.abs(c.values)) <= c.bounds[1]
        return
    assert c.codes is not None and len(c.codes) == len(points)
    assert len(c.categories) == len(c.colours) == len(c.counts) <= MAX_CATEGORIES
    assert sum(c.counts) == len(points)
    assert np.bincount(c.codes, minlength=len(c.categories)).tolist() == list(c.counts)
    assert len(set(c.colours)) == len(c.colours) or GREY in c.colours  # distinct, except shared greys


def test_category_codes_name_the_right_points(points) -> None:
    c = colouring(points, "outcome")
    words = np.array(c.categories)[c.codes]
    assert ((words == "error") == (points.outcome == 2)).all()
    assert c.colours[c.categories.index("error")] == "#dc2626"
    m = colouring(points, "modality")
    assert (np.array(m.categories)[m.codes] == np.array(points.modality)).all()
    tagged = points.error_keys[int(np.flatnonzero(points.outcome == 2)[0])][0]
    t = colouring(points, "tag", tags={tagged: "ambiguous"})
    assert dict(zip(t.categories, t.counts, strict=True)) == {"ambiguous": 1, "untagged": len(points) - 1}


def test_many_labels_fold_into_other(points) -> None:
    many = type(points)(**{**points.__dict__, "label": tuple(f"label {i % 60}" for i in range(len(points)))})
    c = colouring(many, "label")
    assert len(c.categories) == MAX_CATEGORIES and c.categories[-1] == "other"
    assert sum(c.counts) == len(points) and c.colours[-1] == GREY


def test_colour_by_cluster_needs_clusters(points) -> None:
    bare = type(points)(**{**points.__dict__, "clusters": None})
    with pytest.raises(ValueError, match="no clusters were computed"):
        colouring(bare, "cluster")
    assert "cluster" not in points_payload(bare, colouring(bare, "modality"), token="t")["colour_by"]


def test_payload_decodes_to_the_coordinates_and_codes(points) -> None:
    c = colouring(points, "cluster")
    payload = json.loads(json.dumps(points_payload(points, c, token="abc")))  # strict JSON round trip
    xy = decode(payload["xy"], "float32").reshape(-1, 2)
    np.testing.assert_array_equal(xy, points.coords)
    np.testing.assert_array_equal(decode(payload["colour"]["codes"], "uint8"), c.codes)
    assert payload["colour"]["categories"] == list(c.categories) and payload["n"] == len(points)
    assert "ids" not in payload and points.ids[0] not in json.dumps(payload)  # ids travel only on hover
    margin = points_payload(points, colouring(points, "margin"), token="abc")["colour"]
    np.testing.assert_array_equal(decode(margin["values"], "float32"), points.margin)


def test_payload_is_small_at_100k_points(points) -> None:
    n = 100_000
    rng = np.random.default_rng(0)
    big = type(points)(
        **{
            **points.__dict__,
            "coords": rng.normal(size=(n, 2)).astype(np.float32),
            "ids": tuple(str(i) for i in range(n)),
            "modality": ("text", "image") * (n // 2),
            "label": (None,) * n,
            "clusters": None,
        }
    )
    size = len(json.dumps(points_payload(big, colouring(big, "modality"), token="t")))
    assert size < 1_300_000  # 8 bytes of coordinates + 1 byte of colour per point, base64: ~1.2 MB


def test_pair_lines_join_every_caption_to_its_image(space, points) -> None:
    lines, total = pair_lines(points)
    assert total == len(lines) == len(space.embedded) // 2
    for i, j in lines.tolist():
        assert points.pair[i] == points.pair[j] and points.modality[i] != points.modality[j]
    some, total_some = pair_lines(points, rows=np.array([0]))
    assert total_some == len(some) == 1 and 0 in some[0]
    capped, total_capped = pair_lines(points, limit=3)
    assert len(capped) == 3 and total_capped == total


def test_rows_from_the_browser_are_checked(points) -> None:
    assert rows_from(points, [3, 1, 3]).tolist() == [1, 3]
    for bad, message in (
        ("1,2", "must be a list of integers"),
        ([1, "2"], "must be a list of integers"),
        ([True], "must be a list of integers"),
        ([len(points)], f"row {len(points)} is outside"),
        ([-1], "row -1 is outside"),
    ):
        with pytest.raises(ValueError, match=message):
            rows_from(points, bad)


def test_bad_coordinates_are_refused(space) -> None:
    n = len(space.embedded)
    with pytest.raises(ValueError, match=r"must be \(\d+, 2\), got \(3, 2\)"):
        point_set(space.evaluation, "shared", np.zeros((3, 2)))
    coords = np.zeros((n, 2))
    coords[5, 1] = np.nan
    with pytest.raises(ValueError, match="first in row 5"):
        point_set(space.evaluation, "shared", coords)
