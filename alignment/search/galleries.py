"""Galleries to search: the bundled examples, the spaces of an evaluated dataset, an embeddings file.

A collection is searched as one gallery per space: CLIP (text, image, and audio mapped in by the CLAP -> CLIP
bridge when one is given) and CLAP (text, audio). `alignment.search.engine.choose_gallery` picks the space per
query. Galleries over an index folder come from `alignment.search.folder.load_gallery`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..inputs.embeddings import Embedded, from_arrays
from ..inputs.files import load_files
from ..inputs.items import Item, Modality
from ..inputs.limits import Limits
from ..inputs.text import load_texts
from .gallery import Backbone, Gallery, Space, bridge_fingerprint, gallery_from_embedded

if TYPE_CHECKING:
    from ..models.cache import EmbeddingCache
    from ..models.encoders import ClapEncoder, ClipEncoder, Encoders
    from ..space.bridge import Bridge

ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLES = ASSETS / "examples.json"


def infer_backbone(modalities: Sequence[str]) -> Backbone:
    """The space a set of modalities must live in: images -> CLIP (audio with them came through the bridge);
    audio without images -> CLAP; text alone -> CLIP."""
    if "image" in modalities:
        return "clip"
    return "clap" if "audio" in modalities else "clip"


def space_of(encoder: ClipEncoder | ClapEncoder, *, bridge: Bridge | None = None) -> Space:
    """The space an encoder embeds into (with the bridge that maps audio in, for a CLIP gallery holding audio)."""
    fingerprint = bridge_fingerprint(bridge.method, bridge.weights) if bridge is not None else None
    return Space(encoder.role, encoder.dim, encoder.model_id, encoder.revision, fingerprint)


# ---------------------------------------------------------------------------- the bundled examples


def examples_galleries(
    encoders: Encoders,
    *,
    bridge: Bridge | None = None,
    cache: EmbeddingCache | None = None,
    path: str | Path = EXAMPLES,
) -> dict[str, Gallery]:
    """Every text, photo and sound of the bundled example sets (each once), one gallery per loaded tower.

    Pair keys are the captions (assets/examples.json's `pairs`); audio joins the CLIP gallery when `bridge`
    is given. A file that cannot be read raises: the bundled assets are part of the app.
    """
    from ..models.embed import embed_items  # torch + transformers: only when the examples are embedded

    path = Path(path)
    sets = json.loads(path.read_text(encoding="utf-8"))
    texts = list(dict.fromkeys(t for s in sets for t in s.get("texts", [])))
    pairs = {k: v for s in sets for k, v in s.get("pairs", {}).items()}
    media = {
        m: list(dict.fromkeys(p for s in sets for p in s.get(key, [])))
        for m, key in (("image", "images"), ("audio", "audio"))
    }
    limits = Limits(max_items=max(64, len(texts), *(len(v) for v in media.values())))
    loaded: dict[Modality, list[Item]] = {"text": load_texts(texts, limits=limits).items}
    for modality, files in media.items():
        result = load_files([path.parent / f for f in files], modality, limits=limits)  # type: ignore[arg-type]
        if result.problems:
            raise ValueError(f"bundled example {modality} could not be read: {result.problems[0]}")
        loaded[modality] = result.items  # type: ignore[index]
    rel = {m: dict(zip([i.id for i in loaded[m]], media[m], strict=True)) for m in ("image", "audio")}  # type: ignore[index]
    full_text = dict(zip([i.id for i in loaded["text"]], texts, strict=True))

    def columns(items: list[Item]) -> dict[str, list]:
        return {
            "ids": [i.id for i in items],
            "modality": [i.modality for i in items],
            "pair": [
                full_text[i.id] if i.modality == "text" else pairs.get(rel[i.modality][i.id], i.id) for i in items
            ],
            "source": [None if i.modality == "text" else str(path.parent / rel[i.modality][i.id]) for i in items],
            "text": [full_text[i.id] if i.modality == "text" else None for i in items],
        }

    out: dict[str, Gallery] = {}
    plan: tuple[tuple[Backbone, ClipEncoder | ClapEncoder | None, Modality], ...] = (
        ("clip", encoders.clip, "image"),
        ("clap", encoders.clap, "audio"),
    )
    bridged: np.ndarray | None = None
    if bridge is not None and encoders.clap is not None and encoders.clip is not None:
        bridged = bridge.apply(embed_items(encoders.clap, loaded["audio"], cache=cache)[0])  # (A, D_clip)
    for backbone, encoder, other in plan:
        if encoder is None:
            continue
        members = loaded["text"] + loaded[other]
        vectors = [
            embed_items(encoder, loaded["text"], cache=cache)[0],
            embed_items(encoder, loaded[other], cache=cache)[0],
        ]
        if backbone == "clip" and bridged is not None:
            members, vectors = members + loaded["audio"], [*vectors, bridged]
        col = columns(members)
        embedded = from_arrays(
            col["ids"], col["modality"], col["pair"], np.concatenate(vectors), source="examples", require_pairs=False
        )
        space = space_of(encoder, bridge=bridge if backbone == "clip" and bridged is not None else None)
        out[backbone] = gallery_from_embedded(
            embedded,
            space=space,
            name=f"bundled examples ({backbone.upper()})",
            sources=col["source"],
            texts=col["text"],
        )
    return out


# ---------------------------------------------------------------------------- evaluated datasets


def dataset_galleries(
    spaces: Mapping[str, Embedded],
    *,
    models: Mapping[str, object] | None = None,
    items: Mapping[tuple[str, str], Item] | None = None,
    bridge: Bridge | None = None,
    precomputed: Space | None = None,
    name: str | None = None,
) -> dict[str, Gallery]:
    """Galleries over the spaces of a dataset (`alignment.models.sources.Source.spaces`, `.models`, `.items`).

    Spaces named clip / clap are the app's backbones (model ids from `models`); any other space (an embeddings
    file) is described by `precomputed`, else inferred from its modalities (`infer_backbone`) with the model
    unrecorded. With `bridge`, the CLAP space's audio is mapped into the CLIP gallery too. `name`: the dataset's,
    for messages (default: each space's source). Items' `source` is the dataset item's (e.g. 'paired.csv line 9
    (images/rocket.jpg)'); the decoded media are in `Source.items`.
    """
    models = models or {}
    out: dict[str, Gallery] = {}
    for key, embedded in spaces.items():
        if key in ("clip", "clap"):
            model_id = models.get(key)
            revision = models.get(f"{key}_revision")
            space = Space(key, embedded.dim, str(model_id) if model_id else None, str(revision) if revision else None)  # type: ignore[arg-type]
        else:
            space = precomputed or Space(infer_backbone(embedded.modality), embedded.dim)
        if space.backbone in out:
            raise ValueError(f"two spaces of this dataset are both {space.backbone.upper()} spaces ({key})")
        out[space.backbone] = _with_previews(embedded, space, items, name=f"{name or embedded.source} ({key})")
    clap, clip = spaces.get("clap"), out.get("clip")
    if bridge is not None and clap is not None and "audio" in clap.modality:
        audio = clap.select(clap.rows("audio"))
        mapped = bridge.apply(audio.embeddings)  # (A, D_clip)
        base = spaces.get("clip")
        if base is not None and mapped.shape[1] != base.dim:
            raise ValueError(f"the bridge maps into {mapped.shape[1]} dimensions, the CLIP space has {base.dim}")
        joined = _concat(base, audio, mapped)
        space = Space(
            "clip",
            joined.dim,
            clip.space.model_id if clip else None,
            clip.space.revision if clip else None,
            bridge_fingerprint(bridge.method, bridge.weights),
        )
        out["clip"] = _with_previews(
            joined, space, items, name=f"{name or clap.source} (CLIP, audio through the bridge)"
        )
    return out


def _concat(base: Embedded | None, audio: Embedded, mapped: np.ndarray) -> Embedded:
    parts = [base] if base is not None else []
    return from_arrays(
        [i for e in parts for i in e.ids] + list(audio.ids),
        [m for e in parts for m in e.modality] + list(audio.modality),
        [p for e in parts for p in e.pair] + list(audio.pair),
        np.concatenate([*(e.embeddings for e in parts), mapped]),
        label=[(x or "") for e in parts for x in e.label] + [(x or "") for x in audio.label],
        source=audio.source,
        require_pairs=False,
    )


def _with_previews(
    embedded: Embedded, space: Space, items: Mapping[tuple[str, str], Item] | None, *, name: str
) -> Gallery:
    found = [items.get((m, i)) if items else None for m, i in zip(embedded.modality, embedded.ids, strict=True)]
    sources = [None if f is None or f.modality == "text" else f.source for f in found]
    texts = [f.payload if f is not None and f.modality == "text" else None for f in found]
    return gallery_from_embedded(embedded, space=space, name=name, sources=sources, texts=texts)  # type: ignore[arg-type]
