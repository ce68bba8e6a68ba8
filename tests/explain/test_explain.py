"""Explanations for one pair: shapes follow the config, values are finite and normalized, runs are deterministic,
and each method finds what was planted in a constructed model (see tests/toys.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from toys import (
    RATE,
    clip_encoder,
    one_torch_thread,  # noqa: F401  (autouse fixture)
    planted_image,
    point_image_at,
    point_text_at,
    tiny_clap_encoder,
    tone_clip,
    uniform_clip,
)

from alignment.explain import audio as xa
from alignment.explain import image as xi
from alignment.explain import maps as xm
from alignment.explain.eager import is_eager
from alignment.inputs.audio import Waveform
from alignment.models.encoders import ClipEncoder, Encoders
from alignment.models.tiny import tiny_clip

GRIDS = [(32, 8), (32, 4)]  # (image_size, patch_size): a 4 x 4 and an 8 x 8 patch grid
GRID_IDS = ["patch8-grid4", "patch4-grid8"]


def _photo(seed: int = 0, size: tuple[int, int] = (48, 40)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _argmax(a: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(a)), a.shape))


@pytest.fixture(scope="module", params=GRIDS, ids=GRID_IDS)
def random_clip(request: pytest.FixtureRequest) -> ClipEncoder:
    """A random tiny CLIP built in memory with the given image and patch size."""
    size, patch = request.param
    return clip_encoder(*tiny_clip(image_size=size, patch_size=patch))


# ---------------------------------------------------------------------------- image maps: shapes and values


def test_patch_grid_is_read_from_the_config(random_clip: ClipEncoder) -> None:
    config = random_clip.model.config.vision_config
    side = config.image_size // config.patch_size
    assert xm.patch_grid(random_clip.model) == (side, side)
    for method in ("maskclip", "rollout"):
        result = xi.explain(random_clip, "a red square", _photo(), method=method)
        assert result.grid == (side, side) and result.raw.shape == (side, side)
        assert np.isfinite(result.relevance).all() and np.isfinite(result.raw).all()
        assert result.relevance.min() >= 0.0 and result.relevance.max() == pytest.approx(1.0)
        assert -1.0 <= result.score <= 1.0


def test_maps_are_deterministic_and_leave_the_encoder_on_sdpa(encoders: Encoders) -> None:
    clip = encoders.clip
    image = _photo(1)
    for method in ("maskclip", "rollout"):
        a, b = (xi.explain(clip, "a dog", image, method=method) for _ in range(2))
        assert a.grid == (4, 4)
        np.testing.assert_array_equal(a.relevance, b.relevance)
        assert a.score == pytest.approx(b.score, abs=1e-6)
    assert not is_eager(clip.model)  # rollout ran on the eager view
    with torch.inference_mode():
        expected = float(clip.encode_image([image])[0] @ clip.encode_text(["a dog"])[0])
    assert a.score == pytest.approx(expected, abs=1e-5)


def test_tokens_variant_matches_an_independent_computation(random_clip: ClipEncoder) -> None:
    model, image = random_clip.model, _photo(2)
    with torch.inference_mode():
        tokens = model.vision_model(pixel_values=random_clip.prepare_image([image])[0]).last_hidden_state[0, 1:]
        expected = F.normalize(model.visual_projection(model.vision_model.post_layernorm(tokens)), dim=-1)
    torch.testing.assert_close(xi.patch_features(random_clip, image, variant="tokens"), expected, atol=1e-5, rtol=0)


def test_value_variant_is_the_last_layer_with_attention_replaced_by_identity(random_clip: ClipEncoder) -> None:
    """MaskCLIP: each token reads only its own value. Reference: swap the last attention module's forward."""
    model, image = random_clip.model, _photo(3)
    attn = model.vision_model.encoder.layers[-1].self_attn
    value_only = lambda hidden_states, *args, **kwargs: (attn.out_proj(attn.v_proj(hidden_states)), None)  # noqa: E731
    with torch.inference_mode():
        attn.forward = value_only
        try:
            tokens = model.vision_model(pixel_values=random_clip.prepare_image([image])[0]).last_hidden_state[0, 1:]
        finally:
            del attn.forward
        expected = F.normalize(model.visual_projection(model.vision_model.post_layernorm(tokens)), dim=-1)
    torch.testing.assert_close(xi.patch_features(random_clip, image, variant="value"), expected, atol=1e-5, rtol=0)
    assert not torch.allclose(expected, xi.patch_features(random_clip, image, variant="tokens"), atol=1e-3)


# ---------------------------------------------------------------------------- image maps: planted answers


@pytest.mark.parametrize(("size", "patch"), GRIDS, ids=GRID_IDS)
def test_maskclip_finds_the_planted_patch(size: int, patch: int) -> None:
    """A red patch at A and a green one at B; the text is pointed at the red patch's feature, taken from the
    mirrored image (red elsewhere; the toy has no position embeddings). The map must peak at A with cosine 1."""
    encoder = uniform_clip(image_size=size, patch_size=patch)
    side = size // patch
    red, green = (1, 2), (side - 1, 0)
    image = planted_image(size, patch, {red: (255, 0, 0), green: (0, 255, 0)})
    mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    point_text_at(encoder, "red", xi.patch_features(encoder, mirrored)[red[0] * side + (side - 1 - red[1])])
    result = xi.maskclip(encoder, "red", image)
    assert result.grid == (side, side)
    assert _argmax(result.relevance) == red
    assert result.raw[red] == pytest.approx(1.0, abs=1e-4)
    assert result.raw[green] < 0.9
    others = np.delete(result.relevance.ravel(), red[0] * side + red[1])
    assert others.max() < 0.8


@pytest.mark.parametrize(("size", "patch"), GRIDS, ids=GRID_IDS)
def test_rollout_finds_the_planted_patch(size: int, patch: int) -> None:
    """Only the planted patch has a non-zero value vector, so only attention to it can move the score; the text is
    pointed along the direction that patch moves the image embedding. Relevance: one-hot on the planted patch."""
    encoder = uniform_clip(image_size=size, patch_size=patch)
    cell = (size // patch - 1, 1)
    image, blank = planted_image(size, patch, {cell: (255, 0, 0)}), planted_image(size, patch, {})
    with torch.inference_mode():
        with_patch, without = encoder.encode_image([image, blank])
    point_text_at(encoder, "red", with_patch - without)
    result = xi.rollout(encoder, "red", image)
    assert _argmax(result.raw) == cell and result.raw[cell] > 0
    expected = np.zeros(result.grid, np.float32)
    expected[cell] = 1.0
    np.testing.assert_allclose(result.relevance, expected, atol=1e-6)


# ---------------------------------------------------------------------------- words


def _word_toy(*, positions: bool) -> tuple[ClipEncoder, Image.Image]:
    """Only 'z' has a token embedding (a and b carry nothing); the image is pointed along the direction 'z' moves the
    text embedding."""
    encoder = uniform_clip(only_token="z</w>", text_positions=positions)
    image = planted_image(32, 8, {(0, 0): (255, 255, 255)})
    table = encoder.model.text_model.embeddings.token_embedding.weight
    z = encoder.tokenizer.convert_tokens_to_ids("z</w>")
    with torch.inference_mode():
        with_z = encoder.encode_text(["a b z"])[0]
    saved = table[z].detach().clone()
    with torch.no_grad():
        table[z] = 0.0
    with torch.inference_mode():
        without_z = encoder.encode_text(["a b z"])[0]
    with torch.no_grad():
        table[z] = saved
    point_image_at(encoder, image, with_z - without_z)
    return encoder, image


@pytest.mark.parametrize(("method", "positions"), [("gradient", True), ("rollout", False)])
def test_text_relevance_finds_the_only_word_that_matters(method: str, positions: bool) -> None:
    encoder, image = _word_toy(positions=positions)
    result = xi.text_relevance(encoder, "a b z", image, method=method)  # type: ignore[arg-type]
    assert result.tokens == ["a", "b", "z"]  # specials dropped, CLIP's '</w>' removed
    np.testing.assert_allclose(result.relevance, [0.0, 0.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("method", ["gradient", "rollout"])
def test_text_relevance_values(encoders: Encoders, method: str) -> None:
    result = xi.text_relevance(encoders.clip, "a photo of a cat", _photo(4), method=method)  # type: ignore[arg-type]
    assert "".join(result.tokens) == "aphotoofacat"  # the tiny tokenizer has one token per character
    assert np.isfinite(result.relevance).all() and np.abs(result.relevance).max() == pytest.approx(1.0)
    low = -1.0 if method == "gradient" else 0.0
    assert result.relevance.min() >= low and result.relevance.max() <= 1.0
    again = xi.text_relevance(encoders.clip, "a photo of a cat", _photo(4), method=method)  # type: ignore[arg-type]
    np.testing.assert_array_equal(result.relevance, again.relevance)
    assert all(isinstance(t, str) and isinstance(r, float) for t, r in result.pairs())


# ---------------------------------------------------------------------------- drawing


def test_overlay_blends_over_the_model_view(encoders: Encoders) -> None:
    image = _photo(5, size=(60, 40))  # wider than tall: the model sees the centre 40 x 40
    result = xi.maskclip(encoders.clip, "a cat", image)
    assert result.box == (10.0, 0.0, 50.0, 40.0)
    assert xm.overlay(image, result.relevance, opacity=0.0, box=result.box).tobytes() == image.tobytes()
    full = np.asarray(xm.overlay(image, result.relevance, opacity=1.0, box=result.box))
    heat = xm.colormap(xm.upsample(result.relevance, (40, 40)))
    np.testing.assert_array_equal(full[:, 10:50], heat)
    np.testing.assert_array_equal(full[:, :10], np.asarray(image)[:, :10])  # outside the crop: untouched
    with pytest.raises(ValueError, match="opacity"):
        xm.overlay(image, result.relevance, opacity=1.5)


def test_upsample_and_colormap() -> None:
    up = xm.upsample(np.array([[0.0, 1.0], [1.0, 0.0]], np.float32), (8, 6))
    assert up.shape == (6, 8) and up.min() >= 0 and up.max() <= 1
    colours = xm.colormap(np.array([0.0, 0.5, 1.0, np.nan]))
    assert colours.dtype == np.uint8 and colours.shape == (4, 3)
    assert colours[2].sum() > colours[1].sum() > colours[0].sum()  # brighter for higher relevance
    np.testing.assert_array_equal(xm.normalize(np.full((2, 2), 3.0)), np.zeros((2, 2)))


# ---------------------------------------------------------------------------- audio


def test_sliding_windows() -> None:
    assert xa.sliding_windows(3 * RATE, RATE, RATE // 2) == [(s, s + RATE) for s in range(0, 2 * RATE + 1, RATE // 2)]
    ranges = xa.sliding_windows(int(2.7 * RATE), RATE, RATE // 2)
    assert ranges[-1] == (int(2.7 * RATE) - RATE, int(2.7 * RATE))  # the last window ends at the clip's end
    assert xa.sliding_windows(RATE // 3, RATE, RATE // 2) == [(0, RATE // 3)]
    with pytest.raises(ValueError, match="hop"):
        xa.sliding_windows(RATE, RATE, 0)


@pytest.fixture(scope="module")
def tone_toy() -> tuple[object, Waveform]:
    """A fresh tiny CLAP, 3 s of silence with a tone in [1, 2) s; the text is pointed at the tone's embedding."""
    encoder = tiny_clap_encoder()
    wave = tone_clip(3.0, (1.0, 2.0))
    with torch.inference_mode():
        target = encoder.encode_audio([Waveform(wave.samples[RATE : 2 * RATE], RATE)])[0]
    point_text_at(encoder, "a beep", target)
    return encoder, wave


def test_window_similarity_finds_the_planted_window(tone_toy: tuple) -> None:
    encoder, wave = tone_toy
    result = xa.window_similarity(encoder, "a beep", wave)
    np.testing.assert_allclose(result.centers, [0.5, 1.0, 1.5, 2.0, 2.5])
    np.testing.assert_allclose(result.ends - result.starts, 1.0)
    assert result.centers[np.argmax(result.relevance)] == pytest.approx(1.5)
    assert result.scores[2] == pytest.approx(1.0, abs=1e-5)  # the [1, 2) window is exactly the tone, padded alike
    assert result.relevance[0] == pytest.approx(result.relevance[4], abs=1e-3)  # both all silence
    assert max(result.relevance[0], result.relevance[4]) < 0.05
    assert result.duration == pytest.approx(3.0)


def test_window_similarity_values_and_determinism(encoders: Encoders) -> None:
    wave = Waveform((0.1 * np.random.default_rng(0).standard_normal(int(1.5 * 44_100))).astype(np.float32), 44_100)
    a, b = (xa.window_similarity(encoders.clap, "rain", wave) for _ in range(2))
    assert a.scores.shape == a.relevance.shape == (2,)  # [0, 1) and [0.5, 1.5) after resampling to 48 kHz
    assert np.isfinite(a.scores).all() and a.relevance.min() >= 0 and a.relevance.max() <= 1
    np.testing.assert_array_equal(a.scores, b.scores)
    with pytest.raises(ValueError, match="window_seconds"):
        xa.window_similarity(encoders.clap, "rain", wave, window_seconds=11.0)


def test_mel_gradient_puts_the_relevance_on_the_planted_tone(tone_toy: tuple) -> None:
    encoder, wave = tone_toy
    result = xa.mel_gradient(encoder, "a beep", wave)
    frames = 3 * RATE // 480 + 1  # CLAP: hop 480 at 48 kHz, centred frames
    assert result.mel.shape == result.mel_map.shape == (frames, 64)
    assert result.times.shape == result.frames.shape == result.relevance.shape == (frames,)
    assert result.times[-1] == pytest.approx(3.0)
    np.testing.assert_allclose(result.mel_map.sum(axis=1), result.frames, rtol=1e-5, atol=1e-7)
    inside = (result.times >= 1.0 - 0.02) & (result.times <= 2.0 + 0.02)  # one STFT frame of leakage each side
    assert np.abs(result.frames[inside]).sum() >= 0.999 * np.abs(result.frames).sum()
    assert result.relevance.max() == pytest.approx(1.0) and inside[np.argmax(result.relevance)]
    assert result.relevance.min() >= 0 and np.isfinite(result.mel_map).all()
    again = xa.mel_gradient(encoder, "a beep", wave)
    np.testing.assert_array_equal(result.mel_map, again.mel_map)


def test_mel_gradient_maps_long_clips_back_to_their_time(tone_toy: tuple) -> None:
    """12 s: two overlapping 10 s model windows; the tone sits in the second one only."""
    encoder, _ = tone_toy
    result = xa.mel_gradient(encoder, "a beep", tone_clip(12.0, (10.5, 11.5)))
    assert result.mel.shape == (12 * 100 + 1, 64) and result.times[-1] == pytest.approx(12.0)
    inside = (result.times >= 10.5 - 0.02) & (result.times <= 11.5 + 0.02)
    assert np.abs(result.frames[inside]).sum() >= 0.999 * np.abs(result.frames).sum()


def test_mel_spectrogram_is_what_the_model_reads(tone_toy: tuple) -> None:
    encoder, _ = tone_toy
    wave = tone_clip(10.0, (2.0, 3.0))  # exactly one model window: no padding
    mel, times = xa.mel_spectrogram(encoder, wave)
    reference = encoder.processor.feature_extractor([wave.samples], sampling_rate=RATE, return_tensors="np")
    np.testing.assert_allclose(mel, reference["input_features"][0, 0], atol=1e-5)
    assert times[1] - times[0] == pytest.approx(0.01) and len(times) == len(mel)


def test_frames_to_windows_and_spectrogram_image(tone_toy: tuple) -> None:
    encoder, wave = tone_toy
    grad = xa.mel_gradient(encoder, "a beep", wave)
    starts, ends = xa.window_bounds(encoder, wave)
    per_window = xa.frames_to_windows(grad, starts, ends)
    assert per_window.shape == (5,)
    inside = (grad.times >= 1.0) & (grad.times < 2.0)
    assert per_window[2] == pytest.approx(grad.frames[inside].mean())
    assert np.abs(per_window[[0, 4]]).max() < 0.01 * np.abs(grad.frames).max()  # silence (but for STFT leakage)
    picture = xa.spectrogram_image(grad.mel, grad.times, grad.times, grad.relevance, width=500)
    assert picture.mode == "RGB" and picture.width == 500


def test_audio_text_relevance(encoders: Encoders) -> None:
    wave = tone_clip(1.0, (0.0, 1.0))
    result = xa.text_relevance(encoders.clap, "a dog barks", wave)
    assert "".join(t for t in result.tokens if t != "␣") == "adogbarks"  # specials dropped, spaces shown as ␣
    assert np.isfinite(result.relevance).all() and np.abs(result.relevance).max() == pytest.approx(1.0)


def test_audio_explain_dispatch_names_an_unknown_method(encoders) -> None:
    from alignment.explain.audio import explain
    from alignment.inputs.audio import Waveform

    wave = Waveform(np.zeros(48_000, np.float32), 48_000)
    with pytest.raises(ValueError, match="unknown audio explanation method 'fft'"):
        explain(encoders.clap, "a tone", wave, method="fft")
