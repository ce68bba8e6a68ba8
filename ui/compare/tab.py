"""The Compare tab: texts x images (CLIP) and texts x audio (CLAP), best matches, the projection, the one-space view
(layout and events; what it shows is built in ui/compare/views.py)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from alignment.analysis.comparison import Comparison
from alignment.inputs.text import split_lines
from ui.compare.example import PreparedExample
from ui.compare.one_space import one_space_handler
from ui.compare.projection import SPACES, show_space
from ui.compare.views import (
    MATCH_COLUMNS,
    SCORE_KINDS,
    gallery_items,
    heatmap_views,
    matches_table,
    projected_recently,
    projection_panels,
    report_markdown,
)
from ui.hosting import stop_button, wire_stop
from ui.models import AppModels
from ui.visitors import Visitor, VisitorBox, visitor_of
from ui.widgets import matrix as matrix_view
from ui.widgets.errors import refuse
from ui.widgets.projection import ProjectionExplorer


@dataclass(frozen=True)
class CompareTab:
    """What other tabs wire to: the clickable matrices (keyed like `Comparison`'s scores) and the last comparison."""

    matrices: dict[str, gr.HTML]  # "text_image", "text_audio"
    compared: gr.State  # the session's last Comparison: embeddings and ids, no decoded media
    projections: tuple[ProjectionExplorer, ...]  # the backbone spaces' and the one space's: a click opens Explain


def _keys(comparison: Comparison, result: dict, kind: str, space: str) -> dict[str, str]:
    """A digest per output of what it shows, so an output whose content did not change is not sent again."""

    def digest(*parts: object) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    return {
        "matrices": digest(result["text_image"], result["text_audio"], kind),
        "matches": digest(result["best_matches"]),
        "projection": digest(result["projection"], space),
        "report": digest(result["problems"], result["notes"], result["cache"]),
        "gallery": digest([(i.id, i.sha256) for i in comparison.images]),
    }


def outputs_for(
    comparison: Comparison,
    result: dict,
    kind: str,
    last: dict | None,
    *,
    started: float,
    space: str,
    projection: Callable[[Comparison, dict, str, str | None], str],
    shared: str | None = None,
    report: Callable[[dict], str] = report_markdown,
) -> tuple:
    """The tab's outputs for a compare result, each left unchanged (gr.skip) when the session shows it already.
    `projection(comparison, panels, space, shared)` draws the chosen space; `shared` names the result when it is
    the bundled example every visitor sees (its projection view is then one for all). The numbers carry the
    server's seconds since the request started (what bench/bench_app.py reads)."""
    keys = _keys(comparison, result, kind, space)
    before = (last or {}).get("keys", {})
    fresh = {name: key != before.get(name) for name, key in keys.items()}
    heat_image, heat_audio = heatmap_views(result, kind) if fresh["matrices"] else (gr.skip(), gr.skip())
    return (
        heat_image,
        heat_audio,
        matches_table(result) if fresh["matches"] else gr.skip(),
        projection(comparison, result["projection"], space, shared) if fresh["projection"] else gr.skip(),
        report(result) if fresh["report"] else gr.skip(),
        gallery_items(comparison) if fresh["gallery"] else gr.skip(),
        {**result, "timing": {"server_s": round(time.perf_counter() - started, 4)}},  # always complete, for the API
        {"result": result, "kind": kind, "keys": keys, "shared": shared},
        comparison,
    )


def build_compare_tab(
    demo: gr.Blocks,
    models: AppModels,
    *,
    visitors: VisitorBox,
    examples: list[dict],
    example: PreparedExample | None,
    concurrency_id: str,
) -> CompareTab:
    """Lay out the tab inside the current gr.Blocks and wire its events (api names: compare, heatmaps, one_space).

    The bundled example is compared on page load, so a visitor sees results without doing anything; when it was
    prepared earlier it is shown at once, before the models have loaded."""
    first = examples[0]
    intended = {Path(path).name: caption for e in examples for path, caption in e.get("pairs", {}).items()}

    def summarise(result: dict) -> str:
        return report_markdown(result, intended=intended, random_weights=models.settings.random_weights)

    def draw(comparison: Comparison, panels: dict, space: str, shared: str | None) -> str:
        """The chosen space of a comparison in the projection component."""
        if space not in panels:
            return projection.message(f"Unknown space {space!r}: choose CLIP or CLAP.")
        panel = panels[space]
        return show_space(
            projection,
            comparison,
            space,  # type: ignore[arg-type]
            panel["coords"],
            method=panel["method"],
            captions=intended,
            shared=shared,
        )

    def run_compare(
        text: str,
        text_file: str | None,
        images: Sequence[str] | None,
        audio: Sequence[str] | None,
        kind: str,
        space: str,
        last: dict | None,
        visitor_state: Visitor | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> Iterator[tuple]:
        """Compare texts with images (CLIP) and audio (CLAP); yields once with PCA, then with UMAP (once only when
        the projection is known already, e.g. the prepared example or a repeated comparison)."""
        visitor = visitor_of(visitor_state, request)
        started = time.perf_counter()
        texts = split_lines(text or "")
        text_files = [text_file] if text_file else []  # a bad file, or bad lines in it, are problems; the rest runs
        image_paths, audio_paths = [str(p) for p in images or []], [str(p) for p in audio or []]
        prepared = (
            example.lookup(
                texts, image_paths, audio_paths, wait=lambda: progress(None, desc="Preparing the bundled example")
            )
            if example is not None and not text_files
            else None
        )
        shown = dict(started=started, space=space, projection=draw, report=summarise)
        if prepared is not None:
            shared = "example:" + _keys(prepared.comparison, prepared.result, kind, space)["projection"]
            yield outputs_for(prepared.comparison, prepared.result, kind, last, shared=shared, **shown)  # type: ignore[arg-type]
            refined = example.refined(prepared)  # type: ignore[union-attr]  # the UMAP view, on a first start
            if refined is not None:
                last = {"keys": _keys(prepared.comparison, prepared.result, kind, space)}
                shared = "example:" + _keys(refined.comparison, refined.result, kind, space)["projection"]
                yield outputs_for(refined.comparison, refined.result, kind, last, shared=shared, **shown)  # type: ignore[arg-type]
            return
        with models.gate.run(visitor, "this comparison"):
            encoders = models.get(progress)  # first: the import below must not race the background load's
            from alignment.analysis.compare import compare  # torch: only once a comparison needs the models

            try:
                comparison = compare(
                    encoders,
                    texts,
                    image_paths,
                    audio_paths,
                    cache=models.cache_for(visitor),
                    limits=models.settings.limits,
                    progress=lambda f, m: progress(f, desc=m),
                    text_files=text_files,
                ).without_media()
            except ValueError as exc:
                raise refuse(str(exc), title="The comparison did not run") from None
        for problem in comparison.problems:
            gr.Warning(problem)
        result = comparison.to_json()
        if not projected_recently(comparison):
            result["projection"] = projection_panels(comparison, fast=True)
            yield outputs_for(comparison, result, kind, last, **shown)  # type: ignore[arg-type]
            last = {"keys": _keys(comparison, result, kind, space)}
        result = {**result, "projection": projection_panels(comparison, fast=False)}
        yield outputs_for(comparison, result, kind, last, **shown)  # type: ignore[arg-type]

    def recolour(state: dict | None, kind: str) -> tuple[str, str]:
        return heatmap_views(state["result"] if state else None, kind)

    def switch_space(comparison: Comparison | None, state: dict | None, space: str) -> tuple[str, dict | None]:
        """Draw the other space of the session's comparison (and remember it, so a new compare keeps it)."""
        if comparison is None or not state:
            return projection.message("Run a comparison first."), state
        result = state["result"]
        keys = {**state["keys"], "projection": _keys(comparison, result, state["kind"], space)["projection"]}
        return draw(comparison, result["projection"], space, state.get("shared")), {**state, "keys": keys}

    # Results first: what the bundled example shows is on the first screen; the inputs that made it follow.
    report = gr.Markdown(elem_id="compare-summary")  # the summary in plain words (see `summarise`)
    kind = gr.Radio(
        SCORE_KINDS,
        value="cosine",
        label="Colour the matrices by",
        info="cosine: how close the two embeddings are · probability: the model's own chance that each text is "
        "the caption, for every image or sound (each column sums to 1)",
        elem_id="compare-kind",
        container=False,
    )
    with gr.Row(equal_height=False, elem_classes="stack-narrow"):
        heat_image = matrix_view.matrix_component("Text × image", elem_id="matrix-text-image", min_width=340)
        heat_audio = matrix_view.matrix_component("Text × audio", elem_id="matrix-text-audio", min_width=340)
    with gr.Row(equal_height=False, elem_classes="stack-narrow"):
        with gr.Column(scale=3, min_width=340):
            space = gr.Radio(
                SPACES,
                value="clip",
                label="Where the items sit: nearby = similar",
                info="Hover a point to see it, click it to explain it with its closest partner, drag a lasso "
                "(or a box) to select a group. Green: its caption came first; red: another text beat it.",
                elem_id="compare-space",
            )
            projection = ProjectionExplorer(elem_id="compare-projection", height=440)
        matches = gr.Dataframe(
            label="Best match for every item",
            headers=MATCH_COLUMNS,
            wrap=True,
            max_height=460,
            scale=2,
            min_width=340,
        )
    with gr.Accordion("Inputs: change the texts, images or sounds, then press Compare", open=True):
        with gr.Row():
            with gr.Column(min_width=300):
                texts = gr.Textbox(label="Texts (one per line)", lines=8, value="\n".join(first["texts"]))
                text_file = gr.File(label="…and/or a .txt / .csv of texts", file_types=[".txt", ".csv"], height=120)
            images = gr.File(
                label="Images (PNG, JPEG, BMP, WebP, GIF)",
                file_count="multiple",
                file_types=["image"],
                value=first["images"],
                height=260,
                min_width=300,
            )
            audio = gr.File(
                label="Audio (WAV, FLAC, OGG, MP3)",
                file_count="multiple",
                file_types=[".wav", ".flac", ".ogg", ".oga", ".mp3"],
                value=first["audio"],
                height=260,
                min_width=300,
            )
        with gr.Row():
            run = gr.Button("Compare", variant="primary")
            stop = stop_button(elem_id="compare-stop")
        gr.Examples(
            [["\n".join(e.get("texts", [])), e["images"], e["audio"]] for e in examples],
            inputs=[texts, images, audio],
            example_labels=[e["name"] for e in examples],
            label="Bundled examples",
        )
        gallery = gr.Gallery(label="The images compared", columns=8, rows=1, height=180, object_fit="contain")
    with gr.Accordion("Numbers (JSON, as the API returns them)", open=False):
        numbers = gr.JSON()
    with gr.Accordion("One space: images and sounds compared through a CLAP → CLIP bridge", open=False):
        with gr.Row():
            corpus = gr.File(
                label="Your caption corpus (.txt, one caption per line; empty = the bundled 5,200)",
                file_types=[".txt"],
                height=100,
            )
            one_button = gr.Button("Put the audio into CLIP space")
        one_info = gr.Markdown(
            "CLIP and CLAP are separate spaces. A bridge fitted on a caption corpus through text (the "
            "modality both share) maps CLAP audio into CLIP space; the first use fits and caches it."
        )
        with gr.Row():
            heat_image_audio = gr.Plot(label="Image × audio", min_width=340)
            full_matrix = gr.Plot(label="Full matrix", min_width=340)
        joint = ProjectionExplorer(elem_id="one-space-projection", height=480)
        with gr.Accordion("One-space numbers (JSON)", open=False):
            one_numbers = gr.JSON()
    ttl = models.hosting.session_ttl  # an idle session's results are dropped, their memory comes back
    state = gr.State(None, time_to_live=ttl)  # the session's last result, what each output shows (`outputs_for`)
    compared = gr.State(None, time_to_live=ttl)  # the last Comparison (embeddings, no media): one space, Explain

    outputs = [heat_image, heat_audio, matches, projection.html, report, gallery, numbers, state, compared]
    # always_last: a click while the page-load run is still going is queued, not dropped. Not in the models'
    # concurrency group: the prepared example must not wait behind another visitor's model job; the compare
    # itself waits for the models inside `run_compare`.
    compared_event = gr.on(
        [demo.load, run.click],
        run_compare,
        inputs=[texts, text_file, images, audio, kind, space, state, visitors.state],
        outputs=outputs,
        api_name="compare",
        concurrency_limit=16,  # mostly the prepared example and cache hits; model work takes turns anyway
        trigger_mode="always_last",
    )
    wire_stop(stop, models.gate, visitors.state, cancels=[compared_event])
    kind.change(recolour, inputs=[state, kind], outputs=[heat_image, heat_audio], api_name="heatmaps")
    one_button.click(
        one_space_handler(models, joint, captions=intended),
        inputs=[compared, corpus, visitors.state],
        outputs=[one_info, heat_image_audio, full_matrix, joint.html, one_numbers],
        api_name="one_space",
        concurrency_limit=models.hosting.model_jobs,
        concurrency_id=concurrency_id,
    )
    space.change(
        switch_space, [compared, state, space], [projection.html, state], api_visibility="private", queue=False
    )
    return CompareTab({"text_image": heat_image, "text_audio": heat_audio}, compared, (projection, joint))
