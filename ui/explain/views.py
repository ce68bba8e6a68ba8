"""What the Explain tab shows for one pair: the relevance map (over the image, or over time on the spectrogram), the
words, and the faithfulness curves. Imports the explanation modules (torch): the tab loads it on first use."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alignment.explain import audio as xa
from alignment.explain import image as xi
from alignment.explain import maps as xm
from alignment.explain.faithfulness import evaluate as faithfulness
from alignment.inputs.audio import read_audio
from alignment.inputs.image import read_image
from alignment.inputs.limits import Limits
from alignment.models.encoders import Encoders
from alignment.views import figures

FAITHFULNESS_STEPS = 8  # deletion/insertion points: each is one forward pass per order
RANDOM_ORDERS = 3


def explain_image_view(encoders: Encoders, text: str, path: str, method: str, opacity: float, limits: Limits) -> tuple:
    """(summary, overlay, token bars, faithfulness figure, numbers) for one text and one image file."""
    image = read_image(Path(path).read_bytes(), source=Path(path).name, limits=limits)
    result = xi.explain(encoders.clip, text, image, method=method)  # type: ignore[arg-type]
    overlay = xm.overlay(image, result.relevance, opacity=opacity, box=result.box)
    tokens = xi.text_relevance(encoders.clip, text, image).pairs()
    score = xi.image_score(encoders.clip, text, image)
    curves = {
        m: c.to_json()
        for m, c in faithfulness(score, result.relevance, n_random=RANDOM_ORDERS, steps=FAITHFULNESS_STEPS).items()
    }
    grid = f"{result.grid[0]}×{result.grid[1]}"
    summary = (
        f"**{method}** · cosine {result.score:.3f} · patch grid {grid} · deletion area "
        f"{curves['deletion']['area']:+.3f}, insertion area {curves['insertion']['area']:+.3f} "
        "(positive: the map beats a random order)"
    )
    numbers = {
        "method": method,
        "score": result.score,
        "grid": list(result.grid),
        "relevance": np.round(result.relevance, 5).tolist(),
        "tokens": tokens,
        "faithfulness": curves,
    }
    return summary, overlay, figures.token_bars(tokens), figures.faithfulness_figure(curves, units="patches"), numbers


def explain_audio_view(encoders: Encoders, text: str, path: str, method: str, limits: Limits) -> tuple:
    """(summary, spectrogram with relevance, token bars, faithfulness figure, numbers) for one text and clip."""
    wave = read_audio(Path(path).read_bytes(), source=Path(path).name, max_seconds=limits.max_audio_seconds)
    clap = encoders.clap
    x = xa.explain(clap, text, wave, method=method)
    starts, ends, per_window, score = x.starts, x.ends, x.per_window, x.score
    mel, times, curve_t, curve = x.mel, x.times, x.curve_times, x.curve
    picture = xa.spectrogram_image(mel, times, curve_t, curve, label=method)
    tokens = xa.text_relevance(clap, text, wave).pairs()
    scorer = xa.audio_score(clap, text, wave, starts=starts, ends=ends)
    curves = {
        m: c.to_json()
        for m, c in faithfulness(scorer, per_window, n_random=RANDOM_ORDERS, steps=FAITHFULNESS_STEPS).items()
    }
    summary = (
        f"**{method}** · cosine {score:.3f} · {wave.seconds:.1f} s · deletion area "
        f"{curves['deletion']['area']:+.3f}, insertion area {curves['insertion']['area']:+.3f} "
        "(positive: the curve beats a random order)"
    )
    numbers = {
        "method": method,
        "score": score,
        "times": np.round(curve_t, 4).tolist(),
        "relevance": np.round(curve, 5).tolist(),
        "tokens": tokens,
        "faithfulness": curves,
    }
    return summary, picture, figures.token_bars(tokens), figures.faithfulness_figure(curves, units="windows"), numbers
