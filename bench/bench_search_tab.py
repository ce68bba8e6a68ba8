"""The Search tab's latency through the app: `/search` over the bundled examples, served with real-size models.

    .venv/bin/python -m bench.bench_search_tab [--repeats 10] [--bridge] [--json out.json]

The app is built with the real-size random checkpoints of bench.models (CLIP ViT-B/32, CLAP HTSAT) on a fresh
embedding cache, launched on a local port, and driven with gradio_client, as a page or an API client would:

1. the first search of a server (text -> images and sounds): the bundled examples are embedded (cache empty);
2. warm text searches (a new text each time, so the query is embedded, never a cache hit);
3. a photo plus words (the photo's embedding cached after its first use, the text new each time);
4. a new k (the quick event: the session's stored query vectors searched again, no model), timed in-process;
5. with --bridge: a sound -> images, whose first use fits the CLAP -> CLIP bridge on 1,000 captions (minutes on
   a CPU), then warm.

Each row gives the server's time (`timing.server_s` in the numbers) and the client's wall time, median and p95.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from .machine import ROOT, machine_line, table

IMAGES = ROOT / "assets" / "images"
SIREN = ROOT / "assets" / "audio" / "siren_sweep.flac"
WORDS = ["at night", "in the rain", "a close-up", "far away", "in black and white", "on a sunny day", "indoors"]
TEXTS = [
    "a dog howling",  # not a bundled caption: a cached query would time nothing
    "an orange spacesuit",
    "a cup on a table",
    "stars in the sky",
    "a man with a camera",
    "a cat asleep",
    "a launch pad",
    "a bell ringing",
    "a busy street",
    "waves on a beach",
    "someone whistling",
    "a kettle boiling",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, server: list[float], wall: list[float]) -> list[object]:
    def ms(values: list[float]) -> str:
        return f"{1000 * statistics.median(values):.0f}" if values else "-"

    return [name, len(server), ms(server), f"{1000 * percentile(server, 0.95):.0f}", ms(wall)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="searches per warm case (default 10)")
    parser.add_argument("--bridge", action="store_true", help="also time sound -> images (fits the bridge first)")
    parser.add_argument("--json", help="write the raw timings here")
    args = parser.parse_args()

    import transformers
    from gradio_client import Client, handle_file

    import app
    from alignment.models.factory import load_encoders
    from alignment.models.settings import settings_for
    from ui.models import AppModels
    from ui.search.tab import Handlers

    from . import models

    transformers.utils.logging.disable_progress_bar()
    print(machine_line())
    settings = settings_for(
        "default",
        clip=str(models.ensure("clip")),
        clap=str(models.ensure("clap")),
        cache_dir=tempfile.mkdtemp(prefix="bench-search-"),
        device="cpu",
    )
    encoders = load_encoders(settings)
    demo = app.build_demo(settings, encoders, background=False)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **app.launch_options())
    client = Client(demo.local_url, verbose=False, download_files=False)
    timings: dict[str, tuple[list[float], list[float]]] = {}

    def search(case: str, text: str, image: Path | None = None, audio: Path | None = None, **kw: object) -> dict:
        targets = kw.get("targets", ["image", "audio"])
        start = time.perf_counter()
        out = client.predict(
            text,
            handle_file(str(image)) if image else None,
            handle_file(str(audio)) if audio else None,
            1.0,
            0.5,
            1.0,
            targets,
            "bundled examples",
            None,
            "auto",
            8,
            "none",
            "best first",
            api_name="/search",
        )
        wall = time.perf_counter() - start
        server, walls = timings.setdefault(case, ([], []))
        server.append(out[-1]["timing"]["server_s"])
        walls.append(wall)
        print(f"  {case}: server {server[-1]:.3f} s, client {wall:.3f} s", flush=True)
        return out[-1]

    try:
        search("first search of a server: text -> images + sounds (examples embedded)", "a siren wailing")
        for text in TEXTS[: args.repeats]:
            search("text -> images + sounds (warm)", text)
        photos = sorted(IMAGES.glob("*.jpg"))
        for n in range(args.repeats):
            search(
                "photo + words -> images (warm)",
                WORDS[n % len(WORDS)] + f" {n}",
                photos[n % len(photos)],
                targets=["image"],
            )
        handlers = Handlers(AppModels(settings, encoders=encoders))
        last = handlers.search(
            "a siren wailing",
            None,
            None,
            1,
            1,
            1,
            ["image", "audio"],
            "bundled examples",
            None,
            "auto",
            8,
            "none",
            "best first",
            None,
            None,
            None,
            None,
            lambda *a, **k: None,
        )[-1]
        quick: list[float] = []
        for k in range(1, args.repeats + 1):
            start = time.perf_counter()
            last = handlers.resize(last, 1 + k % 12, "best first")[-1]
            quick.append(time.perf_counter() - start)
        timings["a new k (quick event, in-process, no model)"] = (quick, [])
        if args.bridge:
            search("sound -> images, first use (fits the bridge)", "", audio=SIREN, targets=["image"])
            for _ in range(args.repeats):
                search("sound -> images (warm)", "", audio=SIREN, targets=["image"])
    finally:
        demo.close()
    headers = ["case", "n", "server median ms", "server p95 ms", "client median ms"]
    print(table(headers, [row(name, *values) for name, values in timings.items()]))
    if args.json:
        Path(args.json).write_text(json.dumps({k: {"server": s, "client": w} for k, (s, w) in timings.items()}))


if __name__ == "__main__":
    main()
