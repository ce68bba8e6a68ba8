"""Audio front end: decode with soundfile, mix to mono, resample, and cut deterministic windows.

CLAP sees at most `window` samples (10 s at 48 kHz for HTSAT). Its feature extractor crops longer
clips at a *random* offset, so the same file could give different embeddings. Instead, a clip longer
than the window is covered by `ceil(len / window)` full windows spread evenly from start to end
(first at 0, last ending at the final sample, overlapping when the length is not a multiple);
the encoder embeds each window and averages the unit vectors. Shorter clips are one window that
the feature extractor repeat-pads. One file therefore always gives one embedding.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from ..core.errors import InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3")


@dataclass(frozen=True)
class Waveform:
    """Mono float32 samples in [-1, 1] at `sample_rate`."""

    samples: np.ndarray  # (T,)
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def probe_audio(data: bytes, *, source: str, max_seconds: float) -> float:
    """Duration in seconds from the header alone, checked like `read_audio` checks it, without decoding samples."""
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        reason = getattr(exc, "error_string", None) or "unknown or damaged audio data"  # str(exc) names a BytesIO
        raise InputError(source, f"not a readable audio file (WAV, FLAC, OGG or MP3): {reason}") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise InputError(source, "audio file holds no samples")
    duration = info.frames / info.samplerate
    if duration > max_seconds:
        raise InputError(source, f"audio is {duration:.1f} s long, over the limit of {max_seconds:g} s")
    return duration


def read_audio(data: bytes, *, source: str, max_seconds: float) -> Waveform:
    """Decode WAV/FLAC/OGG/MP3 bytes to mono float32; refuses clips longer than `max_seconds` before decoding."""
    probe_audio(data, source=source, max_seconds=max_seconds)
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)  # (T, C)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InputError(source, f"audio could not be decoded: {exc}") from None
    if samples.shape[0] == 0:
        raise InputError(source, "audio file holds no samples")
    if not np.isfinite(samples).all():
        raise InputError(source, "audio contains NaN or infinite samples")
    return Waveform(samples.mean(axis=1), int(rate))  # mix channels to mono


def from_array(samples: np.ndarray, sample_rate: int, *, source: str, max_seconds: float) -> Waveform:
    """A waveform from an in-memory array (e.g. a microphone recording): int PCM is scaled, channels mixed."""
    array = np.asarray(samples)
    if array.size == 0:
        raise InputError(source, "audio holds no samples")
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)  # int16 from gr.Audio(type="numpy")
    array = array.astype(np.float32)
    if array.ndim == 2:
        array = array.mean(axis=1)  # (T, C) -> (T,)
    if array.ndim != 1:
        raise InputError(source, f"audio array must be (samples,) or (samples, channels), got shape {samples.shape}")
    if len(array) / sample_rate > max_seconds:
        raise InputError(source, f"audio is {len(array) / sample_rate:.1f} s long, over the limit of {max_seconds:g} s")
    return Waveform(array, int(sample_rate))


def resample(wave: Waveform, target_rate: int) -> Waveform:
    """Band-limited sinc resampling (torchaudio) to the encoder's rate; a no-op when rates match."""
    if wave.sample_rate == target_rate:
        return wave
    import torch  # lazy: decoding and validating audio must not pay for torch (the app serves its page first)
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(wave.samples), wave.sample_rate, target_rate)
    return Waveform(out.numpy().astype(np.float32, copy=False), target_rate)


def window_starts(n_samples: int, window: int) -> list[int]:
    """Start offsets of the deterministic windows covering a clip (see the module docstring)."""
    if window <= 0:
        raise ValueError(f"window must be positive, got {window}")
    if n_samples <= window:
        return [0]
    count = math.ceil(n_samples / window)
    last = n_samples - window
    return [round(i * last / (count - 1)) for i in range(count)]


def windows(samples: np.ndarray, window: int) -> list[np.ndarray]:
    """The clip cut into the windows that `window_starts` describes."""
    return [samples[start : start + window] for start in window_starts(len(samples), window)]
