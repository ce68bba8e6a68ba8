"""The "Explain" tab: where in the image or when in the sound a text's match comes from, and how far to trust it.

Three sub-tabs: text × image, text × audio, and the encoders' attention. A pair sent from another tab opens its
sub-tab, clears what an earlier pair showed (never a stale result beside a new pair), and is explained there:
the map and the words first, in seconds, then the faithfulness check, whose expected time is shown while it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio.events import Dependency

from alignment.core.errors import InputError
from alignment.inputs.limits import Limits
from ui.explain.attention import CLAP_TEXT_TOWER, IMAGE_TOWER, AttentionSection, build_attention_section
from ui.models import AppModels
from ui.visitors import Visitor, VisitorBox, visitor_of
from ui.widgets.audio_map import audio_map_component
from ui.widgets.audio_map import message_html as audio_message
from ui.widgets.errors import refuse
from ui.widgets.handoff import Pair

INTRO = (
    "Why does this text match this image, or this sound? The map shows where (or when) the match comes from, the "
    "bars which words drive it, and the faithfulness check how far to trust the map: remove the most relevant parts "
    "first and the score should fall faster than when parts are removed at random. Click any cell of a matrix in "
    "**Compare**, or an error's **explain →** cell in **Errors**, to bring a pair here."
)


# Run in the browser as a sent pair opens: bring the Explain tab's sub-tabs (and the pair's summary under them)
# into view, wherever the page was scrolled to when the cell or the error was clicked.
SCROLL_TO_PAIR = """(...args) => {
  document.querySelector('#explain-halves')?.scrollIntoView({block: 'start'});
  return args;
}"""


@dataclass
class Half:
    """One sub-tab's outputs: what `send` clears and each run fills, in the order the run returns them."""

    summary: gr.Markdown
    picture: gr.components.Component  # the overlay image, or the audio map
    words: gr.Plot
    faith: gr.Plot
    numbers: gr.JSON

    @property
    def outputs(self) -> list:
        return [self.summary, self.picture, self.words, self.faith, self.numbers]


@dataclass
class ExplainTab:
    """The tab's inputs, and how another tab hands it a pair: `send` fills them, `follow` runs the explanation."""

    image_text: gr.Textbox
    image_file: gr.File
    audio_text: gr.Textbox
    audio_file: gr.File
    pending: gr.State  # "image" or "audio": which half `send` filled, for `follow` to run
    attention: AttentionSection
    halves: gr.Tabs
    image: Half
    audio: Half
    steps: list[tuple[Callable[..., object], list, list]]  # (fn, inputs, outputs): each half's run if it was sent
    concurrency_id: str  # the model runs' group: a chained run waits its turn like a button's
    model_jobs: int  # that group's limit (HostSettings.model_jobs)

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
        """After `dependency` (an event whose outputs include `send_outputs`) succeeds: open the pair's sub-tab and
        clear it (at once, outside the models' queue), explain the pair, then show the attention."""
        queue = {
            "api_visibility": "private",
            "concurrency_limit": self.model_jobs,
            "concurrency_id": self.concurrency_id,
        }
        attention = self.attention
        cleared = [self.halves, *self.image.outputs, *self.audio.outputs]

        def open_and_clear(which: str | None, image_text: str, image_path: str, audio_text: str, audio_path: str):
            if which not in ("image", "audio"):
                return (gr.skip(),) * len(cleared)
            text, path = (image_text, image_path) if which == "image" else (audio_text, audio_path)
            waiting = _waiting(text, path, which)
            fresh = (waiting, None if which == "image" else audio_message("Computing…"), None, None, None)
            skip = (gr.skip(),) * 5
            return (
                gr.Tabs(selected=which),
                *(fresh if which == "image" else skip),
                *(fresh if which == "audio" else skip),
            )

        inputs = [self.pending, self.image_text, self.image_file, self.audio_text, self.audio_file]
        dependency = dependency.success(
            open_and_clear, inputs, cleared, api_visibility="private", queue=False, js=SCROLL_TO_PAIR
        )
        # Again once the cleared halves are drawn: on a phone the tab switch reflows the page after the first scroll.
        dependency = dependency.success(None, None, None, js=SCROLL_TO_PAIR, queue=False, api_visibility="private")

        def attention_if_sent(
            which: str | None,
            tower: str,
            text: str,
            path: str | None,
            clap_text: str,
            opacity: float,
            visitor_state: Visitor | None,
            request: gr.Request,
            progress: gr.Progress = gr.Progress(),
        ) -> tuple:
            if not which:
                return (gr.skip(),) * len(attention.outputs)
            return attention.run(tower, text, path, clap_text, opacity, visitor_state, request, progress)

        steps = [*self.steps, (attention_if_sent, [self.pending, *attention.inputs], attention.outputs)]
        for fn, step_inputs, outputs in steps:
            dependency = dependency.success(fn, step_inputs, outputs, **queue)


def _name(path: str | None) -> str:
    return Path(path).name if path else "?"


def _waiting(text: str, path: str | None, which: str) -> str:
    from ui.widgets.text import md  # light; kept beside its only use

    noun = "image" if which == "image" else "sound"
    return f"**Explaining** “{md(text)}” × {md(_name(path))} ({noun}) — computing the map…"


def build_explain_tab(
    models: AppModels,
    *,
    visitors: VisitorBox,
    limits: Limits,
    example_image: Path,
    example_audio: Path,
    concurrency_id: str,
) -> ExplainTab:
    """Lay out the tab inside the current gr.Blocks and wire its events (api names: explain_image, explain_audio,
    attention, attention_view)."""

    def needs_gradients() -> None:
        if models.settings.precision == "int8":
            raise refuse(
                "Explanations follow gradients, which int8 (quantized) models do not have: start the app with "
                "--precision fp32 or bf16 to explain.",
                title="The explanation did not run",
            )

    def character_level(encoder: object) -> bool:
        return len(encoder.tokenizer) < 1_000  # byte-level vocab, no merges: tiny

    def run_pair(
        which: str,
        text: str,
        path: str | None,
        method: str,
        opacity: float,
        visitor_state: Visitor | None,
        request: gr.Request,
        progress: gr.Progress,
    ) -> Iterator[tuple]:
        """Explain one text × image (`which` = "image") or text × sound pair: the map and the words first, then
        the faithfulness check that says how far to trust them (its expected time stated while it runs)."""
        noun = "an image" if which == "image" else "an audio clip"
        if not (text or "").strip() or not path:
            raise refuse(f"Give a text and {noun} to explain.")
        needs_gradients()
        text = text.strip()
        visitor = visitor_of(visitor_state, request)
        with models.gate.run(visitor, "this explanation"):
            encoders = models.get(progress)
            from ui.explain import views  # the explanation modules: torch

            compute = views.image_map if which == "image" else views.audio_map
            progress(
                0.1,
                desc="Computing the relevance map"
                if which == "image"
                else "Computing when in the sound the match comes from",
            )
            try:
                shown = compute(encoders, text, path, method, limits, opacity=opacity)
            except (InputError, ValueError, OSError) as exc:
                raise refuse(str(exc), title="The explanation did not run") from None
        note = f"{shown.note}\n\n" if shown.note else ""
        score = shown.scorer(encoders, text)
        passes, expected = views.estimate(score, shown.relevance)
        tower = encoders.clip if which == "image" else encoders.clap
        words = views.words_figure(shown.tokens, character_level=character_level(tower))
        trusted = "map" if which == "image" else "curve"
        yield (
            f"{shown.head}\n\n{note}Checking how far to trust the {trusted}: about {expected:.0f} s "
            f"({passes} forward passes)…",
            shown.picture,
            words,
            views.faithfulness_figure(None, units=shown.units),
            shown.numbers(method, None),
        )
        progress(0.5, desc=f"Faithfulness check (about {expected:.0f} s)")
        with models.gate.run(visitor, "this faithfulness check"):
            curves = views.check(score, shown.relevance)
        areas = f"deletion area {curves['deletion']['area']:+.3f}, insertion area {curves['insertion']['area']:+.3f}"
        yield (
            f"{shown.head} · {areas}\n\n{note}{views.faithfulness_words(curves, units=shown.units)}",
            shown.picture,
            words,
            views.faithfulness_figure(curves, units=shown.units),
            shown.numbers(method, curves),
        )

    def run_image(
        text: str,
        path: str | None,
        method: str,
        opacity: float,
        visitor_state: Visitor | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> Iterator[tuple]:
        yield from run_pair("image", text, path, method, opacity, visitor_state, request, progress)

    def run_audio(
        text: str,
        path: str | None,
        method: str,
        visitor_state: Visitor | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> Iterator[tuple]:
        yield from run_pair("audio", text, path, method, 0.0, visitor_state, request, progress)

    # One step per half, so only the half that `ExplainTab.send` filled shows a progress bar.
    def image_if_sent(
        which: str,
        text: str,
        path: str | None,
        method: str,
        opacity: float,
        visitor_state: Visitor | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> Iterator[tuple]:
        if which == "image":
            yield from run_image(text, path, method, opacity, visitor_state, request, progress)
        else:
            yield (gr.skip(),) * 5

    def audio_if_sent(
        which: str,
        text: str,
        path: str | None,
        method: str,
        visitor_state: Visitor | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> Iterator[tuple]:
        if which == "audio":
            yield from run_audio(text, path, method, visitor_state, request, progress)
        else:
            yield (gr.skip(),) * 5

    gr.Markdown(INTRO)
    with gr.Tabs(elem_id="explain-halves") as halves:
        with gr.Tab("Text × image", id="image"):
            image_summary = gr.Markdown("Give a text and an image, then press **Explain the image**.")
            with gr.Row(equal_height=False, elem_classes="stack-narrow"):
                image_overlay = gr.Image(label="Relevance over the image", height=420, scale=3, min_width=300)
                with gr.Column(scale=2, min_width=300):
                    image_text = gr.Textbox(label="Text", value="a cup of coffee on a wooden table")
                    image_file = gr.File(
                        label="Image (PNG, JPEG, BMP, WebP, GIF)", file_types=["image"], value=str(example_image)
                    )
                    image_method = gr.Radio(
                        ["maskclip", "rollout"],
                        value="maskclip",
                        label="Method",
                        info="maskclip: how similar each patch is to the text (fast) · rollout: the attention "
                        "that carries the match through the layers (Chefer et al.)",
                    )
                    opacity = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Overlay opacity")
                    image_button = gr.Button("Explain the image", variant="primary")
            with gr.Row(elem_classes="stack-narrow"):
                image_tokens = gr.Plot(label="Words", min_width=300)
                image_faith = gr.Plot(label="Faithfulness", min_width=300)
            with gr.Accordion("Numbers (JSON)", open=False):
                image_numbers = gr.JSON()
        with gr.Tab("Text × audio", id="audio"):
            audio_summary = gr.Markdown("Give a text and a sound, then press **Explain the sound**.")
            with gr.Row(equal_height=False, elem_classes="stack-narrow"):
                audio_picture = audio_map_component(elem_id="explain-audio-map")
                with gr.Column(min_width=300):
                    audio_text = gr.Textbox(label="Text", value="a siren wailing")
                    audio_file = gr.File(
                        label="Sound (WAV, FLAC, OGG, MP3)",
                        file_types=[".wav", ".flac", ".ogg", ".oga", ".mp3"],
                        value=str(example_audio),
                    )
                    audio_method = gr.Radio(
                        ["windows", "gradient"],
                        value="gradient",
                        label="Method",
                        info="gradient: which moments of the spectrogram move the score (fast) · windows: the "
                        "similarity of each 1 s slice to the text (one pass per slice)",
                    )
                    audio_button = gr.Button("Explain the sound", variant="primary")
            with gr.Row(elem_classes="stack-narrow"):
                audio_tokens = gr.Plot(label="Words", min_width=300)
                audio_faith = gr.Plot(label="Faithfulness", min_width=300)
            with gr.Accordion("Numbers (JSON)", open=False):
                audio_numbers = gr.JSON()
        with gr.Tab("Attention", id="attention"):
            attention = build_attention_section(
                models,
                visitors=visitors,
                limits=limits,
                image_text=image_text,
                image_file=image_file,
                audio_text=audio_text,
                opacity=opacity,
                concurrency_id=concurrency_id,
            )

    image = Half(image_summary, image_overlay, image_tokens, image_faith, image_numbers)
    audio = Half(audio_summary, audio_picture, audio_tokens, audio_faith, audio_numbers)
    image_inputs = [image_text, image_file, image_method, opacity, visitors.state]
    audio_inputs = [audio_text, audio_file, audio_method, visitors.state]
    image_button.click(
        run_image,
        image_inputs,
        image.outputs,
        api_name="explain_image",
        concurrency_limit=models.hosting.model_jobs,
        concurrency_id=concurrency_id,
    )
    audio_button.click(
        run_audio,
        audio_inputs,
        audio.outputs,
        api_name="explain_audio",
        concurrency_limit=models.hosting.model_jobs,
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
        halves,
        image,
        audio,
        [
            (image_if_sent, [pending, *image_inputs], image.outputs),
            (audio_if_sent, [pending, *audio_inputs], audio.outputs),
        ],
        concurrency_id,
        models.hosting.model_jobs,
    )
