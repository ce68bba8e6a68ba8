"""evaluate() on synthetic embeddings with a planted ground truth: errors, metrics, zero-shot, notes."""

from __future__ import annotations

import numpy as np
import pytest

from alignment.analysis.evaluate import Evaluation, evaluate, neighbours
from alignment.analysis.gap import remove_modality_gap
from alignment.analysis.metrics import retrieval_metrics
from alignment.analysis.prompts import build_prompts
from alignment.inputs.embeddings import Embedded, from_arrays

D = 32
METRIC_KEYS = {"R@1", "R@5", "R@10", "MRR", "median_rank", "mean_rank", "mAP@10", "accuracy", "n_queries"}


def basis(n: int, seed: int = 0) -> np.ndarray:
    """n orthonormal rows in D dimensions: every cosine between two of them is 0."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(D, D)))
    return q[:n].astype(np.float64)  # (n, D)


def swapped(n: int = 8, a: int = 2, b: int = 5) -> Embedded:
    """n one-to-one text/image pairs on orthonormal directions; images a and b lean towards each other's text.

    image a = 0.6 u_a + 0.8 u_b (and b the other way round), so text a scores 0.6 with its own image and 0.8 with
    image b: exactly four errors (texts a, b and images a, b), each at rank 2 with a margin of 0.2.
    """
    u = basis(n)
    images = u.copy()
    images[a], images[b] = 0.6 * u[a] + 0.8 * u[b], 0.6 * u[b] + 0.8 * u[a]
    ids = [f"t{i}" for i in range(n)] + [f"i{i}" for i in range(n)]
    return from_arrays(
        ids,
        ["text"] * n + ["image"] * n,
        [f"p{i}" for i in range(n)] * 2,
        np.concatenate([u, images]).astype(np.float32),
        source="swap",
    )


def noisy(seed: int = 1) -> Embedded:
    """A harder set: 20 images with 2 captions each plus 6 captions that match nothing, noisy directions."""
    rng = np.random.default_rng(seed)
    concepts = rng.normal(size=(20, D))
    texts = np.concatenate([np.repeat(concepts, 2, axis=0), rng.normal(size=(6, D))]) + rng.normal(size=(46, D))
    images = concepts + 1.2 * rng.normal(size=(20, D))
    text_pairs = [f"p{i}" for i in range(20) for _ in range(2)] + [f"lonely{i}" for i in range(6)]
    ids = [f"t{i}" for i in range(46)] + [f"i{i}" for i in range(20)]
    return from_arrays(
        ids,
        ["text"] * 46 + ["image"] * 20,
        text_pairs + [f"p{i}" for i in range(20)],
        np.concatenate([texts, images]).astype(np.float32),
        source="noisy",
    )


def side(data: Embedded, modality: str) -> tuple[np.ndarray, list[str]]:
    rows = data.rows(modality)  # type: ignore[arg-type]
    return data.embeddings[rows], [data.pair[i] for i in rows.tolist()]


# ---------------------------------------------------------------------------- errors


def test_errors_are_exactly_the_planted_swap() -> None:
    result = evaluate({"clip": swapped()})
    got = {(e.direction, e.query, e.truth, e.top, e.rank) for e in result.errors}
    assert got == {
        ("text->image", "t2", "i2", "i5", 2),
        ("text->image", "t5", "i5", "i2", 2),
        ("image->text", "i2", "t2", "t5", 2),
        ("image->text", "i5", "t5", "t2", 2),
    }
    for e in result.errors:
        assert e.truth_score == pytest.approx(0.6, abs=1e-5)
        assert e.top_score == pytest.approx(0.8, abs=1e-5)
        assert e.margin == pytest.approx(0.2, abs=1e-5)
        assert e.space == "clip" and e.query_modality == e.direction.split("->")[0]
        data = result.spaces["clip"]
        assert (data.ids[e.query_row], data.ids[e.truth_row], data.ids[e.top_row]) == (e.query, e.truth, e.top)
    assert result.to_json()["n_errors"] == 4
    assert result.directions["text->image"].metrics.r1 == pytest.approx(6 / 8)
    assert result.directions["text->image"].metrics.mrr == pytest.approx((6 + 2 * 0.5) / 8)
    # the Hungarian assignment prefers the swap (0.8 + 0.8 > 0.6 + 0.6): the same two queries are wrong
    assert result.to_json()["assignment_accuracy"] == {"text->image": 0.75, "image->text": 0.75}
    first = next(e for e in result.errors if e.direction == "text->image" and e.query == "t2")
    assert neighbours(result, first, k=2) == [
        ("i5", pytest.approx(0.8, abs=1e-5), False),
        ("i2", pytest.approx(0.6, abs=1e-5), True),
    ]


def test_perfect_alignment_has_no_errors() -> None:
    u = basis(6).astype(np.float32)
    data = from_arrays(
        [f"t{i}" for i in range(6)] + [f"a{i}" for i in range(6)],
        ["text"] * 6 + ["audio"] * 6,
        [str(i) for i in range(6)] * 2,
        np.concatenate([u, u]),
    )
    result = evaluate({"clap": data})
    assert result.errors == []
    assert set(result.directions) == {"text->audio", "audio->text"}
    for d in result.directions.values():
        assert (d.metrics.r1, d.metrics.mrr, d.metrics.map10, d.metrics.median_rank) == (1.0, 1.0, 1.0, 1.0)
    assert result.pairs["text-audio"].gap == pytest.approx(0.0, abs=1e-6)
    assert result.pairs["text-audio"].threshold.best_f1 == pytest.approx(1.0)


# ---------------------------------------------------------------------------- metrics


def test_metrics_equal_retrieval_metrics_called_directly() -> None:
    data = noisy()
    result = evaluate({"s": data})
    texts, text_keys = side(data, "text")
    images, image_keys = side(data, "image")
    assert result.directions["text->image"].metrics == retrieval_metrics(texts, images, text_keys, image_keys)
    assert result.directions["image->text"].metrics == retrieval_metrics(images, texts, image_keys, text_keys)
    centred_t, centred_i = remove_modality_gap(texts, images)
    assert result.directions["text->image"].metrics_without_gap == retrieval_metrics(
        centred_t, centred_i, text_keys, image_keys
    )
    # the 6 lonely captions have no image: skipped as queries, counted as distractors
    assert result.directions["text->image"].metrics.n_skipped == 6
    assert result.directions["text->image"].metrics.n_queries == 40
    # and against a brute-force rank: 1 + gallery items scoring strictly higher than the best true match
    scores = images @ texts.T  # (20, 46)
    truth = np.array(image_keys)[:, None] == np.array(text_keys)[None, :]
    best = np.where(truth, scores, -np.inf).max(axis=1)
    ranks = 1 + (scores > best[:, None]).sum(axis=1)
    assert result.directions["image->text"].ranks.rank.tolist() == ranks.tolist()
    assert result.directions["image->text"].metrics.r1 == pytest.approx(float(np.mean(ranks == 1)))


def test_to_json_blocks() -> None:
    out = evaluate({"s": noisy()}).to_json()
    for name in ("text->image", "image->text"):
        assert set(out[name]) == METRIC_KEYS | {"n_skipped", "space"}
    assert set(out["modality_gap"]["text-image"]["after_removal"]) == {"text->image", "image->text"}
    assert set(out["hubness"]) == {"text->image", "image->text"}
    assert out["threshold"]["text-image"]["n_positive"] == 40
    assert out["threshold"]["text-image"]["exact"] is True
    assert "zero_shot" not in out  # no labels


# ---------------------------------------------------------------------------- zero-shot


CLASSES = ("car", "cat", "dog")


def labelled(labels: list[str], leaning: list[str]) -> tuple[Embedded, dict[str, np.ndarray]]:
    """One image per label, each placed on the class direction of `leaning` (plus its own pair direction)."""
    n = len(labels)
    u = basis(n + len(CLASSES))
    class_vectors = {c: u[n + k] for k, c in enumerate(CLASSES)}
    images = np.stack([u[i] + 2 * class_vectors[leaning[i]] for i in range(n)])
    data = from_arrays(
        [f"t{i}" for i in range(n)] + [f"i{i}" for i in range(n)],
        ["text"] * n + ["image"] * n,
        [str(i) for i in range(n)] * 2,
        np.concatenate([u[:n], images]).astype(np.float32),
        label=[""] * n + labels,
    )
    return data, class_vectors


def test_zero_shot_with_a_fake_text_embedder() -> None:
    labels = ["cat", "cat", "dog", "dog", "car", "dog"]
    leaning = ["cat", "cat", "dog", "cat", "car", "car"]  # two dogs are planted to look like a cat and a car
    data, class_vectors = labelled(labels, leaning)
    seen: list[list[str]] = []

    def embed_text(prompts: list[str]) -> np.ndarray:
        seen.append(prompts)
        names = [next(c for c in CLASSES if f" {c}" in p) for p in prompts]
        return np.stack([class_vectors[c] for c in names]).astype(np.float32)

    templates = {"image": ("a photo of a {}.", "a {} in the picture")}
    result = evaluate({"clip": data}, embed_text={"clip": embed_text}, templates=templates)
    assert seen == [build_prompts(CLASSES, templates["image"])]  # class-major, sorted classes
    shot = result.zero_shot["image"]
    assert shot.classes == CLASSES
    # rows = true (car, cat, dog), columns = predicted
    assert shot.confusion.tolist() == [[1, 0, 0], [0, 2, 0], [1, 1, 1]]
    assert shot.accuracy == pytest.approx(4 / 6)
    assert result.to_json()["zero_shot"]["image"] == {
        "accuracy": pytest.approx(4 / 6),
        "classes": list(CLASSES),
        "confusion": [[1, 0, 0], [0, 2, 0], [1, 1, 1]],
        "n_items": 6,
    }


def test_precomputed_space_without_text_embedder_notes_the_skipped_zero_shot() -> None:
    data, _ = labelled(["cat", "dog", "car"], ["cat", "dog", "car"])
    result = evaluate({"precomputed": data})
    assert result.zero_shot == {}
    assert "zero_shot" not in result.to_json()
    expected = "zero-shot image: skipped, no text encoder for the precomputed space"
    assert any(n.startswith(expected) for n in result.notes)


def test_single_class_is_noted() -> None:
    data, _ = labelled(["cat", "cat"], ["cat", "cat"])
    result = evaluate({"clip": data}, embed_text={"clip": lambda prompts: np.zeros((len(prompts), D))})
    assert result.zero_shot == {}
    assert any("only one class ('cat')" in n for n in result.notes)


# ---------------------------------------------------------------------------- limits and edge cases


def test_above_max_assignment_the_sparse_matching_takes_over() -> None:
    """Beyond the Hungarian limit the k-NN graph's matching is used; here the graph (top 10 of 8) holds every
    pair, so it is certified optimal and equals the Hungarian answer of test_errors_are_exactly_the_planted_swap.
    (Before the one-pass evaluation this case was skipped with a note: the assignment was None.)"""
    result = evaluate({"clip": swapped()}, max_assignment=5)
    for d in result.directions.values():
        assert d.assignment is not None and d.assignment.method == "sparse"
        assert d.assignment.certified and d.assignment.gap_bound == 0.0 and d.assignment_note is None
    assert result.to_json()["assignment_accuracy"] == {"text->image": 0.75, "image->text": 0.75}


def test_one_item_in_a_modality_skips_gap_removal_with_a_note() -> None:
    """One clip with five captions (a one-row Clotho manifest) is a valid dataset: centering it is impossible."""
    rng = np.random.default_rng(3)
    data = from_arrays(
        [f"t{i}" for i in range(5)] + ["clip"],
        ["text"] * 5 + ["audio"],
        ["k"] * 6,
        rng.normal(size=(6, D)).astype(np.float32),
    )
    result = evaluate({"clap": data})
    assert result.directions["audio->text"].metrics.r1 == 1.0  # every caption is a true match
    assert result.directions["text->audio"].metrics_without_gap is None
    assert result.to_json()["modality_gap"]["text-audio"]["after_removal"] == {"text->audio": None, "audio->text": None}
    assert any(n.startswith("text-audio: metrics without the modality gap skipped") for n in result.notes)


def test_same_pair_in_two_spaces_gets_the_space_prefix() -> None:
    result = evaluate({"a": swapped(), "b": swapped()})
    assert set(result.directions) == {"text->image", "image->text", "b:text->image", "b:image->text"}
    assert set(result.pairs) == {"text-image", "b:text-image"}
    assert sum(e.space == "b" for e in result.errors) == 4


def test_nothing_to_evaluate_raises() -> None:
    data = from_arrays(["t", "i"], ["text", "image"], ["x", "y"], np.eye(2, dtype=np.float32), require_pairs=False)
    with pytest.raises(ValueError, match="no modality pair shares a pair key"):
        evaluate({"s": data})


def test_progress_is_reported_to_the_end() -> None:
    calls: list[tuple[float, str]] = []
    result = evaluate({"s": swapped()}, progress=lambda f, m: calls.append((f, m)))
    assert isinstance(result, Evaluation)
    assert calls[0][0] == 0.0 and calls[-1] == (1.0, "Done")
    assert [f for f, _ in calls] == sorted(f for f, _ in calls)
