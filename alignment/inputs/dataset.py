"""Paired datasets: a manifest file, a folder holding one, or a zip holding one (see `manifest` for the forms
and rules); records are decoded into `Item`s by `load_items`, one bad item reported, the others kept."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from ..core.errors import InputError
from . import archive as archive_io
from .audio import read_audio
from .image import read_image
from .items import Item, Loaded, Modality, sha256
from .limits import DEFAULT_DATASET_LIMITS, DatasetLimits, Limits
from .manifest import MANIFEST_SUFFIXES, Dataset, OnError, read_manifest

PathLike = str | os.PathLike
MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")


# ---------------------------------------------------------------------------- entry points


def load_dataset(
    path: PathLike,
    *,
    on_error: OnError = "skip",
    limits: DatasetLimits = DEFAULT_DATASET_LIMITS,
    root: PathLike | None = None,
) -> Dataset:
    """A manifest file (.csv/.jsonl), a folder holding one, or a .zip holding one."""
    path = Path(path)
    if path.is_dir():
        return load_folder(path, on_error=on_error, limits=limits)
    if path.suffix.lower() == ".zip":
        return load_zip(path, on_error=on_error, limits=limits)
    return read_manifest(path, root=root, on_error=on_error, limits=limits)


def find_manifest(folder: PathLike) -> Path:
    """The manifest: manifest.csv / .jsonl, else the only .csv / .jsonl; a lone subfolder is searched too."""
    top = Path(folder)
    here = top
    inside = top.resolve()
    for _ in range(2):  # the folder, then its only subfolder (what zipping a folder produces)
        if not here.is_dir():
            raise InputError(top.name, "is not a folder")
        entries = [p for p in here.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        files = [p for p in entries if p.is_file()]
        named = [p for p in files if p.name.lower() in MANIFEST_NAMES]
        candidates = named or [p for p in files if p.suffix.lower() in MANIFEST_SUFFIXES]
        if len(candidates) == 1:
            manifest = candidates[0]
            if not manifest.resolve().is_relative_to(inside):
                raise InputError(manifest.name, "is a link that leads outside the dataset folder")
            return manifest
        if len(candidates) > 1:
            listed = ", ".join(sorted(p.name for p in candidates))
            raise InputError(
                top.name, f"holds several manifests ({listed}); name the one to use manifest.csv or .jsonl"
            )
        folders = [p for p in entries if p.is_dir()]
        if len(folders) != 1 or files:
            break
        here = folders[0]
    raise InputError(top.name, "no manifest found: expected manifest.csv, manifest.jsonl, or a single .csv/.jsonl file")


def load_folder(
    folder: PathLike,
    *,
    on_error: OnError = "skip",
    limits: DatasetLimits = DEFAULT_DATASET_LIMITS,
    prefix: str | None = None,
) -> Dataset:
    """Find the manifest in a folder (see `find_manifest`) and read it; paths are confined to the manifest's folder."""
    manifest = find_manifest(folder)
    shown = manifest.relative_to(Path(folder)).as_posix()
    return read_manifest(
        manifest, root=manifest.parent, on_error=on_error, limits=limits, name=f"{prefix}:{shown}" if prefix else shown
    )


def load_zip(
    archive: PathLike,
    *,
    on_error: OnError = "skip",
    limits: DatasetLimits = DEFAULT_DATASET_LIMITS,
    dest: PathLike | None = None,
) -> Dataset:
    """Extract a zip safely (see `extract_zip`) into `dest` or a new temp folder, then read the manifest inside."""
    archive = Path(archive)
    target = Path(dest) if dest is not None else Path(tempfile.mkdtemp(prefix="alignment-zip-"))
    try:
        extract_zip(archive, target, limits=limits)
        dataset = load_folder(target, on_error=on_error, limits=limits, prefix=archive.name)
    except BaseException:
        if dest is None:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return dataset if dest is not None else _with_extracted(dataset, target)


def extract_zip(archive: PathLike, dest: PathLike, *, limits: DatasetLimits = DEFAULT_DATASET_LIMITS) -> Path:
    """Unpack safely (see `alignment.archive.extract_zip`) under the dataset limits."""
    return archive_io.extract_zip(archive, dest, limits=limits)


def _with_extracted(dataset: Dataset, folder: Path) -> Dataset:
    return Dataset(
        dataset.manifest, dataset.root, dataset.name, dataset.form, dataset.records, dataset.problems, extracted=folder
    )


# ---------------------------------------------------------------------------- decoding (lazy)


def load_items(
    dataset: Dataset, limits: Limits = Limits(), *, modalities: Collection[Modality] | None = None
) -> Loaded:
    """Decode records to Items with the app's decoders; a record that fails becomes one message, the rest go on."""
    out = Loaded()
    for record in dataset.records:
        if modalities is not None and record.modality not in modalities:
            continue
        where = f"{dataset.name} line {record.line}"
        if isinstance(record.content, str):
            text = record.content
            if len(text) > limits.max_text_chars:
                out.problems.append(
                    f"{where}: text is {len(text)} characters, over the limit of {limits.max_text_chars}"
                )
                continue
            out.items.append(Item(record.id, "text", text, sha256(text.encode()), where, record.pair, record.label))
            continue
        path = record.content
        source = f"{where} ({_shown(path, dataset.root)})"
        try:
            size = path.stat().st_size
            if size > limits.max_file_mb * 1e6:
                raise InputError(source, f"file is {size / 1e6:.1f} MB, over the limit of {limits.max_file_mb:g} MB")
            data = path.read_bytes()
            payload = (
                read_image(data, source=source, limits=limits)
                if record.modality == "image"
                else read_audio(data, source=source, max_seconds=limits.max_audio_seconds)
            )
        except InputError as exc:
            out.problems.append(str(exc))
            continue
        except OSError as exc:
            out.problems.append(f"{source}: cannot be read ({exc.strerror or exc})")
            continue
        out.items.append(Item(record.id, record.modality, payload, sha256(data), source, record.pair, record.label))
    return out


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
