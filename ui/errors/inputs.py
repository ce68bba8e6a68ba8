"""What the errors tab evaluates: an upload (a manifest, a zip of a dataset or of parquet shards, an embeddings
file), the bundled example, or a dataset the operator put in the server's datasets folder (ALIGN_DATASETS), chosen
from a list: a visitor never types a server path."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alignment.core.errors import InputError
from alignment.core.names import display_name, shown
from alignment.inputs.archive import declared_entries, extract_zip
from alignment.inputs.limits import DatasetLimits
from alignment.store.tags import dataset_digest

DATASETS_ENV = "ALIGN_DATASETS"  # a folder of datasets offered by name (each entry one dataset); unset: none
DATASET_SUFFIXES = (".csv", ".jsonl", ".zip", ".npz", ".safetensors", ".parquet")
MAX_LISTED = 200
SHARD_ZIP_LIMITS = DatasetLimits(max_unzipped_mb=4_000.0)  # a zip of parquet shards: 100k x 512 float32 is 205 MB


@dataclass(frozen=True)
class Chosen:
    """The dataset to evaluate: where it is on this server, the name to show, and whether it is the example."""

    path: Path
    name: str
    example: bool = False
    temporary: Path | None = None  # a folder unpacked for this request, deleted once the dataset is read


def server_datasets(env: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Name -> path of the datasets in $ALIGN_DATASETS: files with a dataset suffix and folders (a manifest with its
    media, or parquet shards), one level deep, hidden entries skipped, nothing that resolves outside the folder."""
    raw = (os.environ if env is None else env).get(DATASETS_ENV, "").strip()
    if not raw:
        return {}
    root = Path(raw).resolve()
    if not root.is_dir():
        return {}
    found: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        resolved = entry.resolve()
        if entry.name.startswith(".") or not resolved.is_relative_to(root):
            continue
        if resolved.is_dir() or resolved.suffix.lower() in DATASET_SUFFIXES:
            found[shown(entry.name)] = resolved
        if len(found) >= MAX_LISTED:
            break
    return found


def choose(
    upload: str | None, use_example: bool, server_choice: str | None, *, example: Path, datasets: Mapping[str, Path]
) -> Chosen | None:
    """The upload first, then a server dataset picked from the list, then the example (when ticked); None: nothing.
    A server choice that is not in the list is refused by name (the list is the only way to a server path)."""
    if upload:
        path = Path(upload)
        return unpack_shard_zip(path) if path.suffix.lower() == ".zip" else Chosen(path, display_name(path))
    if server_choice:
        if server_choice not in datasets:
            raise InputError(shown(server_choice), "is not one of this server's datasets")
        path = datasets[server_choice]
        return unpack_shard_zip(path) if path.suffix.lower() == ".zip" else Chosen(path, shown(server_choice))
    if use_example:
        return Chosen(example, example.name, example=True)
    return None


def unpack_shard_zip(path: Path) -> Chosen:
    """A zip holding parquet shards and no manifest is unpacked safely into a temp folder (read as embeddings);
    any other zip is a dataset with its media, read as such."""
    name = display_name(path)
    entries = declared_entries(path)
    if entries is not None and entries > SHARD_ZIP_LIMITS.max_zip_entries:
        raise InputError(name, f"holds {entries:,} entries, over the limit of {SHARD_ZIP_LIMITS.max_zip_entries:,}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n.lower() for n in zf.namelist() if not n.startswith("__MACOSX/")]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(name, f"not a readable zip file ({exc})") from None
    if not any(n.endswith(".parquet") for n in names) or any(n.endswith((".csv", ".jsonl")) for n in names):
        return Chosen(path, name)
    folder = Path(tempfile.mkdtemp(prefix="alignment-shards-"))
    try:
        extract_zip(path, folder, limits=SHARD_ZIP_LIMITS, name=name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    top = folder
    while not any(top.glob("*.parquet")) and not any(top.glob("*/*.parquet")):
        inner = [p for p in top.iterdir() if p.is_dir()]
        if len(inner) != 1:
            break
        top = inner[0]  # a zipped folder: its one top-level folder
    return Chosen(top, name, temporary=folder)


def dataset_key(path: Path) -> str:
    """The dataset part of a tag's key (16 hex digits): `dataset_digest` of a file, or of a folder's files (their
    relative names and bytes, in name order)."""
    if not path.is_dir():
        return dataset_digest(path)
    digest = hashlib.sha256(b"alignment-folder\0")
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(file.relative_to(path).as_posix().encode("utf-8", "surrogatepass") + b"\0")
        digest.update(dataset_digest(file).encode() + b"\0")
    return digest.hexdigest()[:16]
