"""What one compare produced (`Comparison`), and how it is saved and read back without any model or torch.

A saved comparison is how the app shows the bundled example the moment its page opens: prepared once (at the
first start, or by `python app.py --prepare`), then read from disk while the models are still loading.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..core.files import atomic_write_bytes
from ..inputs.items import Item
from ..models.cache import EmbedStats
from .similarity import Match, Scores

SAVED_FORMAT = "alignment.comparison/1"
ARRAYS = ("clip_text", "clip_image", "clap_text", "clap_audio")


@dataclass(frozen=True)
class Comparison:
    """Everything one compare produced. Embeddings are unit-norm float32; CLIP and CLAP are separate spaces."""

    texts: list[Item]
    images: list[Item]
    audio: list[Item]
    clip_text: np.ndarray  # (T, D_clip)
    clip_image: np.ndarray  # (I, D_clip)
    clap_text: np.ndarray  # (T, D_clap)
    clap_audio: np.ndarray  # (A, D_clap)
    text_image: Scores  # (T, I) in CLIP space
    text_audio: Scores  # (T, A) in CLAP space
    matches: list[Match]
    problems: list[str]  # inputs that were skipped, each naming the input and the limit or fault
    notes: list[str]  # things the user must know about inputs that did run (e.g. truncated texts)
    stats: dict[str, EmbedStats] = field(default_factory=dict)  # per tower: cache hits vs forward passes
    models: dict[str, str] = field(default_factory=dict)

    def without_media(self) -> Comparison:
        """The same comparison with every image and sound's decoded content dropped (each keeps its file path), so
        a session holds embeddings and ids, not megapixels; previews decode from the path on demand."""
        strip = lambda items: [replace(i, payload=None) for i in items]  # noqa: E731
        return replace(self, images=strip(self.images), audio=strip(self.audio))

    def to_json(self) -> dict:
        """Plain numbers for API users: ids, matrices (rows = texts), best matches, problems."""

        def scores(s: Scores) -> dict:
            return {
                "rows": s.rows,
                "cols": s.cols,
                "cosine": s.cosine.round(6).tolist(),
                "probability": s.probability.round(6).tolist(),
                "logit_scale": round(s.logit_scale, 6),
            }

        return {
            "models": self.models,
            "ids": {
                "text": [i.id for i in self.texts],
                "image": [i.id for i in self.images],
                "audio": [i.id for i in self.audio],
            },
            "text_image": scores(self.text_image),
            "text_audio": scores(self.text_audio),
            "best_matches": [m.__dict__ for m in self.matches],
            "problems": self.problems,
            "notes": self.notes,
            "cache": {k: {"hits": v.hits, "computed": v.computed} for k, v in self.stats.items()},
        }


def save_comparison(path: str | os.PathLike[str], comparison: Comparison, *, extra: dict | None = None) -> Path:
    """Write the embeddings and everything else (items without their decoded media, matches, notes, `extra`) to
    one .npz, atomically. Media items keep their file paths, so previews can decode them again."""
    path = Path(path)
    items = [
        {
            "id": i.id,
            "modality": i.modality,
            "sha256": i.sha256,
            "source": i.source,
            "path": i.path,
            "text": i.payload if i.modality == "text" else None,
        }
        for i in (*comparison.texts, *comparison.images, *comparison.audio)
    ]
    meta = {
        "format": SAVED_FORMAT,
        "items": items,
        "logit_scales": [comparison.text_image.logit_scale, comparison.text_audio.logit_scale],
        "matches": [m.__dict__ for m in comparison.matches],
        "problems": comparison.problems,
        "notes": comparison.notes,
        "stats": {k: [v.hits, v.computed] for k, v in comparison.stats.items()},
        "models": comparison.models,
        "extra": extra or {},
    }
    arrays = {name: np.asarray(getattr(comparison, name), dtype=np.float32) for name in ARRAYS}
    buffer = _npz_bytes(meta=np.array(json.dumps(meta)), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer)
    return path


def load_comparison(path: str | os.PathLike[str]) -> tuple[Comparison, dict]:
    """(comparison, extra) from `save_comparison`'s file; ValueError names a damaged file or a media file gone."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {name: np.asarray(data[name], dtype=np.float32) for name in ARRAYS}
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name}: not a readable saved comparison ({exc})") from None
    if meta.get("format") != SAVED_FORMAT:
        raise ValueError(f"{path.name}: format {meta.get('format')!r}, expected {SAVED_FORMAT!r}")
    by_modality: dict[str, list[Item]] = {"text": [], "image": [], "audio": []}
    for raw in meta["items"]:
        if raw["modality"] != "text" and not (raw["path"] and Path(raw["path"]).is_file()):
            raise ValueError(f"{path.name}: the media file of {raw['id']!r} is gone ({raw['path']})")
        payload = raw["text"] if raw["modality"] == "text" else None
        item = Item(raw["id"], raw["modality"], payload, raw["sha256"], raw["source"], path=raw["path"])
        by_modality[raw["modality"]].append(item)
    texts, images, audio = by_modality["text"], by_modality["image"], by_modality["audio"]
    text_ids = [i.id for i in texts]
    clip_scale, clap_scale = meta["logit_scales"]
    comparison = Comparison(
        texts=texts,
        images=images,
        audio=audio,
        **arrays,
        text_image=Scores.between(
            text_ids, arrays["clip_text"], [i.id for i in images], arrays["clip_image"], clip_scale
        ),
        text_audio=Scores.between(
            text_ids, arrays["clap_text"], [i.id for i in audio], arrays["clap_audio"], clap_scale
        ),
        matches=[Match(**m) for m in meta["matches"]],
        problems=list(meta["problems"]),
        notes=list(meta["notes"]),
        stats={k: EmbedStats(*v) for k, v in meta["stats"].items()},
        models=dict(meta["models"]),
    )
    return comparison, dict(meta["extra"])


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()
