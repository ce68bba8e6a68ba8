"""What a visitor's session keeps of its last search, and the pair a result hands to the Explain tab."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from ui.assets import ASSETS
from ui.search.galleries import Chosen
from ui.widgets.errors import refuse
from ui.widgets.handoff import Pair, media_file

if TYPE_CHECKING:  # alignment.search imports torch
    from alignment.search import Correction, Gallery, Hit, Query, QueryVector, SearchResult

NOUNS = {"text": "text", "image": "image", "audio": "sound"}


@dataclass(frozen=True)
class QueryInput:
    """The query as the visitor gave it: the text, the uploaded files' paths, the weights. No decoded media."""

    text: str | None
    image: str | None  # a path in gradio's upload cache
    audio: str | None
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m, v in (("text", self.text), ("image", self.image), ("audio", self.audio)) if v)

    def library_query(self) -> Query:
        """The query for `alignment.search`; files are named as uploaded, never by their path on this server."""
        from alignment.search import Query, QueryPart

        parts = []
        for modality in self.modalities:
            content = str(getattr(self, modality))
            name = None if modality == "text" else Path(content).name
            parts.append(QueryPart(modality, content, self.weights.get(modality, 1.0), name))  # type: ignore[arg-type]
        return Query(tuple(parts))


@dataclass(frozen=True, eq=False)
class Searched:
    """A session's last search: one result per target modality, the query vectors that made them (so a new k is a
    search without the models), the galleries (shared for the bundled examples) and what could not be searched."""

    query: QueryInput
    chosen: Chosen
    results: dict[str, SearchResult]  # target modality -> its top-k
    vectors: dict[str, QueryVector]  # target modality -> the query embedded in that search's space
    correction: str
    k: int
    refused: tuple[str, ...] = ()  # targets that could not be searched, or query parts left out, each named
    galleries: dict[str, Gallery] = field(default_factory=dict)  # target -> the gallery its search used
    corrections: dict[str, Correction | None] = field(default_factory=dict)  # target -> its hubness correction

    def hit(self, target: object, rank: object) -> Hit:
        """The hit of `target` at 1-based `rank`; ValueError when this search has no such result."""
        result = self.results.get(str(target))
        try:
            place = int(rank)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            place = 0
        if result is None or not 1 <= place <= len(result.hits):
            raise ValueError(f"no {target} result at rank {rank!r} in the last search: search again")
        return result.hits[place - 1]


def why_not_explained(searched: Searched, hit: Hit) -> str | None:
    """Why this result cannot be explained (Explain pairs a text with an image or a sound), or None when it can."""
    query = set(searched.query.modalities)
    if hit.modality == "text":
        if not query & {"image", "audio"}:
            return "Text → text: Explain pairs a text with an image or a sound; add one to the query to explain this."
        if _text_of(searched, hit) is None:
            return "A precomputed embedding: no text to explain."
        return None
    if "text" not in query:
        shown = " + ".join(NOUNS[m] for m in searched.query.modalities)
        return (
            f"{shown} → {NOUNS[hit.modality]}: no explanation is defined (Explain pairs a text with an image or a "
            "sound); add a text to the query to explain it against this result."
        )
    if _media_of(searched, hit) is None:
        return f"A precomputed embedding: no {NOUNS[hit.modality]} to explain."
    return None


def hit_pair(searched: Searched, target: object, rank: object) -> Pair:
    """The (text, image or sound) pair of a result for the Explain tab: a text result with the query's image (else
    its sound), an image or sound result with the query's text. ValueError says why there is none."""
    hit = searched.hit(target, rank)
    reason = why_not_explained(searched, hit)
    if reason is not None:
        raise ValueError(reason)
    query = searched.query
    if hit.modality == "text":
        media = "image" if query.image else "audio"
        return Pair(str(_text_of(searched, hit)), media, str(query.image or query.audio))  # type: ignore[arg-type]
    return Pair(str(query.text).strip(), hit.modality, _media_path(searched, hit))  # type: ignore[arg-type]


def _text_of(searched: Searched, hit: Hit) -> str | None:
    if hit.text is not None:
        return hit.text
    item = searched.chosen.items.get(("text", hit.id))
    return str(item.payload) if item is not None and item.payload is not None else None


def bundled_file(chosen: Chosen, source: str | None) -> Path | None:
    """The bundled asset a result of the bundled examples names. Nothing else is read by path: an uploaded index
    names its own `source`s, and a stranger's path must never open a file on this server."""
    if chosen.kind != "examples" or not source:
        return None
    path = Path(source).resolve()
    return path if path.is_relative_to(ASSETS) and path.is_file() else None


def _media_of(searched: Searched, hit: Hit) -> str | object | None:
    """The result's media: a bundled file, else its decoded item (a dataset's, held by the Errors tab), else None."""
    file = bundled_file(searched.chosen, hit.source)
    return str(file) if file is not None else searched.chosen.items.get((hit.modality, hit.id))


def _media_path(searched: Searched, hit: Hit) -> str:
    media = _media_of(searched, hit)
    return media if isinstance(media, str) else media_file(media)  # type: ignore[arg-type]


def search_pair(searched: Searched | None, evt: gr.SelectData) -> Pair:
    """The pair of the result whose Explain button sent `evt` (index: [target, rank]); refuse() says why not."""
    if searched is None:
        raise refuse("Search first: the results' Explain buttons open their pair in the Explain tab.")
    index = evt.index
    if not isinstance(index, list | tuple) or len(index) != 2:
        raise refuse(f"A result's Explain must name its (kind, rank), not {index!r}.")
    try:
        return hit_pair(searched, index[0], index[1])
    except (ValueError, OSError) as exc:
        raise refuse(str(exc), title="Nothing to explain") from None
