"""Deletion / insertion curves: does removing what an explanation calls relevant hurt the score more than chance?

Generic over ``score(mask) -> float`` where ``mask`` is a boolean array over the explanation's units
(image patches, audio windows, ...), True = the unit is present. `explain_image.image_score` and
`explain_audio.audio_score` build such callables.

- deletion: start with every unit present and remove units, most relevant first; a faithful
  explanation makes the score fall fast, so its curve lies *below* the random-order curve.
- insertion: start with every unit removed and restore them, most relevant first; the curve lies *above*.

`area` is the area between the two curves over the fraction of units (trapezoids on [0, 1]), signed so that
positive = the explanation beats random order for both modes: deletion ``AUC(random) - AUC(explained)``,
insertion ``AUC(explained) - AUC(random)``. It is in score units (cosine x fraction); `relative_area`
divides it by |score(all present) - score(none present)| so items can be compared. The random curve is the
mean over `n_random` seeded permutations. Ties in relevance keep index order (a stable sort), so results are
deterministic. Each distinct mask is scored once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

Mode = Literal["deletion", "insertion"]


@dataclass(frozen=True)
class FaithfulnessCurve:
    """The explained and random-order curves of one mode, and the signed area between them."""

    mode: Mode
    fractions: np.ndarray  # (S+1,) fraction of units removed (deletion) or inserted (insertion) after each step
    explained: np.ndarray  # (S+1,) score with units taken in relevance order
    random: np.ndarray  # (S+1,) mean score over the random orders
    random_std: np.ndarray  # (S+1,) their standard deviation
    area: float  # > 0: the explanation beats random order (see the module docstring)
    relative_area: float | None  # area / |score(all) - score(none)|; None when that range is 0
    n_units: int
    n_random: int
    seed: int

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "area": self.area,
            "relative_area": self.relative_area,
            "n_units": self.n_units,
            "n_random": self.n_random,
            "seed": self.seed,
            "fractions": self.fractions.tolist(),
            "explained": self.explained.tolist(),
            "random": self.random.tolist(),
            "random_std": self.random_std.tolist(),
        }


def _auc(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def _counts(n_units: int, steps: int | None) -> np.ndarray:
    """How many units are taken after each step: 0..n, in at most `steps` equal-ish steps."""
    if steps is None or steps >= n_units:
        return np.arange(n_units + 1)
    if steps < 1:
        raise ValueError(f"steps must be at least 1 (got {steps})")
    return np.unique(np.round(np.linspace(0, n_units, steps + 1)).astype(np.int64))


class BatchScore(Protocol):
    """A score that can also take many masks at once: (M, units) booleans -> (M,) scores, one batched forward."""

    def __call__(self, mask: np.ndarray) -> float: ...

    def many(self, masks: np.ndarray) -> np.ndarray: ...


def _orders(values: np.ndarray, n_random: int, seed: int) -> list[np.ndarray]:
    """The explanation's order (most relevant first, ties by index), then `n_random` seeded random orders."""
    rng = np.random.default_rng(seed)
    return [np.argsort(-values, kind="stable"), *(rng.permutation(values.size) for _ in range(n_random))]


def _mask(order: np.ndarray, k: int, n: int, mode: Mode) -> np.ndarray:
    """Units present after taking the first k of `order`: removed (deletion) or the only ones restored (insertion)."""
    taken = np.zeros(n, dtype=bool)
    taken[order[:k]] = True
    return ~taken if mode == "deletion" else taken


def _key(mask: np.ndarray) -> bytes:
    return np.packbits(mask).tobytes() + mask.size.to_bytes(8, "little")


def _check_relevance(relevance: np.ndarray, n_random: int) -> np.ndarray:
    values = np.asarray(relevance, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("relevance has no units")
    if not np.isfinite(values).all():
        raise ValueError(f"relevance must be finite (got {int((~np.isfinite(values)).sum())} non-finite values)")
    if n_random < 1:
        raise ValueError(f"n_random must be at least 1 (got {n_random})")
    return values


def curve(
    score: Callable[[np.ndarray], float],
    relevance: np.ndarray,
    *,
    mode: Mode = "deletion",
    n_random: int = 5,
    seed: int = 0,
    steps: int | None = None,
    cache: dict[bytes, float] | None = None,
) -> FaithfulnessCurve:
    """Deletion or insertion curve of `relevance` (one value per unit, any shape) against random orders."""
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"unknown mode {mode!r} (expected 'deletion' or 'insertion')")
    values = _check_relevance(relevance, n_random)
    n = values.size
    cache = {} if cache is None else cache  # shared between modes: the all/none masks recur

    def scored(mask: np.ndarray) -> float:
        key = _key(mask)
        if key not in cache:
            cache[key] = float(score(mask.copy()))
        return cache[key]

    counts = _counts(n, steps)
    runs = [np.asarray([scored(_mask(order, k, n, mode)) for k in counts]) for order in _orders(values, n_random, seed)]
    explained, randoms = runs[0], np.stack(runs[1:])  # (S+1,), (n_random, S+1)
    random = randoms.mean(axis=0)
    fractions = counts / n
    gain = _auc(fractions, explained) - _auc(fractions, random)
    area = -gain if mode == "deletion" else gain
    full, empty = scored(np.ones(n, dtype=bool)), scored(np.zeros(n, dtype=bool))
    span = abs(full - empty)
    return FaithfulnessCurve(
        mode,
        fractions,
        explained,
        random,
        randoms.std(axis=0),
        float(area),
        float(area / span) if span > 1e-12 else None,
        n,
        n_random,
        seed,
    )


def masks_needed(relevance: np.ndarray, *, n_random: int = 5, seed: int = 0, steps: int | None = None) -> np.ndarray:
    """(M, units) every distinct mask both curves score: what a faithfulness check costs, in model calls."""
    values = _check_relevance(relevance, n_random)
    n = values.size
    unique: dict[bytes, np.ndarray] = {}
    for mask in (np.ones(n, dtype=bool), np.zeros(n, dtype=bool)):
        unique[_key(mask)] = mask
    for mode in ("deletion", "insertion"):
        for order in _orders(values, n_random, seed):
            for k in _counts(n, steps):
                mask = _mask(order, int(k), n, mode)  # type: ignore[arg-type]
                unique.setdefault(_key(mask), mask)
    return np.stack(list(unique.values()))


def evaluate(
    score: Callable[[np.ndarray], float] | BatchScore,
    relevance: np.ndarray,
    *,
    n_random: int = 5,
    seed: int = 0,
    steps: int | None = None,
    batch: int = 16,
) -> dict[str, FaithfulnessCurve]:
    """Both curves, {"deletion": ..., "insertion": ...}, sharing one score cache. A `score` with a `many` method
    is given every distinct mask up front, `batch` at a time (one batched forward each instead of one per mask)."""
    cache: dict[bytes, float] = {}
    many = getattr(score, "many", None)
    if many is not None:
        masks = masks_needed(relevance, n_random=n_random, seed=seed, steps=steps)  # (M, units)
        for start in range(0, len(masks), batch):
            chunk = masks[start : start + batch]
            for mask, value in zip(chunk, np.asarray(many(chunk), dtype=np.float64), strict=True):
                cache[_key(mask)] = float(value)
    return {
        mode: curve(score, relevance, mode=mode, n_random=n_random, seed=seed, steps=steps, cache=cache)  # type: ignore[arg-type]
        for mode in ("deletion", "insertion")
    }


__all__ = ["BatchScore", "FaithfulnessCurve", "Mode", "curve", "evaluate", "masks_needed"]
