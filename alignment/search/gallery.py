"""A searchable gallery: the items of one embedding space and, per modality, an exact searcher or a FAISS index."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, cast

import numpy as np

from ..analysis.index import IndexSettings, Recall, VectorIndex, build_index
from ..analysis.topk import TopK, topk_similarity
from ..inputs.embeddings import Embedded
from ..inputs.items import MODALITIES, Modality

Backbone = Literal["clip", "clap"]
BACKBONES: tuple[Backbone, ...] = ("clip", "clap")
# Up to this many items of a modality are searched exactly with `alignment.analysis.topk`, beyond it through a
# FAISS flat index: the same answers (tests/search), but topk re-checks and re-transposes the gallery on every
# call, which costs ~35 ms a query at 2k items and ~0.3 s at 20k, where FAISS flat takes ~0.1 ms and ~25 ms
# (docs/BENCHMARKS.md, "Gallery search").
EXACT_MAX = 5_000
NATIVE: dict[Backbone, tuple[Modality, ...]] = {"clip": ("text", "image"), "clap": ("text", "audio")}


@dataclass(frozen=True)
class Space:
    """Which backbone's embedding space a gallery lives in, and which checkpoint embedded it."""

    backbone: Backbone  # clip: text + image (+ audio mapped in by the bridge); clap: text + audio
    dim: int
    model_id: str | None = None  # the checkpoint that embedded the gallery; None = not recorded (dimension only)
    revision: str | None = None
    bridge: str | None = None  # clip galleries holding audio: the fingerprint of the bridge that mapped it in

    def describe(self) -> str:
        model = f"'{self.model_id}'" + (f" (revision {self.revision[:12]})" if self.revision else "")
        model = model if self.model_id else "an unrecorded checkpoint"
        bridged = f", audio mapped in by bridge {self.bridge}" if self.bridge else ""
        return f"{self.backbone.upper()} space of {model}, {self.dim} dimensions{bridged}"

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("backbone", "dim", "model_id", "revision", "bridge")}

    @classmethod
    def from_json(cls, data: Mapping) -> Space:
        if data.get("backbone") not in BACKBONES:
            raise ValueError(f"space backbone must be clip or clap (got {data.get('backbone')!r})")
        return cls(data["backbone"], int(data["dim"]), data.get("model_id"), data.get("revision"), data.get("bridge"))


def bridge_fingerprint(method: str, weights: Mapping[str, np.ndarray]) -> str:
    """'method:hash' of a bridge's weights: two galleries or queries bridged alike share it."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(name.encode() + np.ascontiguousarray(weights[name], dtype=np.float32).tobytes())
    return f"{method}:{digest.hexdigest()[:12]}"


# ---------------------------------------------------------------------------- items and searchers


@dataclass(frozen=True)
class Items:
    """Row i of every column describes gallery item i: what a UI needs to show, preview and explain it."""

    ids: tuple[str, ...]
    modality: tuple[Modality, ...]
    pair: tuple[str | None, ...]  # pair key in a paired dataset
    label: tuple[str | None, ...]
    source: tuple[str | None, ...]  # media file path (images, audio) where known
    text: tuple[str | None, ...]  # the full text of text items where known

    def __post_init__(self) -> None:
        lengths = {name: len(getattr(self, name)) for name in self.__dataclass_fields__}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"gallery columns differ in length ({lengths})")
        unknown = sorted(set(self.modality) - set(MODALITIES))
        if unknown:
            raise ValueError(f"unknown modality {unknown[0]!r} (expected text, image or audio)")

    def __len__(self) -> int:
        return len(self.ids)

    def to_json(self) -> dict:
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: Mapping) -> Items:
        missing = [name for name in cls.__dataclass_fields__ if name not in data]
        if missing:
            raise ValueError(f"item columns missing: {', '.join(missing)}")
        return cls(**{name: tuple(data[name]) for name in cls.__dataclass_fields__})


class Searcher(Protocol):
    """Top-k over one modality's vectors: rows 0..size-1, best first, ties to the lower row."""

    recall: Recall | None  # None = exact

    @property
    def size(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def describe(self) -> str: ...

    def search(self, queries: np.ndarray, k: int) -> TopK: ...


@dataclass(frozen=True, eq=False)
class ExactSearcher:
    """Exact cosine top-k through `alignment.analysis.topk` (small galleries)."""

    vectors: np.ndarray  # (n, D) float32 unit rows
    recall: Recall | None = None

    @property
    def size(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def describe(self) -> str:
        return f"exact cosine ({self.size:,} vectors)"

    def search(self, queries: np.ndarray, k: int) -> TopK:
        return topk_similarity(queries, self.vectors, min(k, self.size))


def searcher_for(
    vectors: np.ndarray,
    *,
    settings: IndexSettings | None = None,
    recall_queries: np.ndarray | None = None,
) -> ExactSearcher | VectorIndex:
    """Exact search up to EXACT_MAX vectors, else a FAISS index (flat unless `settings` asks otherwise)."""
    if settings is None and len(vectors) <= EXACT_MAX:
        return ExactSearcher(vectors)
    flat = IndexSettings(kind="flat")
    return build_index(vectors, settings=settings or flat, queries=recall_queries)


@dataclass(frozen=True, eq=False)
class Part:
    """One modality of a gallery: which rows it holds, how they are searched, and where their centre lies."""

    rows: np.ndarray  # (n,) int64 gallery rows, in searcher order
    searcher: ExactSearcher | VectorIndex
    centroid: np.ndarray  # (D,) float64 mean of the unit vectors (modality gap, mean cosines)


# ---------------------------------------------------------------------------- the gallery


class Correction(Protocol):
    """A hubness correction at search time (CSLS, inverted softmax, QB-Norm: provided by alignment.analysis).

    The search takes `candidates(k)` cosine neighbours per target modality, `rescore` turns their cosines into
    corrected scores (higher = better; `rows` are gallery rows, -1 where a neighbour is missing), and the k best
    corrected scores are returned.
    """

    name: str

    def candidates(self, k: int) -> int: ...

    def rescore(self, queries: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class Found:
    """Top-k gallery rows per query over the target modalities, best first; cosine kept beside the ranking score."""

    rows: np.ndarray  # (Q, k) int64 gallery rows, -1 where fewer than k were found
    scores: np.ndarray  # (Q, k) float32 ranking score: the cosine, or the corrected score under a correction
    cosines: np.ndarray  # (Q, k) float32


@dataclass(frozen=True, eq=False)
class Gallery:
    """Items of one space, searchable per modality; build one with `gallery_from_embedded` or `load_gallery`."""

    name: str  # for messages: a file, a folder, "examples"
    space: Space
    items: Items = field(repr=False)
    parts: Mapping[Modality, Part] = field(repr=False)

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return tuple(m for m in MODALITIES if m in self.parts)

    def __len__(self) -> int:
        return len(self.items)

    def describe(self) -> str:
        counts = ", ".join(f"{len(p.rows):,} {m}" for m, p in self.parts.items())
        return f"{self.name}: {counts} in the {self.space.describe()}"

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        targets: Sequence[Modality] | None = None,
        correction: Correction | None = None,
    ) -> Found:
        """The k best gallery rows per query (Q, D) among the target modalities (default: all of them)."""
        targets = self.check_targets(targets)
        if k < 1:
            raise ValueError(f"k must be at least 1 (got {k})")
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if q.shape[1] != self.space.dim:
            raise ValueError(
                f"query has {q.shape[1]} dimensions but gallery {self.name} holds {self.space.dim}-dimensional "
                f"vectors ({self.space.describe()})"
            )
        wide = correction.candidates(k) if correction is not None else k
        rows, cosines = [], []
        for modality in targets:
            part = self.parts[modality]
            found = part.searcher.search(q, max(wide, k))  # (Q, k_m) within the modality
            rows.append(np.where(found.indices >= 0, part.rows[np.maximum(found.indices, 0)], -1))
            cosines.append(found.scores)
        all_rows, all_cos = np.concatenate(rows, axis=1), np.concatenate(cosines, axis=1)  # (Q, sum k_m)
        scores = all_cos
        if correction is not None:
            scores = np.asarray(correction.rescore(q, all_rows, all_cos), dtype=np.float32)
            if scores.shape != all_cos.shape:
                raise ValueError(f"correction {correction.name} returned shape {scores.shape}, not {all_cos.shape}")
        scores = np.where(all_rows < 0, -np.inf, scores).astype(np.float32)
        tie = np.where(all_rows < 0, np.iinfo(np.int64).max, all_rows)
        order = np.lexsort((tie, -scores), axis=1)[:, :k]  # (Q, k) by score desc, then row asc
        pick = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
        return Found(pick(all_rows), pick(scores), pick(all_cos))

    def check_targets(self, targets: Sequence[Modality] | None) -> tuple[Modality, ...]:
        if targets is None:
            return self.modalities
        chosen = tuple(dict.fromkeys(targets))
        bad = [t for t in chosen if t not in MODALITIES]
        if bad:
            raise ValueError(f"unknown target modality {bad[0]!r} (expected text, image or audio)")
        absent = [t for t in chosen if t not in self.parts]
        if absent:
            raise ValueError(
                f"gallery {self.name} holds no {absent[0]} items (it holds {', '.join(self.modalities) or 'nothing'})"
            )
        if not chosen:
            raise ValueError("choose at least one target modality")
        return chosen

    def mean_cosine(self, a: Modality, b: Modality) -> float:
        """Mean cosine between a random item of modality a and a random other item of modality b (exact)."""
        ca, cb = self.parts[a].centroid, self.parts[b].centroid
        if a != b:
            return float(ca @ cb)
        n = len(self.parts[a].rows)  # over pairs i != j: (n^2 |c|^2 - n) / (n (n - 1))
        return float((n * (ca @ ca) - 1.0) / (n - 1)) if n > 1 else float("nan")

    def gap(self, a: Modality, b: Modality) -> float:
        """Distance between the two modalities' centroids (alignment.analysis.gap.modality_gap, from the centroids)."""
        return float(np.linalg.norm(self.parts[a].centroid - self.parts[b].centroid))


def gallery_from_embedded(
    embedded: Embedded,
    *,
    space: Space,
    name: str | None = None,
    sources: Sequence[str | None] | None = None,
    texts: Sequence[str | None] | None = None,
    settings: IndexSettings | None = None,
) -> Gallery:
    """A gallery over embeddings in memory: exact search up to EXACT_MAX items per modality, FAISS flat beyond.

    `settings` forces an index of that kind for every modality (IVF/HNSW are tuned and their recall measured on
    held-out items of the modality and, as cross-modal queries, items of the gallery's other modalities).
    `sources`/`texts`: per-row media paths and full texts.
    """
    if embedded.dim != space.dim:
        raise ValueError(
            f"{embedded.source}: embeddings have {embedded.dim} dimensions but the space says {space.dim} "
            f"({space.describe()})"
        )
    n = len(embedded)
    items = Items(
        embedded.ids,
        embedded.modality,
        cast(tuple[str | None, ...], embedded.pair),
        embedded.label,
        tuple(sources) if sources is not None else (None,) * n,
        tuple(texts) if texts is not None else (None,) * n,
    )
    parts = {}
    for modality in MODALITIES:
        rows = embedded.rows(modality)
        if rows.size:
            vectors = embedded.embeddings[rows]  # (n_m, D)
            others = embedded.embeddings[np.setdiff1d(np.arange(n), rows)]  # (n - n_m, D) other modalities
            searcher = searcher_for(vectors, settings=settings, recall_queries=others if len(others) else None)
            parts[modality] = Part(rows, searcher, vectors.mean(axis=0, dtype=np.float64))
    return Gallery(name or embedded.source, space, items, parts)
