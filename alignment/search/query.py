"""A search query: text, image, sound or a weighted combination of them, embedded into one backbone's space.

Each part is embedded by the tower of the gallery's space (CLIP text/image; CLAP text/audio; audio into CLIP
space through the CLAP -> CLIP bridge). Several parts are combined into one vector: by a trained fusion model
when one is given for these modalities, else as the weighted sum of the parts' unit vectors, renormalised.
A part that cannot be read is reported by name and the others still run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..core.errors import InputError
from ..inputs.audio import Waveform
from ..inputs.files import audio_item, load_files
from ..inputs.items import MODALITIES, Item, Modality, sha256
from ..inputs.limits import Limits
from ..inputs.text import load_texts
from .gallery import Backbone, Space, bridge_fingerprint

if TYPE_CHECKING:
    from ..models.cache import EmbeddingCache
    from ..models.encoders import ClapEncoder, ClipEncoder, Encoders
    from ..space.bridge import Bridge
    from ..space.fusion import FusionModel

Content = str | os.PathLike | Image.Image | Waveform | Item  # text; or a media file path or decoded media
MIN_NORM = 1e-6  # a combination shorter than this has no direction (e.g. a part and its exact opposite)


@dataclass(frozen=True)
class QueryPart:
    """One part of a query: a text, or an image or audio file (path or decoded), with its weight."""

    modality: Modality
    content: Content = field(repr=False)
    weight: float = 1.0  # share in the weighted sum (negative steers away from this part)
    name: str | None = None  # for messages and results; default: the text or the file name


@dataclass(frozen=True)
class Query:
    """One query of one or more parts; `Query.of(text=..., image=..., audio=..., weights=...)` builds one."""

    parts: tuple[QueryPart, ...]

    @classmethod
    def of(
        cls,
        *,
        text: str | None = None,
        image: Content | None = None,
        audio: Content | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> Query:
        """A query from up to one part per modality; `weights` by modality name (default 1 each)."""
        weights = dict(weights or {})
        given = {m: c for m, c in (("text", text), ("image", image), ("audio", audio)) if c is not None}
        unknown = sorted(set(weights) - set(MODALITIES))
        if unknown:
            raise ValueError(f"weights name an unknown modality {unknown[0]!r} (expected text, image or audio)")
        unused = sorted(set(weights) - set(given))
        if unused:
            raise ValueError(f"a weight is given for {unused[0]} but the query has no {unused[0]} part")
        return cls(tuple(QueryPart(m, c, float(weights.get(m, 1.0))) for m, c in given.items()))  # type: ignore[arg-type]

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return tuple(dict.fromkeys(p.modality for p in self.parts))


@dataclass(frozen=True)
class UsedPart:
    """A part that went into the query vector, and how it was embedded."""

    name: str
    modality: Modality
    weight: float
    via: str  # "CLIP image tower", "CLAP audio tower + bridge into CLIP space"


@dataclass(frozen=True, eq=False)
class QueryVector:
    """A query embedded into one space: a unit vector and, in words, how it was made."""

    vector: np.ndarray  # (D,) float32 unit
    space: Space  # the space it lives in (backbone, checkpoint, bridge)
    parts: tuple[UsedPart, ...]
    combination: str  # "single text", "weighted sum of unit embeddings, renormalised: ...", "fusion model (...)"
    problems: tuple[str, ...] = ()  # parts that were refused, each naming the part and the fault
    notes: tuple[str, ...] = ()  # e.g. a text truncated by the tokenizer

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return tuple(dict.fromkeys(p.modality for p in self.parts))


# ---------------------------------------------------------------------------- decoding


def _decode(part: QueryPart, limits: Limits) -> Item:
    """The part as an Item; InputError names the part and the problem."""
    content = part.content
    if isinstance(content, Item):
        if content.modality != part.modality:
            raise InputError(part.name or content.id, f"is a {content.modality} item, given as a {part.modality} query")
        return content
    if part.modality == "text":
        if not isinstance(content, str):
            raise InputError(part.name or "text query", f"must be a string, got {type(content).__name__}")
        loaded = load_texts([content], limits=limits)
        if loaded.problems:
            raise InputError(part.name or "text query", loaded.problems[0].split(": ", 1)[-1])
        if not loaded.items:
            raise InputError(part.name or "text query", "the text is empty")
        return loaded.items[0]
    if isinstance(content, Image.Image):
        if part.modality != "image":
            raise InputError(part.name or "query", f"an image was given as a {part.modality} query")
        name = part.name or "image"
        return Item(name, "image", content.convert("RGB"), sha256(content.convert("RGB").tobytes()), name)
    if isinstance(content, Waveform):
        if part.modality != "audio":
            raise InputError(part.name or "query", f"a waveform was given as a {part.modality} query")
        return audio_item(content.samples, content.sample_rate, name=part.name or "recording", limits=limits)
    if not isinstance(content, (str, os.PathLike)):
        raise InputError(part.name or f"{part.modality} query", f"must be a file path, got {type(content).__name__}")
    path = Path(content)
    if not path.is_file():
        raise InputError(part.name or str(path), f"no such {part.modality} file")
    loaded = load_files([path], part.modality, limits=limits)
    if loaded.problems:
        raise InputError(part.name or str(path), loaded.problems[0].split(": ", 1)[-1])
    return loaded.items[0]


# ---------------------------------------------------------------------------- embedding


def _tower(
    modality: Modality, backbone: Backbone, encoders: Encoders | None, bridge: Bridge | None
) -> tuple[ClipEncoder | ClapEncoder, bool, str]:
    """(encoder, through the bridge?, in words) for a modality in a backbone's space; ValueError says why not."""
    clip = encoders.clip if encoders is not None else None
    clap = encoders.clap if encoders is not None else None
    if backbone == "clap" and modality == "image":
        raise ValueError(
            "an image query cannot search a CLAP-space gallery: CLAP has no image tower and the bridge maps CLAP "
            "into CLIP space only; search a CLIP-space gallery (its audio mapped in by the bridge) instead"
        )
    encoder: ClipEncoder | ClapEncoder | None
    if backbone == "clip" and modality == "audio":
        if bridge is None:
            raise ValueError("an audio query in CLIP space needs the CLAP -> CLIP bridge, and none was given")
        encoder, via, bridged = clap, "CLAP audio tower + bridge into CLIP space", True
    else:
        encoder, via, bridged = (clip if backbone == "clip" else clap), f"{backbone.upper()} {modality} tower", False
    if encoder is None:
        role = "CLAP" if bridged else backbone.upper()
        raise ValueError(f"a {modality} query in {backbone.upper()} space needs the {role} model, which is not loaded")
    return encoder, bridged, via


def embed_query(
    query: Query,
    *,
    space: Space,
    encoders: Encoders | None,
    bridge: Bridge | None = None,
    fusion: FusionModel | None = None,
    cache: EmbeddingCache | None = None,
    limits: Limits = Limits(),
) -> QueryVector:
    """Embed every part in `space` and combine them; refused parts are listed, InputError if none is left.

    The query's towers must be the checkpoint that embedded the gallery when the space records one.
    """
    if not query.parts:
        raise InputError("query", "empty: give a text, an image or a sound")
    vectors: list[np.ndarray] = []
    used: list[UsedPart] = []
    problems: list[str] = []
    notes: list[str] = []
    for part in query.parts:
        if part.modality not in MODALITIES:
            raise InputError(
                part.name or "query", f"unknown modality {part.modality!r} (expected text, image or audio)"
            )
        if not np.isfinite(part.weight):
            raise InputError(part.name or part.modality, f"weight must be a finite number (got {part.weight})")
        encoder, bridged, via = _tower(part.modality, space.backbone, encoders, bridge)
        if not bridged:
            _check_model(encoder, space)
        try:
            item = _decode(part, limits)
        except InputError as exc:
            problems.append(str(exc))
            continue
        from ..models.embed import embed_items  # torch + transformers: only when a query is embedded

        vector = embed_items(encoder, [item], cache=cache)[0]  # (1, D_tower)
        if bridged:
            vector = bridge.apply(vector)  # type: ignore[union-attr]  # (1, D_clip)
        if vector.shape[1] != space.dim:
            raise InputError(
                part.name or item.source,
                f"embeds to {vector.shape[1]} dimensions ({via}) but the gallery's space has {space.dim}",
            )
        if part.modality == "text" and encoder.text_tokens([item.payload])[0].truncated:  # type: ignore[list-item]
            notes.append(f"{item.id}: longer than {encoder.max_text_tokens} tokens; {via} read only the start")
        vectors.append(vector[0])
        used.append(UsedPart(part.name or item.id, part.modality, part.weight, via))
    if not vectors:
        raise InputError("query", "no part could be read: " + "; ".join(problems))
    vector, combination = combine(vectors, used, fusion=fusion)
    bridges = (
        [bridge_fingerprint(bridge.method, bridge.weights)] if bridge and any("bridge" in u.via for u in used) else []
    )
    if bridges and space.bridge and bridges[0] != space.bridge:
        notes.append(
            f"the query's audio went through bridge {bridges[0]}, the gallery's audio through {space.bridge}: "
            "audio-to-audio scores compare two different maps"
        )
    return QueryVector(vector, space, tuple(used), combination, tuple(problems), tuple(notes))


def _check_model(encoder: ClipEncoder | ClapEncoder, space: Space) -> None:
    """The query tower must be the gallery's checkpoint when the gallery records one."""
    if space.model_id is None:
        return
    if encoder.model_id != space.model_id or (space.revision and encoder.revision != space.revision):
        raise ValueError(
            f"the gallery was embedded by {space.backbone.upper()} '{space.model_id}' (revision {space.revision}), "
            f"but the query would be embedded by '{encoder.model_id}' (revision {encoder.revision}): scores across "
            "two checkpoints mean nothing; load the gallery's model"
        )


# ---------------------------------------------------------------------------- combining


def combine(
    vectors: Sequence[np.ndarray], parts: Sequence[UsedPart], *, fusion: FusionModel | None = None
) -> tuple[np.ndarray, str]:
    """(unit vector (D,), how it was made). Fusion when its modalities cover the parts, else the weighted sum."""
    if len(vectors) == 1:
        return _unit(vectors[0], parts), f"single {parts[0].modality}"
    modalities = [p.modality for p in parts]
    if fusion is not None:
        reason = _fusion_unusable(fusion, modalities, len(vectors[0]))
        if reason is None:
            views = [np.zeros((1, fusion.dim), np.float32) for _ in fusion.names]  # M x (1, D)
            mask = np.zeros((1, len(fusion.names)), dtype=bool)  # (1, M)
            for vector, modality in zip(vectors, modalities, strict=True):
                views[fusion.names.index(modality)][0] = vector
                mask[0, fusion.names.index(modality)] = True
            fused, _ = fusion.apply(views, mask)  # (1, D)
            return fused[0].astype(np.float32), (
                f"fusion model ({fusion.method}, trained on {', '.join(fusion.names)}) over "
                f"{' + '.join(modalities)}; the weights are not used"
            )
        fallback = f"; the fusion model was not used: {reason}"
    else:
        fallback = ""
    weights = np.array([p.weight for p in parts], dtype=np.float64)  # (P,)
    summed = weights @ np.stack(vectors).astype(np.float64)  # (P,) @ (P, D) -> (D,)
    terms = " + ".join(f"{p.weight:g} x {p.modality} '{p.name}'" for p in parts)
    return _unit(summed, parts), f"weighted sum of unit embeddings, renormalised: {terms}{fallback}"


def _unit(vector: np.ndarray, parts: Sequence[UsedPart]) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not norm > MIN_NORM:
        raise InputError(
            "query",
            f"the weighted parts cancel out (combined length {norm:.2g}): "
            + ", ".join(f"{p.modality} '{p.name}' x {p.weight:g}" for p in parts),
        )
    return (vector / norm).astype(np.float32)


def _fusion_unusable(fusion: FusionModel, modalities: Sequence[str], dim: int) -> str | None:
    missing = [m for m in modalities if m not in fusion.names]
    if missing:
        return f"it was trained on {', '.join(fusion.names) or 'unnamed views'}, not {missing[0]}"
    if fusion.dim != dim:
        return f"it works in {fusion.dim} dimensions, the query in {dim}"
    return None
