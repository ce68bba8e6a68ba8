"""A user's mistake (an unreadable upload, a missing choice) as one message: a toast in the page and one line in the
terminal, never a traceback (those are for bugs) and never an error badge on every output (the CSS in ui/style.py
hides the badges; the toast says it once)."""

from __future__ import annotations

import logging

import gradio as gr

log = logging.getLogger("alignment.app")


def refuse(message: str, *, title: str = "Not possible") -> gr.Error:
    """The gr.Error to raise for `message`; logged as one line."""
    log.info("%s: %s", title, " ".join(str(message).split()))
    return gr.Error(message, title=title, print_exception=False)
