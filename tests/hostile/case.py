"""A hostile-input case (`Case`): how to build the input, which surface it goes to, what must come back; and the
checks that say an accepted input came out right."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from alignment.inputs.audio import Waveform
from alignment.inputs.limits import Limits

from . import files as f

Surface = Literal["image", "audio", "text", "text_file", "dataset", "embeddings", "bridge", "fusion"]
Outcome = Literal["refused", "partial", "ok"]


@dataclass(frozen=True)
class Case:
    """One hostile input: how to build it, where it goes, and what must come back."""

    name: str  # unique; the test id
    surface: Surface
    upload: str  # the name the upload goes by: messages must name it (never a temp folder)
    build: Callable[[Path], Path | str]  # writes the input under the folder; returns its path (or the text)
    expect: Outcome
    reason: str = ""  # regex the message must match ("refused", "partial")
    limits: Limits | None = None  # lowered limits for this case (library runs only)
    check: Callable[[object], None] | None = None  # verifies an "ok" (or "partial") result
    cli: bool = True  # also run through the CLI when a command takes this surface


def file_at(upload: str, data: Callable[[], bytes | str]) -> Callable[[Path], Path]:
    return lambda folder: f.write(folder / upload, data())


# ---------------------------------------------------------------------------- result checks


def keeps_range(item: object) -> None:
    pixels = np.asarray(item.payload.convert("L"), dtype=np.float64)  # type: ignore[attr-defined]
    assert pixels.min() <= 5 and pixels.max() >= 250, (pixels.min(), pixels.max())  # scaled, not clipped to white
    assert 100 <= pixels.mean() <= 155, pixels.mean()  # a 0..max gradient averages mid-grey


def longest_side(limit: int) -> Callable[[object], None]:
    def check(item: object) -> None:
        image = item.payload  # type: ignore[attr-defined]
        assert isinstance(image, Image.Image) and image.mode == "RGB" and max(image.size) <= limit, image.size

    return check


def white(item: object) -> None:
    assert item.payload.getpixel((10, 10)) == (255, 255, 255)  # type: ignore[attr-defined]


def red_first_frame(item: object) -> None:
    assert item.payload.getpixel((8, 8)) == (255, 0, 0)  # type: ignore[attr-defined]


def mono(rate: int) -> Callable[[object], None]:
    def check(item: object) -> None:
        wave = item.payload  # type: ignore[attr-defined]
        assert isinstance(wave, Waveform) and wave.samples.ndim == 1 and wave.sample_rate == rate
        assert np.isfinite(wave.samples).all() and len(wave.samples) > 0

    return check


def text_kept(expected: str) -> Callable[[object], None]:
    def check(item: object) -> None:
        assert item.payload == expected  # type: ignore[attr-defined]

    return check


def texts_include(text: str) -> Callable[[object], None]:
    def check(loaded: object) -> None:
        assert text in [i.payload for i in loaded.items]  # type: ignore[attr-defined]

    return check


def decoded_once(loaded: object) -> None:
    images = [i for i in loaded.items if i.modality == "image"]  # type: ignore[attr-defined]
    assert len(images) == 24 and len({id(i.payload) for i in images}) == 1  # 24 rows, one decode, one payload
    assert max(images[0].payload.size) <= 1024


def rows(n: int) -> Callable[[object], None]:
    def check(embedded: object) -> None:
        assert len(embedded) == n  # type: ignore[arg-type]

    return check
