"""Uploaded image and audio files into `Item`s: each failure is one message naming the file; the others load."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from .audio import Waveform, from_array, probe_audio, read_audio
from .image import probe_image, read_image
from .items import Item, Loaded, Modality, PathLike, Payload, UniqueIds, sha256
from .limits import Limits, check_file_size


def load_files(
    paths: Sequence[PathLike],
    modality: Modality,
    *,
    limits: Limits = Limits(),
    decode: Callable[[str], bool] | None = None,
) -> Loaded:
    """Load image or audio files; each failure becomes a message naming the file, the others still load.

    Every file is read, hashed and checked against the limits. `decode(sha256)` says which files to decode: the
    others (e.g. every embedding already cached) keep only their header's checks, `payload=None` and their `path`.
    """
    if modality not in ("image", "audio"):
        raise ValueError(f"load_files takes 'image' or 'audio', got {modality!r}")
    out = Loaded()
    ids = UniqueIds()
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
            data = check_file_size(path, limits).read_bytes()
            digest = sha256(data)
            payload: Payload | None = None
            if decode is None or decode(digest):
                payload = (
                    read_image(data, source=path.name, limits=limits)
                    if modality == "image"
                    else read_audio(data, source=path.name, max_seconds=limits.max_audio_seconds)
                )
            elif modality == "image":
                probe_image(data, source=path.name, limits=limits)
            else:
                duration = probe_audio(data, source=path.name, max_seconds=limits.max_audio_seconds)
        except InputError as exc:
            out.problems.append(str(exc))
            continue
        except OSError as exc:
            out.problems.append(f"{path.name}: cannot be read ({exc.strerror or exc})")
            continue
        if modality == "audio":
            duration = payload.seconds if isinstance(payload, Waveform) else duration
            if seconds + duration > limits.max_total_audio_seconds:
                out.problems.append(
                    f"{path.name}: its {duration:.1f} s would bring this request's audio to "
                    f"{seconds + duration:.1f} s, over the limit of "
                    f"{limits.max_total_audio_seconds:g} s in all; skipped"
                )
                continue
            seconds += duration
        out.items.append(Item(ids(path.name), modality, payload, digest, path.name, path=str(path)))
    return out


def audio_item(samples: np.ndarray, sample_rate: int, *, name: str = "recording", limits: Limits = Limits()) -> Item:
    """An audio item from an in-memory array (microphone); hashed over the samples and rate."""
    wave = from_array(samples, sample_rate, source=name, max_seconds=limits.max_audio_seconds)
    digest = sha256(wave.samples.tobytes() + str(wave.sample_rate).encode())
    return Item(name, "audio", wave, digest, name)
