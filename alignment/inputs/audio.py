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
AUDIO_FORMATS = ("WAV", "WAVEX", "RF64", "W64", "FLAC", "OGG", "MP3")  # libsndfile reads more; strangers get these
MAX_CHANNELS = 64
MAX_PEAK = 1_000.0  # float samples past this are not audio in [-1, 1] (and overflow the mel spectrogram)
_BLOCK = 1 << 16  # frames decoded at a time: a many-channel file is mixed to mono block by block


@dataclass(frozen=True)
class Waveform:
    """Mono float32 samples in [-1, 1] at `sample_rate`."""

    samples: np.ndarray  # (T,)
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class AudioHeader:
    """What `soundfile.info` says before decoding: the cost of a file is its `seconds`."""

    frames: int
    sample_rate: int
    channels: int
    format: str

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def probe_audio(data: bytes, *, source: str, max_seconds: float, max_rate: int = 384_000) -> AudioHeader:
    """Read the header only: format, rate, channels and length checked before a sample is decoded."""
    if not data:
        raise InputError(source, "file is empty (0 bytes)")
    try:
        info = sf.info(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001  libsndfile errors, and TypeError/RuntimeError from odd headers
        reason = getattr(exc, "error_string", None) or "unknown or damaged audio data"  # str(exc) names a BytesIO
        raise InputError(source, f"not a readable audio file (WAV, FLAC, OGG or MP3): {reason}") from None
    if info.format not in AUDIO_FORMATS:
        raise InputError(source, f"audio format {info.format} is not supported (use WAV, FLAC, OGG or MP3)")
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise InputError(source, "audio file holds no samples")
    if info.samplerate > max_rate:
        raise InputError(source, f"sample rate {info.samplerate:,} Hz is over the limit of {max_rate:,} Hz")
    if info.channels > MAX_CHANNELS:
        raise InputError(source, f"{info.channels} channels, over the limit of {MAX_CHANNELS}")
    header = AudioHeader(int(info.frames), int(info.samplerate), int(info.channels), str(info.format))
    if header.seconds > max_seconds:
        raise InputError(source, f"audio is {header.seconds:.1f} s long, over the limit of {max_seconds:g} s")
    return header


def decode_audio(data: bytes, header: AudioHeader, *, source: str, decode_rate: int | None = None) -> Waveform:
    """Decode block by block, mixing to mono and (above `decode_rate`) resampling down as it goes, so memory holds
    one mono copy at the output rate, never the file's channels at its own rate. Never reads much more than the
    header promised (MP3 lengths are estimates: a little slack)."""
    most = header.frames + max(header.sample_rate, header.frames // 20)
    from .resample import StreamResampler  # torch: only for audio above the decode rate

    resampler = (
        StreamResampler(header.sample_rate, decode_rate)
        if decode_rate is not None and header.sample_rate > decode_rate
        else None
    )
    parts: list[np.ndarray] = []
    count = 0
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            for block in f.blocks(blocksize=_BLOCK, dtype="float32", always_2d=True):  # (B, C)
                mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0].copy()  # (B,)
                count += len(mono)
                if count > most:
                    raise InputError(source, f"audio holds more samples than its header says ({header.frames:,})")
                _check_samples(mono, source)
                parts.extend(resampler.feed(mono) if resampler else [mono])
            if resampler:
                parts.extend(resampler.finish())
    except InputError:
        raise
    except MemoryError:
        raise InputError(source, "ran out of memory while decoding this audio") from None
    except Exception as exc:  # noqa: BLE001  a truncated or damaged stream fails inside libsndfile's decoder
        reason = getattr(exc, "error_string", None) or str(exc)
        raise InputError(source, f"audio could not be decoded (damaged or truncated?): {reason}") from None
    if count == 0:
        raise InputError(source, "audio file holds no samples (truncated?)")
    samples = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return Waveform(samples, decode_rate if resampler else header.sample_rate)  # type: ignore[arg-type]


def _check_samples(samples: np.ndarray, source: str) -> None:
    if not np.isfinite(samples).all():
        raise InputError(source, "audio contains NaN or infinite samples")
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak > MAX_PEAK:
        raise InputError(source, f"samples reach {peak:.3g}; float audio must lie in [-1, 1] (or near it)")


def read_audio(
    data: bytes, *, source: str, max_seconds: float, max_rate: int = 384_000, decode_rate: int | None = None
) -> Waveform:
    """Decode WAV/FLAC/OGG/MP3 bytes to mono float32; refuses clips longer than `max_seconds` before decoding."""
    header = probe_audio(data, source=source, max_seconds=max_seconds, max_rate=max_rate)
    return decode_audio(data, header, source=source, decode_rate=decode_rate)


def from_array(samples: np.ndarray, sample_rate: int, *, source: str, max_seconds: float) -> Waveform:
    """A waveform from an in-memory array (e.g. a microphone recording): int PCM is scaled, channels mixed."""
    array = np.asarray(samples)
    if array.size == 0:
        raise InputError(source, "audio holds no samples")
    if not 0 < sample_rate <= 384_000:
        raise InputError(source, f"sample rate must be between 1 and 384,000 Hz, got {sample_rate}")
    if array.dtype.kind not in "iuf":
        raise InputError(source, f"audio samples must be numbers, got {array.dtype}")
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)  # int16 from gr.Audio(type="numpy")
    array = array.astype(np.float32)
    if array.ndim == 2:
        array = array.mean(axis=1)  # (T, C) -> (T,)
    if array.ndim != 1:
        raise InputError(source, f"audio array must be (samples,) or (samples, channels), got shape {samples.shape}")
    if len(array) / sample_rate > max_seconds:
        raise InputError(source, f"audio is {len(array) / sample_rate:.1f} s long, over the limit of {max_seconds:g} s")
    if not np.isfinite(array).all():
        raise InputError(source, "audio contains NaN or infinite samples")
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
