"""The Errors tab's open error: its number, both sides and the top wrong match as media, the query's neighbours,
the tag and note to save, "explain →", and where the error sits (layout only; ui/errors/views.py fills it)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from alignment.store.tags import TAGS


@dataclass(frozen=True)
class DetailPane:
    number: gr.Textbox  # the open error's number (typed, or set by the grid, a point or the worst error)
    head: gr.Markdown
    panes: list  # per role (query, truth, top wrong match): a title, an image and a player
    near: gr.Dataframe
    tag: gr.Dropdown
    note: gr.Textbox
    save: gr.Button
    explain: gr.Button
    saved: gr.Markdown
    where: gr.Plot

    @property
    def outputs(self) -> list:
        """What `views.detail` returns, in order."""
        return [self.head, *self.panes, self.near, self.where, self.tag, self.note]


def detail_pane() -> DetailPane:
    """Lay the pane out inside the current gr.Blocks."""
    with gr.Column(elem_id="error-detail"):
        number = gr.Textbox(label="Open error # (the grid's open, Enter, or a click on a point)", max_lines=1)
        head = gr.Markdown(elem_id="error-head")
        with gr.Row(equal_height=False, elem_classes="stack-narrow"):
            panes = []
            for role in ("Query", "Truth", "Top wrong match"):
                with gr.Column(min_width=220):
                    panes += [
                        gr.Markdown(f"**{role}**"),
                        gr.Image(label=role, visible=False, height=220),
                        gr.Audio(label=role, visible=False),
                    ]
        with gr.Row(equal_height=False, elem_classes="stack-narrow"):
            near = gr.Dataframe(
                label="Nearest neighbours of the query",
                headers=["rank", "item", "cosine", "true match"],
                interactive=False,
            )
            with gr.Column():
                tag = gr.Dropdown(
                    list(TAGS),
                    value=None,
                    allow_custom_value=True,
                    label="Tag this error",
                    info="one of four, or type your own",
                )
                note = gr.Textbox(label="Note", lines=2)
                save = gr.Button("Save tag", variant="primary")
                explain = gr.Button("Explain this pair (text vs image or sound) →")
                saved = gr.Markdown()
        where = gr.Plot(label="Where the error sits")
    return DetailPane(number, head, panes, near, tag, note, save, explain, saved, where)
