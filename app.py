"""Cross-Modal Alignment Explorer: the Gradio app. It assembles the tabs of `ui/` and wires the one-click hand-offs
between them (a matrix cell or an error to its explanation); every computation is a call into `alignment`.

The page is served before torch, transformers and the models are imported: they load on a background thread,
the bundled example is shown from what an earlier start prepared, and a handler that needs the models waits for
them with a progress bar.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import gradio as gr
from starlette.middleware import Middleware

from alignment.analysis.comparison import Comparison  # at run time: gradio reads the handlers' type hints
from alignment.inputs.limits import Limits
from alignment.models.settings import Settings, add_arguments, settings_from
from ui.assets import ASSETS, bundled_examples
from ui.compare.example import PreparedExample
from ui.compare.projection import opened_pair
from ui.compare.tab import build_compare_tab
from ui.compare.views import picked_pair
from ui.errors.tab import build_errors_tab
from ui.errors.views import explain_pair
from ui.explain.tab import build_explain_tab
from ui.fusion import build_fusion_tab
from ui.hosting import HostSettings
from ui.memory import start_trimming
from ui.models import AppModels
from ui.page_turns import PageTurns
from ui.search.session import Searched, search_pair
from ui.search.tab import build_search_tab
from ui.sessions import use_lean_sessions
from ui.style import CSS, THEME
from ui.visitors import visitor_box
from ui.widgets.projection import ProjectionExplorer
from ui.widgets.text import md

if TYPE_CHECKING:
    from alignment.models.encoders import Encoders

ENCODERS = "encoders"  # concurrency group of the events that run the models


def header_markdown(settings: Settings) -> str:
    text = (
        "# Cross-Modal Alignment Explorer\nHow texts, images and sounds line up in one embedding space, and why a "
        f"model matches the wrong one. Image–text model **{md(settings.clip)}**, audio–text model "
        f"**{md(settings.clap)}**."
    )
    if settings.random_weights:
        text += (
            "\n\n⚠️ **Tiny preset: these models have random weights.** They are here to try the interface; the "
            "scores mean nothing. Run with the default preset for real results."
        )
    return text


def build_demo(settings: Settings, encoders: Encoders | None = None, *, background: bool = True) -> gr.Blocks:
    """The Blocks app. Without `encoders` the models load on a background thread when `background` is set, or when
    a handler first needs them. `main` builds with background=False and calls `demo.start_background()` once the
    server listens: importing torch and transformers on a second thread while the page is built would take the
    GIL from it for seconds."""
    models = AppModels(settings, encoders=encoders)
    use_lean_sessions()  # each visitor's session without gradio's copy of the whole page (ui/sessions.py)
    examples = bundled_examples()
    example = PreparedExample(models, examples[0])
    example.load()  # from an earlier start: shown before the models are loaded

    def start_background() -> None:
        models.start()
        example.prepare_in_background()  # also compiles UMAP, off the visitors' path

    if background:
        start_background()

    # delete_cache: every 30 min, uploads and outputs older than an hour leave gradio's cache (a Space's disk stays
    # bounded; a session's own results live in its state, dropped after ALIGN_SESSION_TTL).
    with gr.Blocks(title="Cross-Modal Alignment Explorer", delete_cache=(1800, 3600)) as demo:
        visitors = visitor_box()
        visitors.attach(demo)
        gr.Markdown(header_markdown(settings), elem_id="app-header")
        if os.environ.get("SPACE_ID"):  # signing in keeps a visitor's tags across browsers (README: Hosting)
            gr.LoginButton(size="sm")
        status = gr.Markdown(models.status_markdown(), elem_id="app-status")
        timer = gr.Timer(1.0, active=not models.ready)
        with gr.Tabs() as tabs:
            with gr.Tab("Compare", id="compare"):
                compare = build_compare_tab(
                    demo, models, visitors=visitors, examples=examples, example=example, concurrency_id=ENCODERS
                )
            with gr.Tab("Search", id="search"):
                search = build_search_tab()
            with gr.Tab("Errors", id="errors"):
                errors = build_errors_tab(
                    models, visitor=visitors.state, example=ASSETS / "paired.csv", concurrency_id=ENCODERS
                )
            with gr.Tab("Explain", id="explain"):
                explain = build_explain_tab(
                    models,
                    visitors=visitors,
                    limits=settings.limits,
                    example_image=ASSETS / "images" / "coffee.jpg",
                    example_audio=ASSETS / "audio" / "siren_sweep.flac",
                    concurrency_id=ENCODERS,
                )
            with gr.Tab("Fusion", id="fusion") as fusion_tab:
                build_fusion_tab(models, tab=fusion_tab, visitors=visitors, concurrency_id=ENCODERS)

        def refresh_status() -> tuple:
            done = models.ready or models.status_markdown().startswith("⚠️")
            return models.status_markdown(), gr.Timer(active=not done)

        search.wire(models, dataset=errors.state, visitor=visitors.state, concurrency_id=ENCODERS)
        timer.tick(refresh_status, outputs=[status, timer], show_progress="hidden", api_visibility="private")

        # One click sends a pair to the Explain tab, switches to it, and explains the pair there.
        to_explain = [*explain.send_outputs, tabs]

        def error_to_explain(explorer: object, number: str) -> tuple:
            return *explain.send(explain_pair(explorer, number)), gr.Tabs(selected="explain")  # type: ignore[arg-type]

        explain.follow(
            errors.explain.click(error_to_explain, [errors.state, errors.number], to_explain, api_name="explain_error")
        )

        def hit_to_explain(searched: Searched | None, evt: gr.SelectData) -> tuple:
            return *explain.send(search_pair(searched, evt)), gr.Tabs(selected="explain")

        explain.follow(search.results.select(hit_to_explain, [search.searched], to_explain, api_visibility="private"))
        for key, matrix in compare.matrices.items():

            def cell_to_explain(comparison: Comparison | None, evt: gr.SelectData, key: str = key) -> tuple:
                return *explain.send(picked_pair(comparison, key, evt)), gr.Tabs(selected="explain")

            explain.follow(matrix.select(cell_to_explain, [compare.compared], to_explain, api_visibility="private"))
        for projection in compare.projections:

            def point_to_explain(evt: gr.EventData, projection: ProjectionExplorer = projection) -> tuple:
                return *explain.send(opened_pair(projection, evt)), gr.Tabs(selected="explain")

            explain.follow(projection.html.open(point_to_explain, None, to_explain, api_visibility="private"))  # type: ignore[attr-defined]
    # A bounded queue: past `queue_size` waiting requests a visitor is told to try again. Quick events (recolouring,
    # tags, redraws) run 8 at a time each; model jobs share `model_jobs` slots and take turns at the model.
    demo.queue(max_size=models.hosting.queue_size, default_concurrency_limit=8)
    demo.start_background = start_background  # type: ignore[attr-defined]
    return demo


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on (host, port) now. SO_REUSEADDR as uvicorn sets it: the connections of a
    server stopped a moment ago (TIME_WAIT, up to a minute) do not keep a restart off its port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def launch_options(hosting: HostSettings | None = None, limits: Limits | None = None) -> dict:
    """What `launch()` needs besides where to listen: the theme and CSS (gradio 6 takes them there); the one folder
    outside gradio's own that it may serve (the bundled examples); uploads refused past the per-file limit before
    they reach a handler; how many sessions stay in memory; pages rendered a couple at a time (ui/page_turns.py);
    and no internals in the page when a bug raises (a visitor's mistake is a gr.Error, shown whatever this says)."""
    hosting = hosting or HostSettings.from_env()
    limits = limits or Limits()
    return {
        "theme": THEME,
        "css": CSS,
        "allowed_paths": [str(ASSETS)],
        "max_file_size": f"{limits.max_file_mb:g}mb",
        "state_session_capacity": hosting.sessions,
        "show_error": False,
        "app_kwargs": {"middleware": [Middleware(PageTurns)]},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Cross-Modal Alignment Explorer")
    add_arguments(parser)
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="load the models, prepare the bundled example for fast starts (beside the cache), and exit",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("alignment.app").setLevel(logging.INFO)  # a user's mistake: one line each
    settings = settings_from(args)
    if args.prepare:
        models = AppModels(settings)
        try:
            encoders = models.get()
        except gr.Error as exc:
            print(exc, file=sys.stderr)
            raise SystemExit(2) from None
        PreparedExample(models, bundled_examples()[0]).prepare(encoders)
        print(f"Prepared the bundled example under {models.root / 'prepared'}")
        return
    hosting = HostSettings.from_env()
    host, port = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    if not port_free(host, port):  # gradio would quietly move to the next port: a second server on the same data
        print(
            f"Port {port} on {host} is in use (is the app already running?). Stop that server, or choose another "
            "port with GRADIO_SERVER_PORT.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    demo = build_demo(settings, background=False)
    demo.launch(
        server_name=host, server_port=port, prevent_thread_lock=True, **launch_options(hosting, settings.limits)
    )
    demo.start_background()  # type: ignore[attr-defined]  # the models and the bundled example, page first
    start_trimming()  # what expired sessions freed goes back to the system, not kept at the crowd's peak
    demo.block_thread()


if __name__ == "__main__":
    main()
