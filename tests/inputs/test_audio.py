from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from alignment.core.errors import InputError
from alignment.inputs.audio import Waveform, from_array, read_audio, resample, window_starts, windows


@pytest.mark.parametrize("n, window", [(1, 10), (10, 10), (11, 10), (25, 10), (30, 10), (1_411_200, 480_000)])
def test_windows_cover_the_clip_with_full_windows(n: int, window: int) -> None:
    starts = window_starts(n, window)
    assert starts[0] == 0
    assert starts == sorted(starts)
    if n > window:
        assert len(starts) == -(-n // window)  # ceil
        assert starts[-1] + window == n  # the last window ends at the last sample
        assert all(b - a <= window for a, b in zip(starts, starts[1:], strict=False))  # no gaps
    chunks = windows(np.arange(n), window)
    assert all(len(c) == min(n, window) for c in chunks)


def test_real_clips_decode_mono_and_resample_to_48k(clips) -> None:
    assert len(clips) == 7
    for path in clips:
        wave = read_audio(path.read_bytes(), source=path.name, max_seconds=60)
        info = sf.info(path)
        assert wave.sample_rate == info.samplerate == 44_100
        assert wave.samples.ndim == 1 and wave.samples.dtype == np.float32
        assert len(wave.samples) == info.frames
        assert 15 < wave.seconds < 30  # longer than CLAP's 10 s window
        out = resample(wave, 48_000)
        assert out.sample_rate == 48_000
        assert abs(len(out.samples) - len(wave.samples) * 48_000 / 44_100) <= 1
        assert len(window_starts(len(out.samples), 480_000)) >= 2


def test_resampling_keeps_a_tone_at_its_frequency() -> None:
    rate, freq = 44_100, 1_000.0
    t = np.arange(rate) / rate
    out = resample(Waveform(np.sin(2 * np.pi * freq * t).astype(np.float32), rate), 48_000)
    spectrum = np.abs(np.fft.rfft(out.samples))
    peak = np.fft.rfftfreq(len(out.samples), 1 / 48_000)[spectrum.argmax()]
    assert abs(peak - freq) <= 1.0
    assert abs(np.sqrt(np.mean(out.samples**2)) - np.sqrt(0.5)) < 0.01  # energy preserved


def test_stereo_is_mixed_to_mono(tmp_path) -> None:
    left = np.full(4_800, 0.5, np.float32)
    right = np.full(4_800, -0.1, np.float32)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), 48_000)
    wave = read_audio(path.read_bytes(), source="stereo.flac", max_seconds=10)
    assert np.allclose(wave.samples, 0.2, atol=1e-3)


def test_limits_and_garbage_name_the_file(clips) -> None:
    with pytest.raises(InputError, match=r"over the limit of 5 s") as err:
        read_audio(clips[0].read_bytes(), source=clips[0].name, max_seconds=5)
    assert clips[0].name in str(err.value)
    with pytest.raises(InputError, match="notes.wav: not a readable audio file"):
        read_audio(b"this is text, not audio", source="notes.wav", max_seconds=5)


def test_int16_microphone_input_is_scaled() -> None:
    wave = from_array(np.array([0, 16384, -32767], np.int16), 16_000, source="mic", max_seconds=1)
    assert np.allclose(wave.samples, [0, 0.5, -1.0], atol=1e-4)


@pytest.mark.parametrize(
    "fmt, subtype, suffix", [("MP3", None, ".mp3"), ("OGG", "VORBIS", ".ogg"), ("FLAC", None, ".flac")]
)
def test_compressed_formats_decode_to_the_same_tone(tmp_path, fmt: str, subtype: str | None, suffix: str) -> None:
    rate = 44_100
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    path = tmp_path / f"tone{suffix}"
    sf.write(path, np.stack([tone, tone], axis=1), rate, format=fmt, subtype=subtype)
    wave = read_audio(path.read_bytes(), source=path.name, max_seconds=10)
    assert wave.sample_rate == rate and wave.samples.ndim == 1
    assert abs(wave.seconds - 1.0) < 0.1  # MP3 adds encoder delay / padding
    spectrum = np.abs(np.fft.rfft(wave.samples))
    assert abs(np.fft.rfftfreq(len(wave.samples), 1 / rate)[spectrum.argmax()] - 440) <= 2
