"""The compare pipeline: texts, images and audio in; embeddings, similarity, best matches and problems out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import InputError
from ..inputs.decoder import Decoder
from ..inputs.files import load_files
from ..inputs.items import Item, Loaded, Upload
from ..inputs.limits import Limits
from ..inputs.text import load_text_file, load_texts
from ..models.cache import EmbeddingCache
from ..models.embed import EmbedStats, embed_items
from ..models.encoders import ClapEncoder, ClipEncoder, Encoders
from .similarity import Match, Scores, best_matches

Progress = Callable[[float, str], None]


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


def load_inputs(
    texts: Sequence[str],
    images: Sequence[Upload],
    audio: Sequence[Upload],
    *,
    limits: Limits = Limits(),
    text_files: Sequence[Upload] = (),
) -> tuple[Loaded, Loaded, Loaded]:
    """Decode and validate everything (CPU work, before any model runs); one bad input is one problem.

    Files may be `Named(path, name)` so messages and ids use the upload's name; one `Decoder` spans the request,
    so its pixel and audio budgets cover all files and repeated content is decoded once."""
    decoder = Decoder(limits)
    loaded_texts = load_texts(texts, limits=limits)
    for upload in text_files:
        try:
            loaded_texts.extend(load_text_file(upload, limits=limits))
        except InputError as exc:
            loaded_texts.problems.append(str(exc))
    return (
        loaded_texts,
        load_files(images, "image", limits=limits, decoder=decoder),
        load_files(audio, "audio", limits=limits, decoder=decoder),
    )


def compare(
    encoders: Encoders,
    texts: Sequence[str] = (),
    images: Sequence[Upload] = (),
    audio: Sequence[Upload] = (),
    *,
    cache: EmbeddingCache | None = None,
    limits: Limits = Limits(),
    progress: Progress | None = None,
    text_files: Sequence[Upload] = (),
) -> Comparison:
    """Load, embed (cached), and score texts against images (CLIP) and audio (CLAP).

    Each input that cannot be used is one entry of `problems`; the rest run (see `load_inputs`)."""
    report = progress or (lambda fraction, message: None)
    report(0.0, "Decoding inputs")
    loaded_texts, loaded_images, loaded_audio = load_inputs(texts, images, audio, limits=limits, text_files=text_files)
    problems = loaded_texts.problems + loaded_images.problems + loaded_audio.problems
    t_items, i_items, a_items = loaded_texts.items, loaded_images.items, loaded_audio.items
    if not (t_items or i_items or a_items):
        raise ValueError(
            "nothing to compare: give at least one text, image or audio file"
            + (f" ({len(problems)} input(s) were refused: {'; '.join(problems)})" if problems else "")
        )

    notes = _truncation_notes(encoders, t_items)
    stats: dict[str, EmbedStats] = {}
    steps: list[tuple[str, ClipEncoder | ClapEncoder, list[Item], str]] = [
        ("clip_text", encoders.clip, t_items, "CLIP text"),
        ("clip_image", encoders.clip, i_items, "CLIP images"),
        ("clap_text", encoders.clap, t_items, "CLAP text"),
        ("clap_audio", encoders.clap, a_items, "CLAP audio"),
    ]
    vectors: dict[str, np.ndarray] = {}
    for n, (name, encoder, items, label) in enumerate(steps):
        report(0.1 + 0.8 * n / len(steps), f"Embedding {label} ({len(items)})")
        vectors[name], stats[name] = embed_items(encoder, items, cache=cache)
    report(0.95, "Scoring")
    text_ids = [i.id for i in t_items]
    text_image = Scores.between(
        text_ids, vectors["clip_text"], [i.id for i in i_items], vectors["clip_image"], encoders.clip.logit_scale
    )
    text_audio = Scores.between(
        text_ids, vectors["clap_text"], [i.id for i in a_items], vectors["clap_audio"], encoders.clap.logit_scale
    )
    matches = best_matches(text_image, "text", "image") + best_matches(text_audio, "text", "audio")
    report(1.0, "Done")
    return Comparison(
        t_items,
        i_items,
        a_items,
        vectors["clip_text"],
        vectors["clip_image"],
        vectors["clap_text"],
        vectors["clap_audio"],
        text_image,
        text_audio,
        matches,
        problems,
        notes,
        stats,
        encoders.describe(),
    )


def _truncation_notes(encoders: Encoders, texts: list[Item]) -> list[str]:
    notes = []
    for encoder in (encoders.clip, encoders.clap):
        for item, tokens in zip(texts, encoder.text_tokens([t.payload for t in texts]), strict=True):  # type: ignore[misc]
            if tokens.truncated:
                notes.append(
                    f"{item.source} ('{item.id}'): {tokens.n_tokens} tokens; {encoder.role.upper()} reads only "
                    f"the first {tokens.max_tokens}, the rest was truncated"
                )
    return notes
