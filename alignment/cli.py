"""Batch command line: `python -m alignment evaluate SOURCE --out DIR` -> metrics.json, errors.csv, report.html.

A reader (`alignment.sources`: a manifest, folder or zip through the towers it needs, or precomputed
embeddings with no model at all), the library's `evaluate`, and three writers. Progress and skipped inputs
go to stderr, a one-line summary per direction to stdout; bad input ends with exit status 1 and one
`error: ...` line on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings, add_arguments, settings_from
from .errors import InputError, ModelUnavailableError
from .evaluate import ErrorRow, Evaluation, evaluate
from .metrics import TEMPLATES
from .sources import Source, is_embeddings, read_dataset, read_embeddings

if TYPE_CHECKING:  # torch and transformers load only when a model is needed
    from .encoders import Encoders

ERROR_COLUMNS = (
    "direction",
    "space",
    "query",
    "query_modality",
    "truth",
    "truth_score",
    "top",
    "top_score",
    "rank",
    "margin",
)


class Log:
    """Progress lines on stderr (silenced by --quiet); skipped inputs are always shown."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def progress(self, fraction: float, message: str) -> None:
        self(f"[{fraction:4.0%}] {message}")

    def skipped(self, problem: str) -> None:
        print(f"skipped: {problem}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- models


def load_models(settings: Settings, present: Collection[str], log: Log) -> tuple[Encoders, dict]:
    """Only the towers the data needs: CLIP for text + image, CLAP for text + audio (the other stays None)."""
    from transformers.utils import logging as hf_logging

    from .encoders import Encoders, Role, default_cache_dir, load_encoder
    from .runtime import pick_device

    hf_logging.disable_progress_bar()  # "Loading weights" bars would drown the progress lines
    device = pick_device(settings.device)
    root = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    towers: dict[str, object] = {"clip": None, "clap": None}
    pairs: tuple[tuple[Role, str], ...] = (("clip", "image"), ("clap", "audio"))
    for role, other in pairs:
        if "text" in present and other in present:
            model_id = getattr(settings, role)
            log(f"Loading {role.upper()} {model_id} on {device}")
            towers[role] = load_encoder(
                role,
                model_id,
                device=device,
                batch_size=settings.batch_size,  # type: ignore[arg-type]
                tiny_root=root / "models",
            )
    models: dict = {"loaded": True, "preset": settings.preset}
    for name, encoder in towers.items():
        models[name] = getattr(encoder, "model_id", None)
        models[f"{name}_revision"] = getattr(encoder, "revision", None)
    loaded = [e for e in towers.values() if e is not None]
    models["device"] = str(device)
    models["dtype"] = str(getattr(loaded[0], "dtype", "")).replace("torch.", "") if loaded else None
    models["random_weights"] = any(getattr(e, "model_id", None) == "tiny" for e in loaded)
    return Encoders(towers["clip"], towers["clap"]), models  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- writers


def metrics_json(evaluation: Evaluation, source: Source) -> dict:
    """`Evaluation.to_json()` plus the dataset, models and problems blocks."""
    return {**evaluation.to_json(), "dataset": source.dataset, "models": source.models, "problems": source.problems}


def _finite(value: object) -> object:
    """NaN and infinities -> None, so metrics.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path, content: object) -> None:
    """Strict JSON (NaN and infinities as null), written atomically."""
    _atomic_text(path, json.dumps(_finite(content), indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_errors_csv(path: Path, errors: Sequence[ErrorRow]) -> None:
    """One row per error, in `Evaluation.errors` order; floats as Python writes them (round-trip exact)."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(ERROR_COLUMNS)
        for e in errors:
            writer.writerow([getattr(e, column) for column in ERROR_COLUMNS])
    os.replace(partial, path)


def _atomic_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def summary(evaluation: Evaluation) -> str:
    """One line per direction: R@1, R@5, R@10, MRR and the number of queries."""
    lines = []
    for name, d in evaluation.directions.items():
        m = d.metrics
        lines.append(
            f"{name:<14} R@1 {m.r1:.3f}  R@5 {m.r5:.3f}  R@10 {m.r10:.3f}  MRR {m.mrr:.3f}  "
            f"median rank {m.median_rank:g}  ({m.n_queries} queries, {d.space} space)"
        )
    lines.append(f"{len(evaluation.errors)} errors")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- commands


def _read_dataset(path: Path, settings: Settings, *, on_error: str, use_cache: bool, log: Log) -> Source:
    """`sources.read_dataset` with the CLI's model loading, cache and logging; skipped inputs are listed."""
    from .cache import EmbeddingCache
    from .encoders import default_cache_dir

    cache = EmbeddingCache(Path(settings.cache_dir or default_cache_dir()) / "embeddings") if use_cache else None
    source = read_dataset(
        path,
        lambda present: load_models(settings, present, log),
        limits=settings.limits,
        on_error=on_error,
        cache=cache,
        progress=log.progress,
    )
    for problem in source.problems:
        log.skipped(problem)
    for note in source.dataset.get("notes", []):
        log(f"note: {note}")
    return source


def _templates(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    templates = dict(TEMPLATES)
    for modality in ("image", "audio"):
        given = getattr(args, f"templates_{modality}")
        if given:
            missing = [t for t in given if "{}" not in t]
            if missing:
                raise ValueError(
                    f"--templates-{modality}: every template needs a '{{}}' where the class name goes (got {missing})"
                )
            templates[modality] = tuple(given)
    return templates


def run_evaluate(args: argparse.Namespace, log: Log) -> int:
    """Read SOURCE, evaluate it, write metrics.json, errors.csv and report.html into --out."""
    from .report import write_report

    source_path, out = Path(args.source), Path(args.out)
    templates = _templates(args)  # checked before any model is loaded
    if not source_path.exists():
        raise InputError(str(source_path), "no such file or folder")
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "--out must be a folder, but a file of that name exists")
    if is_embeddings(source_path):
        log(f"Reading precomputed embeddings {source_path.name} (no model is loaded)")
        source = read_embeddings(source_path)
    else:
        source = _read_dataset(
            source_path, settings_from(args), on_error=args.on_error, use_cache=not args.no_cache, log=log
        )
    evaluation = evaluate(source.spaces, embed_text=source.embed_text, templates=templates, progress=log.progress)
    for note in evaluation.notes:
        log(f"note: {note}")

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics_json(evaluation, source))
    write_errors_csv(out / "errors.csv", evaluation.errors)
    write_report(
        out / "report.html",
        evaluation,
        title=f"Alignment report: {source.dataset['name']}",
        dataset=source.dataset,
        models=source.models,
        problems=source.problems,
    )
    print(summary(evaluation))
    log(f"Wrote {out / 'metrics.json'}, {out / 'errors.csv'} and {out / 'report.html'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m alignment", description="Cross-Modal Alignment Explorer, batch mode"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    ev = commands.add_parser(
        "evaluate",
        help="retrieval metrics, errors and an HTML report for a paired dataset",
        description="Evaluate a paired dataset: metrics.json, errors.csv and report.html in --out.",
    )
    ev.add_argument(
        "source",
        metavar="SOURCE",
        help="manifest (.csv/.jsonl), folder or .zip holding one, or precomputed embeddings "
        "(.npz/.safetensors: no model is loaded)",
    )
    ev.add_argument("--out", required=True, metavar="DIR", help="output folder (created if absent)")
    add_arguments(ev)
    ev.add_argument(
        "--on-error",
        choices=["skip", "stop"],
        default="skip",
        help="a bad manifest row or undecodable file: skip it (listed on stderr and in metrics.json) "
        "or stop with an error (default: skip)",
    )
    ev.add_argument(
        "--templates-image",
        nargs="+",
        metavar="TEMPLATE",
        help="zero-shot prompt templates for image labels, '{}' = the class; give SOURCE before "
        f"this option (default: {TEMPLATES['image']})",
    )
    ev.add_argument(
        "--templates-audio",
        nargs="+",
        metavar="TEMPLATE",
        help=f"zero-shot prompt templates for audio labels (default: {TEMPLATES['audio']})",
    )
    ev.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    ev.add_argument("-q", "--quiet", action="store_true", help="no progress lines (skipped inputs are still listed)")
    ev.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    ev.set_defaults(run=run_evaluate)
    from .cli_explain import add_subcommand  # explain
    from .cli_models import add_subcommands  # bridge fit|apply, fusion train|apply

    add_subcommands(commands)
    add_subcommand(commands)
    return parser


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m alignment`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args, Log(quiet=args.quiet))
    except (InputError, ValueError, ModelUnavailableError, OSError) as exc:
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
