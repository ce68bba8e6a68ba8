"""Where the Search tab's galleries come from: the bundled examples, the dataset evaluated in Errors, an upload.

Every function here runs inside a handler after `AppModels.get` (the library's search imports torch). The bundled
examples' galleries and the CLAP -> CLIP bridge are built once per server and shared by every visitor; a dataset's
or an upload's galleries live in the visitor's session (embeddings, ids and paths: no decoded media of their own).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from alignment.core.errors import InputError
from alignment.inputs.embeddings import Embedded
from alignment.inputs.items import Item
from ui.compare.one_space import CORPUS, CPU_CAPTIONS
from ui.models import AppModels

if TYPE_CHECKING:  # torch: imported inside the functions, after the models
    from alignment.models.encoders import Encoders
    from alignment.search import Gallery
    from alignment.space.bridge import Bridge
    from ui.errors.session import Explorer
    from ui.widgets.media import MediaLookup

Kind = Literal["examples", "dataset", "upload"]
EXAMPLES, DATASET, UPLOAD = "bundled examples", "dataset evaluated in Errors", "uploaded embeddings"
SOURCES: dict[str, Kind] = {EXAMPLES: "examples", DATASET: "dataset", UPLOAD: "upload"}
UPLOAD_TYPES = [".npz", ".safetensors", ".zip"]
SPACES = ("auto", "clip", "clap")  # an uploaded file's space: auto = from its modalities
Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class Chosen:
    """The galleries of one collection (one per space), named, and where its items' content can be found."""

    galleries: Mapping[str, Gallery]
    name: str
    kind: Kind
    key: tuple  # what the galleries were built from: the same key reuses them in a session
    items: Mapping[tuple[str, str], Item] = field(default_factory=dict)  # a dataset's decoded items (Errors holds them)
    notes: tuple[str, ...] = ()


def needs_bridge(query: set[str], target: str) -> bool:
    """Whether images and sounds meet in this search: then the audio is mapped into CLIP space by the bridge."""
    return {"image", "audio"} <= query | {target}


class GallerySource:
    """One per server: the bridge and the bundled examples' galleries, built on first use and kept."""

    def __init__(self, models: AppModels) -> None:
        self.models = models
        self._lock = threading.Lock()
        self._bridge: Bridge | None = None
        self._examples: dict[bool, Chosen] = {}

    def bridge(self, encoders: Encoders, progress: Progress) -> Bridge:
        """The CLAP -> CLIP bridge of the one-space view (same corpus, same cache file): fitted once, then loaded."""
        with self._lock:
            if self._bridge is None:
                from alignment.space.shared import shared_space

                captions = None if encoders.clip.device.type == "cuda" else CPU_CAPTIONS
                try:
                    space = shared_space(
                        encoders,
                        CORPUS,
                        root=self.models.root,
                        cache=self.models.cache,
                        max_captions=captions,
                        progress=progress,
                    )
                except (ValueError, OSError) as exc:
                    raise ValueError(f"the CLAP → CLIP bridge could not be fitted or loaded: {exc}") from None
                self._bridge = space.bridge
            return self._bridge

    def examples(self, encoders: Encoders, bridge: Bridge | None, progress: Progress) -> Chosen:
        """Every bundled text, photo and sound, in CLIP and CLAP space (audio also in CLIP space with `bridge`)."""
        bridged = bridge is not None
        with self._lock:
            if bridged not in self._examples:
                from alignment.search import examples_galleries

                progress(0.5, "Embedding the bundled examples (once)")
                galleries = examples_galleries(encoders, bridge=bridge, cache=self.models.cache)
                self._examples[bridged] = Chosen(galleries, "the bundled examples", "examples", ("examples", bridged))
            return self._examples[bridged]


def dataset(explorer: Explorer | None, bridge: Bridge | None, *, reuse: Chosen | None = None) -> Chosen:
    """The galleries of the dataset evaluated in the Errors tab (its spaces, items and models); `reuse` when they
    were built from the same evaluation with the same bridge."""
    if explorer is None:
        raise InputError(DATASET, "no dataset is evaluated yet: evaluate one in the Errors tab, or upload embeddings")
    key = ("dataset", id(explorer.evaluation), bridge is not None)
    if reuse is not None and reuse.key == key:
        return reuse
    from alignment.search import dataset_galleries

    source = explorer.source
    name = str(source.dataset.get("name") or "the evaluated dataset")
    kept = DatasetItems(explorer.media, decode=False)  # captions and paths: nothing is decoded to build galleries
    galleries = dataset_galleries(source.spaces, models=source.models, items=kept, bridge=bridge, name=name)
    return Chosen(galleries, name, "dataset", key, DatasetItems(explorer.media))


@dataclass(frozen=True, eq=False)
class DatasetItems(Mapping[tuple[str, str], Item]):
    """The Errors tab's items of a dataset as (modality, id) -> Item: decoded on demand (at most 1024 px, a few
    kept) by its `MediaLookup`, or with `decode=False` as kept there (texts whole, media as paths)."""

    media: MediaLookup
    decode: bool = True

    def __getitem__(self, key: tuple[str, str]) -> Item:
        item = self.media.get(*key) if self.decode else self.media.ref(*key)
        if item is None:
            raise KeyError(key)
        return item

    def __iter__(self):  # noqa: ANN204
        return iter(self.media.keys())

    def __len__(self) -> int:
        return len(self.media)


def upload(path: str | None, space: str, *, reuse: Chosen | None = None) -> Chosen:
    """An uploaded .npz / .safetensors embeddings file, or a .zip of `embed`'s parquet shards or an index folder;
    `reuse` when it was read from the same file in the same space."""
    if not path:
        raise InputError(UPLOAD, "no file uploaded: add an embeddings file (.npz, .safetensors) or a .zip of shards")
    if space not in SPACES:
        raise InputError("space", f"must be one of {', '.join(SPACES)} (got {space!r})")
    file = Path(path)
    name = file.name
    if file.suffix.lower() not in UPLOAD_TYPES:
        raise InputError(name, f"is not an embeddings file or zip (expected {', '.join(UPLOAD_TYPES)})")
    stat = file.stat()
    key = ("upload", str(file), stat.st_size, stat.st_mtime_ns, space)
    if reuse is not None and reuse.key == key:
        return reuse
    if file.suffix.lower() != ".zip":
        from alignment.inputs.embeddings import load_embeddings

        embedded = load_embeddings(file, require_pairs=False, name=name)
        return Chosen(_precomputed({name: embedded}, space), name, "upload", key)
    folder = Path(tempfile.mkdtemp(prefix="alignment-search-"))
    try:
        return Chosen(_from_zip(file, folder, space), name, "upload", key)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # every gallery is read into memory by now


def _precomputed(spaces: Mapping[str, Embedded], space: str, models: Mapping[str, str] | None = None) -> dict:
    """Galleries over embeddings: shards name their spaces and models; a file is in `space` (auto: its modalities)."""
    from alignment.search import Space, dataset_galleries, infer_backbone

    if models and set(spaces) <= {"clip", "clap"}:
        return dataset_galleries(spaces, models=models)
    if len(spaces) != 1:
        raise InputError(", ".join(spaces), "several embedding spaces that name no CLIP or CLAP model")
    ((key, embedded),) = spaces.items()
    backbone = space if space != "auto" else infer_backbone(embedded.modality)
    return dataset_galleries({key: embedded}, precomputed=Space(backbone, embedded.dim))  # type: ignore[arg-type]


def _from_zip(archive: Path, folder: Path, space: str) -> dict:
    """An index folder, parquet shards, or the one embeddings file inside a zip, as galleries."""
    from alignment.inputs import shards
    from alignment.inputs.dataset import extract_zip
    from alignment.inputs.embeddings import load_embeddings, load_spaces
    from alignment.search import load_gallery

    extract_zip(archive, folder)
    roots = [folder, *(p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith("__MACOSX"))]
    for root in roots:
        if (root / "index.json").is_file():
            gallery = load_gallery(root)
            return {gallery.space.backbone: gallery}
    for root in roots:
        if shards.is_shards(root):
            models: dict[str, str] = {}
            for name, where in shards.space_folders(root).items():
                files = [p for p, _ in shards.complete_shards(where)] if where.is_dir() else [where]
                meta = shards.shard_meta(files[0]) if files else None
                if meta is not None:
                    models |= {name: meta.model_id, f"{name}_revision": meta.revision}
            return _precomputed(load_spaces(root, require_pairs=False), space, models)
    files = [p for p in folder.rglob("*") if p.suffix.lower() in (".npz", ".safetensors") and p.is_file()]
    if len(files) == 1:
        return _precomputed({files[0].name: load_embeddings(files[0], require_pairs=False, name=files[0].name)}, space)
    raise InputError(
        archive.name,
        "holds no index folder (index.json), no parquet shards written by `embed`, and not exactly one "
        f".npz / .safetensors file ({len(files)} found)",
    )
