"""Streaming resampling equals resampling the whole clip, for any block sizes and rate pairs; decoding a
high-rate file resamples while decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from alignment.inputs.audio import read_audio
from alignment.inputs.resample import StreamResampler


@pytest.mark.parametrize(
    "orig, new", [(192_000, 48_000), (96_000, 48_000), (88_200, 48_000), (384_000, 48_000), (50_000, 48_000)]
)
@pytest.mark.parametrize("block", [1_000, 65_536, 250_001])
def test_streamed_equals_whole(orig: int, new: int, block: int) -> None:
    x = np.random.default_rng(0).normal(size=orig * 3 + 123).astype(np.float32)
    whole = AF.resample(torch.from_numpy(x), orig, new).numpy()
    stream = StreamResampler(orig, new)
    parts = [y for start in range(0, len(x), block) for y in stream.feed(x[start : start + block])]
    parts += stream.finish()
    streamed = np.concatenate(parts)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-6, rtol=0)


def test_a_high_rate_file_is_resampled_while_decoding() -> None:
    rate = 192_000
    t = np.arange(rate * 2) / rate
    tone = (0.3 * np.sin(2 * np.pi * 1_000 * t)).astype(np.float32)
    out = io.BytesIO()
    sf.write(out, np.stack([tone, tone], axis=1), rate, format="WAV", subtype="FLOAT")
    wave = read_audio(out.getvalue(), source="hi.wav", max_seconds=10, decode_rate=48_000)
    whole = AF.resample(torch.from_numpy(tone), rate, 48_000).numpy()
    assert wave.sample_rate == 48_000 and wave.samples.shape == whole.shape
    np.testing.assert_allclose(wave.samples, whole, atol=1e-5, rtol=0)
