"""What the Search tab shows: each target's results as cards (thumbnail, text or player, rank, score, the way to
Explain), the query and how it was combined in words, and the numbers as JSON. Everything from a stranger (ids,
captions, labels, file names) is escaped before it reaches HTML or Markdown.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from alignment.views.previews import Preview, audio_url, preview, short_text, thumbnail_url
from ui.assets import ASSETS
from ui.search.galleries import Chosen
from ui.search.session import NOUNS, Searched, bundled_file, why_not_explained
from ui.widgets.text import md

if TYPE_CHECKING:  # alignment.search imports torch
    from alignment.search import Hit, SearchResult

SORTS = ("best first", "worst first", "name")
ORDER = ("image", "audio", "text")  # sections top to bottom
PLURALS = {"text": "Texts", "image": "Images", "audio": "Sounds"}
THUMB_PX = 200  # a card's thumbnail (shown at most ~180 px wide)
MAX_PREVIEWS = 512  # previews kept by content (a few MB): a repeated search encodes nothing
TEXT_CHARS = 280

JS_ON_LOAD = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button.explain');
  if (!button || !element.contains(button)) return;
  element.querySelectorAll('li.hit.picked').forEach((h) => h.classList.remove('picked'));
  button.closest('li.hit').classList.add('picked');
  trigger('select', {index: [button.dataset.target, Number(button.dataset.rank)], value: button.dataset.id});
});
"""

CSS = """
.search-results section { margin: 0 0 14px; }
.search-results h4 { margin: 4px 0 2px; font-size: 1.05rem; }
.search-results p.how, .search-results p.gap, .search-results p.note { margin: 0 0 4px; font-size: 13px;
  opacity: 0.85; }
.search-results p.gap { border-left: 3px solid #f59e0b; padding-left: 6px; }
.search-results ol { list-style: none; margin: 8px 0 0; padding: 0; display: grid; gap: 10px;
  grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); }
.search-results li.hit { border: 1px solid var(--border-color-primary, #ddd); border-radius: 8px; padding: 6px;
  display: flex; flex-direction: column; gap: 4px; min-width: 0; background: var(--block-background-fill, #fff); }
.search-results li.hit.picked { outline: 3px solid #ef4444; }
.search-results .media img { width: 100%; height: 130px; object-fit: contain; display: block; border-radius: 4px;
  background: var(--background-fill-secondary, #f4f4f5); }
.search-results .media audio { width: 100%; height: 36px; }
.search-results .media .text { font-size: 14px; line-height: 1.35; max-height: 8.2em; overflow: auto; margin: 0; }
.search-results .media .none { font-size: 12px; opacity: 0.7; margin: 0; }
.search-results .line { display: flex; justify-content: space-between; align-items: baseline; font-size: 13px;
  font-variant-numeric: tabular-nums; }
.search-results .bar { height: 4px; border-radius: 2px; background: #6366f1; }
.search-results .name, .search-results .pair { font-size: 12px; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.search-results .pair { opacity: 0.75; }
.search-results button.explain { margin-top: auto; padding: 4px 6px; border-radius: 6px; cursor: pointer; font: inherit;
  font-size: 13px; border: 1px solid #6366f1; color: #4338ca; background: #eef2ff; }
.search-results button.explain:hover, .search-results button.explain:focus-visible { background: #e0e7ff; }
.search-results p.why { margin-top: auto; font-size: 11px; opacity: 0.7; }
.search-results .empty { font-size: 14px; opacity: 0.8; }
@media (max-width: 760px) {
  .search-results ol { grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 8px; }
  .search-results .media img { height: 110px; }
}
"""

_previews: OrderedDict[tuple, Preview] = OrderedDict()
_lock = threading.Lock()


# ---------------------------------------------------------------------------- previews


def preview_of(chosen: Chosen, hit: Hit) -> Preview:
    """A small preview of a result: its text, a JPEG thumbnail, or the first seconds of its sound at 16 kHz (Ogg), as
    data URLs; empty for a precomputed embedding. Kept by content, so each is made once per server."""
    if hit.modality == "text":
        item = chosen.items.get(("text", hit.id))
        text = hit.text if hit.text is not None else (str(item.payload) if item is not None else None)
        return Preview(text=short_text(text, chars=TEXT_CHARS) if text is not None else None)
    file = bundled_file(chosen, hit.source)
    item = chosen.items.get((hit.modality, hit.id))
    if file is not None:
        stat = file.stat()
        key: tuple = ("file", str(file), stat.st_mtime_ns, stat.st_size)
    elif item is not None:
        key = ("item", hit.modality, item.sha256)
    else:
        return Preview()
    with _lock:
        if key in _previews:
            _previews.move_to_end(key)
            return _previews[key]
    made = _file_preview(file, hit.modality) if file is not None else preview(item, px=THUMB_PX, audio=True)
    with _lock:
        _previews[key] = made
        while len(_previews) > MAX_PREVIEWS:
            _previews.popitem(last=False)
    return made


def _file_preview(path: Path, modality: str) -> Preview:
    from alignment.inputs.audio import read_audio
    from alignment.inputs.image import read_image

    data = path.read_bytes()
    if modality == "image":
        return Preview(image=thumbnail_url(read_image(data, source=path.name), px=THUMB_PX))
    wave = read_audio(data, source=path.name, max_seconds=float("inf"))
    return Preview(audio=audio_url(wave), seconds=round(wave.seconds, 2))


# ---------------------------------------------------------------------------- the results


def results_html(searched: Searched | None, sort: str = SORTS[0]) -> str:
    """Every target's results as a section of cards, in `sort` order."""
    if searched is None:
        return message_html("Type a text (or add an image or a sound) and press Search.")
    sections = [_section(searched, t, searched.results[t], sort) for t in ORDER if t in searched.results]
    if not sections:
        return message_html("Nothing could be searched: see the message above.")
    return f'<div class="search-results">{"".join(sections)}</div>'


def message_html(text: str) -> str:
    return f'<div class="search-results"><p class="empty">{escape(text)}</p></div>'


def _section(searched: Searched, target: str, result: SearchResult, sort: str) -> str:
    gallery_n = _gallery_count(searched, target)
    head = f"{PLURALS[target]}: top {len(result.hits)} of {gallery_n:,}" if gallery_n else PLURALS[target]
    via = "; ".join(f"{p.modality} by the {p.via}" for p in result.query)
    how = f"{result.method.get(target, '')} · {result.space.describe()} · {via}"
    if result.correction:
        how += f" · hubness correction: {result.correction}"
    gaps = "".join(f'<p class="gap">{escape(g.text)}</p>' for g in result.gaps)
    notes = "".join(f'<p class="note">Note: {escape(n)}</p>' for n in result.notes)
    hits = _sorted(result.hits, sort)
    if not hits:
        return f'<section data-target="{target}"><h4>{escape(head)}</h4><p class="empty">No results.</p></section>'
    scores = [h.score for h in result.hits]
    low, high = min(scores), max(scores)
    cards = "".join(_card(searched, target, h, low, high) for h in hits)
    return (
        f'<section data-target="{target}"><h4>{escape(head)}</h4><p class="how">{escape(how)}</p>{gaps}{notes}'
        f"<ol>{cards}</ol></section>"
    )


def _gallery_count(searched: Searched, target: str) -> int:
    gallery = searched.galleries.get(target)
    return len(gallery.parts[target].rows) if gallery is not None and target in gallery.parts else 0  # type: ignore[index]


def _sorted(hits: tuple[Hit, ...], sort: str) -> list[Hit]:
    if sort == "worst first":
        return list(reversed(hits))
    if sort == "name":
        return sorted(hits, key=lambda h: (h.id.casefold(), h.rank))
    return list(hits)


def _card(searched: Searched, target: str, hit: Hit, low: float, high: float) -> str:
    shown = preview_of(searched.chosen, hit)
    if shown.image:
        media = f'<img src="{shown.image}" alt="{escape(hit.id)}" loading="lazy">'
    elif hit.modality == "audio" and shown.audio:
        length = f"{shown.seconds:.1f} s" + (" (the first 10 s play)" if (shown.seconds or 0) > 10 else "")
        media = (
            f'<audio controls preload="none" src="{shown.audio}" title="{escape(hit.id)}"></audio>'
            f'<p class="none">{length}</p>'
        )
    elif shown.text is not None:
        media = f'<p class="text">{escape(shown.text)}</p>'
    else:
        media = f'<p class="none">precomputed embedding: no {NOUNS[hit.modality]} to preview</p>'
    width = 100.0 if high <= low else 8 + 92 * (hit.score - low) / (high - low)
    score = f"{'score' if hit.score != hit.cosine else 'cosine'} {hit.score:.3f}"
    tip = f"cosine {hit.cosine:.4f}" + (f", corrected score {hit.score:.4f}" if hit.score != hit.cosine else "")
    extra = " · ".join(escape(x) for x in (hit.label, None if hit.pair == hit.id else hit.pair) if x)
    why = why_not_explained(searched, hit)
    action = (
        f'<button type="button" class="explain" data-target="{target}" data-rank="{hit.rank}" '
        f'data-id="{escape(hit.id)}" aria-label="Explain result {hit.rank}: {escape(hit.id)}">Explain →</button>'
        if why is None
        else f'<p class="why">{escape(why)}</p>'
    )
    return (
        f'<li class="hit" data-target="{target}" data-rank="{hit.rank}" data-score="{hit.score:.6f}">'
        f'<div class="media">{media}</div>'
        f'<div class="line"><b>#{hit.rank}</b><span title="{escape(tip)}">{score}</span></div>'
        f'<div class="bar" style="width:{width:.0f}%"></div>'
        f'<div class="name" title="{escape(hit.id)}">{escape(hit.id)}</div>'
        + (f'<div class="pair" title="{extra}">{extra}</div>' if extra else "")
        + f"{action}</li>"
    )


def results_component(*, elem_id: str) -> gr.HTML:
    """A gr.HTML that shows `results_html` and emits `select` with (target, rank) when a result's Explain is clicked."""
    return gr.HTML(
        results_html(None),
        show_label=False,
        js_on_load=JS_ON_LOAD,
        css_template=CSS,
        elem_id=elem_id,
        padding=True,
    )


# ---------------------------------------------------------------------------- in words and numbers


def summary_markdown(searched: Searched, *, seconds: float) -> str:
    """One paragraph: the query's parts and how they were combined, the gallery, and what was left out."""
    query = searched.query
    first = next(iter(searched.results.values()), None)
    parts = (
        [f"{p.modality} “{md(p.name)}” (weight {p.weight:g})" for p in first.query]
        if first is not None
        else [m for m in query.modalities]
    )
    found = ", ".join(PLURALS[t].lower() for t in ORDER if t in searched.results) or "nothing"
    lines = [
        f"**Query:** {' + '.join(parts)}. **Combined as:** {md(first.combination) if first else '—'}.",
        f"**Searched** {md(searched.chosen.name)} for {found}, top {searched.k}, in {seconds:.2f} s"
        + (f" · hubness correction **{md(searched.correction)}**" if searched.correction != "none" else "")
        + ".",
    ]
    bridged = any("bridge" in p.via for r in searched.results.values() for p in r.query) or any(
        t == "audio" and r.space.backbone == "clip" for t, r in searched.results.items()
    )
    if bridged:
        lines.append(
            "Images and sounds meet in CLIP space: the audio is mapped there by the CLAP → CLIP bridge, fitted on "
            "captions through text (the modality both models share)."
        )
    if searched.refused:
        lines.append("**Left out:** " + "; ".join(md(r) for r in searched.refused))
    return "\n\n".join(lines)


def numbers(searched: Searched, *, seconds: float) -> dict:
    """The API's view: every target's result as the library returns it (bundled files named relative to the app)."""
    query = searched.query
    return {
        "gallery": searched.chosen.name,
        "gallery_kind": searched.chosen.kind,
        "query": {
            "text": query.text,
            "image": Path(query.image).name if query.image else None,
            "audio": Path(query.audio).name if query.audio else None,
            "weights": query.weights,
        },
        "k": searched.k,
        "correction": searched.correction,
        "searches": {t: _result_json(searched.chosen, r) for t, r in searched.results.items()},
        "refused": list(searched.refused),
        "timing": {"server_s": round(seconds, 4)},
    }


def _result_json(chosen: Chosen, result: SearchResult) -> dict:
    out = result.to_json()
    for hit in out["hits"]:
        file = bundled_file(chosen, hit["source"])
        if file is not None:  # not the server's absolute path
            hit["source"] = str(file.relative_to(ASSETS.parent))
    return out
