"""Index folders: a gallery saved to disk (one FAISS index per modality, the item columns, the space) and read back.

Layout of DIR (written to a temporary folder beside it, then renamed into place):

* `index.json`: format `alignment.index/1`, the space (backbone, dimension, model id and revision, bridge),
  the source it was built from, and per modality the index file, its kind, item count, size and SHA-256,
  the recall@10 measured against exact search for approximate kinds, and the build time;
* `items.json`: the columns ids, modality, pair, label, source, text (row i of each describes item i; the
  rows of a modality, in order, are the vectors of its index, in order);
* `centroids.npz`: per modality the mean of its unit vectors (D,), for the modality gap;
* `text.faiss`, `image.faiss`, `audio.faiss`: the FAISS indexes of the modalities present.

Reading checks all of it (format, files, sizes, hashes, counts, dimensions, the model when one is expected)
and names the folder, the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..analysis.index import (
    DEFAULT_SETTINGS,
    IndexKind,
    IndexSettings,
    Recall,
    VectorIndex,
    build_index,
    read_index,
    write_index,
)
from ..core.errors import InputError
from ..core.files import write_json
from ..inputs.embeddings import Embedded
from ..inputs.items import MODALITIES, Modality
from .gallery import EXACT_MAX, ExactSearcher, Gallery, Items, Part, Space, gallery_from_embedded

FORMAT = "alignment.index/1"
MANIFEST = "index.json"
ITEMS = "items.json"
CENTROIDS = "centroids.npz"


def index_gallery(
    embedded: Embedded,
    *,
    space: Space,
    settings: IndexSettings = DEFAULT_SETTINGS,
    name: str | None = None,
    sources: list[str | None] | None = None,
    texts: list[str | None] | None = None,
) -> Gallery:
    """A gallery whose every modality is a FAISS index built with `settings` (see `alignment.analysis.index`)."""
    return gallery_from_embedded(embedded, space=space, name=name, sources=sources, texts=texts, settings=settings)


def save_gallery(gallery: Gallery, out: str | os.PathLike[str], *, source: str | None = None) -> Path:
    """Write `gallery` as an index folder at `out` (replacing an index folder there); exact parts become flat."""
    out = Path(out)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / MANIFEST).is_file())):
        raise InputError(str(out), "exists and is not an index folder; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        modalities = {}
        for modality, part in gallery.parts.items():
            index = _as_index(part)
            path = partial / f"{modality}.faiss"
            write_index(path, index)
            modalities[modality] = {
                "file": path.name,
                "kind": index.kind,
                "n": index.size,
                "bytes": path.stat().st_size,
                "sha256": _sha256(path),
                "recall": index.recall.to_json() if index.recall else None,
                "build_seconds": round(index.build_seconds, 3),
            }
        centroids: dict[str, np.ndarray] = {m: p.centroid for m, p in gallery.parts.items()}
        np.savez(partial / CENTROIDS, **centroids)  # type: ignore[arg-type]
        (partial / ITEMS).write_text(json.dumps(gallery.items.to_json(), ensure_ascii=False), encoding="utf-8")
        manifest = {
            "format": FORMAT,
            "name": gallery.name,
            "space": gallery.space.to_json(),
            "n_items": len(gallery),
            "source": source,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "modalities": modalities,
        }
        write_json(partial / MANIFEST, manifest)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(partial, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out


def _as_index(part: Part) -> VectorIndex:
    if isinstance(part.searcher, ExactSearcher):
        return build_index(part.searcher.vectors, settings=IndexSettings(kind="flat"))
    return part.searcher


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- reading


def load_gallery(path: str | os.PathLike[str], *, expect: Space | None = None) -> Gallery:
    """Read and check an index folder; `expect` = the space the caller's model embeds into (backbone, model).

    Flat indexes of up to EXACT_MAX items are searched exactly through `alignment.analysis.topk` (their
    vectors read back from the index); larger or approximate ones through FAISS.
    """
    folder = Path(path)
    where = str(folder)
    if not folder.is_dir():
        raise InputError(where, "no such index folder")
    manifest = _read_json(folder, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise InputError(where, f"{MANIFEST} is not an index of this app (format {found!r}, expected {FORMAT!r})")
    try:
        space = Space.from_json(manifest["space"])
        items = Items.from_json(_read_json(folder, ITEMS))  # type: ignore[arg-type]  # TypeError when not a dict
        entries: Mapping[str, dict] = manifest["modalities"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(where, f"damaged index description: {exc}") from None
    if expect is not None:
        _check_expected(where, space, expect)
    if len(items) != manifest.get("n_items"):
        raise InputError(where, f"{ITEMS} holds {len(items)} items, {MANIFEST} says {manifest.get('n_items')}")
    centroids = _read_centroids(folder)
    modality = np.asarray(items.modality)
    parts: dict[Modality, Part] = {}
    for name, entry in entries.items():
        if name not in MODALITIES:
            raise InputError(where, f"{MANIFEST} names an unknown modality {name!r}")
        m: Modality = name  # type: ignore[assignment]
        rows = np.flatnonzero(modality == m)
        index = _read_part(folder, m, entry, len(rows), space.dim)
        if m not in centroids or centroids[m].shape != (space.dim,):
            raise InputError(where, f"{CENTROIDS} has no {space.dim}-dimensional centre for {m}")
        parts[m] = Part(rows, _searcher(index), centroids[m])
    missing = sorted(set(items.modality) - set(parts))
    if missing:
        raise InputError(where, f"{ITEMS} holds {missing[0]} items but there is no {missing[0]} index")
    return Gallery(
        str(manifest.get("name") or folder.name), space, items, {m: parts[m] for m in MODALITIES if m in parts}
    )


def _read_json(folder: Path, name: str) -> object:
    path = folder / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(folder), f"{name} is missing: not an index folder, or a damaged one") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(folder), f"{name} is damaged ({exc})") from None


def _read_centroids(folder: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(folder / CENTROIDS, allow_pickle=False) as data:
            return {key: np.asarray(data[key], dtype=np.float64) for key in data.files}
    except FileNotFoundError:
        raise InputError(str(folder), f"{CENTROIDS} is missing") from None
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(str(folder), f"{CENTROIDS} is damaged ({exc})") from None


def _read_part(folder: Path, modality: Modality, entry: Mapping, n_rows: int, dim: int) -> VectorIndex:
    where = str(folder)
    try:
        path = folder / str(entry["file"])
        kind: IndexKind = entry["kind"]
        recall = None
        if entry.get("recall"):
            r = entry["recall"]
            recall = Recall(float(r["recall@10"]), int(r["n_queries"]), str(r["knob"]), int(r["value"]))
        size, digest, n = int(entry["bytes"]), str(entry["sha256"]), int(entry["n"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(where, f"damaged description of the {modality} index ({exc!r})") from None
    if path.parent != folder or not path.is_file():
        raise InputError(where, f"the {modality} index file {path.name} is missing")
    if path.stat().st_size != size or _sha256(path) != digest:
        raise InputError(
            where, f"{path.name} differs from the file written at build time (size or SHA-256): damaged or modified"
        )
    try:
        index = read_index(path, kind=kind, recall=recall, build_seconds=float(entry.get("build_seconds", 0.0)))
    except (ValueError, KeyError) as exc:
        raise InputError(where, str(exc)) from None
    if index.size != n or n != n_rows:
        raise InputError(where, f"{path.name} holds {index.size} vectors, the items list {n_rows} {modality} items")
    if index.dim != dim:
        raise InputError(where, f"{path.name} holds {index.dim}-dimensional vectors, the space {dim}")
    return index


def _searcher(index: VectorIndex) -> ExactSearcher | VectorIndex:
    """Small flat indexes are searched exactly with analysis.topk, like in-memory galleries."""
    if index.kind == "flat" and index.size <= EXACT_MAX:
        vectors = index.faiss_index.reconstruct_n(0, index.size)  # (n, D)
        return ExactSearcher(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _check_expected(where: str, space: Space, expect: Space) -> None:
    if space.backbone != expect.backbone:
        raise InputError(where, f"is an index of the {space.describe()}, not of the {expect.backbone.upper()} space")
    if space.dim != expect.dim:
        raise InputError(where, f"holds {space.dim}-dimensional vectors; the model embeds into {expect.dim} dimensions")
    if (
        space.model_id is not None
        and expect.model_id is not None
        and (
            space.model_id != expect.model_id
            or (space.revision and expect.revision and space.revision != expect.revision)
        )
    ):
        raise InputError(
            where,
            f"was built for {space.backbone.upper()} '{space.model_id}' (revision {space.revision}), "
            f"not for '{expect.model_id}' (revision {expect.revision})",
        )
