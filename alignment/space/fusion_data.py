"""Multi-modal items from paired embeddings: group rows by pair key into per-modality views and a target.

An item is a pair key. Its target is the (renormalised) mean of its rows of the target modality (e.g. its
captions); each other modality present in the data is one view, the mean of the item's rows of it, or a
zero row with mask False when the item lacks that modality. Items with no target or no view are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from ..inputs.embeddings import Embedded
from ..inputs.items import MODALITIES, Modality

Method = Literal["mean", "concat", "weighted", "attention"]  # see alignment.space.fusion
METHODS: tuple[Method, ...] = get_args(Method)
MIN_ITEMS = 20  # fusion training splits items into fit, inner-validation and held-out parts


@dataclass(frozen=True, eq=False)
class FusionItems:
    """Views (M arrays of (N, D)), their presence mask (N, M), the target (N, D) and the items' pair keys."""

    keys: tuple[str, ...]
    names: tuple[Modality, ...]  # the view modalities, in MODALITIES order
    views: tuple[np.ndarray, ...]
    mask: np.ndarray  # (N, M) bool
    target: np.ndarray  # (N, D) unit rows
    target_modality: Modality


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def fusion_items(data: Embedded, *, target: Modality = "text") -> FusionItems:
    """Group one space's rows into fusion items; ValueError says what is missing (modalities, items)."""
    if target not in MODALITIES:
        raise ValueError(f"unknown target modality {target!r} (expected one of {', '.join(MODALITIES)})")
    present = [m for m in MODALITIES if m in set(data.modality)]
    names = tuple(m for m in present if m != target)
    if target not in present or len(names) < 2:
        raise ValueError(
            f"fusion needs the target modality '{target}' and at least two other modalities to fuse "
            f"(this data has {', '.join(present) or 'none'})"
        )
    rows: dict[str, dict[str, list[int]]] = {}
    for i, (key, modality) in enumerate(zip(data.pair, data.modality, strict=True)):
        rows.setdefault(key, {}).setdefault(modality, []).append(i)
    keys = [k for k, by in rows.items() if target in by and any(m in by for m in names)]
    if len(keys) < MIN_ITEMS:
        raise ValueError(
            f"fusion needs at least {MIN_ITEMS} items with a {target} row and another modality (found {len(keys)})"
        )
    emb = data.embeddings
    target_rows = _unit(np.stack([emb[rows[k][target]].mean(axis=0) for k in keys]))  # (N, D)
    mask = np.array([[m in rows[k] for m in names] for k in keys])  # (N, M)
    views = tuple(
        np.stack(
            [_unit(emb[rows[k][m]].mean(axis=0)) if m in rows[k] else np.zeros(data.dim, np.float32) for k in keys]
        )
        for m in names
    )  # M x (N, D)
    return FusionItems(tuple(keys), names, views, mask, target_rows, target)


def synthetic_items(n: int = 600, *, dim: int = 64, seed: int = 0) -> Embedded:
    """A labelled synthetic demo with a known answer: each item's identity is split between its image and its
    audio (half the latent dimensions visible in each; the audio noisier), and its text sees all of it.
    Fusing the two views must beat either alone, and a learned weighting should lean on the cleaner image."""
    from ..inputs.embeddings import from_arrays

    rng = np.random.default_rng(seed)
    k = 16
    z = rng.standard_normal((n, k))
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0][:k]  # (k, dim) orthonormal rows
    half = k // 2
    text = z @ basis
    image = np.concatenate([z[:, :half], 0.0 * z[:, half:]], axis=1) @ basis
    audio = np.concatenate([0.0 * z[:, :half], z[:, half:]], axis=1) @ basis
    noise = np.array([0.3, 1.0, 2.0]) / np.sqrt(dim)  # text, image, audio: the audio view is the noisier one
    parts = [
        x + s * np.linalg.norm(x, axis=1, keepdims=True) * rng.standard_normal(x.shape)
        for x, s in zip((text, image, audio), noise, strict=True)
    ]
    keys = [f"item {i}" for i in range(n)]
    return from_arrays(
        [f"{m} {i}" for m in ("text", "image", "audio") for i in range(n)],
        [m for m in ("text", "image", "audio") for _ in range(n)],
        keys * 3,
        np.concatenate(parts).astype(np.float32),
        source="synthetic demo",
    )
