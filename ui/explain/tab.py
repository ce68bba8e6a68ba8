"""The "Explain" tab: where in the image or when in the sound a text's match comes from, and how far to trust it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio.events import Dependency

from alignment.core.errors import InputError
from alignment.inputs.limits import Limits
from ui.explain.attention import CLAP_TEXT_TOWER, IMAGE_TOWER, AttentionSection, build_attention_section
from ui.models import AppModels
from ui.widgets.handoff import Pair


@dataclass
class ExplainTab:
    """The tab's inputs, and how another tab hands it a pair: `send` fills them, `follow` runs the explanation."""

    image_text: gr.Textbox
    image_file: gr.Image
    audio_text: gr.Textbox
    audio_file: gr.Audio
    pending: gr.State  # "image" or "audio": which half `send` filled, for `follow` to run
    attention: AttentionSection
    steps: list[tuple[Callable[..., tuple], list, list]]  # (fn, inputs, outputs): each half's run if it was sent
    concurrency_id: str  # the model runs' group: a chained run waits its turn like a button's

    @property
    def send_outputs(self) -> list:
        return [self.image_text, self.image_file, self.audio_text, self.audio_file, self.attention.tower, self.pending]

    def send(self, pair: Pair) -> tuple:
        """Values for `send_outputs`: the pair in its half of the tab, the attention viewer on its media's tower."""
        if pair.modality == "image":
            return pair.text, pair.path, gr.skip(), gr.skip(), IMAGE_TOWER, "image"
        return gr.skip(), gr.skip(), pair.text, pair.path, CLAP_TEXT_TOWER, "audio"  # HTSAT has no token map

    def stay(self) -> tuple:
        """Values for `send_outputs` that change nothing, and make `follow` run nothing."""
        return (*(gr.skip(),) * (len(self.send_outputs) - 1), None)

    def follow(self, dependency: Dependency) -> None:
        """After `dependency` (an event whose outputs include `send_outputs`) succeeds: explain, then attention."""
        queue = {"api_visibility": "private", "concurrency_limit": 1, "concurrency_id": self.concurrency_id}
        attention = self.attention

        def attention_if_sent(which: str | None, *args: object) -> tuple:
            return attention.run(*args) if which else (gr.skip(),) * len(attention.outputs)

        steps = [*self.steps, (attention_if_sent, [self.pending, *attention.inputs], attention.outputs)]
        for fn, inputs, outputs in steps:
            dependency = dependency.success(fn, inputs, outputs, **queue)


def build_explain_tab(
    models: AppModels, *, limits: Limits, example_image: Path, example_audio: Path, concurrency_id: str
) -> ExplainTab:
    """Lay out the tab inside the current gr.Blocks and wire its events (api names: explain_image, explain_audio,
    attention, attention_view)."""

    def run_image(
        text: str, path: str | None, method: str, opacity: float, progress: gr.Progress = gr.Progress()
    ) -> tuple:
        if not (text or "").strip() or not path:
            raise gr.Error("Give a text and an image to explain.")
        encoders = models.get(progress)
        from ui.explain.views import explain_image_view  # the explanation modules: torch

        try:
            return explain_image_view(encoders, text.strip(), path, method, opacity, limits)
        except (InputError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    def run_audio(text: str, path: str | None, method: str, progress: gr.Progress = gr.Progress()) -> tuple:
        if not (text or "").strip() or not path:
            raise gr.Error("Give a text and an audio clip to explain.")
        encoders = models.get(progress)
        from ui.explain.views import explain_audio_view  # the explanation modules: torch

        try:
            return explain_audio_view(encoders, text.strip(), path, method, limits)
        except (InputError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    # One step per half, so only the half that `ExplainTab.send` filled shows a progress bar.
    def image_if_sent(
        which: str, text: str, path: str | None, method: str, opacity: float, progress: gr.Progress = gr.Progress()
    ) -> tuple:
        return run_image(text, path, method, opacity, progress) if which == "image" else (gr.skip(),) * 5

    def audio_if_sent(
        which: str, text: str, path: str | None, method: str, progress: gr.Progress = gr.Progress()
    ) -> tuple:
        return run_audio(text, path, method, progress) if which == "audio" else (gr.skip(),) * 5

    gr.Markdown(
        "Why does this text match this image, or this sound? Each map comes with deletion and insertion "
        "curves: remove (or add) the most relevant patches or time windows first and watch the score, "
        "against random orders. A positive area between the curves means the explanation deserves trust. "
        "Click any cell of a similarity matrix in **Compare**, or an error's **explain →** cell in **Alignment "
        "errors**, to bring a pair here and explain it."
    )
    with gr.Accordion("Text × image", open=True):
        with gr.Row():
            with gr.Column():
                image_text = gr.Textbox(label="Text", value="a cup of coffee on a wooden table")
                image_file = gr.Image(label="Image", type="filepath", value=str(example_image), height=260)
                image_method = gr.Radio(
                    ["maskclip", "rollout"],
                    value="maskclip",
                    label="Method",
                    info="maskclip: patch-text similarity (fast) · rollout: gradient-weighted "
                    "attention rollout (Chefer et al.)",
                )
                opacity = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Overlay opacity")
                image_button = gr.Button("Explain the image", variant="primary")
            with gr.Column():
                image_summary = gr.Markdown()
                image_overlay = gr.Image(label="Relevance over the image", height=360)
        with gr.Row():
            image_tokens = gr.Plot(label="Words")
            image_faith = gr.Plot(label="Faithfulness")
        with gr.Accordion("Numbers (JSON)", open=False):
            image_numbers = gr.JSON()
    with gr.Accordion("Text × audio", open=True):
        with gr.Row():
            with gr.Column():
                audio_text = gr.Textbox(label="Text", value="a siren wailing")
                audio_file = gr.Audio(label="Audio", type="filepath", value=str(example_audio))
                audio_method = gr.Radio(
                    ["windows", "gradient"],
                    value="gradient",
                    label="Method",
                    info="windows: similarity of 1 s sliding windows · gradient: gradient × "
                    "input on the mel spectrogram",
                )
                audio_button = gr.Button("Explain the sound", variant="primary")
            with gr.Column():
                audio_summary = gr.Markdown()
                audio_picture = gr.Image(label="Relevance over time on the mel spectrogram", height=300)
        with gr.Row():
            audio_tokens = gr.Plot(label="Words")
            audio_faith = gr.Plot(label="Faithfulness")
        with gr.Accordion("Numbers (JSON)", open=False):
            audio_numbers = gr.JSON()
    with gr.Accordion("Attention maps per layer and head", open=True):
        attention = build_attention_section(
            models,
            limits=limits,
            image_text=image_text,
            image_file=image_file,
            audio_text=audio_text,
            opacity=opacity,
            concurrency_id=concurrency_id,
        )

    image_inputs = [image_text, image_file, image_method, opacity]
    image_outputs = [image_summary, image_overlay, image_tokens, image_faith, image_numbers]
    audio_inputs = [audio_text, audio_file, audio_method]
    audio_outputs = [audio_summary, audio_picture, audio_tokens, audio_faith, audio_numbers]
    image_button.click(
        run_image,
        image_inputs,
        image_outputs,
        api_name="explain_image",
        concurrency_limit=1,
        concurrency_id=concurrency_id,
    )
    audio_button.click(
        run_audio,
        audio_inputs,
        audio_outputs,
        api_name="explain_audio",
        concurrency_limit=1,
        concurrency_id=concurrency_id,
    )
    pending = gr.State(None)
    return ExplainTab(
        image_text,
        image_file,
        audio_text,
        audio_file,
        pending,
        attention,
        [
            (image_if_sent, [pending, *image_inputs], image_outputs),
            (audio_if_sent, [pending, *audio_inputs], audio_outputs),
        ],
        concurrency_id,
    )
