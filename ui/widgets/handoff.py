"""One (text, image or sound) pair handed to the Explain tab from another tab: the error list or a matrix cell.

The Explain tab's inputs are a gr.Image and a gr.Audio that take file paths, so the decoded media is written to
a fresh temporary file (a PNG or a WAV): the tab then explains exactly what the other tab compared, whatever
the original file's format or location.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import soundfile as sf

from alignment.inputs.items import Item


@dataclass(frozen=True)
class Pair:
    """A text and one image or sound, ready for the Explain tab."""

    text: str
    modality: Literal["image", "audio"]
    path: str  # a PNG or WAV written for the Explain tab


def media_file(item: Item) -> str:
    """The decoded image or sound of `item` written to a new temporary PNG or WAV; its path."""
    folder = Path(tempfile.mkdtemp(prefix="alignment-explain-"))
    if item.modality == "image":
        path = folder / "image.png"
        item.payload.save(path)  # type: ignore[union-attr]
    elif item.modality == "audio":
        path = folder / "audio.wav"
        wave = item.payload
        sf.write(path, wave.samples, wave.sample_rate)  # type: ignore[union-attr]
    else:
        raise ValueError(f"only images and sounds are explained against a text, not {item.modality} ({item.id})")
    return str(path)


def pair(text: Item, media: Item) -> Pair:
    """The pair of a text item and an image or audio item."""
    if text.modality != "text":
        raise ValueError(f"the first item of a pair must be a text, not {text.modality} ({text.id})")
    return Pair(str(text.payload), media.modality, media_file(media))  # type: ignore[arg-type]
