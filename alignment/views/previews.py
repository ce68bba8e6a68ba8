"""Small previews of items for hover cards, selection grids and error rows: JPEG thumbnails and short Ogg clips."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from PIL import Image

from ..inputs.audio import Waveform, resample
from ..inputs.items import Item

THUMB_PX = 160  # longest side of a hover or selection thumbnail
AUDIO_SECONDS = 10.0  # previews play the start of a clip: enough to recognise it, ~50 kB as Ogg
AUDIO_RATE = 16_000  # Hz: speech and most sounds stay recognisable; a third of the bytes of 48 kHz
TEXT_CHARS = 600  # longer texts are cut with an ellipsis


@dataclass(frozen=True)
class Preview:
    """What a browser shows for one item; media are data: URLs, so a preview is one self-contained JSON value."""

    text: str | None = None
    image: str | None = None  # data:image/jpeg;base64,...
    audio: str | None = None  # data:audio/ogg;base64,... (None until asked for, see `preview`)
    seconds: float | None = None  # the full clip's duration

    def to_json(self) -> dict:
        return {"text": self.text, "image": self.image, "audio": self.audio, "seconds": self.seconds}


def thumbnail_url(image: Image.Image, *, px: int = THUMB_PX, quality: int = 80) -> str:
    """A JPEG thumbnail (longest side `px`, aspect kept) as a data: URL."""
    if px < 8:
        raise ValueError(f"thumbnail size must be at least 8 px (got {px})")
    small = image.convert("RGB")
    small.thumbnail((px, px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def audio_url(wave: Waveform, *, seconds: float = AUDIO_SECONDS, rate: int = AUDIO_RATE) -> str:
    """The first `seconds` of a clip, mono at `rate` Hz, as an Ogg Vorbis data: URL."""
    if seconds <= 0 or rate < 8_000:
        raise ValueError(f"audio preview needs seconds > 0 and a rate of at least 8000 Hz (got {seconds}, {rate})")
    head = Waveform(wave.samples[: int(round(seconds * wave.sample_rate))], wave.sample_rate)
    small = resample(head, rate) if wave.sample_rate != rate else head
    samples = np.clip(np.asarray(small.samples, np.float32), -1.0, 1.0)
    if len(samples) == 0:
        raise ValueError("audio preview of an empty clip")
    out = io.BytesIO()
    sf.write(out, samples, rate, format="OGG", subtype="VORBIS")
    return "data:audio/ogg;base64," + base64.b64encode(out.getvalue()).decode()


def short_text(text: str, *, chars: int = TEXT_CHARS) -> str:
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def preview(item: Item | None, *, px: int = THUMB_PX, audio: bool = False) -> Preview:
    """A preview of one decoded item; None (precomputed embeddings: no content) gives an empty one.

    Audio is encoded only when `audio` is true (a hover card or a play button), since it is the heavy part."""
    if item is None:
        return Preview()
    if item.modality == "text":
        return Preview(text=short_text(str(item.payload)))
    if item.modality == "image":
        assert isinstance(item.payload, Image.Image)
        return Preview(image=thumbnail_url(item.payload, px=px))
    assert isinstance(item.payload, Waveform)
    return Preview(audio=audio_url(item.payload) if audio else None, seconds=round(item.payload.seconds, 2))
