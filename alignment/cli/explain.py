"""`python -m alignment explain --text TEXT (--image PATH | --audio PATH) --out DIR`: relevance maps for one pair.

Writes into --out: ``image_relevance.npy`` (grid_h, grid_w) in [0, 1], or ``time_relevance.npy`` (N, 2) rows of
[time in seconds, relevance in [0, 1]] (window centres for ``windows``, mel frames for ``gradient``);
``overlay.png`` (the heatmap over the image, or the mel spectrogram under the relevance curve); ``tokens.json``
([token, relevance] pairs, gradient x input, signed in [-1, 1]); ``faithfulness.json`` (deletion and insertion
curves against random orders, see alignment.explain.faithfulness). Registered by `alignment.cli` through
`add_subcommand`; the handler follows that module's conventions (returns an exit status, logs to stderr).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..core.files import write_json
from ..core.names import unicode_problem
from ..models.settings import add_arguments, settings_from

IMAGE_METHODS = ("maskclip", "rollout")
AUDIO_METHODS = ("windows", "gradient")


def add_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Add `explain` to the `python -m alignment` sub-commands; returns its parser."""
    parser = subparsers.add_parser(
        "explain",
        help="why a text matches an image or a sound: relevance maps, word relevance, faithfulness",
        description="Explain one (text, image) or (text, audio) pair: image_relevance.npy or time_relevance.npy, "
        "overlay.png, tokens.json and faithfulness.json in --out.",
    )
    parser.add_argument("--text", required=True, help="the text to explain against the image or sound")
    media = parser.add_mutually_exclusive_group(required=True)
    media.add_argument("--image", metavar="PATH", help="an image file (explained with CLIP)")
    media.add_argument("--audio", metavar="PATH", help="an audio file: WAV, FLAC, OGG or MP3 (explained with CLAP)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if absent)")
    parser.add_argument(
        "--method",
        choices=[*IMAGE_METHODS, *AUDIO_METHODS],
        default=None,
        help="image: maskclip (default) or rollout; audio: windows (default) or gradient",
    )
    add_arguments(parser)
    parser.add_argument("--opacity", type=float, default=0.5, help="heatmap opacity over the image, 0-1 (default 0.5)")
    parser.add_argument("--window", type=float, default=1.0, help="audio window in seconds (default 1)")
    parser.add_argument("--hop", type=float, default=0.5, help="audio window hop in seconds (default 0.5)")
    parser.add_argument(
        "--baseline",
        choices=["mean", "blur", "black"],
        default="mean",
        help="what a deleted image patch becomes in faithfulness.json (default: mean colour)",
    )
    parser.add_argument(
        "--steps", type=int, default=10, help="faithfulness: at most this many deletion/insertion steps (default 10)"
    )
    parser.add_argument(
        "--random-orders",
        type=int,
        default=3,
        help="faithfulness: random orders averaged for the baseline curve (default 3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random orders (default 0)")
    parser.add_argument(
        "--no-faithfulness",
        action="store_true",
        help="skip faithfulness.json (it re-embeds the input once per step and order)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser.set_defaults(run=run_explain)
    return parser


# ---------------------------------------------------------------------------- writers


def _write_npy(path: Path, array: np.ndarray) -> None:
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, np.asarray(array, dtype=np.float32))
    os.replace(partial, path)


def _faithfulness(
    score_fn: Callable[[np.ndarray], float], relevance: np.ndarray, args: argparse.Namespace, **about: object
) -> dict:
    from ..explain.faithfulness import evaluate

    curves = evaluate(score_fn, relevance, n_random=args.random_orders, seed=args.seed, steps=args.steps)
    return {**about, **{mode: c.to_json() for mode, c in curves.items()}}


# ---------------------------------------------------------------------------- the two modalities


def _load(role: str, args: argparse.Namespace, log: Callable[[str], None]) -> Any:
    from transformers.utils import logging as hf_logging

    from ..models.factory import load_encoder
    from ..models.runtime import pick_device
    from ..models.settings import default_cache_dir

    hf_logging.disable_progress_bar()
    settings = settings_from(args)
    if settings.precision == "int8":  # token relevance, rollout and gradient maps all backpropagate
        raise ValueError("--precision int8 cannot explain: quantized layers have no gradients; use fp32 or bf16")
    device = pick_device(settings.device)
    root = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    model_id = getattr(settings, role)
    log(f"Loading {role.upper()} {model_id} on {device}")
    return load_encoder(
        role,  # type: ignore[arg-type]
        model_id,
        device=device,
        batch_size=settings.batch_size,
        tiny_root=root / "models",
        precision=settings.precision,
    )


def _media(path: Path, modality: str, args: argparse.Namespace) -> Any:
    """The file through the library's validators (size, format, header limits, decode-time downscaling; audio held
    to the explanation budget), before any model is loaded."""
    from ..inputs.files import load_file
    from ..inputs.items import Named

    limits = settings_from(args).limits
    return load_file(Named(path, str(path)), modality, limits=limits, purpose="explain").payload  # type: ignore[arg-type]


def _explain_image(args: argparse.Namespace, out: Path, log: Callable[[str], None]) -> str:
    from ..explain import image as xi
    from ..explain import maps

    path = Path(args.image)
    method = args.method or "maskclip"
    if method not in IMAGE_METHODS:
        raise ValueError(f"--method {method} is for audio; an image takes {' or '.join(IMAGE_METHODS)}")
    image = _media(path, "image", args)  # EXIF, RGB, limits, at most max_image_side px
    encoder = _load("clip", args, log)
    log(f"Explaining with {method}")
    result = xi.explain(encoder, args.text, image, method=method)  # type: ignore[arg-type]  # checked above
    _write_npy(out / "image_relevance.npy", result.relevance)
    maps.overlay(image, result.relevance, opacity=args.opacity, box=result.box).save(out / "overlay.png")
    write_json(out / "tokens.json", [list(p) for p in xi.text_relevance(encoder, args.text, image).pairs()])
    if not args.no_faithfulness:
        log("Faithfulness: deletion and insertion curves")
        score = xi.image_score(encoder, args.text, image, baseline=args.baseline)
        write_json(
            out / "faithfulness.json",
            _faithfulness(
                score,
                result.relevance,
                args,
                method=method,
                units="patches",
                grid=list(result.grid),
                baseline=args.baseline,
                score=result.score,
            ),
        )
    return f"{method}: cosine {result.score:.4f}, patch grid {result.grid[0]}x{result.grid[1]}"


def _explain_audio(args: argparse.Namespace, out: Path, log: Callable[[str], None]) -> str:
    from ..explain import audio as xa

    path = Path(args.audio)
    method = args.method or "windows"
    if method not in AUDIO_METHODS:
        raise ValueError(f"--method {method} is for images; audio takes {' or '.join(AUDIO_METHODS)}")
    wave = _media(path, "audio", args)  # mono, at most decode_rate, at most max_explain_seconds
    encoder = _load("clap", args, log)
    log(f"Explaining with {method}")
    x = xa.explain(encoder, args.text, wave, method=method, window_seconds=args.window, hop_seconds=args.hop)
    starts, ends, per_window, score = x.starts, x.ends, x.per_window, x.score
    mel, times, curve_t, curve = x.mel, x.times, x.curve_times, x.curve
    _write_npy(out / "time_relevance.npy", np.stack([curve_t, curve], axis=1))
    xa.spectrogram_image(mel, times, curve_t, curve, label=method).save(out / "overlay.png")
    write_json(out / "tokens.json", [list(p) for p in xa.text_relevance(encoder, args.text, wave).pairs()])
    if not args.no_faithfulness:
        log("Faithfulness: deletion and insertion curves (silencing windows)")
        score_fn = xa.audio_score(encoder, args.text, wave, starts=starts, ends=ends)
        write_json(
            out / "faithfulness.json",
            _faithfulness(
                score_fn,
                per_window,
                args,
                method=method,
                units="windows",
                window_seconds=args.window,
                hop_seconds=args.hop,
                windows=np.stack([starts, ends], axis=1).tolist(),
                baseline="silence",
                score=score,
            ),
        )
    return f"{method}: cosine {score:.4f}, {len(curve)} points over {wave.seconds:.2f} s"


def run_explain(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    """Handler of `explain`: checks the arguments before loading a model, writes the four files, returns 0."""
    out = Path(args.out)
    media = Path(args.image or args.audio)
    if not media.exists():
        raise InputError(str(media), "no such file")
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "--out must be a folder, but a file of that name exists")
    if not 0.0 <= args.opacity <= 1.0:
        raise ValueError(f"--opacity must be between 0 and 1 (got {args.opacity})")
    if args.steps < 1 or args.random_orders < 1:
        raise ValueError(f"--steps and --random-orders must be at least 1 (got {args.steps} and {args.random_orders})")
    if args.window <= 0 or args.hop <= 0:
        raise ValueError(f"--window and --hop must be positive (got {args.window} and {args.hop})")
    if not args.text.strip():
        raise ValueError("--text is empty")
    problem = unicode_problem(args.text)  # bytes that are not UTF-8 in argv arrive as lone surrogates
    if problem:
        raise InputError("--text", problem)
    max_chars = settings_from(args).limits.max_text_chars
    if len(args.text.strip()) > max_chars:  # counted as the library counts: stripped
        raise InputError("--text", f"{len(args.text.strip())} characters, over the limit of {max_chars}")
    out.mkdir(parents=True, exist_ok=True)
    summary = (_explain_image if args.image else _explain_audio)(args, out, log)
    print(summary)
    log(f"Wrote {', '.join(sorted(p.name for p in out.iterdir() if not p.name.endswith('.partial')))} in {out}")
    return 0


__all__ = ["add_subcommand", "run_explain"]
