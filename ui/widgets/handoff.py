"""One (text, image or sound) pair handed to the Explain tab from another tab: the error list or a matrix cell.

The Explain tab's inputs are a gr.Image and a gr.Audio that take file paths, so the decoded media is written to
a fresh temporary file (a PNG or a WAV): the tab then explains exactly what the other tab compared, whatever
the original file's format or location.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import soundfile as sf

from alignment.inputs.audio import read_audio
from alignment.inputs.image import read_image
from alignment.inputs.items import Item


@dataclass(frozen=True)
class Pair:
    """A text and one image or sound, ready for the Explain tab."""

    text: str
    modality: Literal["image", "audio"]
    path: str  # a PNG or WAV written for the Explain tab


def _decoded(item: Item) -> object:
    """The item's image or waveform: in memory, or decoded again from its file (sessions keep no decoded media)."""
    if item.payload is not None:
        return item.payload
    if item.path is None or not Path(item.path).is_file():
        raise ValueError(f"{item.source}: its file is gone from the server; compare it again to explain it")
    data = Path(item.path).read_bytes()
    if item.modality == "image":
        return read_image(data, source=item.source)
    return read_audio(data, source=item.source, max_seconds=float("inf"))


def media_file(item: Item) -> str:
    """The decoded image or sound of `item` written to a new temporary PNG or WAV; its path."""
    if item.modality not in ("image", "audio"):
        raise ValueError(f"only images and sounds are explained against a text, not {item.modality} ({item.id})")
    payload = _decoded(item)
    folder = Path(tempfile.mkdtemp(prefix="alignment-explain-"))
    stem = re.sub(r"[^\w.-]+", "_", Path(item.id).stem)[:60] or item.modality  # named like the item, safely
    if item.modality == "image":
        path = folder / f"{stem}.png"
        payload.save(path)  # type: ignore[attr-defined]
    else:
        path = folder / f"{stem}.wav"
        sf.write(path, payload.samples, payload.sample_rate)  # type: ignore[attr-defined]
    return str(path)


def pair(text: Item, media: Item) -> Pair:
    """The pair of a text item and an image or audio item."""
    if text.modality != "text":
        raise ValueError(f"the first item of a pair must be a text, not {text.modality} ({text.id})")
    return Pair(str(text.payload), media.modality, media_file(media))  # type: ignore[arg-type]
