"""Readers that turn a paired dataset or an embeddings file into embedding spaces ready for `evaluate`.

Shared by the CLI and the app: a manifest, folder or zip is decoded and embedded by the towers it
needs; precomputed embeddings (.npz / .safetensors) become one space, and the parquet shards of `embed`
one space per backbone (clip, clap), loading no model at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import InputError
from ..inputs import shards
from ..inputs.embeddings import Embedded, TextEmbedder, load_embeddings, load_spaces
from ..inputs.items import Item, Modality
from ..inputs.limits import Limits

if TYPE_CHECKING:
    from .cache import EmbeddingCache
    from .encoders import Encoders

EMBEDDING_SUFFIXES = (".npz", ".safetensors")
PRECOMPUTED_SPACE = "precomputed"  # the one space of an embedding file
Progress = Callable[[float, str], None]
EncodersFor = Callable[[set[str]], "tuple[Encoders, dict]"]  # modalities present -> (Encoders, models info)


@dataclass
class Source:
    """Spaces to evaluate, prompt embedders for zero-shot, decoded items for previews, and what was skipped."""

    spaces: dict[str, Embedded]
    embed_text: dict[str, TextEmbedder]
    dataset: dict  # metrics.json's description of the input
    models: dict  # metrics.json's description of the models (or why none was loaded)
    problems: list[str] = field(default_factory=list)  # rows and items that were skipped, each named
    items: dict[tuple[str, str], Item] = field(default_factory=dict)  # (modality, id) -> decoded item
    folder: Path | None = None  # a zip's extracted files, kept by read_dataset(keep_files=True): the caller deletes it

    def item(self, modality: str, item_id: str) -> Item | None:
        return self.items.get((modality, item_id))


def is_embeddings(path: str | os.PathLike[str]) -> bool:
    """An embedding file (.npz, .safetensors) or `embed`'s parquet shards (a .parquet, a space or output folder)."""
    return Path(path).suffix.lower() in EMBEDDING_SUFFIXES or shards.is_shards(path)


def read_embeddings(path: str | os.PathLike[str]) -> Source:
    """Precomputed embeddings: no model loaded, no zero-shot (there are no prompt embeddings).

    An .npz / .safetensors file is one space ('precomputed'); parquet shards give each space they hold under its
    own name (an embed output folder: clip and clap), each needing true pairs of its own.
    """
    path = Path(path)
    if shards.is_shards(path):
        spaces = load_spaces(path, require_pairs=False)
        kept = {name: e for name, e in spaces.items() if e.true_pairs()}
        notes = [f"{name} space left out: no pair key is shared by two modalities" for name in spaces.keys() - kept]
        if not kept:
            raise InputError(path.name, "no true pairs in any space: no pair key is shared by rows of two modalities")
        kind, name = "shards", path.name
    else:
        embedded = load_embeddings(path)
        kept, notes, kind, name = {PRECOMPUTED_SPACE: embedded}, [], "embeddings", embedded.source
    every = [m for e in kept.values() for m in e.modality]
    dataset = {
        "source": str(path),
        "kind": kind,
        "name": name,
        "items": counts(every),
        "true_pairs": pairs_json({k: v for e in kept.values() for k, v in e.true_pairs().items()}),
        "spaces": {s: {"items": len(e), "dim": e.dim} for s, e in kept.items()},
        "notes": notes,
    }
    models = {"loaded": False, "why": "precomputed embeddings: no model was loaded", "random_weights": False}
    if kind == "shards":
        folders = shards.space_folders(path)
        metas = {s: shards.read_table(f, columns=["row"])[1].to_json() for s, f in folders.items()}
        models["shards"] = metas
        models["random_weights"] = any(m["model_id"] == "tiny" for m in metas.values())
    return Source(kept, {}, dataset, models)


def read_dataset(
    path: str | os.PathLike[str],
    encoders_for: EncodersFor,
    *,
    limits: Limits = Limits(),
    on_error: str = "skip",
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
    keep_files: bool = False,
) -> Source:
    """A manifest, folder or zip: validate, decode every item, embed with the towers the modalities need.

    `encoders_for(modalities)` supplies the encoders (the app passes its loaded pair; the CLI loads only
    the towers needed). Under on_error="stop" the first undecodable item raises; under "skip" it is listed.
    Every media item keeps its file's `path`; with `keep_files` a zip's extracted folder is not deleted but
    handed over as `Source.folder` (so a session can drop decoded media and decode a file again on demand).
    """
    from ..inputs.dataset import load_dataset, load_items  # media decoders: only on this path
    from .embed import embed_dataset, text_embedders

    report = progress or (lambda fraction, message: None)
    path = Path(path)
    report(0.0, f"Reading {path.name}")
    dataset = load_dataset(path, on_error=on_error)  # type: ignore[arg-type]
    try:
        report(0.05, f"Decoding {len(dataset.records)} items")
        loaded = load_items(dataset, limits)
        if on_error == "stop" and loaded.problems:
            raise InputError(dataset.name, f"cannot decode an item ({loaded.problems[0]})")
        encoders, models = encoders_for({item.modality for item in loaded.items})

        def embedding_progress(fraction: float, message: str) -> None:
            report(0.1 + 0.8 * fraction, message)

        spaces, notes = embed_dataset(encoders, loaded.items, cache=cache, progress=embedding_progress)
        if not spaces:
            why = "; ".join(notes) or "no text shares a pair key with an image or audio item"
            raise InputError(dataset.name, f"nothing to evaluate after decoding ({why})")
    except BaseException:
        dataset.cleanup()
        raise
    if not keep_files:
        dataset.cleanup()  # a zip's temp folder: the media are decoded in memory by now
    kind = "zip" if path.suffix.lower() == ".zip" else "folder" if path.is_dir() else "manifest"
    info = {
        "source": str(path),
        "kind": kind,
        "name": dataset.name,
        "form": dataset.form,
        "records": dict(dataset.counts()),
        "items": counts(i.modality for i in loaded.items),
        "true_pairs": pairs_json(dataset.true_pairs()),
        "spaces": {s: {"items": len(e), "dim": e.dim} for s, e in spaces.items()},
        "notes": notes,
    }
    return Source(
        spaces,
        text_embedders(encoders, cache=cache),
        info,
        models,  # type: ignore[arg-type]
        [*dataset.problems, *loaded.problems],
        {(i.modality, i.id): i for i in loaded.items},
        dataset.extracted if keep_files else None,
    )


def counts(modalities: object) -> dict[str, int]:
    """How many of each modality, in first-seen order."""
    out: dict[str, int] = {}
    for m in modalities:  # type: ignore[attr-defined]
        out[m] = out.get(m, 0) + 1
    return out


def pairs_json(pairs: Mapping[tuple[Modality, Modality], int]) -> dict[str, int]:
    return {f"{a}-{b}": n for (a, b), n in pairs.items()}
