"""Why does this text match this sound: relevance over time for one (text, audio clip) pair under CLAP.

Two methods, both on the clip's own time axis in seconds:

- ``windows``: short deterministic sliding windows (1 s, hop 0.5 s by default; the last one ends at the
  clip's end), each repeat-padded to the model's 10 s input exactly as CLAP's feature extractor pads a
  short clip, embedded, and compared with the text (cosine). Model-agnostic and easy to read, but a 1 s
  window repeated ten times is not what the model sees in context.
- ``gradient``: gradient x (input - baseline) of the clip-text cosine w.r.t. the log-mel features the model
  reads, with the baseline = the features of silence (so silent frames get exactly 0, where plain
  gradient x input would multiply by CLAP's -100 dB floor). Summed over mel bins -> one value per frame; the
  full (frames, mels) map is kept. Frames of the repeat-padded copies of a short clip fold back onto the
  clip's own frames; a clip longer than 10 s goes through the encoder's deterministic windows
  (`alignment.audio.window_starts`) and the score is the encoder's averaged clip embedding.

`MelRelevance.mel` is the log-mel spectrogram (dB) the model reads, with `times` in seconds, for drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ..inputs import audio as audio_io
from .maps import colormap, normalize
from .text import TextMethod, TokenRelevance, token_relevance

if TYPE_CHECKING:
    from ..models.encoders import ClapEncoder

MelBaseline = Literal["silence", "zero"]


@dataclass(frozen=True)
class TimeRelevance:
    """Cosine of each sliding window with the text."""

    starts: np.ndarray  # (W,) seconds
    ends: np.ndarray  # (W,) seconds
    scores: np.ndarray  # (W,) raw cosine of each window's embedding with the text
    relevance: np.ndarray  # (W,) scores min-max normalized to [0, 1]
    score: float  # cosine of the whole clip (the encoder's embedding) with the text
    duration: float  # seconds

    @property
    def centers(self) -> np.ndarray:
        return (self.starts + self.ends) / 2


@dataclass(frozen=True)
class MelRelevance:
    """Gradient x (input - silence) on the log-mel features, folded onto the clip's frames."""

    mel: np.ndarray  # (frames, mels) log-mel dB as the model reads it
    times: np.ndarray  # (frames,) seconds, frame centres
    mel_map: np.ndarray  # (frames, mels) signed relevance per time-frequency bin
    frames: np.ndarray  # (frames,) signed relevance per frame (mel_map summed over mels)
    relevance: np.ndarray  # (frames,) positive part / max, in [0, 1] (what supports the match)
    score: float  # cosine of the clip embedding with the text


# ---------------------------------------------------------------------------- windows


def sliding_windows(n_samples: int, window: int, hop: int) -> list[tuple[int, int]]:
    """(start, end) sample ranges: every `hop` from 0 while a full window fits, then one ending at the clip's end."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive (got window: {window} and hop: {hop})")
    if n_samples <= window:
        return [(0, n_samples)]
    ranges = [(s, s + window) for s in range(0, n_samples - window + 1, hop)]
    if ranges[-1][1] < n_samples:
        ranges.append((n_samples - window, n_samples))
    return ranges


def _samples(encoder: ClapEncoder, wave: audio_io.Waveform) -> np.ndarray:
    samples = audio_io.resample(wave, encoder.sample_rate).samples
    if len(samples) == 0:
        raise ValueError("the audio clip holds no samples")
    return samples


def _features(encoder: ClapEncoder, chunks: Sequence[np.ndarray]) -> torch.Tensor:
    """CLAP's log-mel features of each chunk, repeat-padded to the model's input length: (N, 1, frames, mels)."""
    extractor = encoder.processor.feature_extractor  # type: ignore[attr-defined]
    return extractor(list(chunks), sampling_rate=encoder.sample_rate, return_tensors="pt")["input_features"]


@torch.inference_mode()
def _text_embedding(encoder: ClapEncoder, text: str) -> torch.Tensor:
    return encoder.encode_text([text])[0]  # (D,) unit, CPU


def window_similarity(
    encoder: ClapEncoder, text: str, wave: audio_io.Waveform, *, window_seconds: float = 1.0, hop_seconds: float = 0.5
) -> TimeRelevance:
    """Relevance over time from the text's cosine with each sliding window (see the module docstring)."""
    from ..models.encoders import AudioBatch

    rate = encoder.sample_rate
    window, hop = round(window_seconds * rate), round(hop_seconds * rate)
    if window > encoder.window:
        raise ValueError(
            f"window_seconds must be at most the model's {encoder.window / rate:g} s (got {window_seconds})"
        )
    samples = _samples(encoder, wave)
    ranges = sliding_windows(len(samples), window, hop)
    text_emb = _text_embedding(encoder, text)
    embs = []
    for start in range(0, len(ranges), encoder.batch_size):
        part = ranges[start : start + encoder.batch_size]
        feats = _features(encoder, [samples[a:b] for a, b in part])
        batch = AudioBatch(feats, torch.zeros(len(part), 1, dtype=torch.bool), torch.arange(len(part)), len(part))
        embs.append(encoder.forward_audio(batch))  # (n, D) unit: one "clip" per window
    scores = (torch.cat(embs) @ text_emb).numpy().astype(np.float32)  # (W,)
    with torch.inference_mode():
        clip_score = float(encoder.encode_audio([audio_io.Waveform(samples, rate)])[0] @ text_emb)
    bounds = np.asarray(ranges, dtype=np.float64) / rate
    return TimeRelevance(bounds[:, 0], bounds[:, 1], scores, normalize(scores), clip_score, len(samples) / rate)


# ---------------------------------------------------------------------------- mel gradient


def _frame_index(encoder: ClapEncoder, n_samples: int, starts: Sequence[int], n_padded_frames: int) -> list[np.ndarray]:
    """For each model window, the clip frame every padded frame maps to (-1 = zero padding, no clip frame)."""
    hop = int(encoder.processor.feature_extractor.hop_length)  # type: ignore[attr-defined]
    last = n_samples // hop
    position = np.arange(n_padded_frames) * hop  # the sample each padded frame is centred on
    out = []
    for start in starts:
        length = min(encoder.window, n_samples - start)
        if length == encoder.window:  # a full window: no repeats, frame f is the clip's frame start/hop + f
            index = np.rint((start + position) / hop).astype(np.int64)
        else:  # repeat-padded as the extractor's "repeatpad": window // length copies, then zeros
            copies = encoder.window // length
            index = np.rint((start + position % length) / hop).astype(np.int64)
            index[position >= copies * length] = -1
        index[index > last] = -1
        out.append(index)
    return out


def _fold(
    encoder: ClapEncoder, n_samples: int, starts: Sequence[int], per_window: np.ndarray, *, average: bool
) -> np.ndarray:
    """(W, padded frames, mels) -> (clip frames, mels): summed (contributions) or averaged (the mel itself)."""
    hop = int(encoder.processor.feature_extractor.hop_length)  # type: ignore[attr-defined]
    n_frames = n_samples // hop + 1
    total = np.zeros((n_frames, per_window.shape[-1]), np.float64)
    counts = np.zeros(n_frames, np.float64)
    for w, index in enumerate(_frame_index(encoder, n_samples, starts, per_window.shape[1])):
        valid = index >= 0
        np.add.at(total, index[valid], per_window[w][valid])
        np.add.at(counts, index[valid], 1.0)
    if not average:
        return total
    mean = total / np.maximum(counts, 1.0)[:, None]
    seen = np.flatnonzero(counts > 0)
    if len(seen) and len(seen) < n_frames:  # a frame no window reaches (the seam of a repeated short clip): nearest
        nearest = seen[np.clip(np.searchsorted(seen, np.arange(n_frames)), 0, len(seen) - 1)]
        mean = mean[nearest]
    return mean


def _times(encoder: ClapEncoder, n_frames: int) -> np.ndarray:
    hop = int(encoder.processor.feature_extractor.hop_length)  # type: ignore[attr-defined]
    return (np.arange(n_frames) * hop / encoder.sample_rate).astype(np.float32)


def mel_spectrogram(encoder: ClapEncoder, wave: audio_io.Waveform) -> tuple[np.ndarray, np.ndarray]:
    """The log-mel spectrogram (dB) the model reads, (frames, mels), and the frame times in seconds, (frames,)."""
    samples = _samples(encoder, wave)
    starts = audio_io.window_starts(len(samples), encoder.window)
    feats = _features(encoder, [samples[s : s + encoder.window] for s in starts])[:, 0].float().numpy()
    mel = _fold(encoder, len(samples), starts, feats, average=True)
    return mel.astype(np.float32), _times(encoder, len(mel))


def mel_frequencies(encoder: ClapEncoder) -> np.ndarray:
    """(mels,) the centre frequency in Hz of each mel band the model reads, low to high (for a frequency axis)."""
    extractor = encoder.processor.feature_extractor
    slaney = getattr(extractor, "truncation", "fusion") != "fusion"  # the unfused CLAP reads the Slaney filters
    filters = np.asarray(extractor.mel_filters_slaney if slaney else extractor.mel_filters)  # (freq bins, mels)
    bins = np.linspace(0.0, extractor.sampling_rate / 2, filters.shape[0])  # (freq bins,) Hz
    return bins[filters.argmax(axis=0)].astype(np.float32)


def mel_gradient(
    encoder: ClapEncoder, text: str, wave: audio_io.Waveform, *, baseline: MelBaseline = "silence"
) -> MelRelevance:
    """Gradient x (input - baseline) of the clip-text cosine on the log-mel input (see the module docstring)."""
    if baseline not in ("silence", "zero"):
        raise ValueError(f"unknown mel baseline {baseline!r} (expected 'silence' or 'zero')")
    samples = _samples(encoder, wave)
    starts = audio_io.window_starts(len(samples), encoder.window)
    feats = _features(encoder, [samples[s : s + encoder.window] for s in starts])  # (W, 1, frames, mels)
    base = _features(encoder, [np.zeros(encoder.window, np.float32)]) if baseline == "silence" else torch.zeros(1)
    text_emb = _text_embedding(encoder, text).to(encoder.device).float()
    with torch.inference_mode(False), torch.enable_grad():
        text_emb = text_emb.clone()  # a normal tensor: inference tensors cannot be saved for backward
        x = feats.to(encoder.device, encoder.dtype).clone().requires_grad_(True)
        longer = torch.zeros(len(starts), 1, dtype=torch.bool, device=encoder.device)
        out = encoder.model.get_audio_features(input_features=x, is_longer=longer)
        windows = F.normalize((out if isinstance(out, torch.Tensor) else out.pooler_output).float(), dim=-1)  # (W, D)
        clip = F.normalize(windows.sum(0), dim=-1)  # as ClapEncoder.forward_audio: mean of unit windows, renormalized
        score = clip @ text_emb
        (grad,) = torch.autograd.grad(score, x)
    contrib = (grad.float() * (x.detach().float() - base.to(x.device).float()))[:, 0].cpu().numpy()  # (W, frames, mels)
    mel_map = _fold(encoder, len(samples), starts, contrib, average=False)  # copies add up: the score sees them all
    mel = _fold(encoder, len(samples), starts, feats[:, 0].float().numpy(), average=True)
    frames = mel_map.sum(axis=1)  # (clip frames,)
    top = float(frames.max()) if frames.size else 0.0
    relevance = np.clip(frames, 0.0, None) / top if top > 0 else np.zeros_like(frames)
    return MelRelevance(
        mel=mel.astype(np.float32),
        times=_times(encoder, len(mel)),
        mel_map=mel_map.astype(np.float32),
        frames=frames.astype(np.float32),
        relevance=relevance.astype(np.float32),
        score=float(score.detach()),
    )


def window_bounds(
    encoder: ClapEncoder, wave: audio_io.Waveform, *, window_seconds: float = 1.0, hop_seconds: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) in seconds of the sliding windows `window_similarity` would use, without embedding them."""
    rate = encoder.sample_rate
    n = len(_samples(encoder, wave))
    bounds = np.asarray(sliding_windows(n, round(window_seconds * rate), round(hop_seconds * rate)), np.float64) / rate
    return bounds[:, 0], bounds[:, 1]


def frames_to_windows(mel: MelRelevance, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Mean signed frame relevance inside each [start, end) window, seconds -> (W,)."""
    out = np.zeros(len(starts), np.float32)
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        inside = (mel.times >= a) & (mel.times < b)
        out[i] = float(mel.frames[inside].mean()) if inside.any() else 0.0
    return out


# ---------------------------------------------------------------------------- words and faithfulness


def text_relevance(
    encoder: ClapEncoder, text: str, wave: audio_io.Waveform, *, method: TextMethod = "gradient"
) -> TokenRelevance:
    """Which words of `text` drive its similarity with the clip (see alignment.explain.text)."""
    with torch.inference_mode():
        target = encoder.encode_audio([wave])[0]
    return token_relevance(encoder, text, target, method=method)


def audio_score(
    encoder: ClapEncoder, text: str, wave: audio_io.Waveform, *, starts: np.ndarray, ends: np.ndarray
) -> _WindowScore:
    """`score(mask) -> cosine(text, clip with the windows where mask is False silenced)`, for `faithfulness`.

    Windows are [starts[i], ends[i]) in seconds (e.g. from `window_similarity`); they may overlap, and a
    sample is silenced when any removed window covers it. The clip is embedded as the encoder embeds it.
    """
    samples = _samples(encoder, wave)
    rate = encoder.sample_rate
    ranges = [(int(round(a * rate)), int(round(b * rate))) for a, b in zip(starts, ends, strict=True)]
    return _WindowScore(encoder, samples, ranges, _text_embedding(encoder, text))


class _WindowScore:
    """cosine(text, clip with some windows silenced), for one mask or a batch of them (batched forwards)."""

    def __init__(
        self, encoder: ClapEncoder, samples: np.ndarray, ranges: list[tuple[int, int]], text_emb: torch.Tensor
    ) -> None:
        self.encoder, self.samples, self.ranges, self.text_emb = encoder, samples, ranges, text_emb

    @torch.inference_mode()
    def many(self, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=bool).reshape(len(masks), -1)  # (M, W)
        if masks.shape[1] != len(self.ranges):
            raise ValueError(f"mask has {masks.shape[1]} entries for {len(self.ranges)} windows")
        waves = []
        for keep in masks:
            silenced = self.samples.copy()
            for (a, b), kept in zip(self.ranges, keep, strict=True):
                if not kept:
                    silenced[a:b] = 0.0
            waves.append(audio_io.Waveform(silenced, self.encoder.sample_rate))
        return (self.encoder.encode_audio(waves) @ self.text_emb).numpy()  # (M,)

    def __call__(self, mask: np.ndarray) -> float:
        return float(self.many(np.asarray(mask)[None])[0])


# ---------------------------------------------------------------------------- drawing


def _tick_step(duration: float) -> float:
    for step in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0):
        if duration / step <= 10:
            return step
    return 10 ** math.ceil(math.log10(duration / 10))


def spectrogram_image(
    mel: np.ndarray,
    times: np.ndarray,
    curve_times: np.ndarray,
    curve: np.ndarray,
    *,
    width: int = 800,
    label: str = "relevance",
) -> Image.Image:
    """The log-mel spectrogram (time left to right, low frequencies at the bottom) under a relevance curve in [0, 1]."""
    left, right, top, curve_h, mel_h, axis_h = 44, 12, 8, 90, 160, 22
    plot_w = max(64, width - left - right)
    duration = float(times[-1]) if len(times) > 1 else 1.0
    canvas = Image.new("RGB", (left + plot_w + right, top + curve_h + 6 + mel_h + axis_h), "white")
    draw = ImageDraw.Draw(canvas)
    spec = colormap(normalize(mel.T[::-1]))  # (mels, frames, 3), low frequencies at the bottom
    canvas.paste(Image.fromarray(spec).resize((plot_w, mel_h), Image.Resampling.BILINEAR), (left, top + curve_h + 6))
    x = lambda t: left + (float(t) / duration) * (plot_w - 1) if duration > 0 else left  # noqa: E731
    y0, y1 = top + curve_h, top
    draw.rectangle([left, y1, left + plot_w - 1, y0], outline=(180, 180, 180))
    values = np.clip(np.nan_to_num(np.asarray(curve, dtype=np.float64)), 0.0, 1.0)
    points = [(x(t), y0 - v * (curve_h - 4)) for t, v in zip(curve_times, values, strict=True)]
    if len(points) == 1:
        points = [(left, points[0][1]), (left + plot_w - 1, points[0][1])]
    draw.line(points, fill=(200, 40, 40), width=2)
    draw.text((left + 4, y1 + 2), label, fill=(90, 90, 90))
    draw.text((4, top + curve_h + 6), "mel", fill=(0, 0, 0))
    draw.text((4, y0 - 10), "0", fill=(0, 0, 0))
    draw.text((4, y1), "1", fill=(0, 0, 0))
    axis_y = top + curve_h + 6 + mel_h
    step = _tick_step(max(duration, 1e-3))
    for k in range(int(duration / step) + 1):
        t = k * step
        draw.line([(x(t), axis_y), (x(t), axis_y + 4)], fill=(0, 0, 0))
        draw.text((x(t) - 8, axis_y + 6), f"{t:g}s", fill=(0, 0, 0))
    return canvas


__all__ = [
    "MelRelevance",
    "TimeRelevance",
    "audio_score",
    "frames_to_windows",
    "mel_frequencies",
    "mel_gradient",
    "mel_spectrogram",
    "sliding_windows",
    "spectrogram_image",
    "text_relevance",
    "window_bounds",
    "window_similarity",
]


@dataclass(frozen=True)
class AudioExplanation:
    """One method's answer in the shape every caller draws and scores: a curve over time, and per-window
    relevance over the sliding windows (the units the faithfulness curves silence)."""

    method: str
    score: float  # cosine of the text and the whole clip
    mel: np.ndarray  # (frames, mels) for drawing
    times: np.ndarray  # (frames,) seconds
    curve_times: np.ndarray  # (P,) seconds
    curve: np.ndarray  # (P,) relevance
    starts: np.ndarray  # (W,) window starts, seconds
    ends: np.ndarray  # (W,) window ends, seconds
    per_window: np.ndarray  # (W,) relevance of each window


def explain(
    encoder: ClapEncoder,
    text: str,
    wave: audio_io.Waveform,
    *,
    method: str = "windows",
    window_seconds: float = 1.0,
    hop_seconds: float = 0.5,
) -> AudioExplanation:
    """'windows' (sliding-window similarity) or 'gradient' (gradient x input on the mel, folded into windows)."""
    if method == "windows":
        w = window_similarity(encoder, text, wave, window_seconds=window_seconds, hop_seconds=hop_seconds)
        mel, times = mel_spectrogram(encoder, wave)
        return AudioExplanation(method, w.score, mel, times, w.centers, w.relevance, w.starts, w.ends, w.relevance)
    if method == "gradient":
        g = mel_gradient(encoder, text, wave)
        starts, ends = window_bounds(encoder, wave, window_seconds=window_seconds, hop_seconds=hop_seconds)
        per_window = frames_to_windows(g, starts, ends)
        return AudioExplanation(method, g.score, g.mel, g.times, g.times, g.relevance, starts, ends, per_window)
    raise ValueError(f"unknown audio explanation method {method!r} (expected 'windows' or 'gradient')")
