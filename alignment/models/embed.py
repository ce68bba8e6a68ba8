"""Cached embedding of items: look up the cache, run the encoder on the misses only, store them."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..inputs.audio import read_audio
from ..inputs.embeddings import Embedded, TextEmbedder, from_arrays
from ..inputs.image import read_image
from ..inputs.items import Item, Modality
from ..inputs.limits import Limits
from ..inputs.text import load_texts
from .cache import EmbeddingCache, EmbedStats
from .encoders import ClapEncoder, ClipEncoder, Encoders
from .runtime import gpu
from .turns import forward_turn

TURN_BATCHES = 1  # model batches per turn: a waiting job waits for one batch of another (a few seconds on a CPU)


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


def _payload(item: Item) -> object:
    """The decoded content; an item left undecoded because its embedding was cached is decoded from its file now
    (the cache entry went away in between, or another fingerprint needs it)."""
    if item.payload is not None:
        return item.payload
    if item.path is None:
        raise ValueError(f"{item.source}: item was not decoded and has no file to decode it from")
    data = Path(item.path).read_bytes()
    if item.modality == "image":
        return read_image(data, source=item.source)
    return read_audio(data, source=item.source, max_seconds=float("inf"))


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
    first = {i.sha256: i for i in reversed(items)}
    chunk = TURN_BATCHES * encoder.batch_size
    for start in range(0, len(todo), chunk):  # one turn at the model per chunk: other jobs interleave between them
        keys = todo[start : start + chunk]
        prepared = _prepare(encoder, modality, [_payload(first[k]) for k in keys])  # CPU work, outside the turn
        with forward_turn():
            vectors = _forward(encoder, modality, prepared)
        fresh = dict(zip(keys, vectors.numpy(), strict=True))
        if cache:
            try:
                cache.put(fingerprint, fresh)
            except OSError as exc:  # a full disk or read-only cache costs speed next time, not this result
                warnings.warn(f"embedding cache not written ({cache.root}): {exc}", RuntimeWarning, stacklevel=2)
        cached = {**cached, **fresh}
    out = np.stack([cached[i.sha256] for i in items]).astype(np.float32)
    return out, EmbedStats(hits=len(items) - sum(1 for i in items if i.sha256 in todo), computed=len(todo))


# ---------------------------------------------------------------------------- datasets


def embed_dataset(
    encoders: Encoders,
    items: Sequence[Item],
    *,
    cache: EmbeddingCache | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[dict[str, Embedded], list[str]]:
    """Paired items -> one `Embedded` per backbone space: CLIP (text + image) and CLAP (text + audio).

    A space is left out when it would hold no true pair (e.g. CLAP for an image-text dataset); the
    second value says which spaces were left out and why.
    """
    report = progress or (lambda fraction, message: None)
    by_modality = {m: [i for i in items if i.modality == m] for m in ("text", "image", "audio")}
    spaces: dict[str, Embedded] = {}
    notes: list[str] = []
    plan: tuple[tuple[str, ClipEncoder | ClapEncoder, str], ...] = (
        ("clip", encoders.clip, "image"),
        ("clap", encoders.clap, "audio"),
    )
    for step, (space, encoder, other) in enumerate(plan):
        members = by_modality["text"] + by_modality[other]
        if not by_modality[other] or not by_modality["text"]:
            if by_modality[other]:
                notes.append(f"{space} space left out: its {other} items have no texts to be compared with")
            continue
        parts = []
        for n, modality in enumerate(("text", other)):
            report((2 * step + n) / 4, f"Embedding {len(by_modality[modality])} {modality} items with {space.upper()}")
            parts.append(embed_items(encoder, by_modality[modality], cache=cache)[0])
        embedded = from_arrays(
            [i.id for i in members],
            [i.modality for i in members],
            [i.pair or "" for i in members],
            np.concatenate(parts),
            label=[i.label or "" for i in members],
            source=space,
            require_pairs=False,
        )
        if embedded.true_pairs():
            spaces[space] = embedded
        else:
            notes.append(f"{space} space left out: no text shares a pair key with an {other} item")
    report(1.0, "Embedded")
    return spaces, notes


def text_embedders(encoders: Encoders, *, cache: EmbeddingCache | None = None) -> dict[str, TextEmbedder]:
    """Prompt embedders for zero-shot classification, one per backbone space."""

    def embedder(encoder: ClipEncoder | ClapEncoder) -> TextEmbedder:
        def run(prompts: list[str]) -> np.ndarray:
            loaded = load_texts(prompts, limits=Limits(max_items=max(1, len(prompts))))
            return embed_items(encoder, loaded.items, cache=cache)[0]

        return run

    return {"clip": embedder(encoders.clip), "clap": embedder(encoders.clap)}
