"""The compare pipeline on the bundled examples: shapes, probabilities, consistency, JSON, problems, and the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT

from alignment.analysis.compare import Comparison, compare
from alignment.models.cache import EmbeddingCache
from alignment.models.encoders import Encoders

ASSETS = ROOT / "assets"


@pytest.fixture(scope="module")
def example() -> dict:
    """The first example set of the app (14 texts, 6 photos, 6 sounds), with absolute paths."""
    first = json.loads((ASSETS / "examples.json").read_text(encoding="utf-8"))[0]
    return {
        "texts": first["texts"],
        "images": [ASSETS / p for p in first["images"]],
        "audio": [ASSETS / p for p in first["audio"]],
    }


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compare-cache")


@pytest.fixture(scope="module")
def result(encoders: Encoders, example: dict, cache_dir: Path) -> Comparison:
    return compare(encoders, example["texts"], example["images"], example["audio"], cache=EmbeddingCache(cache_dir))


def test_shapes_and_ids(result: Comparison, example: dict, encoders: Encoders) -> None:
    t, i, a = (len(example[k]) for k in ("texts", "images", "audio"))
    assert (len(result.texts), len(result.images), len(result.audio)) == (t, i, a)
    assert result.clip_text.shape == (t, encoders.clip.dim) and result.clip_image.shape == (i, encoders.clip.dim)
    assert result.clap_text.shape == (t, encoders.clap.dim) and result.clap_audio.shape == (a, encoders.clap.dim)
    for scores, cols in ((result.text_image, i), (result.text_audio, a)):
        assert scores.cosine.shape == scores.probability.shape == (t, cols)
        assert scores.cosine.dtype == scores.probability.dtype == np.float32
    assert result.text_image.rows == [x.id for x in result.texts] == example["texts"]
    assert result.text_image.cols == [p.name for p in example["images"]]
    assert result.text_audio.cols == [p.name for p in example["audio"]]
    assert result.problems == [] and result.notes == []
    assert set(result.models) >= {"clip", "clap", "device"}


def test_embeddings_are_unit_norm(result: Comparison) -> None:
    for emb in (result.clip_text, result.clip_image, result.clap_text, result.clap_audio):
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_cosine_is_the_dot_product_of_the_returned_embeddings(result: Comparison) -> None:
    np.testing.assert_allclose(result.text_image.cosine, result.clip_text @ result.clip_image.T, atol=1e-6)
    np.testing.assert_allclose(result.text_audio.cosine, result.clap_text @ result.clap_audio.T, atol=1e-6)
    assert np.all(np.abs(result.text_image.cosine) <= 1 + 1e-6)


def test_probability_columns_are_the_models_softmax_over_texts(result: Comparison, encoders: Encoders) -> None:
    for scores, scale in (
        (result.text_image, encoders.clip.logit_scale),
        (result.text_audio, encoders.clap.logit_scale),
    ):
        np.testing.assert_allclose(scores.probability.sum(axis=0), 1.0, atol=1e-5)
        assert scores.probability.min() >= 0 and scores.logit_scale == scale
        reference = torch.softmax(scale * torch.from_numpy(scores.cosine).double(), dim=0).numpy()
        np.testing.assert_allclose(scores.probability, reference, atol=1e-6)


def test_best_matches_are_the_argmax_in_both_directions(result: Comparison) -> None:
    t, i, a = len(result.texts), len(result.images), len(result.audio)
    assert len(result.matches) == (t + i) + (t + a)
    for m in result.matches:
        scores = result.text_image if "image" in (m.query_modality, m.target_modality) else result.text_audio
        if m.query_modality == "text":
            candidates = scores.cosine[scores.rows.index(m.query)]  # (M,) over images or clips
            targets, probabilities = scores.cols, None
        else:
            column = scores.cols.index(m.query)
            candidates, targets, probabilities = scores.cosine[:, column], scores.rows, scores.probability[:, column]
        best = int(candidates.argmax())
        assert m.best == targets[best]
        assert m.cosine == pytest.approx(float(candidates[best]))
        assert m.margin == pytest.approx(float(candidates[best] - np.sort(candidates)[-2]))
        if probabilities is None:
            assert m.probability is None
        else:
            assert m.probability == pytest.approx(float(probabilities[best]))


def test_to_json_is_plain_and_consistent(result: Comparison) -> None:
    data = json.loads(json.dumps(result.to_json()))
    assert data["ids"]["text"] == result.text_image.rows
    assert np.array(data["text_image"]["cosine"]).shape == result.text_image.cosine.shape
    np.testing.assert_allclose(data["text_audio"]["probability"], result.text_audio.probability, atol=1e-6)
    assert len(data["best_matches"]) == len(result.matches)
    assert set(data["cache"]) == {"clip_text", "clip_image", "clap_text", "clap_audio"}
    assert data["problems"] == [] and data["notes"] == []


def test_second_compare_is_served_from_the_cache(
    encoders: Encoders, example: dict, cache_dir: Path, result: Comparison, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("forward pass on a fully cached compare")

    for encoder in (encoders.clip, encoders.clap):
        for name in ("forward_text", "forward_image", "forward_audio"):
            if hasattr(encoder, name):
                monkeypatch.setattr(encoder, name, boom)
    again = compare(encoders, example["texts"], example["images"], example["audio"], cache=EmbeddingCache(cache_dir))
    assert {k: (s.hits, s.computed) for k, s in again.stats.items()} == {
        "clip_text": (14, 0),
        "clip_image": (6, 0),
        "clap_text": (14, 0),
        "clap_audio": (6, 0),
    }
    np.testing.assert_array_equal(again.text_audio.cosine, result.text_audio.cosine)


def test_a_bad_file_among_good_ones_is_a_problem_and_the_rest_compare(
    encoders: Encoders, example: dict, tmp_path: Path, cache_dir: Path
) -> None:
    broken_image = tmp_path / "broken photo.jpg"
    broken_image.write_bytes(b"not a jpeg at all")
    broken_sound = tmp_path / "broken sound.wav"
    broken_sound.write_bytes(b"not a wav either")
    images = [example["images"][0], broken_image, example["images"][1]]
    audio = [broken_sound, example["audio"][2]]
    out = compare(encoders, ["a cat", "", "x" * 3_000], images, audio, cache=EmbeddingCache(cache_dir))
    assert [i.id for i in out.images] == [example["images"][0].name, example["images"][1].name]
    assert [a.id for a in out.audio] == [example["audio"][2].name]
    assert [t.id for t in out.texts] == ["a cat"]
    assert len(out.problems) == 3
    assert any(p.startswith("broken photo.jpg: ") for p in out.problems)
    assert any(p.startswith("broken sound.wav: ") for p in out.problems)
    assert any(p.startswith("text 3: 3000 characters") for p in out.problems)
    assert out.text_image.cosine.shape == (1, 2) and out.text_audio.cosine.shape == (1, 1)
    assert json.loads(json.dumps(out.to_json()))["problems"] == out.problems


def test_one_modality_alone_compares(encoders: Encoders, example: dict) -> None:
    images_only = compare(encoders, images=example["images"][:2])
    assert images_only.text_image.cosine.shape == (0, 2) and images_only.matches == []
    texts_only = compare(encoders, ["a cat", "a dog"])
    assert texts_only.text_audio.cosine.shape == (2, 0) and texts_only.clap_text.shape == (2, encoders.clap.dim)
    json.dumps(texts_only.to_json())


def test_nothing_to_compare_is_a_clear_value_error(encoders: Encoders, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to compare: give at least one text, image or audio file"):
        compare(encoders)
    with pytest.raises(ValueError, match="nothing to compare"):
        compare(encoders, ["", "   "])
    bad = tmp_path / "junk.png"
    bad.write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"1 input\(s\) were refused: junk.png: not a readable image"):
        compare(encoders, images=[bad])


def test_progress_is_reported_in_order(encoders: Encoders) -> None:
    seen: list[tuple[float, str]] = []
    compare(encoders, ["a cat"], progress=lambda fraction, message: seen.append((fraction, message)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in seen)


def test_a_warm_compare_decodes_nothing_and_gives_the_same_embeddings(
    encoders: Encoders, example: dict, cache_dir: Path, result: Comparison, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files whose embeddings are cached are hashed and header-checked, never decoded (issue: warm comparisons)."""
    from alignment.inputs.decoder import Decoder

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached file was decoded")

    monkeypatch.setattr(Decoder, "decode", no_decoding)
    warm = compare(encoders, example["texts"], example["images"], example["audio"], cache=EmbeddingCache(cache_dir))
    assert all(i.payload is None and Path(i.path).is_file() for i in warm.images + warm.audio)  # type: ignore[arg-type]
    for name in ("clip_image", "clap_audio", "clip_text", "clap_text"):
        np.testing.assert_array_equal(getattr(warm, name), getattr(result, name))
    assert warm.problems == [] and sum(s.computed for s in warm.stats.values()) == 0


def test_a_warm_compare_still_applies_the_limits(encoders: Encoders, example: dict, cache_dir: Path, result) -> None:
    """A cached file over a limit set for this request is refused from its header, like an uncached one."""
    from alignment.inputs.limits import Limits

    small = Limits(max_image_pixels=100, max_audio_seconds=1.0)
    warm = compare(
        encoders, ["a cat"], example["images"][:1], example["audio"][:1], cache=EmbeddingCache(cache_dir), limits=small
    )
    assert [p.split(":")[0] for p in warm.problems] == [example["images"][0].name, example["audio"][0].name]
    assert "over the limit of 100" in warm.problems[0] and "over the limit of 1 s" in warm.problems[1]


def test_a_saved_comparison_reads_back_without_models(result: Comparison, tmp_path: Path) -> None:
    from alignment.analysis.comparison import load_comparison, save_comparison

    slim = result.without_media()
    path = save_comparison(tmp_path / "saved.npz", slim, extra={"note": "kept"})
    back, extra = load_comparison(path)
    assert extra == {"note": "kept"}
    assert back.to_json() == slim.to_json()
    assert [(i.id, i.sha256, i.path) for i in back.images] == [(i.id, i.sha256, i.path) for i in slim.images]
    assert all(i.payload is None for i in back.images + back.audio)
    assert [t.payload for t in back.texts] == [t.payload for t in result.texts]


def test_a_damaged_saved_comparison_is_a_clear_error(tmp_path: Path) -> None:
    from alignment.analysis.comparison import load_comparison

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="bad.npz: not a readable saved comparison"):
        load_comparison(bad)
