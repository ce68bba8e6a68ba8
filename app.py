"""Cross-Modal Alignment Explorer: the Gradio app. It assembles the tabs of `ui/` and wires the one-click hand-offs
between them (a matrix cell or an error to its explanation); every computation is a call into `alignment`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import pandas as pd

from alignment.analysis.compare import Comparison
from alignment.core.errors import ModelUnavailableError
from alignment.models.cache import EmbeddingCache
from alignment.models.encoders import Encoders
from alignment.models.factory import load_encoders
from alignment.models.settings import Settings, default_cache_dir, parse_settings
from alignment.views.projection import warm_up_umap
from ui.assets import ASSETS, bundled_examples
from ui.compare.tab import build_compare_tab
from ui.compare.views import picked_pair
from ui.errors.tab import build_errors_tab
from ui.errors.views import explain_cell, explain_pair
from ui.explain.tab import build_explain_tab
from ui.fusion import build_fusion_tab

ENCODERS = "encoders"  # concurrency group of every event that runs the models


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

    with gr.Blocks(title="Cross-Modal Alignment Explorer") as demo:
        gr.Markdown(header_markdown(settings, encoders))
        with gr.Tabs() as tabs:
            with gr.Tab("Compare", id="compare"):
                compare = build_compare_tab(
                    demo,
                    encoders,
                    limits=settings.limits,
                    cache=cache,
                    root=root,
                    examples=bundled_examples(),
                    concurrency_id=ENCODERS,
                )
            with gr.Tab("Alignment errors", id="errors"):
                errors_state, error_number, explain_error, error_list = build_errors_tab(
                    tags_root=root / "tags",
                    encoders_for=lambda modalities: (encoders, models),
                    cache=cache,
                    limits=settings.limits,
                    example=ASSETS / "paired.csv",
                    concurrency_id=ENCODERS,
                )
            with gr.Tab("Explain", id="explain"):
                explain = build_explain_tab(
                    encoders,
                    limits=settings.limits,
                    example_image=ASSETS / "images" / "coffee.jpg",
                    example_audio=ASSETS / "audio" / "siren_sweep.flac",
                    concurrency_id=ENCODERS,
                )
            with gr.Tab("Fusion", id="fusion"):
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
        for key, matrix in compare.matrices.items():

            def cell_to_explain(comparison: Comparison | None, evt: gr.SelectData, key: str = key) -> tuple:
                return *explain.send(picked_pair(comparison, key, evt)), gr.Tabs(selected="explain")

            explain.follow(matrix.select(cell_to_explain, [compare.compared], to_explain, api_visibility="private"))
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
