"""The "Explain" tab through its API: the relevance it serves equals the library's, and bad input is named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app
from alignment import explain_audio as xa
from alignment import explain_image as xi
from alignment.audio import read_audio
from alignment.data import read_image
from alignment.encoders import Encoders

IMAGE = app.ASSETS / "images" / "coffee.jpg"
AUDIO = app.ASSETS / "audio" / "siren_sweep.flac"


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
