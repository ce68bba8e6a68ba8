"""Retrieval metrics and zero-shot classification: hand-computed cases and sklearn / brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    label_ranking_average_precision_score,
    top_k_accuracy_score,
)

from alignment.analysis.metrics import (
    RetrievalMetrics,
    average_precision_at,
    bidirectional_retrieval,
    class_embeddings,
    metrics_from_ranks,
    retrieval_metrics,
    zero_shot,
)
from alignment.analysis.prompts import TEMPLATES, build_prompts
from alignment.analysis.topk import rank_of_first_true


def quantized_unit(x: np.ndarray, *, step: float = 2.0**-11) -> np.ndarray:
    """Normalize rows and round them to a 2**-11 grid: dot products are then exact in float32 and float64 alike."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (np.round(x / step) * step).astype(np.float32)


@pytest.fixture(scope="module")
def clotho_like() -> dict:
    """60 clips with 5 captions each around a shared latent (captions noisier), like Clotho's 5 captions per clip."""
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((60, 32))
    audio = quantized_unit(latent + 0.6 * rng.standard_normal((60, 32)))
    text = quantized_unit(np.repeat(latent, 5, axis=0) + 0.9 * rng.standard_normal((300, 32)))
    audio_keys = [f"clip{i}" for i in range(60)]
    text_keys = [f"clip{i}" for i in np.repeat(np.arange(60), 5)]
    return {"audio": audio, "text": text, "audio_keys": audio_keys, "text_keys": text_keys}


def exact_scores(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    return q.astype(np.float64) @ g.T.astype(np.float64)  # (Nq, Ng) full matrix, the reference


def truth(qp: list[str], gp: list[str]) -> np.ndarray:
    return np.asarray(qp)[:, None] == np.asarray(gp)[None, :]  # (Nq, Ng) bool


def brute_ap10(scores: np.ndarray, is_true: np.ndarray) -> np.ndarray:
    """AP@10 straight from the definition, one query at a time over the full sort (no ties in the data used)."""
    out = []
    for s, t in zip(scores, is_true, strict=True):
        ranked = t[np.argsort(-s, kind="stable")][:10]
        hits, total = 0, 0.0
        for i, rel in enumerate(ranked, start=1):
            if rel:
                hits += 1
                total += hits / i  # P@i at a relevant position
        out.append(total / min(10, t.sum()))
    return np.array(out)


# ---------------------------------------------------------------------------- hand-computed


# Gallery = 4 basis vectors, so each query row *is* its row of the score matrix:
#              g0 "x"  g1 "y"  g2 "x"  g3 "z"
#   q0 "x"     0.5     0.7     0.5     0.1    ranked g1, {g0, g2} tied (both true), g3 -> rank 2
#   q1 "y"     0.0     0.8     0.6     0.0    ranked g1 first                         -> rank 1
#   q2 "z"     0.1     0.7     0.5    -0.5    g3 last                                 -> rank 4
#   q3 "w"     0.5     0.5     0.5     0.5    no gallery item has key "w"             -> skipped
# R@1 = 1/3, R@5 = R@10 = 1, MRR = (1/2 + 1 + 1/4) / 3 = 7/12, ranks (2, 1, 4): median 2, mean 7/3.
# AP@10: q0 has 2 true matches, at positions 2 and 3: (1/min(10, 2)) * (1/2 + 2/3) = 7/12
#        q1: 1 true match at position 1: 1;  q2: 1 true match at position 4: 1/4
#        mAP@10 = (7/12 + 1 + 1/4) / 3 = 11/18
HAND_QUERIES = np.array(
    [[0.5, 0.7, 0.5, 0.1], [0.0, 0.8, 0.6, 0.0], [0.1, 0.7, 0.5, -0.5], [0.5, 0.5, 0.5, 0.5]], dtype=np.float32
)
HAND_QUERY_KEYS = ["x", "y", "z", "w"]
HAND_GALLERY_KEYS = ["x", "y", "x", "z"]


def test_retrieval_hand_case() -> None:
    m = retrieval_metrics(HAND_QUERIES, np.eye(4, dtype=np.float32), HAND_QUERY_KEYS, HAND_GALLERY_KEYS)
    assert isinstance(m, RetrievalMetrics)
    assert m.r1 == pytest.approx(1 / 3)
    assert m.r5 == m.r10 == 1.0
    assert m.mrr == pytest.approx(7 / 12)
    assert m.median_rank == 2.0
    assert m.mean_rank == pytest.approx(7 / 3)
    assert m.map10 == pytest.approx(11 / 18)
    assert m.accuracy == m.r1
    assert (m.n_queries, m.n_skipped) == (3, 1)


def test_to_json_keys() -> None:
    m = retrieval_metrics(HAND_QUERIES, np.eye(4, dtype=np.float32), HAND_QUERY_KEYS, HAND_GALLERY_KEYS)
    out = m.to_json()
    assert list(out) == ["R@1", "R@5", "R@10", "MRR", "median_rank", "mean_rank", "mAP@10", "accuracy", "n_queries"]
    assert out["MRR"] == pytest.approx(7 / 12) and out["n_queries"] == 3
    assert all(type(v) in (float, int) for v in out.values())


def test_average_precision_normalisation() -> None:
    t, f = True, False
    is_true = np.array(
        [
            [t, f, t, f, f, f, f, f, f, f],  # 2 true in gallery: (1/1 + 2/3) / 2
            [t] * 10,  # 12 true in gallery, the top 10 all true: 10 / min(10, 12) = 1
            [f, t, f, f, f, f, f, f, f, f],  # 3 true in gallery, only one found: (1/2) / 3
            [f] * 10,
        ]
    )  # none in the top 10
    ap = average_precision_at(is_true, np.array([2, 12, 3, 4]))
    np.testing.assert_allclose(ap, [(1 + 2 / 3) / 2, 1.0, 0.5 / 3, 0.0])
    assert np.isnan(average_precision_at(is_true[:1], np.array([0])))[0]


def test_no_true_match_anywhere_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"0 of 2 queries"):
        retrieval_metrics(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), ["a", "b"], ["c", "d"])


# ---------------------------------------------------------------------------- against references


def test_one_true_match_per_query_against_sklearn(clotho_like: dict) -> None:
    # text -> audio: each caption has exactly one true clip, so R@K is sklearn's top-k accuracy with the clip as
    # the class, and MRR is sklearn's label ranking average precision
    d = clotho_like
    scores = exact_scores(d["text"], d["audio"])
    y_true = np.repeat(np.arange(60), 5)
    best = scores[np.arange(300), y_true]
    assert ((scores == best[:, None]).sum(axis=1) == 1).all(), "references assume no ties with the true clip"
    m = retrieval_metrics(d["text"], d["audio"], d["text_keys"], d["audio_keys"], chunk=17)
    labels = np.arange(60)
    assert m.r1 == pytest.approx(top_k_accuracy_score(y_true, scores, k=1, labels=labels))
    assert m.r5 == pytest.approx(top_k_accuracy_score(y_true, scores, k=5, labels=labels))
    assert m.r10 == pytest.approx(top_k_accuracy_score(y_true, scores, k=10, labels=labels))
    assert m.mrr == pytest.approx(label_ranking_average_precision_score(truth(d["text_keys"], d["audio_keys"]), scores))
    assert m.accuracy == pytest.approx(accuracy_score(y_true, scores.argmax(axis=1)))
    assert 0.05 < m.r1 < 0.95, "the fixture should be neither trivial nor hopeless"
    rank = 1 + (scores > best[:, None]).sum(axis=1)
    assert m.median_rank == np.median(rank) and m.mean_rank == pytest.approx(rank.mean())
    assert m.map10 == pytest.approx(np.mean(np.where(rank <= 10, 1 / rank, 0.0)))


def test_several_true_matches_against_references(clotho_like: dict) -> None:
    # audio -> text: 5 true captions per clip
    d = clotho_like
    scores = exact_scores(d["audio"], d["text"])
    is_true = truth(d["audio_keys"], d["text_keys"])
    ranks = rank_of_first_true(d["audio"], d["text"], d["audio_keys"], d["text_keys"], chunk=7)
    m = metrics_from_ranks(ranks)
    ap = average_precision_at(ranks.top_is_true, ranks.n_true)
    np.testing.assert_allclose(ap, brute_ap10(scores, is_true))
    assert m.map10 == pytest.approx(brute_ap10(scores, is_true).mean())
    # where all 5 captions are in the top 10, AP@10 is plain AP: check those against sklearn
    last_true = np.array([np.flatnonzero(t[np.argsort(-s)]).max() + 1 for s, t in zip(scores, is_true, strict=True)])
    full = last_true <= 10
    assert full.sum() >= 5, "need some queries with all their captions in the top 10"
    sk_ap = [average_precision_score(t, s) for s, t in zip(scores[full], is_true[full], strict=True)]
    np.testing.assert_allclose(ap[full], sk_ap)
    first = 1 + (scores > np.where(is_true, scores, -np.inf).max(axis=1, keepdims=True)).sum(axis=1)
    assert m.r1 == pytest.approx(np.mean(first == 1)) and m.r5 == pytest.approx(np.mean(first <= 5))
    assert m.mrr == pytest.approx(np.mean(1 / first)) and m.median_rank == np.median(first)


def test_bidirectional(clotho_like: dict) -> None:
    d = clotho_like
    both = bidirectional_retrieval(d["text"], d["audio"], d["text_keys"], d["audio_keys"], names=("text", "audio"))
    assert list(both) == ["text->audio", "audio->text"]
    assert both["text->audio"] == retrieval_metrics(d["text"], d["audio"], d["text_keys"], d["audio_keys"])
    assert both["audio->text"] == retrieval_metrics(d["audio"], d["text"], d["audio_keys"], d["text_keys"])
    assert both["text->audio"].n_queries == 300 and both["audio->text"].n_queries == 60
    with pytest.raises(ValueError, match=r"different names"):
        bidirectional_retrieval(d["text"], d["audio"], d["text_keys"], d["audio_keys"], names=("x", "x"))


def test_metrics_do_not_depend_on_chunk(clotho_like: dict) -> None:
    d = clotho_like
    runs = [retrieval_metrics(d["audio"], d["text"], d["audio_keys"], d["text_keys"], chunk=c) for c in (1, 13, None)]
    assert runs[0] == runs[1] == runs[2]


# ---------------------------------------------------------------------------- zero-shot


def test_build_prompts() -> None:
    assert build_prompts(["dog", "rain"], ["a photo of a {}.", "the sound of a {}."]) == [
        "a photo of a dog.",
        "the sound of a dog.",
        "a photo of a rain.",
        "the sound of a rain.",
    ]
    assert build_prompts(["cat"], TEMPLATES["image"]) == ["a photo of a cat."]
    with pytest.raises(ValueError, match=r"no braces"):
        build_prompts(["cat"], ["no braces"])
    with pytest.raises(ValueError, match=r"at least one class"):
        build_prompts([], ["{}"])


def test_zero_shot_hand_case() -> None:
    prompts = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)  # "cat", "dog"
    items = np.array(
        [
            [0.8, 0.6, 0.0],  # cat, predicted cat
            [0.6, 0.8, 0.0],  # cat, predicted dog
            [0.0, 1.0, 0.0],  # dog, predicted dog
            [0.0, 0.0, 1.0],
        ],
        dtype=np.float32,
    )  # "bird": not a class, skipped (ties -> class 0)
    z = zero_shot(items, ["cat", "cat", "dog", "bird"], ["cat", "dog"], prompts)
    assert z.accuracy == pytest.approx(2 / 3)
    np.testing.assert_array_equal(z.confusion, [[1, 1], [0, 1]])  # rows true, columns predicted
    np.testing.assert_array_equal(z.predicted, [0, 1, 1, 0])
    np.testing.assert_allclose(z.per_class_recall, [0.5, 1.0])
    assert (z.n_items, z.n_skipped, z.classes) == (3, 1, ("cat", "dog"))


def test_zero_shot_against_sklearn() -> None:
    rng = np.random.default_rng(5)
    classes = [f"class{i}" for i in range(6)]
    centers = rng.standard_normal((6, 24))
    y = rng.integers(0, 6, 200)
    items = quantized_unit(centers[y] + 1.5 * rng.standard_normal((200, 24)))
    prompts = quantized_unit(centers + 0.3 * rng.standard_normal((6, 24)))
    z = zero_shot(items, [classes[i] for i in y], classes, prompts)
    y_pred = exact_scores(items, prompts).argmax(axis=1)
    assert z.accuracy == pytest.approx(accuracy_score(y, y_pred))
    np.testing.assert_array_equal(z.confusion, confusion_matrix(y, y_pred, labels=np.arange(6)))
    assert 0.3 < z.accuracy < 1.0


def test_zero_shot_averages_templates() -> None:
    rng = np.random.default_rng(6)
    per_template = quantized_unit(rng.standard_normal((3 * 4, 16))).reshape(3, 4, 16)  # (C, T, D)
    mean = per_template.astype(np.float64).mean(axis=1)
    expected = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    np.testing.assert_allclose(class_embeddings(per_template.reshape(12, 16), 3), expected, atol=1e-6)
    items = quantized_unit(rng.standard_normal((30, 16)))
    labels = [["a", "b", "c"][i] for i in rng.integers(0, 3, 30)]
    averaged = zero_shot(items, labels, ["a", "b", "c"], per_template)
    direct = zero_shot(items, labels, ["a", "b", "c"], expected.astype(np.float32))
    np.testing.assert_array_equal(averaged.confusion, direct.confusion)
    with pytest.raises(ValueError, match=r"got 12 rows for 5 classes"):
        class_embeddings(per_template.reshape(12, 16), 5)


def test_zero_shot_rejects_bad_input() -> None:
    prompts = np.eye(2, 3, dtype=np.float32)
    items = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"got 2 embeddings for classes \['a', 'b', 'c'\]"):
        zero_shot(items, ["a", "b", "c"], ["a", "b", "c"], prompts)
    with pytest.raises(ValueError, match=r"got 2 labels for 3 items"):
        zero_shot(items, ["a", "b"], ["a", "b"], prompts)
    with pytest.raises(ValueError, match=r"no item has a label among the classes"):
        zero_shot(items, ["x", "y", None], ["a", "b"], prompts)
