"""Clusters of an embedding space with names: HDBSCAN after PCA, named by distinctive caption words, cached on disk."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from ..core.files import atomic_write_bytes
from ..inputs.items import Modality

ClusterOn = Literal["all", "text", "image", "audio"]
CLUSTER_ON: tuple[str, ...] = get_args(ClusterOn)
NOISE = -1  # HDBSCAN's label for points in no cluster
CACHE_VERSION = 1  # bump when the algorithm or the file layout changes: old cache files are then ignored
WORD_PATTERN = r"(?u)\b[^\W\d_]{2,}\b"  # words of two or more letters (no numbers, no file-name debris)


@dataclass(frozen=True)
class ClusterParams:
    """How to cluster; every field is part of the cache key."""

    on: ClusterOn = "all"  # rows HDBSCAN sees: every row of the space, or one modality (the others follow their pair)
    min_cluster_size: int = 10  # HDBSCAN: the smallest group that counts as a cluster
    min_samples: int | None = None  # HDBSCAN: density smoothing (None: = min_cluster_size)
    pca_dims: int = 50  # PCA first: HDBSCAN's neighbour search slows down steeply with the dimension
    max_points: int = 10_000  # beyond this HDBSCAN sees a seeded sample; the rest join their nearest sampled point
    n_words: int = 3  # words in a cluster's name
    seed: int = 0

    def check(self) -> None:
        if self.on not in CLUSTER_ON:
            raise ValueError(f"cluster on {self.on!r}: expected one of {', '.join(CLUSTER_ON)}")
        if self.min_cluster_size < 2:
            raise ValueError(f"min_cluster_size must be at least 2 (got {self.min_cluster_size})")
        if self.min_samples is not None and self.min_samples < 1:
            raise ValueError(f"min_samples must be at least 1 (got {self.min_samples})")
        if self.pca_dims < 2 or self.max_points < 2 or self.n_words < 1:
            raise ValueError(
                f"pca_dims and max_points must be at least 2 and n_words at least 1 "
                f"(got {self.pca_dims}, {self.max_points}, {self.n_words})"
            )


DEFAULT_PARAMS = ClusterParams()


@dataclass(frozen=True, eq=False)  # an array field: a generated == would be elementwise
class Clusters:
    """A cluster per row (NOISE for none) and each cluster's name and words."""

    labels: np.ndarray  # (N,) int64, 0..C-1 or NOISE
    words: tuple[tuple[str, ...], ...]  # words[c]: cluster c's most distinctive caption words, best first
    params: ClusterParams
    sampled: bool  # True when HDBSCAN saw a sample of max_points rows and the others took a neighbour's cluster

    @property
    def count(self) -> int:
        return len(self.words)

    def name(self, cluster: int) -> str:
        """'#3 parrot · branch · feathers', 'noise' for NOISE, '#3' when the cluster has no caption words."""
        if cluster == NOISE:
            return "noise"
        words = self.words[cluster]
        return f"#{cluster} " + " · ".join(words) if words else f"#{cluster}"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.name(c) for c in range(self.count))


# ---------------------------------------------------------------------------- clustering


def find_clusters(
    embeddings: np.ndarray,
    modality: Sequence[Modality],
    pair: Sequence[str],
    captions: Sequence[str],
    *,
    params: ClusterParams = DEFAULT_PARAMS,
) -> Clusters:
    """Cluster the rows of one space and name each cluster from `captions` (one string per row, "" for none)."""
    params.check()
    x = np.asarray(embeddings, dtype=np.float32)
    n = len(x)
    if x.ndim != 2 or not (len(modality) == len(pair) == len(captions) == n):
        raise ValueError(
            f"clusters need (N, D) embeddings and N modalities, pairs and captions "
            f"(got {x.shape}, {len(modality)}, {len(pair)}, {len(captions)})"
        )
    seen = np.arange(n) if params.on == "all" else np.flatnonzero(np.asarray(modality) == params.on)
    labels = np.full(n, NOISE, np.int64)
    sampled = False
    if len(seen) > params.min_cluster_size:
        labels[seen], sampled = _hdbscan(x[seen], params)
    if params.on != "all":
        labels = _follow_pairs(labels, seen, pair)
    return Clusters(labels, cluster_words(labels, captions, n_words=params.n_words), params, sampled)


def _hdbscan(x: np.ndarray, params: ClusterParams) -> tuple[np.ndarray, bool]:
    """HDBSCAN labels of the rows of x (after PCA), on a seeded sample when there are more than max_points."""
    from sklearn.cluster import HDBSCAN  # lazy: scikit-learn's import costs seconds
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    dims = min(params.pca_dims, x.shape[1], len(x))
    reduced = PCA(dims, random_state=params.seed).fit_transform(x) if dims < x.shape[1] else x  # (n, dims)
    sampled = len(x) > params.max_points
    fit = np.arange(len(x))
    if sampled:
        fit = np.sort(np.random.default_rng(params.seed).choice(len(x), params.max_points, replace=False))
    model = HDBSCAN(min_cluster_size=params.min_cluster_size, min_samples=params.min_samples, copy=True)
    fitted = model.fit_predict(reduced[fit]).astype(np.int64)  # (len(fit),)
    if not sampled:
        return fitted, False
    labels = np.empty(len(x), np.int64)
    labels[fit] = fitted
    rest = np.setdiff1d(np.arange(len(x)), fit)
    nearest = NearestNeighbors(n_neighbors=1).fit(reduced[fit]).kneighbors(reduced[rest], return_distance=False)
    labels[rest] = fitted[nearest[:, 0]]
    return labels, True


def _follow_pairs(labels: np.ndarray, seen: np.ndarray, pair: Sequence[str]) -> np.ndarray:
    """Rows HDBSCAN did not see take the most common cluster among the seen rows of their pair."""
    votes: dict[str, Counter[int]] = {}
    for row in seen.tolist():
        if labels[row] != NOISE:
            votes.setdefault(pair[row], Counter())[int(labels[row])] += 1
    out = labels.copy()
    seen_mask = np.zeros(len(labels), bool)
    seen_mask[seen] = True
    for row in np.flatnonzero(~seen_mask).tolist():
        counter = votes.get(pair[row])
        if counter:
            out[row] = min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]  # most votes, then the lowest id
    return out


def cluster_words(labels: np.ndarray, captions: Sequence[str], *, n_words: int = 3) -> tuple[tuple[str, ...], ...]:
    """Each cluster's most distinctive words by class-based TF-IDF (BERTopic's c-TF-IDF).

    The captions of a cluster form one document; a word's weight in cluster c is its frequency in c (divided by
    c's word count) times log(1 + A / f), A the mean word count per class and f the word's count over all
    classes, noise included: words common everywhere score low, words frequent in one cluster high."""
    from sklearn.feature_extraction.text import CountVectorizer

    count = int(labels.max()) + 1 if len(labels) else 0
    classes = [*range(count), NOISE]
    docs = [" ".join(captions[i] for i in np.flatnonzero(labels == c).tolist()) for c in classes]
    try:
        vectorizer = CountVectorizer(stop_words="english", token_pattern=WORD_PATTERN)
        tf = vectorizer.fit_transform(docs).toarray().astype(np.float64)  # (C + 1, V) word counts per class
    except ValueError:  # no words at all (no captions, or only stop words)
        return tuple(() for _ in range(count))
    vocabulary = vectorizer.get_feature_names_out()
    per_class = tf.sum(axis=1, keepdims=True)  # (C + 1, 1)
    average = per_class.sum() / max(1, int((per_class > 0).sum()))
    idf = np.log1p(average / np.maximum(tf.sum(axis=0), 1.0))  # (V,)
    weight = tf / np.maximum(per_class, 1.0) * idf  # (C + 1, V)
    out = []
    for c in range(count):
        best = np.lexsort((vocabulary, -weight[c]))[:n_words]  # highest weight, ties alphabetical
        out.append(tuple(str(vocabulary[j]) for j in best.tolist() if weight[c, j] > 0))
    return tuple(out)


# ---------------------------------------------------------------------------- per-cluster numbers


@dataclass(frozen=True)
class ClusterStats:
    """How the model does inside one cluster."""

    cluster: int  # NOISE for the rows in no cluster
    name: str
    size: int  # rows of the space in the cluster
    queries: int  # evaluated (query, direction) pairs whose query is in the cluster
    r1: float | None  # share of those whose truth ranked first; None without queries
    errors: int  # queries - hits: errors whose query is in the cluster
    error_rate: float  # share of the cluster's rows involved in an error (as query, truth or top wrong match)
    mean_margin: float | None  # mean (top wrong score - truth score) over the cluster's errors


def cluster_stats(
    clusters: Clusters,
    *,
    query_rows: np.ndarray,
    query_ranks: np.ndarray,
    query_margins: np.ndarray,
    involved: np.ndarray,
) -> list[ClusterStats]:
    """Per-cluster size, R@1, errors and error rate, worst first (error rate, then R@1, then size).

    `query_rows` (Q,), `query_ranks` (Q,) and `query_margins` (Q,) describe every evaluated query of the space;
    `involved` (N,) bool marks rows that take part in at least one error."""
    labels = clusters.labels
    if len(involved) != len(labels) or not (len(query_rows) == len(query_ranks) == len(query_margins)):
        raise ValueError(
            f"cluster_stats: {len(labels)} rows and {len(involved)} 'involved' flags; "
            f"{len(query_rows)} query rows, {len(query_ranks)} ranks, {len(query_margins)} margins"
        )
    query_cluster = labels[np.asarray(query_rows, np.int64)]  # (Q,)
    wrong = np.asarray(query_ranks) > 1
    out = []
    for c in [*range(clusters.count), NOISE]:
        members = labels == c
        size = int(members.sum())
        if not size:
            continue
        mine = query_cluster == c
        queries, errors = int(mine.sum()), int((mine & wrong).sum())
        margins = np.asarray(query_margins)[mine & wrong]
        out.append(
            ClusterStats(
                c,
                clusters.name(c),
                size,
                queries,
                (queries - errors) / queries if queries else None,
                errors,
                float(involved[members].mean()),
                float(margins.mean()) if len(margins) else None,
            )
        )
    return sorted(out, key=lambda s: (-s.error_rate, 2.0 if s.r1 is None else s.r1, -s.size, s.cluster))


# ---------------------------------------------------------------------------- the disk cache


def cache_key(
    embeddings: np.ndarray, modality: Sequence[str], pair: Sequence[str], captions: Sequence[str], params: ClusterParams
) -> str:
    """SHA-256 over the embeddings' bytes and shape, the row columns, the captions and the parameters."""
    h = hashlib.sha256()
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    h.update(f"v{CACHE_VERSION}|{x.shape}|".encode())
    h.update(x.tobytes())
    for column in (modality, pair, captions):
        h.update(b"\x1e" + "\x1f".join(column).encode("utf-8"))
    h.update(json.dumps(asdict(params), sort_keys=True).encode())
    return h.hexdigest()


def cached_clusters(
    embeddings: np.ndarray,
    modality: Sequence[Modality],
    pair: Sequence[str],
    captions: Sequence[str],
    *,
    params: ClusterParams = DEFAULT_PARAMS,
    cache_dir: str | Path,
) -> Clusters:
    """`find_clusters`, read from `cache_dir` when the same embeddings, rows and parameters were clustered before."""
    path = Path(cache_dir) / f"clusters-{cache_key(embeddings, modality, pair, captions, params)[:32]}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as saved:
                meta = json.loads(str(saved["meta"]))
                labels = saved["labels"].astype(np.int64)
            if len(labels) == len(embeddings):
                return Clusters(labels, tuple(tuple(w) for w in meta["words"]), params, bool(meta["sampled"]))
        except (OSError, ValueError, KeyError):  # damaged or foreign file: cluster again and overwrite it
            pass
    clusters = find_clusters(embeddings, modality, pair, captions, params=params)
    buffer = io.BytesIO()
    meta = json.dumps({"words": clusters.words, "sampled": clusters.sampled})
    np.savez(buffer, labels=clusters.labels, meta=np.array(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return clusters
