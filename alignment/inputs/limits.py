"""What one request may hold and cost (`Limits`, with `DatasetLimits` and `EmbeddingLimits` inside), checked before
decoding: per-file limits, request-wide budgets, and the size media are decoded to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from ..core.names import display_name


@dataclass(frozen=True)
class DatasetLimits:
    """What one paired dataset may hold; each limit is named in the message when exceeded."""

    max_rows: int = 10_000  # data rows in a manifest (blank lines not counted)
    max_manifest_mb: float = 20.0  # size of the manifest file itself
    max_zip_entries: int = 20_000  # files and folders in an uploaded zip
    max_unzipped_mb: float = 1_000.0  # budget: total decoded bytes of one archive (all entries together)
    max_ratio: float = 100.0  # uncompressed / compressed size, per entry and in total (zip bombs)
    ratio_floor_mb: float = 1.0  # ratios are checked only past this many MB: small files compress well honestly


@dataclass(frozen=True)
class EmbeddingLimits:
    """How large a precomputed embedding file may be; each limit is named in the message when exceeded."""

    max_rows: int = 1_000_000  # items (N)
    max_dim: int = 16_384  # embedding width (D)
    max_values: int = 100_000_000  # budget: rows x width (N x D), 400 MB as float32; read from the array headers
    max_file_mb: float = 4_000.0  # bytes on disk, and unpacked bytes of an .npz


@dataclass(frozen=True)
class Limits:
    """What one request may contain and cost. Per-file limits refuse one file; budgets are request-wide totals,
    estimated from headers before anything is decoded, with each distinct content counted once."""

    max_items: int = 64  # items per modality in one upload
    max_file_mb: float = 50.0  # bytes on disk per uploaded file
    max_image_pixels: int = 40_000_000  # width x height of one image, refused from its header (decompression bombs)
    max_total_pixels: int = 400_000_000  # budget: pixels decoded in one request (JPEGs decode reduced, see below)
    max_image_side: int = 1_024  # images are downscaled while decoding so the longest side is at most this
    max_aspect_ratio: float = 50.0  # longer / shorter side; thinner strips (20000x1) are refused, not stretched
    max_audio_seconds: float = 600.0  # duration of one audio file
    max_total_audio_seconds: float = 1_800.0  # budget: all audio of one request: CLAP costs ~1 s per 10 s on CPU
    max_explain_seconds: float = 60.0  # budget: audio one explanation may cover (each window is one CLAP pass)
    max_sample_rate: int = 384_000  # higher rates are refused from the header (a lying header can claim GHz)
    decode_rate: int = 48_000  # audio above this rate is resampled down while decoding (CLAP reads 48 kHz)
    max_text_chars: int = 2_000  # characters per text (tokens past the model's limit are truncated and reported)
    dataset: DatasetLimits = DatasetLimits()  # paired datasets and archives (the decoded-bytes budget of a zip)
    embeddings: EmbeddingLimits = EmbeddingLimits()  # precomputed embedding files (the rows x width budget)


DEFAULT_DATASET_LIMITS = DatasetLimits()
DEFAULT_EMBEDDING_LIMITS = EmbeddingLimits()


def over_budget(name: str, *, what: str, spent: float, cost: float, budget: float, unit: str) -> str:
    """The message for a request-wide budget: which budget, what this input costs, and what is left."""
    fmt = (lambda v: f"{v:,.0f}") if unit == "pixels" else (lambda v: f"{v:,.1f}")
    return (
        f"its {what} ({fmt(cost)} {unit}) would bring this request to {fmt(spent + cost)} {unit}, over the budget "
        f"of {fmt(budget)} {unit} ({name}); {fmt(max(budget - spent, 0))} {unit} were left; skipped"
    )


def megabytes(size: int) -> str:
    """A byte count for a message: '0.122 MB', '51.2 MB', '1,234.5 MB' (enough digits to differ from a limit)."""
    mb = size / 1e6
    return f"{mb:,.1f} MB" if mb >= 10 else f"{mb:.3g} MB"


def check_file_size(path: Path, limits: Limits, *, name: str | None = None) -> Path:
    """`path` itself when it is within `limits.max_file_mb`; InputError naming the file and the limit otherwise."""
    size = path.stat().st_size
    if size > limits.max_file_mb * 1e6:
        raise InputError(
            name or display_name(path), f"file is {megabytes(size)}, over the limit of {limits.max_file_mb:g} MB"
        )
    return path
