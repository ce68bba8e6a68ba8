"""Clusters: HDBSCAN recovers planted concepts, c-TF-IDF names them (checked against a hand-written reference),
per-cluster numbers against hand counts, and the on-disk cache."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from planted import WORDS, planted
from sklearn.metrics import adjusted_rand_score

from alignment.analysis import clusters as clusters_module
from alignment.analysis.clusters import (
    NOISE,
    ClusterParams,
    Clusters,
    cache_key,
    cached_clusters,
    cluster_stats,
    cluster_words,
    find_clusters,
)


@pytest.fixture(scope="module")
def space():
    return planted(per_concept=30)


def test_hdbscan_finds_the_planted_concepts_and_names_them_by_their_words(space) -> None:
    e = space.embedded
    found = find_clusters(e.embeddings, e.modality, e.pair, space.captions, params=ClusterParams(min_cluster_size=8))
    assert found.count == len(WORDS)
    assert adjusted_rand_score(space.concept, found.labels) > 0.9
    for c in range(found.count):
        members = space.concept[found.labels == c]
        concept = list(WORDS)[Counter(members.tolist()).most_common(1)[0][0]]
        assert set(found.words[c]) <= set(WORDS[concept]), (found.words[c], concept)  # its own words only
        assert "photo" not in found.words[c]  # the filler shared by every caption is never distinctive
        assert found.name(c).startswith(f"#{c} ")
    assert found.name(NOISE) == "noise" and not found.sampled


def test_one_modality_clusters_and_the_other_rows_follow_their_pair(space) -> None:
    e = space.embedded
    params = ClusterParams(on="image", min_cluster_size=8)
    found = find_clusters(e.embeddings, e.modality, e.pair, space.captions, params=params)
    rows_of = {}
    for i, (key, m) in enumerate(zip(e.pair, e.modality, strict=True)):
        rows_of.setdefault(key, {})[m] = i
    for rows in rows_of.values():
        assert found.labels[rows["text"]] == found.labels[rows["image"]]  # a caption joins its image's cluster
    images = np.asarray(e.modality) == "image"
    assert adjusted_rand_score(space.concept[images], found.labels[images]) > 0.9


def test_a_sample_is_clustered_beyond_max_points_and_the_rest_join_their_neighbours(space) -> None:
    e = space.embedded
    params = ClusterParams(min_cluster_size=5, max_points=120)
    found = find_clusters(e.embeddings, e.modality, e.pair, space.captions, params=params)
    assert found.sampled and len(found.labels) == len(e)
    assert adjusted_rand_score(space.concept, found.labels) > 0.8


def reference_ctfidf(labels: list[int], docs: list[str], vocabulary: list[str]) -> dict[int, dict[str, float]]:
    """BERTopic's formula written out with Counters: tf(t, c) / words(c) * log(1 + A / f(t))."""
    classes = sorted(set(labels))
    counts = {
        c: Counter(w for d, lab in zip(docs, labels, strict=True) if lab == c for w in d.split()) for c in classes
    }
    counts = {c: Counter({w: n for w, n in cnt.items() if w in vocabulary}) for c, cnt in counts.items()}
    total = {w: sum(cnt[w] for cnt in counts.values()) for w in vocabulary}
    average = sum(sum(cnt.values()) for cnt in counts.values()) / len(classes)
    return {
        c: {w: cnt[w] / sum(cnt.values()) * math.log(1 + average / total[w]) for w in vocabulary}
        for c, cnt in counts.items()
    }


def test_ctfidf_words_match_a_reference_computation() -> None:
    docs = ["red apple apple pie", "apple tree", "green tree leaf leaf", "leaf tree", "red sky", "red car"]
    labels = [0, 0, 1, 1, NOISE, NOISE]
    words = cluster_words(np.array(labels), docs, n_words=2)
    scores = reference_ctfidf(labels, docs, ["red", "apple", "pie", "tree", "green", "leaf", "sky", "car"])
    for c in (0, 1):
        expected = sorted(scores[c], key=lambda w: (-scores[c][w], w))[:2]
        assert list(words[c]) == expected
    assert words == (("apple", "pie"), ("leaf", "tree"))  # tree: 2 of 6 words here, 3 in all; green: 1 of 1


def test_clusters_without_caption_words_get_a_number_only() -> None:
    labels = np.array([0, 0, 1, 1])
    assert cluster_words(labels, ["", "", "the", "a"]) == ((), ())
    named = Clusters(labels, ((), ()), ClusterParams(), sampled=False)
    assert named.names == ("#0", "#1")


def test_cluster_stats_against_hand_counts() -> None:
    labels = np.array([0, 0, 0, 1, 1, NOISE])
    c = Clusters(labels, (("a",), ("b",)), ClusterParams(), sampled=False)
    # queries: rows 0, 1, 2 (cluster 0; row 1 wrong by 0.2, row 2 wrong by 0.4), row 3 (cluster 1, right)
    stats = cluster_stats(
        c,
        query_rows=np.array([0, 1, 2, 3]),
        query_ranks=np.array([1, 3, 2, 1]),
        query_margins=np.array([-0.1, 0.2, 0.4, -0.3]),
        involved=np.array([False, True, True, True, False, False]),
    )
    by = {s.cluster: s for s in stats}
    assert [s.cluster for s in stats] == [0, 1, NOISE]  # worst error rate first
    assert (by[0].size, by[0].queries, by[0].errors) == (3, 3, 2)
    assert by[0].r1 == pytest.approx(1 / 3) and by[0].error_rate == pytest.approx(2 / 3)
    assert by[0].mean_margin == pytest.approx(0.3)
    assert (by[1].r1, by[1].errors, by[1].error_rate, by[1].mean_margin) == (1.0, 0, 0.5, None)
    assert (by[NOISE].queries, by[NOISE].r1, by[NOISE].name) == (0, None, "noise")


def test_bad_parameters_and_shapes_are_named() -> None:
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="min_cluster_size must be at least 2"):
        find_clusters(x, ["text"] * 4, ["p"] * 4, [""] * 4, params=ClusterParams(min_cluster_size=1))
    with pytest.raises(ValueError, match="cluster on 'video'"):
        find_clusters(x, ["text"] * 4, ["p"] * 4, [""] * 4, params=ClusterParams(on="video"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"got \(4, 3\), 4, 4, 3"):
        find_clusters(x, ["text"] * 4, ["p"] * 4, [""] * 3)


def test_the_cache_returns_the_same_clusters_without_clustering_again(space, tmp_path: Path, monkeypatch) -> None:
    e = space.embedded
    params = ClusterParams(min_cluster_size=8)
    first = cached_clusters(e.embeddings, e.modality, e.pair, space.captions, params=params, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("clusters-*.npz"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("clustered again although the cache holds the answer")

    monkeypatch.setattr(clusters_module, "find_clusters", refuse)
    again = cached_clusters(e.embeddings, e.modality, e.pair, space.captions, params=params, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.labels, first.labels)
    assert again.words == first.words and again.params == params

    other = ClusterParams(min_cluster_size=9)
    assert cache_key(e.embeddings, e.modality, e.pair, space.captions, other) != cache_key(
        e.embeddings, e.modality, e.pair, space.captions, params
    )
    moved = e.embeddings.copy()
    moved[0, 0] += 1e-3
    assert cache_key(moved, e.modality, e.pair, space.captions, params) != cache_key(
        e.embeddings, e.modality, e.pair, space.captions, params
    )


def test_a_damaged_cache_file_is_recomputed(space, tmp_path: Path) -> None:
    e = space.embedded
    params = ClusterParams(min_cluster_size=8)
    first = cached_clusters(e.embeddings, e.modality, e.pair, space.captions, params=params, cache_dir=tmp_path)
    (path,) = tmp_path.glob("clusters-*.npz")
    path.write_bytes(b"not an npz file")
    again = cached_clusters(e.embeddings, e.modality, e.pair, space.captions, params=params, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.labels, first.labels)
    assert path.read_bytes()[:2] == b"PK"  # rewritten as a real .npz (a zip)
