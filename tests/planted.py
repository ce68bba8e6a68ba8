"""A paired text-image space with planted concepts and planted errors (a helper for the explore tests, not a test file).

Each concept is a direction in R^D; a pair's caption and image share the concept plus a pair-specific offset (so
pairs match each other, not just their concept), and each modality gets its own constant shift (a modality gap).
`swapped` pairs get a caption written for another concept: their text sits in the wrong concept, so both of their
queries fail, as a data error would. The captions share the filler words "a photo of" everywhere and carry
their concept's own words, so a good cluster namer finds the concept words and never the filler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment.analysis.evaluate import Evaluation, evaluate
from alignment.inputs.embeddings import Embedded, from_arrays

WORDS = {
    "bird": ("parrot", "feathers", "beak"),
    "cat": ("kitten", "whiskers", "purring"),
    "car": ("engine", "wheels", "highway"),
    "boat": ("harbour", "sail", "waves"),
}


@dataclass(frozen=True)
class Planted:
    embedded: Embedded
    evaluation: Evaluation
    captions: tuple[str, ...]  # per row: the text's own caption, or its pair's caption for an image
    concept: np.ndarray  # (N,) int: the concept each row was drawn from
    swapped: frozenset[str]  # pair keys whose caption belongs to another concept


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def planted(per_concept: int = 30, *, dim: int = 32, n_swapped: int = 6, seed: int = 0) -> Planted:
    rng = np.random.default_rng(seed)
    names = list(WORDS)
    centres = unit(rng.standard_normal((len(names), dim))) * 3.0  # (C, D)
    gap = unit(rng.standard_normal(dim)) * 0.4
    ids, modality, pair, label, vectors, captions, concept = [], [], [], [], [], [], []
    keys = [f"{name}-{i:03d}" for name in names for i in range(per_concept)]
    swapped = set(rng.choice(keys, n_swapped, replace=False).tolist())
    for key in keys:
        c = names.index(key.rsplit("-", 1)[0])
        text_c = (c + 1) % len(names) if key in swapped else c
        offset = rng.standard_normal(dim) * 0.3
        words = " ".join(rng.choice(WORDS[names[text_c]], 2, replace=False).tolist())
        caption = f"a photo of {words}"
        for m, centre, shift in (("text", text_c, gap), ("image", c, -gap)):
            ids.append(f"{key} {m}")
            modality.append(m)
            pair.append(key)
            label.append(names[c] if m == "image" else None)
            vectors.append(centres[centre] + offset + shift + rng.standard_normal(dim) * 0.15)
            captions.append(caption)
            concept.append(centre)
    embedded = from_arrays(ids, modality, pair, np.array(vectors), label=label, source="planted")
    return Planted(
        embedded,
        evaluate({"shared": embedded}),
        tuple(captions),
        np.array(concept),
        frozenset(swapped),
    )
