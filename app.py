"""Cross-Modal Alignment Explorer: the Gradio UI. Every computation is a call into `alignment`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from alignment import figures
from alignment.cache import EmbeddingCache
from alignment.compare import Comparison, compare
from alignment.config import Settings, parse_settings
from alignment.data import read_text_file, split_lines
from alignment.encoders import Encoders, default_cache_dir, load_encoders
from alignment.errors import InputError, ModelUnavailableError
from alignment.projection import pca_2d, project, warm_up_umap
from ui import matrix_view
from ui.error_views import explain_cell, explain_pair
from ui.errors_tab import build_errors_tab
from ui.explain_tab import build_explain_tab
from ui.fusion_tab import build_fusion_tab
from ui.handoff import Pair, pair
from ui.one_space import one_space_handler

ASSETS = Path(__file__).resolve().parent / "assets"
SCORE_KINDS = ["cosine", "probability"]
ENCODERS = "encoders"  # concurrency group of every event that runs the models
MATCH_COLUMNS = [
    "query",
    "query modality",
    "best match",
    "match modality",
    "cosine",
    "P(text | item)",
    "runner-up",
    "margin",
]


# ---------------------------------------------------------------------------- examples


def bundled_examples() -> list[dict]:
    """The example sets in assets/examples.json with absolute paths."""
    sets = json.loads((ASSETS / "examples.json").read_text())
    for example in sets:
        example["images"] = [str(ASSETS / p) for p in example.get("images", [])]
        example["audio"] = [str(ASSETS / p) for p in example.get("audio", [])]
    return sets


# ---------------------------------------------------------------------------- pure view helpers


MATRICES = (("text_image", "Text × image (CLIP)"), ("text_audio", "Text × audio (CLAP)"))


def heatmap_views(result: dict | None, kind: str) -> tuple[str, str]:
    """Text x image and text x audio matrices (clickable HTML) from a compare result (the JSON the API returns)."""
    if kind not in SCORE_KINDS:
        raise gr.Error(f"Unknown score '{kind}': choose cosine or probability.")
    if not result:
        message = matrix_view.message_html("Run a comparison to see the similarity matrix")
        return message, message
    out = []
    for key, title in MATRICES:
        block = result[key]
        matrix = np.asarray(block[kind], dtype=np.float32).reshape(len(block["rows"]), len(block["cols"]))
        probability = kind == "probability"
        out.append(
            matrix_view.matrix_html(
                matrix,
                block["rows"],
                block["cols"],
                title=title,
                value_name="P(text | item)" if probability else "cosine",
                bounds=(0.0, 1.0) if probability else None,
                hint="Click a cell to explain why that text matches that " + key.split("_")[1] + ".",
            )
        )
    return out[0], out[1]


def picked_pair(comparison: Comparison | None, key: str, evt: gr.SelectData) -> Pair:
    """The (text, image or clip) pair of the clicked cell of the `key` matrix of the session's comparison."""
    if comparison is None:
        raise gr.Error("Run a comparison first: its matrices are what a click explains.")
    media = comparison.images if key == "text_image" else comparison.audio
    row, col = matrix_view.picked_cell(evt, (len(comparison.texts), len(media)))
    return pair(comparison.texts[row], media[col])


def matches_table(result: dict) -> pd.DataFrame:
    rows = [
        [
            m["query"],
            m["query_modality"],
            m["best"],
            m["target_modality"],
            round(m["cosine"], 3),
            "—" if m["probability"] is None else round(m["probability"], 3),
            m["runner_up"],
            None if m["margin"] is None else round(m["margin"], 3),
        ]
        for m in result["best_matches"]
    ]
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def projection_panels(comparison: Comparison, *, fast: bool) -> dict:
    """Both spaces projected to 2-D: PCA when `fast`, else UMAP where there are enough points."""
    panels = {}
    for key, title, other, text_emb, other_emb in (
        ("clip", "CLIP space: text + image", comparison.images, comparison.clip_text, comparison.clip_image),
        ("clap", "CLAP space: text + audio", comparison.audio, comparison.clap_text, comparison.clap_audio),
    ):
        items = comparison.texts + other
        x = np.concatenate([text_emb, other_emb]) if items else np.zeros((0, 2), np.float32)
        projected = (pca_2d(x), "pca") if fast else (lambda p: (p.coords, p.method))(project(x))
        panels[key] = {
            "title": title,
            "ids": [i.id for i in items],
            "modalities": [i.modality for i in items],
            "coords": np.round(projected[0], 5).tolist(),
            "method": projected[1],
        }
    return panels


def projection_figure(panels: dict):
    return figures.projection_panels(
        [{**p, "labels": p["ids"]} for p in panels.values()],  # colour, symbol and legend already give the modality
        title="Embedding space (CLIP and CLAP are separate spaces until a bridge joins them)",
    )


def report_markdown(result: dict) -> str:
    lines = []
    if result["problems"]:
        lines += ["**Skipped inputs**", *[f"- {p}" for p in result["problems"]]]
    if result["notes"]:
        lines += ["**Truncated texts**", *[f"- {n}" for n in result["notes"]]]
    cache = result["cache"]
    hits = sum(v["hits"] for v in cache.values())
    computed = sum(v["computed"] for v in cache.values())
    lines.append(f"Embeddings: {computed} computed, {hits} from the cache.")
    return "\n".join(lines)


def collect_texts(text: str, text_file: str | None) -> list[str]:
    texts = split_lines(text or "")
    if text_file:
        try:
            texts += read_text_file(text_file)
        except InputError as exc:
            raise gr.Error(f"The text file could not be used: {exc}") from None
    return texts


# ---------------------------------------------------------------------------- the app


def header_markdown(settings: Settings, encoders: Encoders) -> str:
    info = encoders.describe()
    text = (
        f"# Cross-Modal Alignment Explorer\nHow texts, images and sounds align. Image–text: **{info['clip']}** · "
        f"audio–text: **{info['clap']}** · device **{info['device']}** ({info['dtype']})."
    )
    if settings.random_weights:
        text += (
            "\n\n> ⚠️ **Tiny preset: these models have random weights.** They exist to try the interface; "
            "the scores and matches below mean nothing. Run with the default preset for real results."
        )
    return text


def build_demo(settings: Settings, encoders: Encoders | None = None) -> gr.Blocks:
    """The Blocks app. `encoders` defaults to loading those `settings` name (the only slow step)."""
    encoders = encoders or load_encoders(settings)
    root = Path(settings.cache_dir or default_cache_dir())
    cache = EmbeddingCache(root / "embeddings")
    models = {
        **encoders.describe(),
        "loaded": True,
        "preset": settings.preset,
        "random_weights": settings.random_weights,
    }
    examples = bundled_examples()
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
                limits=settings.limits,
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

    with gr.Blocks(title="Cross-Modal Alignment Explorer") as demo:
        gr.Markdown(header_markdown(settings, encoders))
        with gr.Tabs() as tabs, gr.Tab("Compare", id="compare"):
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
            concurrency_id=ENCODERS,
            trigger_mode="always_last",
        )
        kind.change(heatmap_views, inputs=[state, kind], outputs=[heat_image, heat_audio], api_name="heatmaps")
        one_button.click(
            one_space_handler(encoders, root=root, cache=cache),
            inputs=[compared, corpus],
            outputs=[one_info, heat_image_audio, full_matrix, joint, one_numbers],
            api_name="one_space",
            concurrency_limit=1,
            concurrency_id=ENCODERS,
        )

        with tabs, gr.Tab("Alignment errors", id="errors"):
            errors_state, error_number, explain_error, error_list = build_errors_tab(
                tags_root=root / "tags",
                encoders_for=lambda modalities: (encoders, models),
                cache=cache,
                limits=settings.limits,
                example=ASSETS / "paired.csv",
                concurrency_id=ENCODERS,
            )
        with tabs, gr.Tab("Explain", id="explain"):
            explain = build_explain_tab(
                encoders,
                limits=settings.limits,
                example_image=ASSETS / "images" / "coffee.jpg",
                example_audio=ASSETS / "audio" / "siren_sweep.flac",
                concurrency_id=ENCODERS,
            )
        with tabs, gr.Tab("Fusion", id="fusion"):
            build_fusion_tab(concurrency_id=ENCODERS)

        # One click sends a pair to the Explain tab, switches to it, and explains the pair there.
        to_explain = [*explain.send_outputs, tabs]

        def error_to_explain(explorer: object, number: str) -> tuple:
            return *explain.send(explain_pair(explorer, number)), gr.Tabs(selected="explain")  # type: ignore[arg-type]

        explain.follow(
            explain_error.click(error_to_explain, [errors_state, error_number], to_explain, api_name="explain_error")
        )

        def error_cell_to_explain(explorer: object, table: pd.DataFrame, evt: gr.SelectData) -> tuple:
            number = explain_cell(table, evt)
            if number is None:  # any other cell only opens the error (the errors tab's own select)
                return *explain.stay(), gr.skip()
            return *explain.send(explain_pair(explorer, number)), gr.Tabs(selected="explain")  # type: ignore[arg-type]

        explain.follow(
            error_list.select(error_cell_to_explain, [errors_state, error_list], to_explain, api_visibility="private")
        )
        for matrix, key in ((heat_image, "text_image"), (heat_audio, "text_audio")):

            def cell_to_explain(comparison: Comparison | None, evt: gr.SelectData, key: str = key) -> tuple:
                return *explain.send(picked_pair(comparison, key, evt)), gr.Tabs(selected="explain")

            explain.follow(matrix.select(cell_to_explain, [compared], to_explain, api_visibility="private"))
    return demo


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(argv)
    try:
        encoders = load_encoders(settings)
    except ModelUnavailableError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    warm_up_umap()  # numba compiles in the background while the page loads
    build_demo(settings, encoders).launch(theme=gr.themes.Soft())


if __name__ == "__main__":
    main()
