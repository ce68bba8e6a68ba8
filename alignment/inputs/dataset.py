"""Paired datasets: a manifest file, a folder holding one, or a zip holding one (see `manifest` for the forms
and rules); records are decoded into `Item`s by `load_items`, one bad item reported, the others kept."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from ..core.errors import BudgetError, InputError
from ..core.names import display_name, shown, unicode_problem
from . import archive as archive_io
from .decoder import Decoded, Decoder
from .items import Item, Loaded, Modality, sha256
from .limits import DEFAULT_DATASET_LIMITS, DatasetLimits, Limits, megabytes
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
    name: str | None = None,
) -> Dataset:
    """A manifest file (.csv/.jsonl), a folder holding one, or a .zip holding one.

    `name` is what messages call the upload (default: the path's last part); a temp path never shows."""
    path = Path(path)
    shown_name = shown(name) if name else display_name(path)
    if path.is_dir():
        return load_folder(path, on_error=on_error, limits=limits, prefix=name and shown_name)
    if path.suffix.lower() == ".zip":
        return load_zip(path, on_error=on_error, limits=limits, name=shown_name)
    return read_manifest(path, root=root, on_error=on_error, limits=limits, name=shown_name)


def find_manifest(folder: PathLike, *, name: str | None = None) -> Path:
    """The manifest: manifest.csv / .jsonl, else the only .csv / .jsonl; a lone subfolder is searched too.

    Messages call the folder `name` (default: its last path part)."""
    top = Path(folder)
    label = name or display_name(top)
    here = top
    inside = top.resolve()
    for _ in range(2):  # the folder, then its only subfolder (what zipping a folder produces)
        if not here.is_dir():
            raise InputError(label, "is not a folder")
        entries = [p for p in here.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        files = [p for p in entries if p.is_file()]
        named = [p for p in files if p.name.lower() in MANIFEST_NAMES]
        candidates = named or [p for p in files if p.suffix.lower() in MANIFEST_SUFFIXES]
        if len(candidates) == 1:
            manifest = candidates[0]
            if not manifest.resolve().is_relative_to(inside):
                shown_manifest = f"{name}:{display_name(manifest)}" if name else display_name(manifest)
                raise InputError(shown_manifest, "is a link that leads outside the dataset folder")
            return manifest
        if len(candidates) > 1:
            listed = ", ".join(sorted(display_name(p) for p in candidates))
            raise InputError(label, f"holds several manifests ({listed}); name the one to use manifest.csv or .jsonl")
        folders = [p for p in entries if p.is_dir()]
        if len(folders) != 1 or files:
            break
        here = folders[0]
    raise InputError(label, "no manifest found: expected manifest.csv, manifest.jsonl, or a single .csv/.jsonl file")


def load_folder(
    folder: PathLike,
    *,
    on_error: OnError = "skip",
    limits: DatasetLimits = DEFAULT_DATASET_LIMITS,
    prefix: str | None = None,
) -> Dataset:
    """Find the manifest in a folder (see `find_manifest`) and read it; paths are confined to the manifest's folder.

    With `prefix` (an upload's name), messages say 'prefix:manifest.csv' and never name the folder itself."""
    manifest = find_manifest(folder, name=prefix)
    relative = manifest.relative_to(Path(folder)).as_posix()
    return read_manifest(
        manifest,
        root=manifest.parent,
        on_error=on_error,
        limits=limits,
        name=f"{prefix}:{shown(relative)}" if prefix else shown(relative),
    )


def load_zip(
    archive: PathLike,
    *,
    on_error: OnError = "skip",
    limits: DatasetLimits = DEFAULT_DATASET_LIMITS,
    dest: PathLike | None = None,
    name: str | None = None,
) -> Dataset:
    """Extract a zip safely (see `extract_zip`) into `dest` or a new temp folder, then read the manifest inside.

    Messages name the zip as `name` (default: its file name), never the folder it is extracted into."""
    archive = Path(archive)
    label = name or display_name(archive)
    target = Path(dest) if dest is not None else Path(tempfile.mkdtemp(prefix="alignment-zip-"))
    try:
        archive_io.extract_zip(archive, target, limits=limits, name=label)
        dataset = load_folder(target, on_error=on_error, limits=limits, prefix=label)
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
    dataset: Dataset,
    limits: Limits = Limits(),
    *,
    modalities: Collection[Modality] | None = None,
    decoder: Decoder | None = None,
) -> Loaded:
    """Decode records to Items with the app's decoders; a record that fails becomes one message, the rest go on.

    One `Decoder` serves the whole dataset: a file named by many rows (or the same bytes under many names) is
    read and decoded once, and the request's pixel and audio budgets count it once."""
    decoder = decoder or Decoder(limits)
    out = Loaded()
    seen: dict[Path, Decoded | str] = {}  # resolved path -> its decoded payload, or why it failed
    for record in dataset.records:
        if modalities is not None and record.modality not in modalities:
            continue
        where = f"{dataset.name} line {record.line}"
        if isinstance(record.content, str):
            text = record.content
            problem = unicode_problem(text)
            if problem:
                out.problems.append(str(InputError(where, problem)))
                continue
            if len(text) > limits.max_text_chars:
                out.problems.append(
                    f"{where}: text is {len(text)} characters, over the limit of {limits.max_text_chars}"
                )
                continue
            out.items.append(Item(record.id, "text", text, sha256(text.encode()), where, record.pair, record.label))
            continue
        path = record.content
        source = f"{where} ({shown(_shown(path, dataset.root))})"
        decoded = seen.get(path)
        try:
            if isinstance(decoded, str):
                raise InputError(source, decoded)
            if decoded is None:
                decoded = decoder.decode(_read(path, source, limits), record.modality, source=source)  # type: ignore[arg-type]
                seen[path] = decoded
        except BudgetError as exc:
            out.problems.append(str(exc))  # not remembered: a later row of the same file is refused by the decoder
            continue
        except InputError as exc:
            seen[path] = exc.problem
            out.problems.append(str(exc))
            continue
        out.items.append(
            Item(
                record.id,
                record.modality,
                decoded.payload,
                decoded.sha256,
                source,
                record.pair,
                record.label,
                path=str(path),  # a session may drop the payload and decode the file again for a preview
            )
        )
    return out


def _read(path: Path, source: str, limits: Limits) -> bytes:
    """A record's bytes within `limits.max_file_mb`, or InputError naming the record."""
    try:
        size = path.stat().st_size
        if size > limits.max_file_mb * 1e6:
            raise InputError(source, f"file is {megabytes(size)}, over the limit of {limits.max_file_mb:g} MB")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(source, f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
