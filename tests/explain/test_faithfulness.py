"""Deletion / insertion curves: hand-checked cases on score functions, then the planted image and audio toys."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toys import (
    RATE,
    one_torch_thread,  # noqa: F401  (autouse fixture)
    planted_image,
    point_text_at,
    tiny_clap_encoder,
    tone_clip,
    uniform_clip,
)

from alignment.explain import audio as xa
from alignment.explain import image as xi
from alignment.explain.faithfulness import curve, evaluate
from alignment.inputs.audio import Waveform


def _additive(weights: np.ndarray):
    return lambda mask: float(np.asarray(weights)[np.asarray(mask, bool)].sum())


def _trapezoid(x: np.ndarray, y: np.ndarray) -> float:
    return float(sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1)))


# ---------------------------------------------------------------------------- score functions


def test_one_relevant_unit_by_hand() -> None:
    """Score = 1 while unit 3 is present. Deletion of the true explanation drops at once; insertion jumps at once."""
    n = 8
    weights = np.zeros(n)
    weights[3] = 1.0
    deletion = curve(_additive(weights), weights, mode="deletion", n_random=4, seed=0)
    np.testing.assert_array_equal(deletion.fractions, np.arange(n + 1) / n)
    np.testing.assert_array_equal(deletion.explained, [1.0] + [0.0] * n)
    assert deletion.area == pytest.approx(
        _trapezoid(deletion.fractions, deletion.random) - _trapezoid(deletion.fractions, deletion.explained)
    )
    assert deletion.area > 0.2 and deletion.relative_area == pytest.approx(deletion.area)  # score range is 1
    insertion = curve(_additive(weights), weights, mode="insertion", n_random=4, seed=0)
    np.testing.assert_array_equal(insertion.explained, [0.0] + [1.0] * n)
    assert insertion.area > 0.2


def test_sign_follows_the_quality_of_the_explanation() -> None:
    weights = np.random.default_rng(0).random(20)
    score = _additive(weights)
    for mode in ("deletion", "insertion"):
        good = curve(score, weights, mode=mode, n_random=5)
        bad = curve(score, -weights, mode=mode, n_random=5)
        assert good.area > 0.05 and bad.area < -0.05
        # for an additive score the expected random curve is linear: full * (1 - fraction) for deletion
        expected = weights.sum() * (1 - good.fractions if mode == "deletion" else good.fractions)
        np.testing.assert_allclose(curve(score, weights, mode=mode, n_random=400).random, expected, atol=0.3)


def test_deterministic_seeded_and_stepped() -> None:
    weights = np.random.default_rng(1).random((4, 5))  # any shape: units are its elements
    score = _additive(weights.ravel())
    a, b = curve(score, weights, seed=3), curve(score, weights, seed=3)
    np.testing.assert_array_equal(a.random, b.random)
    assert a.area == b.area
    assert not np.array_equal(a.random, curve(score, weights, seed=4).random)
    stepped = curve(score, weights, steps=4)
    np.testing.assert_allclose(stepped.fractions, [0, 0.25, 0.5, 0.75, 1.0])
    assert stepped.n_units == 20 and len(stepped.explained) == 5
    assert stepped.to_json()["mode"] == "deletion"


def test_each_mask_is_scored_once() -> None:
    calls: list[bytes] = []
    weights = np.arange(6, dtype=float)

    def score(mask: np.ndarray) -> float:
        calls.append(mask.tobytes())
        return float(weights[mask].sum())

    result = evaluate(score, weights, n_random=3)
    assert set(result) == {"deletion", "insertion"}
    assert len(calls) == len(set(calls))  # the all / none masks recur in every order and in both modes


def test_bad_arguments() -> None:
    score = _additive(np.ones(3))
    with pytest.raises(ValueError, match="mode"):
        curve(score, np.ones(3), mode="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        curve(score, np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="no units"):
        curve(score, np.array([]))
    with pytest.raises(ValueError, match="n_random"):
        curve(score, np.ones(3), n_random=0)


# ---------------------------------------------------------------------------- planted toys


def _rollout_toy():
    encoder = uniform_clip()
    cell = (2, 1)
    image, blank = planted_image(32, 8, {cell: (255, 0, 0)}), planted_image(32, 8, {})
    with torch.inference_mode():
        with_patch, without = encoder.encode_image([image, blank])
    point_text_at(encoder, "red", with_patch - without)
    return encoder, image


@pytest.mark.parametrize("baseline", ["mean", "black"])
def test_image_deletion_ranks_the_planted_patch_above_random(baseline: str) -> None:
    """The rollout toy of test_explain: only the planted patch moves the score (every other patch is black, and
    black = the toy processor's mean). Rollout's map deletes it first; a reversed map deletes it last."""
    encoder, image = _rollout_toy()
    relevance = xi.rollout(encoder, "red", image).relevance
    score = xi.image_score(encoder, "red", image, baseline=baseline)  # type: ignore[arg-type]
    assert score(np.ones(16, bool)) > score(np.zeros(16, bool))
    curves = evaluate(score, relevance, n_random=4)
    for result in curves.values():
        assert result.relative_area is not None and result.relative_area > 0.3  # random orders: half-way on average
    reverse = curve(score, -relevance, n_random=4)
    assert reverse.area < 0


def test_blur_baseline() -> None:
    """Blur keeps the colours and smears them over the neighbours (so the toy's red leaks; not used for its curve)."""
    encoder, image = _rollout_toy()
    with torch.inference_mode():
        full = float(encoder.encode_image([image])[0] @ encoder.encode_text(["red"])[0])
    blur, mean = (xi.image_score(encoder, "red", image, baseline=b) for b in ("blur", "mean"))  # type: ignore[arg-type]
    assert blur(np.ones(16, bool)) == pytest.approx(full, abs=1e-6)
    assert np.isfinite(blur(np.zeros(16, bool))) and blur(np.zeros(16, bool)) != pytest.approx(mean(np.zeros(16, bool)))
    with pytest.raises(ValueError, match="baseline"):
        xi.image_score(encoder, "red", image, baseline="noise")  # type: ignore[arg-type]


def test_audio_deletion_ranks_the_planted_window_above_random() -> None:
    """A fresh tiny CLAP with the text pointed at a 1 s tone inside 3 s of silence; windows silenced in turn."""
    encoder = tiny_clap_encoder()
    wave = tone_clip(3.0, (1.0, 2.0))
    with torch.inference_mode():
        tone = encoder.encode_audio([Waveform(wave.samples[RATE : 2 * RATE], RATE)])[0]
    point_text_at(encoder, "a beep", tone)
    windows = xa.window_similarity(encoder, "a beep", wave)
    score = xa.audio_score(encoder, "a beep", wave, starts=windows.starts, ends=windows.ends)
    result = curve(score, windows.relevance, mode="deletion", n_random=2)
    assert result.explained[1] == pytest.approx(result.explained[-1], abs=1e-6)  # one window silences the whole tone
    assert result.area > 0 and result.relative_area is not None and result.relative_area > 0.1


def test_a_batched_score_gives_the_same_curves_as_one_mask_at_a_time(encoders) -> None:
    """Image and audio scores take a batch of masks in one forward; the curves equal the one-at-a-time ones."""
    from PIL import Image

    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))
    wave = Waveform(rng.normal(0, 0.1, 48_000 * 3).astype(np.float32), 48_000)
    starts, ends = np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    for score, units in (
        (xi.image_score(encoders.clip, "a photo", image), 16),
        (xa.audio_score(encoders.clap, "a sound", wave, starts=starts, ends=ends), 3),
    ):
        masks = rng.random((5, units)) > 0.5
        np.testing.assert_allclose(score.many(masks), [score(m) for m in masks], atol=1e-5)
        relevance = rng.random(units)
        batched = evaluate(score, relevance, n_random=2, steps=4)
        single = evaluate(lambda m, s=score: s(m), relevance, n_random=2, steps=4)  # no `many`: one at a time
        for mode in ("deletion", "insertion"):
            np.testing.assert_allclose(batched[mode].explained, single[mode].explained, atol=1e-5)
            np.testing.assert_allclose(batched[mode].random, single[mode].random, atol=1e-5)
