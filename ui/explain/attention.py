"""The Explain tab's attention viewer: an encoder's raw attention maps for the selected item, per layer and head.

The maps come from `alignment.explain.attention.attention_maps`, which runs an eager-attention view of the encoder on
demand (bulk embedding keeps SDPA). One forward pass gives every layer and head; they are kept in a gr.State so
moving the layer slider or picking another head redraws without running the model again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
from PIL import Image

from alignment.core.errors import InputError
from alignment.inputs.files import load_file
from alignment.inputs.limits import Limits
from alignment.views import figures
from ui.models import AppModels
from ui.visitors import Visitor, VisitorBox, visitor_of
from ui.widgets.errors import refuse

if TYPE_CHECKING:  # the explanation modules import torch: loaded when a map is first asked for
    from alignment.explain.attention import AttentionMaps
    from alignment.models.encoders import Encoders

IMAGE_TOWER, CLIP_TEXT_TOWER, CLAP_TEXT_TOWER = "image (CLIP vision)", "text (CLIP)", "text (CLAP)"
TOWERS = {  # what the user picks -> (encoder, input)
    IMAGE_TOWER: ("clip", "image"),
    CLIP_TEXT_TOWER: ("clip", "text"),
    CLAP_TEXT_TOWER: ("clap", "text"),
}
MEAN = "mean of heads"
FULL_MAP_MAX_TOKENS = 80  # the JSON carries the whole (T, T) map up to this many tokens, the pooled row always


@dataclass(frozen=True)
class Shown:
    """What the viewer computed: every map of one tower for one item, and the image it read (image towers)."""

    maps: AttentionMaps
    image: Image.Image | None
    box: tuple[float, float, float, float] | None


def compute(
    encoders: Encoders, tower: str, *, image_text: str, image_path: str | None, audio_text: str, limits: Limits
) -> Shown:
    """Run the chosen tower once, eagerly, on the Explain tab's current image or text."""
    from alignment.explain import image as xi
    from alignment.explain.attention import attention_maps

    if tower not in TOWERS:
        raise ValueError(f"unknown tower '{tower}': choose one of {', '.join(TOWERS)}")
    role, kind = TOWERS[tower]
    encoder = encoders.clip if role == "clip" else encoders.clap
    if kind == "image":
        if not image_path:
            raise ValueError("give an image (in 'Text × image' above) to see the vision tower's attention")
        image = load_file(image_path, "image", limits=limits, purpose="explain").payload
        box = xi.model_view_box(encoders.clip, image.size)
        return Shown(attention_maps(encoder, image), image, box)
    text = (image_text if role == "clip" else audio_text).strip()
    if not text:
        where = "'Text × image'" if role == "clip" else "'Text × audio'"
        raise ValueError(f"give a text (in {where} above) to see the text tower's attention")
    return Shown(attention_maps(encoder, text), None, None)


def head_index(head: str, heads: int) -> int | None:
    """None for the mean of heads, else the 0-based index of 'head k' (1-based, as the user reads it)."""
    if head == MEAN:
        return None
    try:
        k = int(head.removeprefix("head ").strip())
    except ValueError:
        raise ValueError(f"unknown head '{head}': choose '{MEAN}' or 'head 1' … 'head {heads}'") from None
    if not 1 <= k <= heads:
        raise ValueError(f"head {k} does not exist: this tower has heads 1-{heads}")
    return k - 1


def views(shown: Shown, layer: int, head: str, opacity: float) -> tuple:
    """(summary, T×T heatmap, overlay of CLS→patch attention or None, pooled-token bars or None, numbers).

    `layer` is 1-based, as the slider shows it."""
    maps = shown.maps
    layers, heads, tokens, _ = maps.shape
    layer = int(layer)
    if not 1 <= layer <= layers:
        raise ValueError(f"layer {layer} does not exist: this tower has layers 1-{layers}")
    index = head_index(head, heads)
    matrix = maps.map(layer - 1, index)
    row = maps.pooled_row(layer - 1, index)
    which = f"layer {layer}/{layers}, " + ("mean of heads" if index is None else f"head {index + 1}/{heads}")
    heat = figures.attention_heatmap(matrix, maps.labels, title=f"{maps.tower}: {which}", pooled=maps.pooled)
    pooled = maps.labels[maps.pooled]
    overlay = bars = None
    if shown.image is not None and maps.grid is not None:
        from alignment.explain import maps as xm

        patches = maps.patch_map(layer - 1, index)
        overlay = xm.overlay(shown.image, xm.normalize(patches), opacity=opacity, box=shown.box)
        where = (
            f"The overlay is the CLS token's attention over the {maps.grid[0]}×{maps.grid[1]} patches "
            f"({1 - row[0]:.0%} of it; the rest stays on CLS)."
        )
    else:
        bars = figures.token_bars(
            list(zip(maps.labels, row.tolist(), strict=True)),
            title=f"What {figures.plain(pooled)} (pooled into the embedding) reads",
            value_name="attention weight",
        )
        where = f"The bars are the row of `{pooled}`, the token the tower pools into the embedding."
    summary = (
        f"**{maps.tower}** · {which} · {tokens} tokens. Row *i* of the map is what token *i* reads (each row sums "
        f"to 1); the red outline marks the pooled token `{pooled}`. {where}"
    )
    numbers = {
        "tower": maps.tower,
        "layers": layers,
        "heads": heads,
        "layer": layer,
        "head": None if index is None else index + 1,
        "labels": maps.labels,
        "pooled": maps.pooled,
        "pooled_row": np.round(row, 6).tolist(),
        "map": np.round(matrix, 6).tolist() if tokens <= FULL_MAP_MAX_TOKENS else None,
    }
    return summary, heat, overlay, bars, numbers


def head_choices(heads: int) -> list[str]:
    return [MEAN, *[f"head {k}" for k in range(1, heads + 1)]]


@dataclass(frozen=True)
class AttentionSection:
    """The viewer's tower picker, and its run step (so another event can chain it: see ExplainTab.follow)."""

    tower: gr.Radio
    run: Callable[..., tuple]
    inputs: list
    outputs: list


def build_attention_section(
    models: AppModels,
    *,
    visitors: VisitorBox,
    limits: Limits,
    image_text: gr.Textbox,
    image_file: gr.Image,
    audio_text: gr.Textbox,
    opacity: gr.Slider,
    concurrency_id: str,
) -> AttentionSection:
    """Lay out the viewer inside the current Blocks and wire it (api names: attention, attention_view)."""

    def run(
        tower: str,
        text: str,
        path: str | None,
        clap_text: str,
        opacity_value: float,
        visitor_state: Visitor | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple:
        with models.gate.run(visitor_of(visitor_state, request), "these attention maps"):
            encoders = models.get(progress)
            try:
                shown = compute(
                    encoders, tower, image_text=text or "", image_path=path, audio_text=clap_text or "", limits=limits
                )
            except (InputError, ValueError) as exc:
                raise refuse(str(exc)) from None
        try:
            layers, heads = shown.maps.shape[:2]
            out = views(shown, layers, MEAN, opacity_value)
        except ValueError as exc:
            raise refuse(str(exc)) from None
        return (
            shown,
            gr.Slider(minimum=1, maximum=layers, value=layers, step=1, interactive=layers > 1),
            gr.Dropdown(choices=head_choices(heads), value=MEAN),
            *_shown(out),
        )

    def redraw(shown: Shown | None, layer: float, head: str, opacity_value: float) -> tuple:
        if shown is None:
            raise refuse("Show the attention maps first.")
        try:
            return _shown(views(shown, int(layer), head, opacity_value))
        except ValueError as exc:
            raise refuse(str(exc)) from None

    def _shown(out: tuple) -> tuple:
        summary, heat, overlay, bars, numbers = out
        return (
            summary,
            heat,
            gr.Image(value=overlay, visible=overlay is not None),
            gr.Plot(value=bars, visible=bars is not None),
            numbers,
        )

    gr.Markdown(
        "The encoders' own attention, per layer and head, for the item above: the image, or the text of the "
        "pair. Eager attention is switched on for this view only; bulk embedding keeps the fast kernels. The "
        "fusion model's attention weights (which modality carried each fused item) are in the **Fusion** tab."
    )
    with gr.Row():
        tower = gr.Radio(list(TOWERS), value=IMAGE_TOWER, label="Tower", scale=2)
        button = gr.Button("Show attention", scale=0, min_width=180)
    with gr.Row():
        layer = gr.Slider(1, 12, value=12, step=1, label="Layer", interactive=False)  # set by the tower's first run
        head = gr.Dropdown([MEAN], value=MEAN, label="Head", allow_custom_value=True)  # choices follow the tower
    summary = gr.Markdown()
    with gr.Row():
        heat = gr.Plot(label="Attention map")
        with gr.Column():
            overlay = gr.Image(label="CLS → patches", height=360, visible=False)
            bars = gr.Plot(label="Pooled token's attention", visible=False)
    with gr.Accordion("Attention numbers (JSON)", open=False):
        numbers = gr.JSON()
    shown = gr.State(None, time_to_live=models.hosting.session_ttl)  # every layer and head: dropped when idle

    views_out = [summary, heat, overlay, bars, numbers]
    section = AttentionSection(
        tower,
        run,
        [tower, image_text, image_file, audio_text, opacity, visitors.state],
        [shown, layer, head, *views_out],
    )
    button.click(
        run,
        section.inputs,
        section.outputs,
        api_name="attention",
        concurrency_limit=models.hosting.model_jobs,
        concurrency_id=concurrency_id,
    )
    gr.on(
        [layer.release, head.input],  # user moves only: `run` setting them must not redraw twice
        redraw,
        [shown, layer, head, opacity],
        views_out,
        api_name="attention_view",
        trigger_mode="always_last",
    )
    return section
