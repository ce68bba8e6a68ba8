"""Inputs: load and validate texts, images and audio into `Item`s; one bad input is reported, the rest go on."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from .audio import Waveform, from_array, read_audio
from .config import Limits
from .errors import InputError

Modality = Literal["text", "image", "audio"]
MODALITIES: tuple[Modality, ...] = ("text", "image", "audio")
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF")
Payload = str | Image.Image | Waveform
PathLike = str | os.PathLike
_NUMBERED_TEXT = re.compile(r"(text|caption)_?\d+")  # caption_1 ... caption_5


@dataclass(frozen=True)
class Item:
    """One input, decoded and validated. `sha256` is over the original bytes (the cache key's content part)."""

    id: str  # unique within its modality in one request; shown on axes and in tables
    modality: Modality
    payload: Payload = field(repr=False)
    sha256: str
    source: str  # where it came from (file name or 'text line 3'), for messages
    pair: str | None = None  # group key of a paired dataset (issue: alignment errors)
    label: str | None = None


@dataclass
class Loaded:
    """Items that loaded, and one message per input that did not."""

    items: list[Item] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def extend(self, other: Loaded) -> None:
        self.items += other.items
        self.problems += other.problems


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def count_true_pairs(pairs: Iterable[str], modalities: Iterable[Modality]) -> dict[tuple[Modality, Modality], int]:
    """For each modality pair (in MODALITIES order), how many pair keys join items of both."""
    by_pair: dict[str, set[Modality]] = {}
    for key, modality in zip(pairs, modalities, strict=True):
        by_pair.setdefault(key, set()).add(modality)
    out: dict[tuple[Modality, Modality], int] = {}
    for i, a in enumerate(MODALITIES):
        for b in MODALITIES[i + 1 :]:
            joined = sum(a in found and b in found for found in by_pair.values())
            if joined:
                out[(a, b)] = joined
    return out


# ---------------------------------------------------------------------------- texts


def split_lines(text: str) -> list[str]:
    """One text per non-empty line, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_text_file(path: PathLike, *, limits: Limits = Limits()) -> list[str]:
    """Texts from a .txt (one per line) or a .csv: its `text` or `caption` column, else every numbered
    `caption_N` / `text_N` column (Clotho's layout), else the first column of a header-less file."""
    path = Path(path)
    _check_size(path, limits)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path.name, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if path.suffix.lower() != ".csv":
        return split_lines(content)
    rows = [row for row in csv.reader(io.StringIO(content)) if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    columns = [header.index(name) for name in ("text", "caption") if name in header][:1] or [
        i for i, name in enumerate(header) if _NUMBERED_TEXT.fullmatch(name)
    ]
    if not columns:
        return [row[0].strip() for row in rows if row[0].strip()]
    return [row[c].strip() for row in rows[1:] for c in columns if len(row) > c and row[c].strip()]


def load_texts(texts: Iterable[str], *, limits: Limits = Limits()) -> Loaded:
    """Validate texts (length, count); ids are the texts themselves, shortened and made unique."""
    out = Loaded()
    ids = _UniqueIds()
    for line, text in enumerate(texts, start=1):
        source = f"text {line}"
        text = text.strip()
        if not text:
            continue
        if len(out.items) >= limits.max_items:
            out.problems.append(
                f"{source}: over the limit of {limits.max_items} texts per request; it and later texts were skipped"
            )
            break
        if len(text) > limits.max_text_chars:
            out.problems.append(f"{source}: {len(text)} characters, over the limit of {limits.max_text_chars}")
            continue
        short = text if len(text) <= 60 else text[:57] + "..."
        out.items.append(Item(ids(short), "text", text, sha256(text.encode()), source))
    return out


# ---------------------------------------------------------------------------- images


def read_image(data: bytes, *, source: str, limits: Limits = Limits()) -> Image.Image:
    """Decode PNG/JPEG/BMP/WebP/GIF (first frame), apply EXIF orientation, return RGB (alpha over white)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit, checked below, decides
            image = Image.open(io.BytesIO(data))  # lazy: reads the header only
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise InputError(
                    source,
                    f"image is {width}x{height} = {width * height:,} pixels, "
                    f"over the limit of {limits.max_image_pixels:,}",
                )
            if image.format not in IMAGE_FORMATS:
                raise InputError(
                    source, f"image format {image.format} is not supported (use {', '.join(IMAGE_FORMATS)})"
                )
            image.seek(0)  # first frame of an animated GIF / WebP
            image.load()
    except InputError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's hard limit (2x its MAX_IMAGE_PIXELS) fires inside open()
        limit = min(limits.max_image_pixels, 2 * (Image.MAX_IMAGE_PIXELS or limits.max_image_pixels))
        message = f"refused as a decompression bomb, over the limit of {limit:,} pixels ({exc})"
        raise InputError(source, message) from None
    except Image.UnidentifiedImageError:
        raise InputError(
            source, "not a readable image: unknown or damaged image data (expected PNG, JPEG, BMP, WebP or GIF)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(source, f"not a readable image (PNG, JPEG, BMP, WebP or GIF): {exc}") from None
    image = ImageOps.exif_transpose(image)  # type: ignore[assignment]  # an Image, no longer the ImageFile
    if "A" in image.mode or "transparency" in image.info:  # alpha, or a transparent colour (P, and RGB/L PNG tRNS)
        background = Image.new("RGB", image.size, "white")
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


# ---------------------------------------------------------------------------- files


def load_files(paths: Sequence[PathLike], modality: Modality, *, limits: Limits = Limits()) -> Loaded:
    """Load image or audio files; each failure becomes a message naming the file, the others still load."""
    if modality not in ("image", "audio"):
        raise ValueError(f"load_files takes 'image' or 'audio', got {modality!r}")
    out = Loaded()
    ids = _UniqueIds()
    seconds = 0.0  # audio accepted so far (Limits.max_total_audio_seconds)
    for index, raw in enumerate(paths):
        path = Path(raw)
        if len(out.items) >= limits.max_items:  # refused files don't use up the allowance
            out.problems.append(
                f"{path.name}: over the limit of {limits.max_items} {modality} files per request; "
                f"{len(paths) - index} file(s) were skipped"
            )
            break
        try:
            data = _check_size(path, limits).read_bytes()
            payload: Payload = (
                read_image(data, source=path.name, limits=limits)
                if modality == "image"
                else read_audio(data, source=path.name, max_seconds=limits.max_audio_seconds)
            )
        except InputError as exc:
            out.problems.append(str(exc))
            continue
        except OSError as exc:
            out.problems.append(f"{path.name}: cannot be read ({exc.strerror or exc})")
            continue
        if isinstance(payload, Waveform):
            if seconds + payload.seconds > limits.max_total_audio_seconds:
                out.problems.append(
                    f"{path.name}: its {payload.seconds:.1f} s would bring this request's audio to "
                    f"{seconds + payload.seconds:.1f} s, over the limit of "
                    f"{limits.max_total_audio_seconds:g} s in all; skipped"
                )
                continue
            seconds += payload.seconds
        out.items.append(Item(ids(path.name), modality, payload, sha256(data), path.name))
    return out


def audio_item(samples: np.ndarray, sample_rate: int, *, name: str = "recording", limits: Limits = Limits()) -> Item:
    """An audio item from an in-memory array (microphone); hashed over the samples and rate."""
    wave = from_array(samples, sample_rate, source=name, max_seconds=limits.max_audio_seconds)
    digest = sha256(wave.samples.tobytes() + str(wave.sample_rate).encode())
    return Item(name, "audio", wave, digest, name)


def _check_size(path: Path, limits: Limits) -> Path:
    size = path.stat().st_size
    if size > limits.max_file_mb * 1e6:
        raise InputError(path.name, f"file is {size / 1e6:.1f} MB, over the limit of {limits.max_file_mb:g} MB")
    return path


class _UniqueIds:
    """Appends ' (2)', ' (3)' ... to repeated names so ids stay unique within a modality."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, name: str) -> str:
        count = self.seen.get(name, 0) + 1
        self.seen[name] = count
        return name if count == 1 else f"{name} ({count})"
