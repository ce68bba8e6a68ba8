"""Where the model fails, one row per cluster: the captions that name clusters, and the table sorted by error rate."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from ..analysis.clusters import Clusters, ClusterStats, cluster_stats
from .points import PointSet

CLUSTER_COLUMNS = ["cluster", "name", "size", "queries", "R@1", "errors", "error rate", "mean margin"]


def row_captions(
    ids: Sequence[str], modality: Sequence[str], pair: Sequence[str], text_of: Callable[[str], str | None]
) -> list[str]:
    """Per row, the words that describe it: a text row its own text, any other row the texts of its pair joined
    (so an image's cluster is named by its captions). `text_of(id)` is a text row's content (None: unknown)."""
    texts: dict[str, list[str]] = {}
    own: dict[int, str] = {}
    for i, (item_id, m, key) in enumerate(zip(ids, modality, pair, strict=True)):
        if m == "text":
            own[i] = text_of(item_id) or ""
            texts.setdefault(key, []).append(own[i])
    return [own[i] if i in own else " ".join(texts.get(key, [])) for i, key in enumerate(pair)]


def stats_for(points: PointSet) -> list[ClusterStats]:
    """`cluster_stats` of a point set's clusters, from its outcomes (worst cluster first)."""
    if points.clusters is None:
        raise ValueError(f"space {points.space!r} has no clusters: cluster it first")
    o = points.outcomes
    return cluster_stats(
        points.clusters, query_rows=o.rows, query_ranks=o.rank, query_margins=o.margin, involved=points.involved
    )


def cluster_frame(stats: Sequence[ClusterStats]) -> pd.DataFrame:
    """The table the app shows (worst first, as `cluster_stats` sorts): rates rounded to 3 places."""
    rows = [[s.cluster, s.name, s.size, s.queries, s.r1, s.errors, s.error_rate, s.mean_margin] for s in stats]
    return pd.DataFrame(rows, columns=CLUSTER_COLUMNS).round(3)


def cluster_rows(clusters: Clusters, cluster: int) -> list[int]:
    """Rows of one cluster (e.g. the row a user clicked in the table)."""
    if not -1 <= cluster < clusters.count:
        raise ValueError(f"no cluster {cluster} (there are {clusters.count}, and -1 for noise)")
    return [i for i, label in enumerate(clusters.labels.tolist()) if label == cluster]
