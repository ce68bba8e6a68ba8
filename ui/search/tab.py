"""The Search tab: a text, image, sound or mix of them against a gallery, any modality to any modality (layout and
events; what it shows is built in ui/search/views.py, where its galleries come from in ui/search/galleries.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import gradio as gr

from alignment.core.errors import InputError
from ui.assets import ASSETS
from ui.errors.session import Explorer  # at run time: gradio reads the handlers' type hints
from ui.models import AppModels
from ui.search import galleries as sources
from ui.search.galleries import EXAMPLES, SOURCES, SPACES, UPLOAD_TYPES, Chosen, GallerySource, needs_bridge
from ui.search.hubness import CHOICES, HELP, NONE, correction_for
from ui.search.session import QueryInput, Searched
from ui.search.views import ORDER, PLURALS, SORTS, numbers, results_component, results_html, summary_markdown
from ui.visitors import Visitor, visitor_of
from ui.widgets.errors import refuse

if TYPE_CHECKING:  # torch: imported by the handlers after the models
    from alignment.models.cache import EmbeddingCache
    from alignment.models.encoders import Encoders
    from alignment.search import Correction, Gallery, QueryVector, SearchResult

MAX_K = 50
TITLE = "The search did not run"
TARGETS = [("images", "image"), ("sounds", "audio"), ("texts", "text")]
IMAGE_TYPES = ["image"]
AUDIO_TYPES = [".wav", ".flac", ".ogg", ".oga", ".mp3"]
# On a phone the results sit below the query: bring them into view once they are there.
SCROLL_TO_RESULTS = """() => {
  if (window.innerWidth <= 760) document.querySelector('#search-summary')?.scrollIntoView({block: 'start'});
}"""
INTRO = (
    "Find what in a gallery is nearest to a text, an image, a sound, or a mix (a photo plus “at night”: the weighted "
    "sum of the parts' unit embeddings). Any kind finds any other; images and sounds meet through the CLAP → CLIP "
    "bridge. **Explain →** on a result shows why it matched."
)


@dataclass(frozen=True)
class SearchTab:
    """The tab's components. app.py wires `results` (its `select` carries (target, rank) from a result's Explain
    button) to the Explain tab, and calls `wire` once the Errors tab's dataset state exists."""

    query: list[gr.components.Component]  # the search's inputs, in the API's order
    correction: gr.Dropdown
    sort: gr.Radio
    k: gr.Slider
    button: gr.Button
    text: gr.Textbox
    summary: gr.Markdown
    results: gr.HTML
    numbers: gr.JSON
    searched: gr.State  # the session's last search (`ui.search.session.Searched`)

    def wire(self, models: AppModels, *, dataset: gr.State, visitor: gr.State, concurrency_id: str) -> None:
        """Wire the events (api name: search). `dataset`: the Errors tab's evaluated dataset (an `Explorer`)."""
        handlers = Handlers(models)
        outputs = [self.summary, self.results, self.numbers, self.searched]
        gr.on(
            [self.button.click, self.text.submit],
            handlers.search,
            inputs=[*self.query, self.correction, self.sort, self.searched, dataset, visitor],
            outputs=outputs,
            api_name="search",
            concurrency_limit=1,
            concurrency_id=concurrency_id,
        ).success(None, js=SCROLL_TO_RESULTS, api_visibility="private", queue=False)
        # Quick events run no model, so they stay out of the models' queue: they never wait behind a model job.
        quick = {"api_visibility": "private", "concurrency_limit": 8, "show_progress": "hidden"}
        self.k.release(handlers.resize, [self.searched, self.k, self.sort], outputs, **quick)  # type: ignore[arg-type]
        self.sort.change(handlers.resort, [self.searched, self.sort], [self.results], **quick)  # type: ignore[arg-type]


class Handlers:
    """The tab's event functions over the server's models and the galleries they share."""

    def __init__(self, models: AppModels) -> None:
        self.models = models
        self.source = GallerySource(models)

    def cache(self, visitor: Visitor | None, request: gr.Request | None) -> EmbeddingCache:
        """Query embeddings go to the visitor's own cache namespace on a public deployment."""
        return self.models.cache_for(visitor_of(visitor, request))

    def search(
        self,
        text: str | None,
        image: str | None,
        audio: str | None,
        text_weight: float,
        image_weight: float,
        audio_weight: float,
        targets: Sequence[str] | None,
        gallery: str,
        upload: str | None,
        space: str,
        k: float,
        correction: str,
        sort: str,
        last: Searched | None,
        explorer: Explorer | None,
        visitor: Visitor | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple:
        """Embed the query once per target's space, search each target, and show the results."""
        started = time.perf_counter()
        weights = {"text": text_weight, "image": image_weight, "audio": audio_weight}
        query = QueryInput((text or "").strip() or None, image or None, audio or None)
        query = replace(query, weights={m: float(weights[m]) for m in query.modalities})
        chosen_targets = _check(query, targets, gallery, k, correction, sort)
        encoders = self.models.get(progress)  # first: the imports below must not race the background load's
        with self.models.gate.run(visitor_of(visitor, request), "this search"):  # a query's turns at the models
            report = lambda f, m: progress(f, desc=m)  # noqa: E731
            bridge = None
            if any(needs_bridge(set(query.modalities), t) for t in chosen_targets):
                report(0.1, "Loading the CLAP → CLIP bridge (fitted on first use)")
                try:
                    bridge = self.source.bridge(encoders, report)
                except ValueError as exc:
                    raise refuse(str(exc), title=TITLE) from None
            try:
                chosen = self._galleries(SOURCES[gallery], encoders, bridge, explorer, upload, space, last, report)
            except (InputError, ValueError, OSError) as exc:
                raise refuse(str(exc), title=TITLE) from None
            report(0.9, "Searching")
            cache = self.cache(visitor, request)
            done: dict[str, tuple] = {}  # target -> (gallery, query vector, result, correction, why none)
            failed: dict[str, str] = {}  # target -> why it could not be searched
            for target in chosen_targets:
                try:
                    done[target] = self._one(query, target, chosen, encoders, bridge, cache, int(k), correction)
                except (InputError, ValueError) as exc:
                    failed[target] = str(exc)
        if not done:  # one message, once: the same fault usually stops every target
            unique = list(dict.fromkeys(failed.values()))
            raise refuse(
                unique[0] if len(unique) == 1 else " · ".join(f"{t}: {m}" for t, m in failed.items()), title=TITLE
            )
        left_out = list(dict.fromkeys(p for _, vector, *_ in done.values() for p in vector.problems))
        uncorrected = [d[4] for d in done.values() if d[4]]
        refused = [*left_out, *(f"{PLURALS[t].lower()}: {m}" for t, m in failed.items()), *uncorrected]
        for message in refused:
            gr.Warning(message)
        searched = Searched(
            query,
            chosen,
            {t: d[2] for t, d in done.items()},
            {t: d[1] for t, d in done.items()},
            correction,
            int(k),
            tuple(refused),
            galleries={t: d[0] for t, d in done.items()},
            corrections={t: d[3] for t, d in done.items()},
        )
        return _shown(searched, sort, time.perf_counter() - started)

    def _galleries(
        self,
        kind: str,
        encoders: Encoders,
        bridge: object,
        explorer: Explorer | None,
        upload: str | None,
        space: str,
        last: Searched | None,
        report: sources.Progress,
    ) -> Chosen:
        if kind == "examples":
            return self.source.examples(encoders, bridge, report)  # type: ignore[arg-type]
        previous = last.chosen if last is not None else None
        if kind == "dataset":
            return sources.dataset(explorer, bridge, reuse=previous)  # type: ignore[arg-type]
        report(0.5, "Reading the uploaded embeddings")
        return sources.upload(upload, space, reuse=previous)

    def _one(
        self,
        query: QueryInput,
        target: str,
        chosen: Chosen,
        encoders: Encoders,
        bridge: object,
        cache: EmbeddingCache,
        k: int,
        correction: str,
    ) -> tuple[Gallery, QueryVector, SearchResult, Correction | None, str | None]:
        """One target: the gallery the library would choose, the query embedded in its space, the top-k, the
        hubness correction used, and why none was when one was asked for."""
        from alignment.search import bank_modality, choose_gallery, embed_query, search

        parts = query.library_query()
        gallery = choose_gallery(chosen.galleries, parts.modalities, [target])  # type: ignore[arg-type]
        try:
            fix = correction_for(correction, gallery, target, bank_modality(parts.modalities, query.weights))
        except ValueError as exc:  # this target is searched by plain cosine, and the page says why
            fix, skipped = None, f"{PLURALS[target].lower()}: no hubness correction, plain cosine used ({exc})"
        else:
            skipped = None
        vector = embed_query(
            parts,
            space=gallery.space,
            encoders=encoders,
            bridge=bridge,  # type: ignore[arg-type]
            cache=cache,
            limits=self.models.settings.limits,
        )
        result = search(gallery, vector, k=k, targets=[target], correction=fix)  # type: ignore[arg-type]
        return gallery, vector, result, fix, skipped

    def resize(self, last: Searched | None, k: float, sort: str) -> tuple:
        """A new k: the stored query vectors searched again, without the models (a quick event)."""
        if last is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        started = time.perf_counter()
        k = int(k)
        if not 1 <= k <= MAX_K:
            raise refuse(f"k must be between 1 and {MAX_K} (got {k}).", title=TITLE)
        from alignment.search import search  # torch is loaded: a search ran in this session

        results = {
            t: search(last.galleries[t], v, k=k, targets=[t], correction=last.corrections.get(t))
            for t, v in last.vectors.items()
        }
        searched = replace(last, results=results, k=k)
        return _shown(searched, sort, time.perf_counter() - started)

    @staticmethod
    def resort(last: Searched | None, sort: str) -> str:
        if sort not in SORTS:
            raise refuse(f"Unknown order {sort!r}: choose one of {', '.join(SORTS)}.", title=TITLE)
        return results_html(last, sort) if last is not None else gr.skip()


def _check(
    query: QueryInput, targets: Sequence[str] | None, gallery: str, k: float, correction: str, sort: str
) -> list[str]:
    """The targets in display order; refuse() names the first bad choice. Nothing here needs the models."""
    if not query.modalities:
        raise refuse("Give a text, an image or a sound to search with (or several: they are combined).", title=TITLE)
    chosen = [t for t in ORDER if t in (targets or [])]
    unknown = [t for t in targets or [] if t not in ORDER]
    if unknown:
        raise refuse(f"Unknown kind to find: {unknown[0]!r} (choose text, image and/or audio).", title=TITLE)
    if not chosen:
        raise refuse("Choose what to find: images, sounds and/or texts.", title=TITLE)
    if gallery not in SOURCES:
        raise refuse(f"Unknown gallery {gallery!r}: choose one of {', '.join(SOURCES)}.", title=TITLE)
    if not 1 <= int(k) <= MAX_K:
        raise refuse(f"k must be between 1 and {MAX_K} (got {k}).", title=TITLE)
    if correction not in CHOICES:
        raise refuse(f"Unknown hubness correction {correction!r}: choose one of {', '.join(CHOICES)}.", title=TITLE)
    if sort not in SORTS:
        raise refuse(f"Unknown order {sort!r}: choose one of {', '.join(SORTS)}.", title=TITLE)
    return chosen


def build_search_tab() -> SearchTab:
    """Lay out the tab inside the current gr.Blocks (the query beside its results; stacked on a phone);
    `SearchTab.wire` wires its events."""
    gr.Markdown(INTRO, elem_id="search-intro")
    with gr.Row(equal_height=False, elem_classes="stack-narrow"):
        with gr.Column(scale=1, min_width=320, elem_id="search-query"):
            text = gr.Textbox(
                label="Text", placeholder="e.g. a rocket at night", lines=1, max_lines=3, elem_id="search-text"
            )
            with gr.Row(equal_height=True):
                image = gr.File(label="Image", file_types=IMAGE_TYPES, height=110, min_width=140)
                audio = gr.File(label="Sound", file_types=AUDIO_TYPES, height=110, min_width=140)
            with gr.Accordion("Weights of a mixed query", open=False, elem_id="search-weights"):
                text_weight = gr.Slider(-1, 2, value=1, step=0.05, label="text")
                image_weight = gr.Slider(-1, 2, value=1, step=0.05, label="image")
                audio_weight = gr.Slider(-1, 2, value=1, step=0.05, label="sound")
            targets = gr.CheckboxGroup(TARGETS, value=["image", "audio"], label="Find")
            gallery = gr.Dropdown(list(SOURCES), value=EXAMPLES, label="In")
            k = gr.Slider(1, MAX_K, value=8, step=1, label="Results per kind (k)")
            button = gr.Button("Search", variant="primary", elem_id="search-button")
            gr.Examples(
                [
                    ["a siren wailing", None, None],
                    ["at night", str(ASSETS / "images" / "rocket.jpg"), None],
                    ["", None, str(ASSETS / "audio" / "siren_sweep.flac")],
                ],
                inputs=[text, image, audio],
                example_labels=["a text", "a photo + “at night”", "a sound"],
                label="Try",
            )
            with gr.Accordion("Your own gallery · hubness correction", open=False):
                upload = gr.File(
                    label="Embeddings (.npz, .safetensors), or a .zip of embed's parquet shards or an index folder",
                    file_types=UPLOAD_TYPES,
                    height=110,
                )
                space = gr.Radio(
                    list(SPACES),
                    value="auto",
                    label="Space of an uploaded file",
                    info="auto: with images → CLIP; audio without images → CLAP; texts alone → CLIP",
                )
                correction = gr.Dropdown(
                    list(CHOICES),
                    value=NONE,
                    label="Hubness correction",
                    info=HELP,
                )
        with gr.Column(scale=2, min_width=320):
            summary = gr.Markdown(
                "Type a text, or add an image or a sound, then press **Search**.", elem_id="search-summary"
            )
            sort = gr.Radio(list(SORTS), value=SORTS[0], label="Order", elem_id="search-sort", container=False)
            results = results_component(elem_id="search-results")
            with gr.Accordion("Numbers (JSON, as the API returns them)", open=False):
                numbers_out = gr.JSON()
    searched = gr.State(None, time_to_live=3_600)  # the last search: vectors, ids, scores; no decoded media
    query = [text, image, audio, text_weight, image_weight, audio_weight, targets, gallery, upload, space, k]
    return SearchTab(query, correction, sort, k, button, text, summary, results, numbers_out, searched)


def _shown(searched: Searched, sort: str, seconds: float) -> tuple:
    """The tab's outputs for a search: the summary, the results, the numbers (JSON) and the session's state."""
    return (
        summary_markdown(searched, seconds=seconds),
        results_html(searched, sort),
        numbers(searched, seconds=seconds),
        searched,
    )
