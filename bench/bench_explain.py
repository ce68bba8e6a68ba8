"""Latency of each explanation method for one pair, on real-size random-weight CLIP ViT-B/32 and CLAP HTSAT.

    .venv/bin/python -m bench.bench_explain [--repeats 3] [--threads N] [--only clip,clap] [--json PATH]

Models: `bench.models.ensure` (cached under .cache/bench-models, built on first use) loaded through
`alignment.models.factory.load_encoder`, as the app loads them. Inputs: the first shared photo (or a random
image), and the first 10 s of the first Clotho recording (or noise): one CLAP model window.

Each row is the median of `repeats` timed calls after one untimed warm-up call, except the rows marked
"once" (the eager view's first build and the faithfulness curves, which re-embed the input per step).
"x embed" divides by the time to embed the pair once (text + image, or text + audio) with the bulk path.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from alignment.explain import audio as xa
from alignment.explain import image as xi
from alignment.explain import maps as xm
from alignment.explain.attention import attention_maps
from alignment.explain.eager import eager_encoder
from alignment.explain.faithfulness import evaluate
from alignment.inputs.audio import Waveform
from alignment.inputs.files import load_files
from alignment.models.encoders import ClapEncoder, ClipEncoder
from alignment.models.factory import load_encoder
from ui.explain.attention import Shown, views

from . import models
from .machine import SHARED, load_average, machine_line, median_time, rss_mb, table, timed

TEXT_IMAGE = "a small bird perched on a branch"
TEXT_AUDIO = "birds chirping in the distance"


def bench_image() -> Image.Image:
    paths = sorted((SHARED / "photos").iterdir()) if (SHARED / "photos").exists() else []
    if paths:
        image = load_files(paths[:1], "image").items[0].payload
        assert isinstance(image, Image.Image)
        return image
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8))


def bench_clip() -> Waveform:
    paths = sorted((SHARED / "clotho_subset" / "audio").glob("*.wav")) if SHARED.exists() else []
    if paths:
        wave = load_files(paths[:1], "audio").items[0].payload
        assert isinstance(wave, Waveform)
        return Waveform(wave.samples[: 10 * wave.sample_rate].copy(), wave.sample_rate)
    return Waveform((0.1 * np.random.default_rng(0).standard_normal(480_000)).astype(np.float32), 48_000)


Row = list[object]


def _row(name: str, what: str, fn: Callable[[], object], *, repeats: int, once: bool = False) -> Row:
    if once:
        seconds, runs = timed(fn), "once"
    else:
        seconds, _ = median_time(fn, repeats=repeats, warmup=1)
        runs = f"median of {repeats}"
    print(f"  {name}: {seconds:.2f} s", flush=True)
    return [name, what, seconds, runs, ""]


def _ratios(rows: list[Row], embed: Row) -> list[Row]:
    """The pair's embedding row first, then every row with its time / the embedding's time."""
    embed[4] = "x1.0"
    for row in rows:
        row[4] = f"x{float(row[2]) / float(embed[2]):.1f}"  # type: ignore[arg-type]
    return [embed, *rows]


def clip_rows(clip: ClipEncoder, *, repeats: int, steps: int, orders: int) -> list[Row]:
    image = bench_image()
    grid = xm.patch_grid(clip.model)

    def embed() -> None:
        with torch.inference_mode():
            clip.encode_image([image])
            clip.encode_text([TEXT_IMAGE])

    rows: list[Row] = []
    before = rss_mb()[0]
    rows.append(
        _row(
            "clip eager view",
            "first use: module copy sharing the weights, set to eager",
            lambda: eager_encoder(clip),
            repeats=repeats,
            once=True,
        )
    )
    rows[-1][1] = f"{rows[-1][1]}; +{rss_mb()[0] - before:.0f} MiB RSS"
    rows.append(
        _row(
            "clip maskclip",
            f"value path of the last layer, {grid[0]}x{grid[1]} map (+ pair cosine)",
            lambda: xi.maskclip(clip, TEXT_IMAGE, image),
            repeats=repeats,
        )
    )
    rows.append(
        _row(
            "clip rollout",
            "eager forward + backward to 12 attention maps, Chefer rollout",
            lambda: xi.rollout(clip, TEXT_IMAGE, image),
            repeats=repeats,
        )
    )
    rows.append(
        _row(
            "clip text gradient",
            "gradient x input on token embeddings",
            lambda: xi.text_relevance(clip, TEXT_IMAGE, image),
            repeats=repeats,
        )
    )
    rows.append(
        _row(
            "clip text rollout",
            "eager text tower, rollout on the end-of-text row",
            lambda: xi.text_relevance(clip, TEXT_IMAGE, image, method="rollout"),
            repeats=repeats,
        )
    )
    rows.append(
        _row(
            "clip attention maps",
            "image: (12, 12, 50, 50) from the eager view",
            lambda: attention_maps(clip, image),
            repeats=repeats,
        )
    )
    shown = Shown(attention_maps(clip, image), image, xi.model_view_box(clip, image.size))
    rows.append(
        _row(
            "clip attention redraw",
            "the viewer's slider: one layer/head -> heatmap figure + CLS overlay",
            lambda: views(shown, 6, "head 3", 0.5),
            repeats=repeats,
        )
    )
    relevance = xi.maskclip(clip, TEXT_IMAGE, image).relevance
    score = xi.image_score(clip, TEXT_IMAGE, image)
    rows.append(
        _row(
            "clip faithfulness",
            f"deletion + insertion, {steps} steps, {orders} random orders, 49 patches",
            lambda: evaluate(score, relevance, n_random=orders, steps=steps),
            repeats=repeats,
            once=True,
        )
    )
    # timed last, when every weight has been paged in (timed first it read 2.9 s instead of 0.3 s here)
    return _ratios(
        rows, _row("clip embed pair", "encode_image + encode_text (SDPA, the bulk path)", embed, repeats=repeats)
    )


def clap_rows(clap: ClapEncoder, *, repeats: int, steps: int, orders: int) -> list[Row]:
    wave = bench_clip()

    def embed() -> None:
        with torch.inference_mode():
            clap.encode_audio([wave])
            clap.encode_text([TEXT_AUDIO])

    rows: list[Row] = []
    starts, _ = xa.window_bounds(clap, wave)
    rows.append(
        _row(
            "clap windows",
            f"{len(starts)} windows of 1 s (hop 0.5 s), repeat-padded to 10 s, + clip",
            lambda: xa.window_similarity(clap, TEXT_AUDIO, wave),
            repeats=repeats,
        )
    )
    rows.append(
        _row(
            "clap mel gradient",
            "forward + backward to the log-mel input (+ silence features)",
            lambda: xa.mel_gradient(clap, TEXT_AUDIO, wave),
            repeats=repeats,
        )
    )
    rows.append(
        _row(
            "clap mel spectrogram", "features for drawing only", lambda: xa.mel_spectrogram(clap, wave), repeats=repeats
        )
    )
    rows.append(
        _row(
            "clap text gradient",
            "gradient x input on token embeddings (byte tokens)",
            lambda: xa.text_relevance(clap, TEXT_AUDIO, wave),
            repeats=repeats,
        )
    )
    rows.append(
        _row(
            "clap attention maps",
            "text: (12, 12, T, T), CLAP is eager already",
            lambda: attention_maps(clap, TEXT_AUDIO),
            repeats=repeats,
        )
    )
    windows = xa.window_similarity(clap, TEXT_AUDIO, wave)
    score = xa.audio_score(clap, TEXT_AUDIO, wave, starts=windows.starts, ends=windows.ends)
    what = f"deletion + insertion, {steps} steps, {orders} random orders, {len(windows.starts)} windows"
    rows.append(
        _row(
            "clap faithfulness",
            what,
            lambda: evaluate(score, windows.relevance, n_random=orders, steps=steps),
            repeats=repeats,
            once=True,
        )
    )
    return _ratios(
        rows,
        _row("clap embed pair", f"encode_audio ({wave.seconds:.0f} s, 1 window) + encode_text", embed, repeats=repeats),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--only", default="clip,clap", help="comma-separated: clip, clap")
    parser.add_argument("--steps", type=int, default=5, help="faithfulness steps (default 5)")
    parser.add_argument("--random-orders", type=int, default=2, help="faithfulness random orders (default 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    print(machine_line(), flush=True)
    load_before = load_average()
    rows: list[Row] = []
    only = set(args.only.split(","))
    if "clip" in only:
        clip = load_encoder("clip", str(models.ensure("clip")), device="cpu")
        rows += clip_rows(clip, repeats=args.repeats, steps=args.steps, orders=args.random_orders)  # type: ignore[arg-type]
    if "clap" in only:
        clap = load_encoder("clap", str(models.ensure("clap")), device="cpu")
        rows += clap_rows(clap, repeats=args.repeats, steps=args.steps, orders=args.random_orders)  # type: ignore[arg-type]
    print(table(["method", "what", "seconds", "runs", "x embed"], rows))
    print(f"load average before {load_before}, after {load_average()}; peak RSS {rss_mb()[1]:.0f} MiB")
    if args.json:
        args.json.write_text(
            json.dumps(
                [dict(zip(["method", "what", "seconds", "runs", "x_embed"], r, strict=True)) for r in rows], indent=2
            )
        )


if __name__ == "__main__":
    main()
