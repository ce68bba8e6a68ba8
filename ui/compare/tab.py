"""The Compare tab: texts x images (CLIP) and texts x audio (CLAP), best matches, the projection, the one-space view
(layout and events; what it shows is built in ui/compare/views.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from alignment.analysis.compare import compare
from alignment.inputs.limits import Limits
from alignment.models.cache import EmbeddingCache
from alignment.models.encoders import Encoders
from ui.compare.one_space import one_space_handler
from ui.compare.views import (
    MATCH_COLUMNS,
    SCORE_KINDS,
    collect_texts,
    heatmap_views,
    matches_table,
    projection_figure,
    projection_panels,
    report_markdown,
)
from ui.widgets import matrix as matrix_view


@dataclass(frozen=True)
class CompareTab:
    """What other tabs wire to: the clickable matrices (keyed like `Comparison`'s scores) and the last comparison."""

    matrices: dict[str, gr.HTML]  # "text_image", "text_audio"
    compared: gr.State  # the session's last Comparison, embeddings included


def build_compare_tab(
    demo: gr.Blocks,
    encoders: Encoders,
    *,
    limits: Limits,
    cache: EmbeddingCache,
    root: Path,
    examples: list[dict],
    concurrency_id: str,
) -> CompareTab:
    """Lay out the tab inside the current gr.Blocks and wire its events (api names: compare, heatmaps, one_space).

    The bundled example is compared on page load, so a visitor sees results without doing anything."""
    first = examples[0]

    def run_compare(
        text: str,
        text_file: str | None,
        images: Sequence[str] | None,
        audio: Sequence[str] | None,
        kind: str,
        progress: gr.Progress = gr.Progress(),
    ) -> Iterator[tuple]:
        """Compare texts with images (CLIP) and audio (CLAP); yields once with PCA, then with UMAP."""
        texts = collect_texts(text, text_file)
        try:
            comparison = compare(
                encoders,
                texts,
                list(images or []),
                list(audio or []),
                cache=cache,
                limits=limits,
                progress=lambda f, m: progress(f, desc=m),
            )
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        for problem in comparison.problems:
            gr.Warning(problem)
        result = comparison.to_json()
        ti, ta = heatmap_views(result, kind)
        gallery = [(item.payload, item.id) for item in comparison.images]  # decoded: skipped files leave no gap
        result["projection"] = projection_panels(comparison, fast=True)
        yield (
            ti,
            ta,
            matches_table(result),
            projection_figure(result["projection"]),
            report_markdown(result),
            gallery,
            result,
            result,
            comparison,
        )
        result = {**result, "projection": projection_panels(comparison, fast=False)}
        # the final yield is complete for API users, but the gallery: resending it would rewrite its files
        # while the browser may still be downloading them
        yield (
            ti,
            ta,
            matches_table(result),
            projection_figure(result["projection"]),
            report_markdown(result),
            gr.skip(),
            result,
            result,
            comparison,
        )

    with gr.Row():
        with gr.Column():
            texts = gr.Textbox(label="Texts (one per line)", lines=8, value="\n".join(first["texts"]))
            text_file = gr.File(label="…and/or a .txt / .csv of texts", file_types=[".txt", ".csv"], height=140)
        images = gr.File(
            label="Images (PNG, JPEG, BMP, WebP, GIF)",
            file_count="multiple",
            file_types=["image"],
            value=first["images"],
            height=260,
        )
        audio = gr.File(
            label="Audio (WAV, FLAC, OGG, MP3)",
            file_count="multiple",
            file_types=[".wav", ".flac", ".ogg", ".oga", ".mp3"],
            value=first["audio"],
            height=260,
        )
    with gr.Row():
        kind = gr.Radio(
            SCORE_KINDS,
            value="cosine",
            label="Score",
            info="probability: the model's softmax over the texts, for each image or clip",
        )
        run = gr.Button("Compare", variant="primary", scale=0, min_width=200)
    gr.Examples(
        [["\n".join(e.get("texts", [])), e["images"], e["audio"]] for e in examples],
        inputs=[texts, images, audio],
        example_labels=[e["name"] for e in examples],
        label="Bundled examples",
    )
    with gr.Row():
        heat_image = matrix_view.matrix_component("Text × image", elem_id="matrix-text-image")
        heat_audio = matrix_view.matrix_component("Text × audio", elem_id="matrix-text-audio")
    projection = gr.Plot(label="Embedding space")
    matches = gr.Dataframe(label="Best match for every item", headers=MATCH_COLUMNS, wrap=True)
    report = gr.Markdown()
    gallery = gr.Gallery(label="Images", columns=8, rows=1, height=220, object_fit="contain")
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
            heat_image_audio = gr.Plot(label="Image × audio")
            joint = gr.Plot(label="All three modalities")
        full_matrix = gr.Plot(label="Full matrix")
        with gr.Accordion("One-space numbers (JSON)", open=False):
            one_numbers = gr.JSON()
    state = gr.State(None)
    compared = gr.State(None)  # the last Comparison with its embeddings, for the one-space view

    outputs = [heat_image, heat_audio, matches, projection, report, gallery, numbers, state, compared]
    # always_last: a click while the page-load run is still going is queued, not dropped. One model run at a
    # time (shared with the errors tab): two at once on a CPU's few cores were up to 2.4x slower (bench/).
    gr.on(
        [demo.load, run.click],
        run_compare,
        inputs=[texts, text_file, images, audio, kind],
        outputs=outputs,
        api_name="compare",
        concurrency_limit=1,
        concurrency_id=concurrency_id,
        trigger_mode="always_last",
    )
    kind.change(heatmap_views, inputs=[state, kind], outputs=[heat_image, heat_audio], api_name="heatmaps")
    one_button.click(
        one_space_handler(encoders, root=root, cache=cache),
        inputs=[compared, corpus],
        outputs=[one_info, heat_image_audio, full_matrix, joint, one_numbers],
        api_name="one_space",
        concurrency_limit=1,
        concurrency_id=concurrency_id,
    )
    return CompareTab({"text_image": heat_image, "text_audio": heat_audio}, compared)
