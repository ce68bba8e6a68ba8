"""Uploaded image and audio files into `Item`s: each failure is one message naming the upload; the others load."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..core.errors import InputError
from .audio import from_array
from .decoder import Decoder, MediaModality, Purpose
from .items import Item, Loaded, Modality, UniqueIds, Upload, sha256, upload_name, upload_path
from .limits import Limits, check_file_size


def _read(upload: Upload, name: str, limits: Limits) -> bytes:
    """The file's bytes, within `limits.max_file_mb`; InputError naming the upload (never its temp folder)."""
    path = upload_path(upload)
    try:
        if path.exists() and not path.is_file():  # a folder, or a FIFO that would block the read
            raise InputError(name, "cannot be read (not a regular file)")
        return check_file_size(path, limits, name=name).read_bytes()
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def load_files(
    paths: Sequence[Upload],
    modality: Modality,
    *,
    limits: Limits = Limits(),
    decoder: Decoder | None = None,
    decode: Callable[[str], bool] | None = None,
) -> Loaded:
    """Load image or audio files; each failure becomes a message naming the file, the others still load.

    A path is shown by its last part; pass `Named(path, name)` to show an upload's own name. Give the request's
    `decoder` when it also loads other files, so budgets and the decode-once rule span all of them. `decode(sha256)`
    says which files to decode: the others (e.g. every embedding already cached) get only their header's checks,
    `payload=None` and their `path`, so previews can decode them later."""
    if modality not in ("image", "audio"):
        raise ValueError(f"load_files takes 'image' or 'audio', got {modality!r}")
    decoder = decoder or Decoder(limits)
    out = Loaded()
    ids = UniqueIds()
    for index, upload in enumerate(paths):
        name = upload_name(upload)
        if len(out.items) >= limits.max_items:  # refused files don't use up the allowance
            out.problems.append(
                f"{name}: over the limit of {limits.max_items} {modality} files per request; "
                f"{len(paths) - index} file(s) were skipped"
            )
            break
        try:
            data = _read(upload, name, limits)
            digest = sha256(data)
            payload = None
            if decode is None or decode(digest):
                payload = decoder.decode(data, modality, source=name).payload  # type: ignore[arg-type]
            else:
                decoder.check(data, modality, source=name)  # type: ignore[arg-type]
        except InputError as exc:
            out.problems.append(str(exc))
            continue
        out.items.append(Item(ids(name), modality, payload, digest, name, path=str(upload_path(upload))))
    return out


def load_file(
    upload: Upload, modality: MediaModality, *, limits: Limits = Limits(), purpose: Purpose = "embed"
) -> Item:
    """One image or audio file through the same checks as `load_files` (size, format, header limits, budgets,
    downscaling); `purpose="explain"` holds audio to `limits.max_explain_seconds`. InputError names the upload."""
    name = upload_name(upload)
    decoded = Decoder(limits, purpose=purpose).decode(_read(upload, name, limits), modality, source=name)
    return Item(name, modality, decoded.payload, decoded.sha256, name)


def audio_item(samples: np.ndarray, sample_rate: int, *, name: str = "recording", limits: Limits = Limits()) -> Item:
    """An audio item from an in-memory array (microphone); hashed over the samples and rate."""
    wave = from_array(samples, sample_rate, source=name, max_seconds=limits.max_audio_seconds)
    digest = sha256(wave.samples.tobytes() + str(wave.sample_rate).encode())
    return Item(name, "audio", wave, digest, name)
