"""Cached embedding of items: look up the cache, run the encoder on the misses only, store them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .cache import EmbeddingCache
from .data import Item, Modality
from .encoders import ClapEncoder, ClipEncoder
from .runtime import gpu


@dataclass(frozen=True)
class EmbedStats:
    """How many items came from the cache and how many needed a forward pass."""

    hits: int
    computed: int


@gpu
def _forward(encoder: ClipEncoder | ClapEncoder, modality: Modality, prepared: object) -> torch.Tensor:
    """The only code that needs the accelerator (held for this call alone on a ZeroGPU Space)."""
    if modality == "text":
        return encoder.forward_text(prepared)  # type: ignore[arg-type]
    if modality == "image":
        return encoder.forward_image(prepared)  # type: ignore[union-attr, arg-type]
    return encoder.forward_audio(prepared)  # type: ignore[union-attr, arg-type]


def _prepare(encoder: ClipEncoder | ClapEncoder, modality: Modality, payloads: list) -> object:
    if modality == "text":
        return encoder.prepare_text(payloads)
    if modality == "image" and isinstance(encoder, ClipEncoder):
        return encoder.prepare_image(payloads)
    if modality == "audio" and isinstance(encoder, ClapEncoder):
        return encoder.prepare_audio(payloads)
    raise ValueError(f"{type(encoder).__name__} does not encode {modality!r} (it encodes {encoder.modalities})")


def embed_items(
    encoder: ClipEncoder | ClapEncoder, items: Sequence[Item], *, cache: EmbeddingCache | None = None
) -> tuple[np.ndarray, EmbedStats]:
    """Unit-norm embeddings (N, D) float32 for items of one modality, in order; cache hits skip the encoder."""
    if not items:
        return np.zeros((0, encoder.dim), np.float32), EmbedStats(0, 0)
    modality = items[0].modality
    if any(item.modality != modality for item in items):
        raise ValueError(f"embed_items takes one modality at a time, got {sorted({i.modality for i in items})}")
    fingerprint = encoder.fingerprint(modality)
    cached = cache.get(fingerprint, {i.sha256 for i in items}) if cache else {}
    todo = list(dict.fromkeys(i.sha256 for i in items if i.sha256 not in cached))  # unique content, in order
    if todo:
        first = {i.sha256: i for i in reversed(items)}
        vectors = _forward(encoder, modality, _prepare(encoder, modality, [first[k].payload for k in todo]))
        fresh = dict(zip(todo, vectors.numpy(), strict=True))
        if cache:
            cache.put(fingerprint, fresh)
        cached = {**cached, **fresh}
    out = np.stack([cached[i.sha256] for i in items]).astype(np.float32)
    return out, EmbedStats(hits=len(items) - sum(1 for i in items if i.sha256 in todo), computed=len(todo))
