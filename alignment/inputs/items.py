"""What every reader produces: `Item` (one decoded, validated input), `Loaded` (items and problems), content hashes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image

from ..core.names import display_name, shown
from .audio import Waveform

Modality = Literal["text", "image", "audio"]
MODALITIES: tuple[Modality, ...] = ("text", "image", "audio")
Payload = str | Image.Image | Waveform
PathLike = str | os.PathLike
MAX_ID_CHARS = 1_000  # ids and pair keys of datasets and embedding files (shown in tables, stored with tags)


@dataclass(frozen=True)
class Named:
    """A file and the name to show for it: the upload's own name, never the temp path it was saved under."""

    path: PathLike
    name: str


Upload = PathLike | Named  # what loaders take: a path (shown by its last part) or a path with its display name


def upload_path(upload: Upload) -> Path:
    """The file to read."""
    return Path(upload.path if isinstance(upload, Named) else upload)


def upload_name(upload: Upload) -> str:
    """The name messages and ids use: the given display name, else the file's last path part (made showable)."""
    return shown(upload.name) if isinstance(upload, Named) else display_name(upload)


@dataclass(frozen=True)
class Item:
    """One input, validated (and decoded unless it did not need to be). `sha256` is over the original bytes (the
    cache key's content part)."""

    id: str  # unique within its modality in one request; shown on axes and in tables
    modality: Modality
    payload: Payload | None = field(repr=False)  # None: not decoded (its embeddings were cached); see `path`
    sha256: str
    source: str  # where it came from (file name or 'text line 3'), for messages
    pair: str | None = None  # group key of a paired dataset (issue: alignment errors)
    label: str | None = None
    path: str | None = None  # the file it was read from, when it came from one (previews decode it on demand)


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


class UniqueIds:
    """Appends ' (2)', ' (3)' ... to repeated names so ids stay unique within a modality."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, name: str) -> str:
        count = self.seen.get(name, 0) + 1
        self.seen[name] = count
        return name if count == 1 else f"{name} ({count})"
