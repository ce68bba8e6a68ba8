"""Attention maps per layer and head, and the eager view they come from (never the encoder used for bulk embedding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from toys import (
    clip_encoder,
    one_torch_thread,  # noqa: F401  (autouse fixture)
    tone_clip,
)

from alignment.explain.attention import attention_maps, patch_labels
from alignment.explain.eager import eager_encoder, is_eager
from alignment.models.encoders import Encoders
from alignment.models.tiny import tiny_clip


def _check_rows(maps: np.ndarray) -> None:
    assert maps.dtype == np.float32 and np.isfinite(maps).all()
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, atol=1e-5)
    assert maps.min() >= 0.0


def test_clip_image_maps_follow_the_config(encoders: Encoders) -> None:
    image = Image.new("RGB", (40, 32), (120, 30, 200))
    maps = attention_maps(encoders.clip, image)
    config = encoders.clip.model.config.vision_config
    tokens = 1 + (config.image_size // config.patch_size) ** 2
    assert maps.shape == (config.num_hidden_layers, config.num_attention_heads, tokens, tokens) == (2, 4, 17, 17)
    assert maps.labels[:3] == ["CLS", "(0,0)", "(0,1)"] and maps.labels[-1] == "(3,3)"
    assert maps.tower == "clip-image"
    _check_rows(maps.attentions)
    np.testing.assert_array_equal(maps.attentions, attention_maps(encoders.clip, image).attentions)


def test_another_patch_size_gives_another_grid() -> None:
    encoder = clip_encoder(*tiny_clip(image_size=32, patch_size=4))
    maps = attention_maps(encoder, Image.new("RGB", (32, 32), (0, 90, 0)))
    assert maps.shape == (2, 4, 65, 65) and maps.labels == patch_labels((8, 8))
    _check_rows(maps.attentions)


def test_clip_text_maps_are_causal(encoders: Encoders) -> None:
    maps = attention_maps(encoders.clip, "a cat")
    assert maps.labels == ["<|startoftext|>", "a", "c", "a", "t", "<|endoftext|>"]
    assert maps.shape == (2, 4, 6, 6) and maps.tower == "clip-text"
    _check_rows(maps.attentions)
    assert np.triu(maps.attentions, k=1).max() == 0.0  # no token reads a later one


def test_clap_text_maps(encoders: Encoders) -> None:
    maps = attention_maps(encoders.clap, "rain")
    assert maps.labels == ["<s>", "r", "a", "i", "n", "</s>"] and maps.shape == (2, 4, 6, 6)
    _check_rows(maps.attentions)


def test_audio_has_no_token_attention_map(encoders: Encoders) -> None:
    with pytest.raises(ValueError, match="Swin"):
        attention_maps(encoders.clap, tone_clip(1.0, (0.0, 1.0)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="CLIP"):
        attention_maps(encoders.clap, Image.new("RGB", (8, 8)))


def test_eager_view_shares_the_weights(encoders: Encoders) -> None:
    clip = encoders.clip
    image = Image.new("RGB", (32, 32), (10, 200, 30))
    with torch.inference_mode():
        clip.model.vision_model(pixel_values=clip.prepare_image([image])[0], output_hidden_states=True)  # hooks on
    eager = eager_encoder(clip)
    assert eager is eager_encoder(clip)  # built once
    assert eager.model is not clip.model and is_eager(eager.model) and not is_eager(clip.model)
    assert all(a is b for a, b in zip(clip.model.parameters(), eager.model.parameters(), strict=True))
    assert (eager.model_id, eager.revision) == (clip.model_id, clip.revision)
    with torch.inference_mode():
        torch.testing.assert_close(eager.encode_image([image]), clip.encode_image([image]), atol=1e-5, rtol=0)
        torch.testing.assert_close(eager.encode_text(["a dog"]), clip.encode_text(["a dog"]), atol=1e-5, rtol=0)
        out = clip.model.get_image_features(pixel_values=clip.prepare_image([image])[0], output_attentions=True)
    assert not out.attentions  # the shared encoder still runs SDPA, which returns none
    assert eager_encoder(encoders.clap) is encoders.clap  # CLAP already runs eager attention


def test_eager_view_follows_weight_changes() -> None:
    encoder = clip_encoder(*tiny_clip())
    eager = eager_encoder(encoder)
    image = Image.new("RGB", (32, 32), (200, 10, 30))
    with torch.no_grad():
        encoder.model.visual_projection.weight.mul_(-1.0)  # e.g. a fine-tune after the view was made
    with torch.inference_mode():
        torch.testing.assert_close(eager.encode_image([image]), encoder.encode_image([image]), atol=1e-5, rtol=0)


def test_views_of_one_layer_and_head(encoders: Encoders) -> None:
    image = attention_maps(encoders.clip, Image.new("RGB", (32, 32), (200, 120, 0)))
    assert image.pooled == 0 and image.grid == (4, 4)
    np.testing.assert_allclose(image.map(1), image.attentions[1].mean(axis=0), atol=1e-7)
    np.testing.assert_array_equal(image.map(0, 3), image.attentions[0, 3])
    np.testing.assert_allclose(image.map(1).sum(axis=-1), 1.0, atol=1e-5)  # the head mean is still a distribution
    patches = image.patch_map(1, 2)
    assert patches.shape == (4, 4)
    np.testing.assert_array_equal(patches.ravel(), image.attentions[1, 2, 0, 1:])  # CLS reading each patch, row-major
    assert patches.sum() + image.attentions[1, 2, 0, 0] == pytest.approx(1.0, abs=1e-5)

    clip_text = attention_maps(encoders.clip, "a cat")
    assert clip_text.labels[clip_text.pooled] == "<|endoftext|>" and clip_text.grid is None  # CLIP pools end-of-text
    np.testing.assert_array_equal(clip_text.pooled_row(0, 1), clip_text.attentions[0, 1, clip_text.pooled])
    clap_text = attention_maps(encoders.clap, "rain")
    assert clap_text.pooled == 0 and clap_text.labels[0] == "<s>"  # RoBERTa pools its first token

    with pytest.raises(ValueError, match=r"layer 2 does not exist \(the tower has layers 0-1\)"):
        image.map(2)
    with pytest.raises(ValueError, match=r"head 4 does not exist"):
        image.map(0, 4)
    with pytest.raises(ValueError, match="no patch grid"):
        clip_text.patch_map(0)
