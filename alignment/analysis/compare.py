"""The compare pipeline: texts, images and audio in; embeddings, similarity, best matches and problems out
(a `Comparison`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..core.errors import InputError
from ..inputs.decoder import Decoder
from ..inputs.files import load_files
from ..inputs.items import Item, Loaded, Upload
from ..inputs.limits import Limits
from ..inputs.text import load_text_file, load_texts
from ..models.cache import EmbeddingCache, EmbedStats
from ..models.embed import embed_items
from ..models.encoders import ClapEncoder, ClipEncoder, Encoders
from .comparison import Comparison
from .similarity import Scores, best_matches

Progress = Callable[[float, str], None]


def load_inputs(
    texts: Sequence[str],
    images: Sequence[Upload],
    audio: Sequence[Upload],
    *,
    limits: Limits = Limits(),
    text_files: Sequence[Upload] = (),
    encoders: Encoders | None = None,
    cache: EmbeddingCache | None = None,
) -> tuple[Loaded, Loaded, Loaded]:
    """Read, hash and validate everything (CPU work, before any model runs); one bad input is one problem.

    Files may be `Named(path, name)` so messages and ids use the upload's name; one `Decoder` spans the request,
    so its pixel and audio budgets cover all files and repeated content is decoded once. With `encoders` and
    `cache`, a file whose embedding is already cached is not decoded at all: its header is still checked against
    the limits, and it costs no budget (there is no work to bound)."""

    def missing(encoder: ClipEncoder | ClapEncoder, modality: str) -> Callable[[str], bool] | None:
        if encoders is None or cache is None:
            return None
        fingerprint = encoder.fingerprint(modality)
        return lambda digest: not cache.has(fingerprint, digest)

    decoder = Decoder(limits)
    loaded_texts = load_texts(texts, limits=limits)
    for upload in text_files:
        try:
            loaded_texts.extend(load_text_file(upload, limits=limits))
        except InputError as exc:
            loaded_texts.problems.append(str(exc))
    image_decode = missing(encoders.clip, "image") if encoders else None
    audio_decode = missing(encoders.clap, "audio") if encoders else None
    return (
        loaded_texts,
        load_files(images, "image", limits=limits, decoder=decoder, decode=image_decode),
        load_files(audio, "audio", limits=limits, decoder=decoder, decode=audio_decode),
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
    report(0.0, "Reading inputs")
    loaded_texts, loaded_images, loaded_audio = load_inputs(
        texts, images, audio, limits=limits, text_files=text_files, encoders=encoders, cache=cache
    )
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
