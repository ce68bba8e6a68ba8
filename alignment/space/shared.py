"""One shared space: the CLAP -> CLIP bridge of a pair of encoders, fitted on a caption corpus and cached.

The bridge is fitted through text, the modality both backbones share (see `bridge`): the corpus is embedded
by both text towers (through the embedding cache), every method is fitted, the best held-out one is kept and
saved under a name keyed by both backbones' ids and revisions, so a later run loads it instead of refitting.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..inputs.limits import Limits
from ..inputs.text import load_texts, read_captions
from ..models.cache import EmbeddingCache
from ..models.embed import embed_items
from ..models.encoders import Encoders
from .bridge import Bridge, MLPConfig, bridge_cache_path, bridge_key, fit_best, load_bridge, save_bridge
from .contrastive import TrainConfig

Progress = Callable[[float, str], None]
MIN_CAPTIONS = 100  # fewer captions cannot hold out enough rows to judge a bridge


@dataclass(frozen=True)
class SharedSpace:
    """A fitted bridge and where it came from; `to_clip` maps CLAP embeddings into CLIP space."""

    bridge: Bridge
    path: Path  # where it is cached
    loaded: bool  # True when read from the cache, False when fitted now
    n_captions: int

    def to_clip(self, clap_vectors: np.ndarray) -> np.ndarray:
        """(N, D_clap) unit -> (N, D_clip) unit."""
        if len(clap_vectors) == 0:
            return np.zeros((0, self.bridge.target_dim), np.float32)
        return self.bridge.apply(clap_vectors)

    def describe(self) -> str:
        """One line for the UI: method, held-out quality against chance, and provenance."""
        held = self.bridge.heldout
        return (
            f"bridge CLAP→CLIP: {self.bridge.method}, held-out caption R@1 {held['R@1']:.3f} "
            f"(MRR {held['MRR']:.3f}, chance {held['chance_R@1']:.3f}) on {int(held['n_heldout'])} of "
            f"{self.n_captions} captions; {'loaded from' if self.loaded else 'fitted and saved to'} {self.path.name}"
        )


def read_corpus(path: str | os.PathLike[str], *, max_captions: int | None = None) -> list[str]:
    """Captions, one per line (blank lines skipped, duplicates dropped), at most `max_captions` spread evenly."""
    captions = read_captions(path, max_captions)
    if len(captions) < MIN_CAPTIONS:
        raise ValueError(
            f"a bridge corpus needs at least {MIN_CAPTIONS} distinct captions ({path} has {len(captions)})"
        )
    return captions


def shared_space(
    encoders: Encoders,
    corpus: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str],
    cache: EmbeddingCache | None = None,
    max_captions: int | None = None,
    progress: Progress | None = None,
) -> SharedSpace:
    """Load the cached bridge between these two encoders, or fit one on `corpus` and cache it."""
    report = progress or (lambda fraction, message: None)
    clip, clap = encoders.clip, encoders.clap
    captions = read_corpus(corpus, max_captions=max_captions)
    # keyed by the captions too: another corpus (or another sample of it) is another bridge
    digest = hashlib.sha256("\n".join(captions).encode()).hexdigest()[:12]
    path = bridge_cache_path(
        Path(root) / f"corpus-{digest}", clap.model_id, clap.revision, clip.model_id, clip.revision
    )
    if path.exists():
        report(1.0, f"Loaded the bridge {path.name}")
        return SharedSpace(load_bridge(path), path, True, len(captions))
    items = load_texts(captions, limits=Limits(max_items=len(captions))).items
    report(0.0, f"Embedding {len(items)} captions with CLAP's text tower")
    source = embed_items(clap, items, cache=cache)[0]  # (N, D_clap)
    report(0.35, f"Embedding {len(items)} captions with CLIP's text tower")
    target = embed_items(clip, items, cache=cache)[0]  # (N, D_clip)

    def fitting(fraction: float, message: str) -> None:
        report(0.7 + 0.3 * fraction, message)

    key = bridge_key(clap.model_id, clap.revision, clip.model_id, clip.revision)
    # one torch thread: on a few shared cores two were 6-41x slower for these fits (docs/BENCHMARKS.md)
    bridge = fit_best(source, target, key=key, progress=fitting, mlp=MLPConfig(train=TrainConfig(cpu_threads=1)))
    save_bridge(path, bridge)
    return SharedSpace(bridge, path, False, len(captions))
