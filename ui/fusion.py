"""The "Fusion" tab: train every fusion method on paired embeddings, compare them, see which modality carried it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from alignment.core.errors import InputError
from alignment.inputs.embeddings import load_embeddings
from alignment.space.fusion_data import METHODS, FusionItems, fusion_items, synthetic_items
from ui.models import AppModels
from ui.visitors import Visitor, VisitorBox, visitor_of
from ui.widgets.errors import refuse

if TYPE_CHECKING:  # training imports torch: loaded on the first run
    from alignment.space.fusion_training import FusionComparison

TABLE_COLUMNS = ["method", "R@1", "R@5", "R@10", "MRR", "chance_R@1", "epochs", "best_epoch", "seconds"]
TABLE_LEGEND = (
    "How to read the table: each held-out item's fused vector ranks every candidate {target}; **R@1** is the "
    "share whose own {target} comes first (**chance_R@1** is what guessing would score), **R@5 / R@10** within "
    "the first 5 / 10, **MRR** the mean of 1 / rank (1 = always first). **epochs** trained, **best_epoch** the "
    "one kept (best on the validation split). Rows named after one modality use that modality alone, for "
    "reference: fusion earns its keep when it beats all of them."
)
MAX_EPOCHS = 60
SHOWN_ITEMS = 50  # rows of the per-item attention table


def comparison_table(comparison: FusionComparison) -> pd.DataFrame:
    rows = [[row.get(c) for c in TABLE_COLUMNS] for row in comparison.table]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).round(3)


def curves_figure(comparison: FusionComparison) -> go.Figure:
    """Training (solid) and validation (dashed) InfoNCE loss per epoch of every trained method."""
    fig = go.Figure()
    for name, model in comparison.models.items():
        history = model.history
        if not history.train:
            continue
        epochs = list(range(1, len(history.train) + 1))
        fig.add_trace(go.Scatter(x=epochs, y=list(history.train), mode="lines", name=f"{name} train"))
        fig.add_trace(
            go.Scatter(x=epochs, y=list(history.val), mode="lines", line=dict(dash="dash"), name=f"{name} validation")
        )
    fig.update_layout(
        title="Training curves (InfoNCE loss; the kept epoch is the best validation one)",
        height=360,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis_title="epoch",
        yaxis_title="loss",
    )
    return fig


def attention_views(items: FusionItems, comparison: FusionComparison) -> tuple[go.Figure, pd.DataFrame]:
    """Mean attention weight per modality, and the per-item weights of the first SHOWN_ITEMS items."""
    model = comparison.models["attention"]
    _, weights = model.apply(list(items.views), items.mask)  # (N, M)
    assert weights is not None  # attention always returns weights
    names = list(items.names)
    fig = go.Figure(
        go.Bar(x=names, y=weights.mean(axis=0), marker_color=["#ff7f0e", "#2ca02c", "#1f77b4"][: len(names)])
    )
    fig.update_layout(
        title="Which modality carried the match (mean attention weight)",
        height=320,
        yaxis=dict(range=[0, 1], title="weight"),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    table = pd.DataFrame(np.round(weights[:SHOWN_ITEMS].astype(np.float64), 3), columns=names)  # no float32 digits
    table.insert(0, "item", list(items.keys[:SHOWN_ITEMS]))
    return fig, table


def build_fusion_tab(models: AppModels, *, tab: gr.Tab, visitors: VisitorBox, concurrency_id: str) -> None:
    """Lay out the tab inside the current gr.Blocks and wire its events (api name: fusion). Opening the tab shows
    the synthetic demo's result at once: it is the same for every visitor, so it is trained once per process."""
    demo_results: dict[tuple[str, tuple[str, ...]], tuple] = {}
    demo_lock = threading.Lock()  # one visitor trains the demo; the others wait for that result, not train again

    def synthetic_demo(target: str, methods: list[str], progress: gr.Progress) -> tuple:
        key = (target, tuple(sorted(methods)))
        with demo_lock:
            if key not in demo_results:
                demo_results[key] = train(None, target, methods, progress)
            return demo_results[key]

    def run(
        upload: str | None,
        target: str,
        methods: list[str],
        visitor_state: Visitor | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple:
        if not methods:
            raise refuse(f"Choose at least one method ({', '.join(METHODS)}).")
        with models.gate.run(visitor_of(visitor_state, request), "this fusion training"):
            return train(upload, target, methods, progress) if upload else synthetic_demo(target, methods, progress)

    def first_look(
        shown: str, visitor_state: Visitor | None, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> tuple:
        """On opening the tab: the synthetic demo with the default settings, unless a result is shown already."""
        if shown:
            return tuple(gr.skip() for _ in range(7))
        return run(None, "text", list(METHODS), visitor_state, request, progress)

    def train(upload: str | None, target: str, methods: list[str], progress: gr.Progress) -> tuple:
        try:
            models.settle(progress)  # the imports below (torch) must not race the background model load's
            from alignment.space.contrastive import TrainConfig
            from alignment.space.fusion_training import compare_fusion_methods

            data = load_embeddings(Path(upload)) if upload else synthetic_items()
            items = fusion_items(data, target=target)  # type: ignore[arg-type]
            chosen = [m for m in METHODS if m in methods or m == "attention"]  # attention: the weights view
            comparison = compare_fusion_methods(
                list(items.views),
                items.target,
                mask=items.mask,
                names=items.names,
                methods=chosen,
                config=TrainConfig(max_epochs=MAX_EPOCHS, cpu_threads=1),
                progress=lambda f, m: progress(f, desc=m),
            )
        except (InputError, ValueError) as exc:
            raise refuse(str(exc)) from None
        source = data.source if upload else "the synthetic demo (known answer: identity split between image and audio)"
        best = comparison.table[0]
        summary = (
            f"**{len(items.keys)} items** from {source}; views {', '.join(items.names)} → target "
            f"{items.target_modality}. Best held-out R@1: **{best['method']}** {best['R@1']:.3f} "
            f"(guessing: {best['chance_R@1']:.3f})."
        )
        legend = TABLE_LEGEND.format(target=items.target_modality)
        weights_fig, weights_table = attention_views(items, comparison)
        numbers = {"items": len(items.keys), "views": list(items.names), "table": [dict(r) for r in comparison.table]}
        table = comparison_table(comparison)
        return summary, table, legend, curves_figure(comparison), weights_fig, weights_table, numbers

    gr.Markdown(
        "Fuse several modalities of one item (a photo, a sound...) into one vector that retrieves the "
        "item's text, and compare the fusion methods on held-out items. Upload precomputed embeddings "
        "(.npz/.safetensors, one space, rows grouped by `pair`), or run the synthetic demo."
    )
    with gr.Row():
        upload = gr.File(
            label="Embeddings (.npz / .safetensors); empty = synthetic demo",
            file_types=[".npz", ".safetensors"],
            height=120,
        )
        with gr.Column():
            target = gr.Radio(["text", "image", "audio"], value="text", label="Target modality")
            methods = gr.CheckboxGroup(list(METHODS), value=list(METHODS), label="Methods")
    button = gr.Button("Train and compare", variant="primary")
    summary = gr.Markdown()
    table = gr.Dataframe(
        label="Held-out retrieval, fused item → target (single modalities for reference)",
        headers=TABLE_COLUMNS,
        interactive=False,
    )
    legend = gr.Markdown(elem_classes="fusion-legend")
    with gr.Row():
        curves = gr.Plot(label="Training curves")
        weights = gr.Plot(label="Attention weights")
    per_item = gr.Dataframe(label=f"Attention weights of the first {SHOWN_ITEMS} items", interactive=False)
    with gr.Accordion("Numbers (JSON)", open=False):
        numbers = gr.JSON()
    outputs = [summary, table, legend, curves, weights, per_item, numbers]
    button.click(
        run,
        [upload, target, methods, visitors.state],
        outputs,
        api_name="fusion",
        concurrency_limit=models.hosting.model_jobs,
        concurrency_id=concurrency_id,
    )
    tab.select(
        first_look,
        [summary, visitors.state],
        outputs,
        api_visibility="private",
        concurrency_limit=models.hosting.model_jobs,
        concurrency_id=concurrency_id,
    )
