"""A collection of any size for `embed`: its records (texts and paths, never decoded media) and one-record decoding.

A source is a manifest (.csv / .jsonl), a folder holding one, a folder of media files without a manifest
(every image and audio file under it, in sorted path order: a gallery), or a .zip of either. Records keep the
manifest's order, which fixes each item's `row` in the shards. Only the records are held in memory (about
1 kB each: a million records take about 1 GB); media are read and decoded one record at a time by `decode`,
in whichever worker embeds them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..core.errors import InputError
from .archive import extract_zip
from .audio import AUDIO_SUFFIXES
from .dataset import MANIFEST_NAMES, load_items
from .items import Item, Modality
from .limits import DatasetLimits, Limits
from .manifest import IMAGE_SUFFIXES, MANIFEST_SUFFIXES, Dataset, OnError, Record, read_manifest

PathLike = str | os.PathLike
Kind = Literal["manifest", "folder", "files", "zip"]


@dataclass(frozen=True)
class BulkLimits:
    """The embed command's limits: far above an upload's (DatasetLimits), each a flag of the command."""

    max_rows: int = 10_000_000  # manifest rows, or media files of a folder without a manifest
    max_manifest_mb: float = 4_000.0  # size of the manifest file
    max_zip_entries: int = 10_000_000  # files and folders in a zip
    max_unzipped_mb: float = 2_000_000.0  # total uncompressed size of a zip (2 TB)
    max_ratio: float = 100.0  # uncompressed / compressed size (zip bombs)
    ratio_floor_mb: float = 1.0
    item: Limits = Limits(max_items=2**62)  # per file: size, pixels, audio seconds, text characters

    def dataset_limits(self) -> DatasetLimits:
        return DatasetLimits(
            max_rows=self.max_rows,
            max_manifest_mb=self.max_manifest_mb,
            max_zip_entries=self.max_zip_entries,
            max_unzipped_mb=self.max_unzipped_mb,
            max_ratio=self.max_ratio,
            ratio_floor_mb=self.ratio_floor_mb,
        )


DEFAULT_BULK_LIMITS = BulkLimits()


@dataclass(frozen=True)
class Collection:
    """The records of a source, where their paths resolve, and the temp folder of an extracted zip."""

    dataset: Dataset  # records in order; `problems` are the manifest rows that were skipped
    kind: Kind
    extracted: Path | None = None

    @property
    def records(self) -> tuple[Record, ...]:
        return self.dataset.records

    def cleanup(self) -> None:
        if self.extracted is not None:
            shutil.rmtree(self.extracted, ignore_errors=True)


def open_collection(
    path: PathLike,
    *,
    limits: BulkLimits = DEFAULT_BULK_LIMITS,
    on_error: OnError = "skip",
    workdir: PathLike | None = None,
) -> Collection:
    """Read a source's records (see the module docstring); a zip is extracted under `workdir` (default: temp)."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file or folder")
    if path.is_dir():
        return _folder(path, path.name, limits, on_error, "folder")
    if path.suffix.lower() == ".zip":
        target = Path(tempfile.mkdtemp(prefix="alignment-embed-", dir=workdir))
        try:
            extract_zip(path, target, limits=limits.dataset_limits())
            collection = _folder(target, path.name, limits, on_error, "zip")
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return dataclasses.replace(collection, extracted=target)
    if path.suffix.lower() in MANIFEST_SUFFIXES:
        dataset = read_manifest(path, on_error=on_error, limits=limits.dataset_limits(), require_pairs=False)
        return Collection(dataset, "manifest")
    raise InputError(path.name, "expected a manifest (.csv, .jsonl), a folder or a .zip")


def _folder(folder: Path, name: str, limits: BulkLimits, on_error: OnError, kind: Kind) -> Collection:
    manifest = _find_manifest(folder)
    if manifest is not None:
        shown = f"{name}:{manifest.relative_to(folder).as_posix()}"
        dataset = read_manifest(
            manifest,
            root=manifest.parent,
            on_error=on_error,
            limits=limits.dataset_limits(),
            name=shown,
            require_pairs=False,
        )
        return Collection(dataset, kind)
    return Collection(media_files(folder, name=name, max_rows=limits.max_rows), "files" if kind == "folder" else kind)


def _find_manifest(folder: Path) -> Path | None:
    """manifest.csv / .jsonl, else the only .csv / .jsonl at the top (or in a lone subfolder); None: no manifest."""
    here = folder
    for _ in range(2):
        entries = [p for p in here.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        files = [p for p in entries if p.is_file()]
        named = [p for p in files if p.name.lower() in MANIFEST_NAMES]
        candidates = named or [p for p in files if p.suffix.lower() in MANIFEST_SUFFIXES]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            listed = ", ".join(sorted(p.name for p in candidates))
            raise InputError(folder.name, f"holds several manifests ({listed}); name the one to use manifest.csv")
        folders = [p for p in entries if p.is_dir()]
        if len(folders) != 1 or files:
            return None
        here = folders[0]
    return None


def media_files(folder: Path, *, name: str, max_rows: int) -> Dataset:
    """Every image and audio file under `folder` (hidden ones and links leading out skipped), in sorted path order.

    Each file is one record: id = its path relative to the folder, pair = the id (no pairs: a gallery).
    """
    root = folder.resolve()
    records: list[Record] = []
    problems: list[str] = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for file in sorted(files):
            suffix = Path(file).suffix.lower()
            if file.startswith(".") or suffix not in (*IMAGE_SUFFIXES, *AUDIO_SUFFIXES):
                continue
            path = Path(top) / file
            rel = path.relative_to(root).as_posix()
            if not path.resolve().is_relative_to(root):
                problems.append(f"{name}: {rel} is a link that leads outside the folder; skipped")
                continue
            if len(records) >= max_rows:
                problems.append(f"{name}: over the limit of {max_rows:,} files; {rel} and later files were skipped")
                return Dataset(root, root, name, "long", tuple(records), tuple(problems))
            modality: Modality = "audio" if suffix in AUDIO_SUFFIXES else "image"
            records.append(Record(rel, modality, path, rel, None, len(records) + 1))
    if not records:
        raise InputError(name, "holds no manifest and no image or audio files")
    return Dataset(root, root, name, "long", tuple(records), tuple(problems))


def decode(dataset: Dataset, record: Record, limits: Limits) -> Item | str:
    """One record decoded by the app's decoders (`load_items`), or the message saying why it cannot be."""
    loaded = load_items(dataclasses.replace(dataset, records=(record,), problems=()), limits)
    if loaded.items:
        return loaded.items[0]
    return "; ".join(loaded.problems) or f"{dataset.name} line {record.line}: could not be decoded"


def shown_path(dataset: Dataset, record: Record) -> str:
    """What the shards' `source` column says: the path inside the dataset, or 'NAME line N' for a text."""
    if isinstance(record.content, str):
        return f"{dataset.name} line {record.line}"
    try:
        return record.content.relative_to(dataset.root).as_posix()
    except ValueError:
        return record.content.name


__all__ = ["BulkLimits", "Collection", "decode", "media_files", "open_collection", "shown_path"]
