"""The cluster table: captions that name each row, the table sorted worst first, one cluster's rows."""

from __future__ import annotations

import numpy as np
import pytest
from planted import planted

from alignment.analysis.clusters import ClusterParams, find_clusters
from alignment.views.cluster_table import CLUSTER_COLUMNS, cluster_frame, cluster_rows, row_captions, stats_for
from alignment.views.points import point_set


def test_a_row_is_described_by_its_own_text_or_its_pairs_texts() -> None:
    texts = {"t1": "a red kite", "t2": "a kite in the sky", "t3": None}
    captions = row_captions(
        ["t1", "img", "t2", "t3", "clip"],
        ["text", "image", "text", "text", "audio"],
        ["p", "p", "p", "q", "r"],
        texts.get,
    )
    assert captions == ["a red kite", "a red kite a kite in the sky", "a kite in the sky", "", ""]


def test_the_table_is_sorted_worst_first_and_covers_every_row() -> None:
    space = planted(per_concept=25, n_swapped=8, seed=1)
    e = space.embedded
    found = find_clusters(e.embeddings, e.modality, e.pair, space.captions, params=ClusterParams(min_cluster_size=8))
    points = point_set(space.evaluation, "shared", e.embeddings[:, :2], clusters=found)
    frame = cluster_frame(stats_for(points))
    assert list(frame.columns) == CLUSTER_COLUMNS and len(frame) >= found.count
    assert (np.diff(frame["error rate"].to_numpy()) <= 1e-9).all()  # worst first
    assert frame["size"].sum() == len(e) and frame["errors"].sum() == len(space.evaluation.errors)
    worst = int(frame.iloc[0]["cluster"])
    assert cluster_rows(found, worst) == np.flatnonzero(found.labels == worst).tolist()
    with pytest.raises(ValueError, match="no cluster 99"):
        cluster_rows(found, 99)
    bare = point_set(space.evaluation, "shared", e.embeddings[:, :2])
    with pytest.raises(ValueError, match="has no clusters"):
        stats_for(bare)
