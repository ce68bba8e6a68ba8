"""A comparison's spaces as projection points: rows, pair keys, outcomes against the known captions, error keys,
the colourings offered, and the partner a click explains a point with."""

from __future__ import annotations

import numpy as np
import pytest

from alignment.analysis.comparison import Comparison
from alignment.analysis.similarity import Scores, best_matches
from alignment.inputs.items import Item
from alignment.store.entries import error_key
from alignment.views.compare_points import best_counterpart, compared_points, compared_space
from alignment.views.points import colour_options, colouring
from alignment.views.selection import selection_stats


def unit(*rows: list[float]) -> np.ndarray:
    x = np.asarray(rows, np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def item(id: str, modality: str, payload: object = None) -> Item:
    return Item(id, modality, payload, "0" * 64, id, path=None)  # type: ignore[arg-type]


@pytest.fixture
def comparison() -> Comparison:
    """Two captions, two images (a.png is nearest its own caption, b.png is nearest a's), one sound (nearest the
    second caption in CLAP space)."""
    texts = [item("a dog", "text", "a dog"), item("a cat", "text", "a cat")]
    images = [item("a.png", "image"), item("b.png", "image")]
    audio = [item("s.wav", "audio")]
    clip_text = unit([1, 0, 0], [0, 1, 0])
    clip_image = unit([0.9, 0.1, 0.1], [0.8, 0.3, 0.2])  # b.png (truth "a cat") is closer to "a dog": an error
    clap_text = unit([1, 0], [0, 1])
    clap_audio = unit([0.2, 1.0])
    ti = Scores.between(["a dog", "a cat"], clip_text, ["a.png", "b.png"], clip_image, 100.0)
    ta = Scores.between(["a dog", "a cat"], clap_text, ["s.wav"], clap_audio, 100.0)
    return Comparison(
        texts,
        images,
        audio,
        clip_text,
        clip_image,
        clap_text,
        clap_audio,
        ti,
        ta,
        best_matches(ti, "text", "image") + best_matches(ta, "text", "audio"),
        [],
        [],
    )


CAPTIONS = {"a.png": "a dog", "b.png": "a cat", "s.wav": "a cat"}


def test_each_space_holds_the_texts_then_its_media(comparison) -> None:
    clip, clap = compared_space(comparison, "clip"), compared_space(comparison, "clap")
    assert [i.id for i in clip.items] == ["a dog", "a cat", "a.png", "b.png"]
    assert [i.id for i in clap.items] == ["a dog", "a cat", "s.wav"]
    np.testing.assert_array_equal(clip.embeddings, np.concatenate([comparison.clip_text, comparison.clip_image]))
    bridged = unit([0.1, 0.9, 0.0])
    one = compared_space(comparison, "one", bridged_audio=bridged)
    assert [i.modality for i in one.items] == ["text", "text", "image", "image", "audio"]
    np.testing.assert_array_equal(one.embeddings[-1], bridged[0])
    with pytest.raises(ValueError, match="1 sounds mapped into CLIP space"):
        compared_space(comparison, "one")
    with pytest.raises(ValueError, match="space 'nowhere'"):
        compared_space(comparison, "nowhere")  # type: ignore[arg-type]


def test_known_captions_give_outcomes_pairs_and_error_keys(comparison) -> None:
    space = compared_space(comparison, "clip")
    points = compared_points(space, np.zeros((4, 2)), captions=CAPTIONS, method="pca")
    assert points.pair == ("a dog", "a cat", "a dog", "a cat")  # each image grouped with its caption
    o = points.outcomes
    asked = {
        (o.directions[d], points.ids[r]): (int(k), float(m))
        for r, d, k, m in zip(o.rows, o.direction, o.rank, o.margin, strict=True)
    }
    x = space.embeddings
    # b.png -> text: its caption "a cat" scores below "a dog": rank 2, margin = dog - cat
    assert asked[("image->text", "b.png")][0] == 2
    assert asked[("image->text", "b.png")][1] == pytest.approx(float(x[3] @ x[0] - x[3] @ x[1]), abs=1e-6)
    assert asked[("image->text", "a.png")][0] == 1
    # text -> image: "a dog" finds a.png first (right); "a cat" finds b.png above a.png? cat·b > cat·a: right
    assert asked[("text->image", "a dog")][0] == 1
    assert asked[("text->image", "a cat")][0] == (1 if x[1] @ x[3] > x[1] @ x[2] else 2)
    assert points.error_keys[3] == (error_key("image->text", "b.png"),)
    assert points.involved[[0, 1, 3]].all()  # b.png, its caption and the caption that beat it
    assert points.outcome[3] == 2 and points.outcome[2] == 1
    stats = selection_stats(points, np.array([2, 3]))
    assert (stats.queries, stats.errors, stats.r1) == (2, 1, 0.5)
    assert "outcome" in colour_options(points) and "margin" in colour_options(points)
    words = colouring(points, "outcome")
    assert words.categories[words.codes[3]] == "error"


def test_without_captions_the_points_have_no_outcomes_and_only_modality_colours(comparison) -> None:
    points = compared_points(compared_space(comparison, "clap"), np.ones((3, 2)))
    assert len(points.outcomes.rows) == 0 and not points.involved.any()
    assert points.pair == points.ids
    assert colour_options(points) == ["modality"]
    assert selection_stats(points, np.arange(3)).r1 is None


def test_a_caption_missing_from_the_texts_is_no_truth(comparison) -> None:
    points = compared_points(compared_space(comparison, "clip"), np.zeros((4, 2)), captions={"a.png": "a horse"})
    assert len(points.outcomes.rows) == 0 and points.pair[2] == "a.png"


def test_bad_coordinates_are_refused(comparison) -> None:
    space = compared_space(comparison, "clip")
    with pytest.raises(ValueError, match=r"must be \(4, 2\)"):
        compared_points(space, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        compared_points(space, np.full((4, 2), np.nan))


def test_a_click_is_explained_with_the_closest_partner(comparison) -> None:
    space = compared_space(comparison, "clip")
    modality = [i.modality for i in space.items]
    assert best_counterpart(modality, space.embeddings, 3) == 0  # b.png's closest text is "a dog"
    assert best_counterpart(modality, space.embeddings, 1) == int(
        2 + np.argmax(space.embeddings[2:] @ space.embeddings[1])
    )
    assert best_counterpart(["text", "text"], unit([1, 0], [0, 1]), 0) is None  # nothing to pair a text with
    with pytest.raises(ValueError, match="outside"):
        best_counterpart(modality, space.embeddings, 9)
