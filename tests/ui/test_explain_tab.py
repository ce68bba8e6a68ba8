"""The "Explain" tab through its API: the relevance it serves equals the library's, and bad input is named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from alignment.explain import audio as xa
from alignment.explain import image as xi
from alignment.explain.attention import attention_maps
from alignment.inputs.audio import read_audio
from alignment.inputs.image import read_image
from alignment.models.encoders import Encoders
from ui.assets import ASSETS

IMAGE = ASSETS / "images" / "coffee.jpg"
AUDIO = ASSETS / "audio" / "siren_sweep.flac"


@pytest.mark.parametrize("method", ["maskclip", "rollout"])
def test_image_explanation_equals_the_library(client: Client, encoders: Encoders, method: str) -> None:
    text = "a cup of coffee on a wooden table"
    summary, overlay, tokens, faith, numbers = client.predict(
        text, handle_file(str(IMAGE)), method, 0.5, api_name="/explain_image"
    )
    expected = xi.explain(encoders.clip, text, read_image(IMAGE.read_bytes(), source=IMAGE.name), method=method)
    grid = encoders.clip.model.config.vision_config.image_size // encoders.clip.model.config.vision_config.patch_size
    assert numbers["grid"] == [grid, grid]
    assert np.allclose(numbers["relevance"], expected.relevance, atol=1e-4)
    assert numbers["score"] == pytest.approx(expected.score, abs=1e-5)
    image = read_image(IMAGE.read_bytes(), source=IMAGE.name)
    library_tokens = xi.text_relevance(encoders.clip, text, image).pairs()
    assert [t for t, _ in numbers["tokens"]] == [t for t, _ in library_tokens]
    assert np.allclose([r for _, r in numbers["tokens"]], [r for _, r in library_tokens], atol=1e-4)
    assert set(numbers["faithfulness"]) == {"deletion", "insertion"}
    assert f"**{method}**" in summary and "deletion area" in summary
    assert Path(overlay["path"] if isinstance(overlay, dict) else overlay).stat().st_size > 1_000
    assert json.loads(faith["plot"])["data"] and json.loads(tokens["plot"])["data"]


@pytest.mark.parametrize("method", ["windows", "gradient"])
def test_audio_explanation_equals_the_library(client: Client, encoders: Encoders, method: str) -> None:
    text = "a siren wailing"
    summary, picture, tokens, faith, numbers = client.predict(
        text, handle_file(str(AUDIO)), method, api_name="/explain_audio"
    )
    wave = read_audio(AUDIO.read_bytes(), source=AUDIO.name, max_seconds=600)
    if method == "windows":
        expected = xa.window_similarity(encoders.clap, text, wave)
        curve, times = expected.relevance, expected.centers
    else:
        expected = xa.mel_gradient(encoders.clap, text, wave)
        curve, times = expected.relevance, expected.times
    assert np.allclose(numbers["relevance"], curve, atol=1e-4)
    assert np.allclose(numbers["times"], times, atol=1e-3)
    assert 0 <= min(numbers["times"]) and max(numbers["times"]) <= wave.seconds + 0.5
    assert f"**{method}**" in summary
    assert numbers["faithfulness"]["deletion"]["n_units"] >= 2


def test_bad_explain_input_is_named(client: Client, tmp_path) -> None:
    with pytest.raises(AppError, match="Give a text and an image"):
        client.predict("", handle_file(str(IMAGE)), "maskclip", 0.5, api_name="/explain_image")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AppError, match="notes.wav: not a readable audio file"):
        client.predict("a siren", handle_file(str(not_audio)), "windows", api_name="/explain_audio")


def test_attention_maps_equal_the_library(client: Client, encoders: Encoders) -> None:
    text = "a cup of coffee on a wooden table"
    image = read_image(IMAGE.read_bytes(), source=IMAGE.name)
    expected = attention_maps(encoders.clip, image)
    layers, heads = expected.shape[:2]

    out = client.predict("image (CLIP vision)", text, handle_file(str(IMAGE)), "a siren", 0.5, api_name="/attention")
    layer, head, summary, heat, overlay, bars, numbers = out
    # The viewer opens on the last layer, mean of heads, with a slider and a head list that fit this tower.
    assert (layer["value"], layer["minimum"], layer["maximum"]) == (layers, 1, layers)  # gradio sends updates
    assert head["value"] == "mean of heads"
    assert [c[0] for c in head["choices"]] == ["mean of heads", *[f"head {k}" for k in range(1, heads + 1)]]
    assert numbers["tower"] == "clip-image" and (numbers["layers"], numbers["heads"]) == (layers, heads)
    assert numbers["labels"] == expected.labels and numbers["pooled"] == 0
    np.testing.assert_allclose(numbers["map"], expected.map(layers - 1), atol=1e-5)
    np.testing.assert_allclose(numbers["pooled_row"], expected.pooled_row(layers - 1), atol=1e-5)
    assert overlay["visible"] is True and bars["visible"] is False  # an image tower: the overlay, no token bars
    assert Path(overlay["value"]["path"]).stat().st_size > 1_000
    figure = json.loads(heat["plot"])
    assert [t["type"] for t in figure["data"]] == ["heatmap"] and "layer 2/2" in figure["layout"]["title"]["text"]
    assert "CLS token's attention over the 4×4 patches" in summary

    clap = client.predict("text (CLAP)", text, None, "a siren", 0.5, api_name="/attention")
    numbers = clap[-1]
    want = attention_maps(encoders.clap, "a siren")
    assert numbers["tower"] == "clap-text" and numbers["labels"] == want.labels
    np.testing.assert_allclose(numbers["pooled_row"], want.pooled_row(want.shape[0] - 1), atol=1e-5)
    assert clap[-3]["visible"] is False and clap[-2]["visible"] is True  # a text tower: bars, no overlay
    bars = json.loads(clap[-2]["value"]["plot"])
    assert [t["type"] for t in bars["data"]] == ["bar"]
    assert "&lt;s&gt;" in bars["layout"]["title"]["text"]  # escaped: plotly would draw <s> as a strikethrough tag
    assert bars["layout"]["yaxis"]["title"]["text"] == "attention weight"


def test_attention_view_redraws_any_layer_and_head(client: Client, encoders: Encoders) -> None:
    with pytest.raises(AppError, match="Show the attention maps first"):
        client.predict(1, "mean of heads", 0.5, api_name="/attention_view")
    text = "a dog"
    client.predict("text (CLIP)", text, None, "", 0.5, api_name="/attention")
    expected = attention_maps(encoders.clip, text)
    for layer, head, index in ((1, "head 3", 2), (2, "head 1", 0), (1, "mean of heads", None)):
        summary, heat, overlay, bars, numbers = client.predict(layer, head, 0.5, api_name="/attention_view")
        assert (numbers["layer"], numbers["head"]) == (layer, None if index is None else index + 1)
        np.testing.assert_allclose(numbers["map"], expected.map(layer - 1, index), atol=1e-5)
        assert numbers["labels"][numbers["pooled"]] == "<|endoftext|>"  # CLIP pools its end-of-text token
    with pytest.raises(AppError, match=r"head 9 does not exist: this tower has heads 1-4"):
        client.predict(1, "head 9", 0.5, api_name="/attention_view")
    with pytest.raises(AppError, match=r"give an image"):
        client.predict("image (CLIP vision)", text, None, "", 0.5, api_name="/attention")
    with pytest.raises(AppError, match=r"give a text \(in 'Text × audio'"):
        client.predict("text (CLAP)", text, None, " ", 0.5, api_name="/attention")
    # A failed run keeps what was shown: the CLIP text maps are still there to redraw.
    assert client.predict(2, "head 2", 0.5, api_name="/attention_view")[-1]["tower"] == "clip-text"
