"""Previews from real files: a photo's thumbnail and a Clotho clip's Ogg preview decode back to what they claim."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from alignment.inputs.audio import Waveform
from alignment.inputs.files import load_files
from alignment.inputs.items import Item
from alignment.views.previews import AUDIO_RATE, TEXT_CHARS, audio_url, preview, thumbnail_url


def data(url: str, kind: str) -> bytes:
    head, _, body = url.partition(",")
    assert head == f"data:{kind};base64"
    return base64.b64decode(body)


def test_a_photo_becomes_a_small_jpeg_with_its_aspect(photos) -> None:
    (item,) = load_files([next(p for p in photos if p.name == "grace_hopper.bmp")], "image").items
    thumb = Image.open(io.BytesIO(data(preview(item).image or "", "image/jpeg")))
    w, h = item.payload.size  # type: ignore[union-attr]
    assert thumb.format == "JPEG" and max(thumb.size) == 160
    assert thumb.size[0] / thumb.size[1] == pytest.approx(w / h, rel=0.02)
    assert len(data(thumbnail_url(item.payload, px=64), "image/jpeg")) < 4_000  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 8 px"):
        thumbnail_url(item.payload, px=2)  # type: ignore[arg-type]


def test_a_clip_preview_is_its_first_seconds_at_16_khz(clips) -> None:
    (item,) = load_files([clips[0]], "audio").items
    wave = item.payload
    assert isinstance(wave, Waveform) and wave.seconds > 10
    silent = preview(item)
    assert silent.audio is None and silent.seconds == pytest.approx(wave.seconds, abs=0.01)  # audio only on demand
    samples, rate = sf.read(io.BytesIO(data(preview(item, audio=True).audio or "", "audio/ogg")))
    assert rate == AUDIO_RATE and len(samples) / rate == pytest.approx(10.0, abs=0.05)
    # the preview is the clip's start: it correlates with the original resampled start, not with its end
    original = np.interp(np.arange(len(samples)) / rate, np.arange(len(wave.samples)) / wave.sample_rate, wave.samples)
    assert np.corrcoef(samples, original)[0, 1] > 0.8


def test_texts_are_cut_and_missing_items_are_empty() -> None:
    long = Item("t", "text", "word " * 400, "0" * 64, "test")
    text = preview(long).text or ""
    assert len(text) == TEXT_CHARS and text.endswith("…")
    assert preview(None).to_json() == {"text": None, "image": None, "audio": None, "seconds": None}
    with pytest.raises(ValueError, match="empty clip"):
        audio_url(Waveform(np.zeros(0, np.float32), 16_000))
