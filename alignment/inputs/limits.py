"""What one request (`Limits`) and one paired dataset (`DatasetLimits`) may hold, and the per-file size check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError


@dataclass(frozen=True)
class Limits:
    """What one request may contain; every limit is reported by name when it is exceeded."""

    max_items: int = 64  # items per modality in one upload
    max_file_mb: float = 50.0  # bytes on disk per uploaded file
    max_image_pixels: int = 40_000_000  # width x height, refuses decompression bombs before decoding
    max_audio_seconds: float = 600.0  # duration of one audio file
    max_total_audio_seconds: float = 1_800.0  # all audio of one request: CLAP costs ~1 s per 10 s window on CPU
    max_text_chars: int = 2_000  # characters per text (tokens past the model's limit are truncated and reported)


@dataclass(frozen=True)
class DatasetLimits:
    """What one paired dataset may hold; each limit is named in the message when exceeded."""

    max_rows: int = 10_000  # data rows in a manifest (blank lines not counted)
    max_manifest_mb: float = 20.0  # size of the manifest file itself
    max_zip_entries: int = 20_000  # files and folders in an uploaded zip
    max_unzipped_mb: float = 1_000.0  # total uncompressed size of a zip
    max_ratio: float = 100.0  # uncompressed / compressed size, per entry and in total (zip bombs)
    ratio_floor_mb: float = 1.0  # ratios are checked only past this many MB: small files compress well honestly


DEFAULT_DATASET_LIMITS = DatasetLimits()


def check_file_size(path: Path, limits: Limits) -> Path:
    """`path` itself when it is within `limits.max_file_mb`; InputError naming the file and the limit otherwise."""
    size = path.stat().st_size
    if size > limits.max_file_mb * 1e6:
        raise InputError(path.name, f"file is {size / 1e6:.1f} MB, over the limit of {limits.max_file_mb:g} MB")
    return path
