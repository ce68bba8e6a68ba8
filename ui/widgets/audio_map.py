"""When in a sound a text's match comes from, drawn so it reads at a glance: the relevance curve over the mel
spectrogram, with time and frequency axes, colour scales, and the sound itself — a click on the picture plays from
that moment, and a playhead follows the sound across the curve.

A `gr.HTML` island (like ui/widgets/matrix.py): one SVG holds the curve, the spectrogram (a PNG), the axes and the
playhead; an `<audio>` element holds the clip (16 kHz Ogg Vorbis, as a data URL, so nothing is served from disk).
`js_on_load` wires the click-to-seek and the playhead once; both keep working when the content is replaced.
"""

from __future__ import annotations

import base64
import io
import math
import re
from html import escape

import gradio as gr
import numpy as np
import soundfile as sf
from PIL import Image

from alignment.inputs.audio import Waveform, resample

PLAYBACK_RATE = 16_000  # Hz of the embedded clip: speech and most sounds stay intelligible, the page stays light
W, LEFT, RIGHT = 640, 62, 12  # SVG coordinates: total width, the frequency labels' margin, the right margin
CURVE_TOP, CURVE_H, GAP, SPEC_H = 8, 90, 10, 190
SPEC_TOP = CURVE_TOP + CURVE_H + GAP
AXIS_Y = SPEC_TOP + SPEC_H
H = AXIS_Y + 66  # time labels, then the colour scales
FREQ_TICKS = (100, 250, 500, 1_000, 2_000, 4_000, 8_000, 12_000)

JS_ON_LOAD = """
const duration = (svg) => Number(svg.dataset.duration) || 0;
const toTime = (svg, event) => {
  const point = svg.createSVGPoint();
  point.x = event.clientX; point.y = event.clientY;
  const at = point.matrixTransform(svg.getScreenCTM().inverse());
  const left = Number(svg.dataset.left), width = Number(svg.dataset.width);
  return Math.min(Math.max((at.x - left) / width, 0), 1) * duration(svg);
};
const place = (root) => {
  const svg = root.querySelector('svg.amap'), audio = root.querySelector('audio');
  if (!svg || !audio) return;
  const left = Number(svg.dataset.left), width = Number(svg.dataset.width);
  const x = left + (duration(svg) ? Math.min(audio.currentTime / duration(svg), 1) : 0) * width;
  const head = svg.querySelector('.playhead');
  head.setAttribute('x1', x); head.setAttribute('x2', x);
  head.style.visibility = audio.currentTime > 0 || !audio.paused ? 'visible' : 'hidden';
};
element.addEventListener('click', (event) => {
  const svg = event.target.closest('svg.amap');
  if (!svg || !element.contains(svg)) return;
  const root = svg.closest('.audio-map'), audio = root.querySelector('audio');
  audio.currentTime = toTime(svg, event);
  audio.play();
  place(root);
});
let frame = null;
const follow = () => {
  element.querySelectorAll('.audio-map').forEach(place);
  const playing = Array.from(element.querySelectorAll('audio')).some((a) => !a.paused);
  frame = playing ? requestAnimationFrame(follow) : null;
};
['play', 'timeupdate', 'seeked', 'pause', 'ended'].forEach((name) =>
  element.addEventListener(name, () => { if (!frame) follow(); }, true)  // media events don't bubble: capture
);
"""

CSS = """
.audio-map svg { width: 100%; height: auto; display: block; cursor: pointer; user-select: none; }
.audio-map audio { width: 100%; margin-top: 6px; }
.audio-map .note { font-size: 12px; opacity: 0.8; margin: 4px 0 0; }
.audio-map text { font: 15px sans-serif; fill: #333; }
.audio-map text.small { font-size: 13px; }
.audio-map .playhead { stroke: #ef4444; stroke-width: 2; visibility: hidden; pointer-events: none; }
"""


def _png_data_url(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _audio_data_url(wave: Waveform) -> str:
    clip = resample(wave, PLAYBACK_RATE)
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(clip.samples, -1.0, 1.0), PLAYBACK_RATE, format="OGG", subtype="VORBIS")
    return "data:audio/ogg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _tick_step(duration: float) -> float:
    for step in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0):
        if duration / step <= 10:
            return step
    return 10 ** math.ceil(math.log10(duration / 10))


def _ramp(colours: np.ndarray, x: float, y: float, width: float, label_low: str, label_high: str, name: str) -> str:
    """A horizontal colour scale with its end labels and name, as SVG."""
    stops = "".join(
        f'<stop offset="{i / (len(colours) - 1):.3f}" stop-color="rgb({r},{g},{b})"/>'
        for i, (r, g, b) in enumerate(colours.tolist())
    )
    gradient = "amap-" + re.sub(r"\W+", "-", name)  # unique within the one audio map on the page
    return (
        f'<defs><linearGradient id="{gradient}">{stops}</linearGradient></defs>'
        f'<rect x="{x}" y="{y}" width="{width}" height="9" fill="url(#{gradient})"/>'
        f'<text class="small" x="{x}" y="{y + 24}">{escape(label_low)}</text>'
        f'<text class="small" x="{x + width}" y="{y + 24}" text-anchor="end">{escape(label_high)}</text>'
        f'<text class="small" x="{x + width / 2}" y="{y + 24}" text-anchor="middle">{escape(name)}</text>'
    )


def audio_map_html(
    wave: Waveform,
    mel: np.ndarray,
    frequencies: np.ndarray,
    curve_times: np.ndarray,
    curve: np.ndarray,
    *,
    label: str,
) -> str:
    """The clip's relevance curve (in [0, 1]) over its mel spectrogram (frames, mels) in dB, with axes in seconds
    and Hz (`frequencies`: each mel band's centre), colour scales, and the clip to play."""
    from alignment.explain.maps import colormap, normalize

    duration = max(wave.seconds, 1e-3)
    plot_w = W - LEFT - RIGHT
    x = lambda t: LEFT + min(max(float(t) / duration, 0.0), 1.0) * plot_w  # noqa: E731
    values = np.clip(np.nan_to_num(np.asarray(curve, dtype=np.float64)), 0.0, 1.0)
    points = [(x(t), CURVE_TOP + CURVE_H - v * CURVE_H) for t, v in zip(curve_times, values, strict=True)]
    if len(points) == 1:
        points = [(LEFT, points[0][1]), (LEFT + plot_w, points[0][1])]
    line = " ".join(f"{a:.1f},{b:.1f}" for a, b in points)
    area = f"{LEFT},{CURVE_TOP + CURVE_H} {line} {LEFT + plot_w},{CURVE_TOP + CURVE_H}"
    spectrum = _png_data_url(colormap(normalize(np.asarray(mel, dtype=np.float32).T[::-1])))  # low freqs at bottom

    parts = [
        f'<rect x="{LEFT}" y="{CURVE_TOP}" width="{plot_w}" height="{CURVE_H}" fill="#fafafa" stroke="#ccc"/>',
        f'<polygon points="{area}" fill="rgba(220,40,40,0.15)"/>',
        f'<polyline points="{line}" fill="none" stroke="#dc2828" stroke-width="2"/>',
        f'<text x="{LEFT - 6}" y="{CURVE_TOP + 9}" text-anchor="end">1</text>',
        f'<text x="{LEFT - 6}" y="{CURVE_TOP + CURVE_H}" text-anchor="end">0</text>',
        f'<text class="small" x="{LEFT + 6}" y="{CURVE_TOP + 16}">{escape(label)}: how much each moment drives '
        "the match</text>",
        f'<image href="{spectrum}" x="{LEFT}" y="{SPEC_TOP}" width="{plot_w}" height="{SPEC_H}" '
        'preserveAspectRatio="none"/>',
        f'<text x="12" y="{SPEC_TOP + SPEC_H / 2}" transform="rotate(-90 12 {SPEC_TOP + SPEC_H / 2})" '
        'text-anchor="middle">frequency (Hz)</text>',
    ]
    bands = len(frequencies)
    for hz in FREQ_TICKS:
        if bands and frequencies[0] <= hz <= frequencies[-1]:
            band = int(np.argmin(np.abs(frequencies - hz)))
            y = SPEC_TOP + SPEC_H - (band + 0.5) / bands * SPEC_H
            label_hz = f"{hz // 1000}k" if hz >= 1000 else str(hz)
            parts.append(f'<line x1="{LEFT - 4}" x2="{LEFT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#333"/>')
            parts.append(f'<text class="small" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label_hz}</text>')
    step = _tick_step(duration)
    for k in range(int(duration / step) + 1):
        t = k * step
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{AXIS_Y}" y2="{AXIS_Y + 4}" stroke="#333"/>')
        parts.append(f'<text class="small" x="{x(t):.1f}" y="{AXIS_Y + 17}" text-anchor="middle">{t:g} s</text>')
    scale_w = min(220.0, plot_w / 2 - 16)
    parts.append(_ramp(colormap(np.linspace(0, 1, 9)), LEFT, AXIS_Y + 26, scale_w, "quiet", "loud", "spectrogram"))
    red = np.array([[250, 235, 235], [220, 40, 40]])
    parts.append(_ramp(red, LEFT + plot_w - scale_w, AXIS_Y + 26, scale_w, "0", "1", "relevance (red curve)"))
    parts.append(f'<line class="playhead" x1="{LEFT}" x2="{LEFT}" y1="{CURVE_TOP}" y2="{AXIS_Y}"/>')
    svg = (
        f'<svg class="amap" viewBox="0 0 {W} {H}" data-duration="{duration:.4f}" data-left="{LEFT}" '
        f'data-width="{plot_w}" role="img" aria-label="{escape(label)} over {duration:.1f} s">{"".join(parts)}</svg>'
    )
    return (
        f'<div class="audio-map">{svg}<audio controls preload="auto" src="{_audio_data_url(wave)}"></audio>'
        '<p class="note">Click the picture to play from that moment; the red line follows the sound.</p></div>'
    )


def message_html(text: str) -> str:
    return f'<div class="audio-map"><p class="note">{escape(text)}</p></div>'


def audio_map_component(*, elem_id: str) -> gr.HTML:
    """A gr.HTML that shows `audio_map_html` and links its picture to its sound."""
    return gr.HTML(
        message_html("Explain a text and a sound to see when in the sound their match comes from."),
        show_label=False,
        js_on_load=JS_ON_LOAD,
        css_template=CSS,
        elem_id=elem_id,
        padding=True,
    )
