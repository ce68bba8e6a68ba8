"""What the Explain tab shows for one pair: the relevance map (over the image, or over time on the spectrogram), the
words, and the faithfulness curves. Imports the explanation modules (torch): the tab loads it on first use.

Each explanation comes in two steps, so the map and the words are on screen in seconds: `*_map` computes them,
`*_faithfulness` then scores the deletion and insertion curves (many forward passes, batched), whose expected
time `estimate` states beforehand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from alignment.explain import audio as xa
from alignment.explain import image as xi
from alignment.explain import maps as xm
from alignment.explain.faithfulness import BatchScore, masks_needed
from alignment.explain.faithfulness import evaluate as faithfulness
from alignment.inputs.audio import Waveform
from alignment.inputs.files import load_file
from alignment.inputs.limits import Limits
from alignment.models.encoders import Encoders
from alignment.views import figures
from ui.widgets.audio_map import audio_map_html
from ui.widgets.text import md

FAITHFULNESS_STEPS = 8  # deletion/insertion points: each is one forward pass per order
RANDOM_ORDERS = 3
DIMMED = 0.55  # how dark the parts of the image CLIP's centre crop leaves out are drawn


@dataclass(frozen=True)
class ImageMap:
    """An image explanation before its faithfulness check."""

    units = "patches"  # what the faithfulness check deletes and inserts
    image: Image.Image
    result: xi.ImageRelevance
    tokens: list[tuple[str, float]]
    picture: Image.Image  # the overlay, with its colour bar
    head: str  # which pair, method, score and patch grid, in one line
    note: str  # what the overlay's colours and dimmed bands mean

    @property
    def relevance(self) -> np.ndarray:
        return self.result.relevance

    def scorer(self, encoders: Encoders, text: str) -> BatchScore:
        return xi.image_score(encoders.clip, text, self.image)

    def numbers(self, method: str, curves: dict | None) -> dict:
        return {
            "method": method,
            "score": self.result.score,
            "grid": list(self.result.grid),
            "relevance": np.round(self.result.relevance, 5).tolist(),
            "tokens": self.tokens,
            "faithfulness": curves,
        }


@dataclass(frozen=True)
class AudioMap:
    """A sound explanation before its faithfulness check."""

    units = "windows"
    wave: Waveform
    result: xa.AudioExplanation
    tokens: list[tuple[str, float]]
    picture: str  # the audio map's HTML
    head: str
    note: str

    @property
    def relevance(self) -> np.ndarray:
        return self.result.per_window

    def scorer(self, encoders: Encoders, text: str) -> BatchScore:
        return xa.audio_score(encoders.clap, text, self.wave, starts=self.result.starts, ends=self.result.ends)

    def numbers(self, method: str, curves: dict | None) -> dict:
        x = self.result
        return {
            "method": method,
            "score": x.score,
            "times": np.round(x.curve_times, 4).tolist(),
            "relevance": np.round(x.curve, 5).tolist(),
            "tokens": self.tokens,
            "faithfulness": curves,
        }


def pair_line(text: str, name: str, noun: str) -> str:
    """'“a siren wailing” × siren_sweep.flac (sound)': which pair a result is about, escaped."""
    return f"“{md(text)}” × {md(name)} ({noun})"


def image_map(
    encoders: Encoders, text: str, path: str, method: str, limits: Limits, *, opacity: float = 0.5
) -> ImageMap:
    image = load_file(path, "image", limits=limits, purpose="explain").payload  # the upload's checks and budgets
    result = xi.explain(encoders.clip, text, image, method=method)  # type: ignore[arg-type]
    overlay = xm.overlay(image, result.relevance, opacity=opacity, box=result.box, dim_outside=DIMMED)
    tokens = xi.text_relevance(encoders.clip, text, image).pairs()
    full = result.box == (0.0, 0.0, float(image.width), float(image.height))
    crop = (
        ""
        if full
        else " The greyed-out bands lie outside the centre square CLIP crops the image to: it never sees them."
    )
    return ImageMap(
        image,
        result,
        tokens,
        xm.with_colorbar(overlay, title=f"{method} relevance"),
        head=f"**Explaining** {pair_line(text, Path(path).name, 'image')} · **{method}** · cosine "
        f"{result.score:.3f} · patch grid {result.grid[0]}×{result.grid[1]}",
        note=f"Bright = the patches that make the text and the image similar; dark = patches that don't.{crop}",
    )


def audio_map(encoders: Encoders, text: str, path: str, method: str, limits: Limits, **_: object) -> AudioMap:
    wave = load_file(path, "audio", limits=limits, purpose="explain").payload  # at most max_explain_seconds
    clap = encoders.clap
    x = xa.explain(clap, text, wave, method=method)
    tokens = xa.text_relevance(clap, text, wave).pairs()
    picture = audio_map_html(wave, x.mel, xa.mel_frequencies(clap), x.curve_times, x.curve, label=method)
    return AudioMap(
        wave,
        x,
        tokens,
        picture,
        head=f"**Explaining** {pair_line(text, Path(path).name, 'sound')} · **{method}** · cosine "
        f"{x.score:.3f} · {wave.seconds:.1f} s",
        note="",
    )


# ---------------------------------------------------------------------------- both


def estimate(score: BatchScore, relevance: np.ndarray) -> tuple[int, float]:
    """(forward passes, expected seconds) of the faithfulness check of `relevance`, from one pass timed now."""
    passes = len(masks_needed(relevance, n_random=RANDOM_ORDERS, steps=FAITHFULNESS_STEPS))
    start = time.perf_counter()
    score.many(np.ones((1, np.asarray(relevance).size), dtype=bool))
    return passes, passes * (time.perf_counter() - start)


def check(score: BatchScore, relevance: np.ndarray) -> dict:
    """The deletion and insertion curves, as JSON, every distinct mask scored in batches."""
    curves = faithfulness(score, relevance, n_random=RANDOM_ORDERS, steps=FAITHFULNESS_STEPS)
    return {m: c.to_json() for m, c in curves.items()}


def words_figure(tokens: list[tuple[str, float]], *, character_level: bool) -> object:
    # two short lines: one long line ran off a phone's screen. The colours are token_bars': green up, red down.
    title = "Which words drive the match<br><sup>green pushes the score up, red pulls it down</sup>"
    if character_level:
        title += "<br><sup>this tokenizer reads characters: each bar is one character</sup>"
    return figures.token_bars(tokens, title=title)


def faithfulness_figure(curves: dict | None, *, units: str) -> object:
    if curves is None:
        return figures.empty_figure("Checking how far to trust the map…")
    return figures.faithfulness_figure(curves, units=units)


def faithfulness_words(curves: dict | None, *, units: str) -> str:
    """The deletion/insertion verdict in one sentence."""
    if curves is None:
        return ""
    deletion, insertion = curves["deletion"]["area"], curves["insertion"]["area"]
    trusted = deletion > 0 and insertion > 0
    verdict = (
        "the map beats a random order both ways, so it deserves trust"
        if trusted
        else "the map does not beat a random order both ways: read it with care"
    )
    lowers = "lowers" if deletion > 0 else "does not lower"
    raises = "raises" if insertion > 0 else "does not raise"
    return (
        f"Removing the most relevant {units} first {lowers} the score faster than chance (deletion area "
        f"{deletion:+.3f}); adding them first {raises} it faster (insertion area {insertion:+.3f}): {verdict}."
    )
