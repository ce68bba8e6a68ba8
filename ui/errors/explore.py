"""The errors tab's exploring views of an evaluated dataset: its layouts and clusters per space (computed once per
dataset, cached on disk), the cluster table, and the vector of a text, image or sound to sort errors by nearness."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from alignment.views.cluster_table import CLUSTER_COLUMNS
from ui.errors.session import EmbedQuery, Explorer, QueryKind

if TYPE_CHECKING:
    from alignment.analysis.clusters import ClusterParams
    from alignment.models.sources import Source
    from ui.models import AppModels

ENCODER_OF_SPACE = {"clip": "clip", "clap": "clap"}  # the app's spaces and the encoder that embeds into each


def first_layout(explorer: Explorer, space: str) -> None:
    """What to draw at once: the UMAP layout when an earlier run cached it, else PCA (seconds at 100k rows); the
    clusters when cached too."""
    from alignment.views.layouts import cached_layout

    x = explorer.evaluation.spaces[space].embeddings
    layout = cached_layout(x, "umap", cache_dir=explorer.cache_dir, compute=False)
    explorer.layouts[space] = layout or cached_layout(x, "pca", cache_dir=explorer.cache_dir)  # type: ignore[assignment]
    found = clusters_for(explorer, space, compute=False)
    if found is not None:
        explorer.clusters[space] = found


def refine(explorer: Explorer, space: str) -> bool:
    """Compute (or read) the UMAP layout and the clusters of a space; True when either changed what is shown."""
    from alignment.views.layouts import cached_layout

    if space in explorer.refined:
        return False
    x = explorer.evaluation.spaces[space].embeddings
    before = (explorer.layouts.get(space), explorer.clusters.get(space))
    if before[0] is None or before[0].method == "pca":
        umap = cached_layout(x, "umap", cache_dir=explorer.cache_dir)
        if umap is not None and (before[0] is None or not np.array_equal(umap.coords, before[0].coords)):
            explorer.layouts[space] = umap  # too few rows for UMAP keep their PCA (and the drawing stays)
    if before[1] is None:
        explorer.clusters[space] = clusters_for(explorer, space)  # type: ignore[assignment]
    explorer.refined.add(space)
    return (explorer.layouts.get(space), explorer.clusters.get(space)) != before


CLUSTER_SAMPLE = 5_000  # rows HDBSCAN fits on (the rest join their nearest sampled row): ~5 s here, 19 s at 10k


def cluster_params(n: int) -> ClusterParams:
    """HDBSCAN's smallest cluster grows with the rows it sees (sqrt / 3): 3 for the bundled example, 11 at 1,000
    rows, 24 from 5,000 (the sample)."""
    from alignment.analysis.clusters import ClusterParams

    seen = min(n, CLUSTER_SAMPLE)
    return ClusterParams(on="all", min_cluster_size=int(np.clip(round(np.sqrt(seen) / 3), 3, 25)), max_points=seen)


def clusters_for(explorer: Explorer, space: str, *, compute: bool = True):  # noqa: ANN201 (Clusters | None)
    """The space's clusters named by its captions, from the cache; computed (HDBSCAN) unless `compute` is off."""
    from alignment.analysis.clusters import cache_key, cached_clusters
    from alignment.views.cluster_table import row_captions

    data = explorer.evaluation.spaces[space]
    captions = row_captions(data.ids, data.modality, data.pair, explorer.media.text)
    params = cluster_params(len(data))
    folder = explorer.cache_dir / "clusters"
    if not compute:
        key = cache_key(data.embeddings, data.modality, data.pair, captions, params)[:32]
        if not (folder / f"clusters-{key}.npz").exists():
            return None
    return cached_clusters(data.embeddings, data.modality, data.pair, captions, params=params, cache_dir=folder)


def cluster_table(explorer: Explorer, space: str) -> pd.DataFrame:
    """Clusters of a space, worst error rate first; empty (with the columns) until they are computed."""
    from alignment.views.cluster_table import cluster_frame, stats_for

    if space not in explorer.clusters:
        return pd.DataFrame(columns=CLUSTER_COLUMNS)
    return cluster_frame(stats_for(explorer.points(space)))


def cluster_keys(explorer: Explorer, space: str, cluster: int) -> list[str]:
    """The error keys of the queries in one cluster (what a click on its row scopes the grid to)."""
    from alignment.views.cluster_table import cluster_rows

    points = explorer.points(space)
    if points.clusters is None:
        return []
    return [k for r in cluster_rows(points.clusters, cluster) for k in points.error_keys[r]]


def query_spaces(source: Source, models: AppModels) -> dict[str, str]:
    """Space -> the app encoder ('clip' or 'clap') whose vectors it holds: every space of a dataset the app embedded,
    the spaces of parquet shards written by the same checkpoint as the app's; none for an embeddings file."""
    kind = source.dataset.get("kind")
    if kind in ("manifest", "zip", "folder"):
        return {s: ENCODER_OF_SPACE[s] for s in source.spaces if s in ENCODER_OF_SPACE}
    if kind != "shards":
        return {}
    wanted = {"clip": models.settings.clip, "clap": models.settings.clap}
    metas = source.models.get("shards", {})
    return {s: s for s in source.spaces if s in ENCODER_OF_SPACE and metas.get(s, {}).get("model_id") == wanted.get(s)}


def query_embedder(models: AppModels, spaces: Mapping[str, str]) -> EmbedQuery | None:
    """`embed_query(kind, text or file path)` -> a unit vector per space, with the app's loaded encoders."""
    if not spaces:
        return None

    def embed(kind: QueryKind, value: str) -> dict[str, np.ndarray]:
        encoders = models.get()  # before torch is imported below (see AppModels.settle)
        from alignment.inputs.files import load_files
        from alignment.inputs.text import load_texts
        from alignment.models.embed import embed_items

        loaded = load_texts([value]) if kind == "text" else load_files([value], kind)
        if loaded.problems or not loaded.items:
            raise ValueError(loaded.problems[0] if loaded.problems else f"nothing to embed in the {kind}")
        out: dict[str, np.ndarray] = {}
        for space, which in spaces.items():
            encoder = encoders.clip if which == "clip" else encoders.clap
            if kind in encoder.modalities:
                out[space] = embed_items(encoder, loaded.items)[0][0]
        if not out:
            held = ", ".join(f"{s} ({'images' if w == 'clip' else 'sounds'})" for s, w in spaces.items())
            raise ValueError(f"no space of this dataset holds {kind} embeddings of the loaded models (spaces: {held})")
        return out

    return embed
