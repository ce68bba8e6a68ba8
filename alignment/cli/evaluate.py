"""`python -m alignment evaluate SOURCE --out DIR`: metrics.json, errors.csv and report.html for a paired dataset.

A reader (`alignment.models.sources`: a manifest, folder or zip through the towers it needs, or precomputed
embeddings with no model at all), the library's `evaluate`, and three writers. Progress and skipped inputs
go to stderr, a one-line summary per direction to stdout.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..analysis.evaluate import ErrorRow, Evaluation, QueryBank, evaluate
from ..analysis.hubness_correction import METHODS
from ..analysis.prompts import TEMPLATES
from ..core.errors import InputError
from ..core.files import atomic_write_text, write_json
from ..core.hygiene import csv_text
from ..inputs.embeddings import load_embeddings
from ..inputs.text import read_captions
from ..models.settings import Settings, add_arguments, settings_from
from ..models.sources import PRECOMPUTED_SPACE, Source, is_embeddings, read_dataset, read_embeddings
from .common import Log, load_models

CORPUS = Path(__file__).resolve().parents[2] / "assets" / "corpus" / "captions.txt"  # the bundled 5,200 captions
CPU_BANK = 1_000  # captions of the default bank on CPU: the real text towers embed ~3-13 captions/s there
EMBEDDED_BANK_FOR_MANIFEST = (
    "--query-bank embeddings go with precomputed embeddings (their vectors name no model); "
    "for a manifest give captions (.txt), embedded by the dataset's own text towers"
)
BANK_FOR_EMBEDDINGS = (
    "--hubness qbnorm on precomputed embeddings needs --query-bank FILE: queries embedded by the same "
    "model (.npz/.safetensors); there is no text tower to embed captions with"
)

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


# ---------------------------------------------------------------------------- writers


def metrics_json(evaluation: Evaluation, source: Source) -> dict:
    """`Evaluation.to_json()` plus the dataset, models and problems blocks."""
    return {**evaluation.to_json(), "dataset": source.dataset, "models": source.models, "problems": source.problems}


def write_errors_csv(path: Path, errors: Sequence[ErrorRow]) -> None:
    """One row per error, in `Evaluation.errors` order; floats as Python writes them (round-trip exact); ids that
    a spreadsheet would run as formulas (= + - @ tab CR) get a leading quote (`core.hygiene.csv_cell`)."""
    rows = ([getattr(e, column) for column in ERROR_COLUMNS] for e in errors)
    atomic_write_text(path, csv_text(ERROR_COLUMNS, rows))


def summary(evaluation: Evaluation) -> str:
    """One line per direction: R@1, R@5, R@10, MRR and the number of queries; then a correction's effect."""
    lines = []
    for name, d in evaluation.directions.items():
        m = d.metrics
        lines.append(
            f"{name:<14} R@1 {m.r1:.3f}  R@5 {m.r5:.3f}  R@10 {m.r10:.3f}  MRR {m.mrr:.3f}  "
            f"median rank {m.median_rank:g}  ({m.n_queries} queries, {d.space} space)"
        )
    lines.append(f"{len(evaluation.errors)} errors")
    for name, d in evaluation.directions.items():
        c = d.corrected
        if c is None:
            continue
        lines.append(
            f"{name:<14} {c.method}: R@1 {d.metrics.r1:.3f} -> {c.metrics.r1:.3f}  MRR {d.metrics.mrr:.3f} -> "
            f"{c.metrics.mrr:.3f}  hub skew {d.hubness.skewness:.2f} -> {c.hubness.skewness:.2f}  "
            f"({len(c.fixed)} errors fixed, {len(c.created)} created)"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- commands


def _read_dataset(path: Path, settings: Settings, *, on_error: str, use_cache: bool, budgets: bool, log: Log) -> Source:
    """`sources.read_dataset` with the CLI's model loading, cache and logging; skipped inputs are listed."""
    from ..models.cache import EmbeddingCache
    from ..models.settings import default_cache_dir

    limits = settings.limits
    if not budgets:  # a trusted batch run: per-file limits stay, the request-wide totals for a shared server go
        limits = replace(limits, max_total_pixels=2**62, max_total_audio_seconds=float("inf"))
    cache = EmbeddingCache(Path(settings.cache_dir or default_cache_dir()) / "embeddings") if use_cache else None
    source = read_dataset(
        path,
        lambda present: load_models(settings, present, log),
        limits=limits,
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


def query_bank(args: argparse.Namespace, source: Source, log: Log) -> QueryBank | None:
    """The queries qbnorm normalises over, per space and modality (None for the other corrections).

    A .txt of captions (the bundled corpus by default) is embedded by each space's text tower; an embeddings
    file (.npz/.safetensors) is used as it is, for precomputed input, one bank per modality it holds.
    """
    if args.hubness != "qbnorm":
        if args.query_bank:
            log(f"note: --query-bank is read by qbnorm only; ignored with --hubness {args.hubness}")
        return None
    path = Path(args.query_bank) if args.query_bank else None
    if path is not None and not path.exists():
        raise InputError(str(path), "--query-bank: no such file")
    if path is not None and is_embeddings(path):
        if PRECOMPUTED_SPACE not in source.spaces:
            raise InputError(str(path), EMBEDDED_BANK_FOR_MANIFEST)
        bank = load_embeddings(path, require_pairs=False)
        dim = source.spaces[PRECOMPUTED_SPACE].dim
        if bank.dim != dim:
            raise InputError(str(path), f"--query-bank has {bank.dim}-dimensional rows, the dataset {dim}")
        return {PRECOMPUTED_SPACE: {m: part.embeddings for m, part in bank.by_modality().items()}}
    if not source.embed_text:
        raise InputError(str(path or args.source), BANK_FOR_EMBEDDINGS)
    if path is None:
        import torch

        path, limit = CORPUS, (args.query_bank_max or (None if torch.cuda.is_available() else CPU_BANK))
    else:
        limit = args.query_bank_max
    captions = read_captions(path, limit)
    if not captions:
        raise InputError(str(path), "the query bank has no lines")
    spaces = [s for s in source.spaces if s in source.embed_text]
    log(f"Embedding a query bank of {len(captions)} captions from {path.name} ({', '.join(spaces)} text towers)")
    return {space: {"text": source.embed_text[space](captions)} for space in spaces}


def run_evaluate(args: argparse.Namespace, log: Log) -> int:
    """Read SOURCE, evaluate it, write metrics.json, errors.csv and report.html into --out."""
    from ..views.report import write_report

    source_path, out = Path(args.source), Path(args.out)
    templates = _templates(args)  # checked before any model is loaded
    if not 1 <= args.hubness_k <= 10:
        raise ValueError(f"--hubness-k must be between 1 and 10 (got {args.hubness_k})")
    if not args.hubness_beta > 0:
        raise ValueError(f"--hubness-beta must be positive (got {args.hubness_beta})")
    if args.query_bank_max is not None and args.query_bank_max < 1:
        raise ValueError(f"--query-bank-max must be at least 1 (got {args.query_bank_max})")
    if args.hubness == "qbnorm":  # the bank's kind must suit the source's before any model is loaded
        bank = Path(args.query_bank) if args.query_bank else None
        if bank is not None and is_embeddings(bank) and not is_embeddings(source_path):
            raise InputError(str(bank), EMBEDDED_BANK_FOR_MANIFEST)
        if is_embeddings(source_path) and (bank is None or not is_embeddings(bank)):
            raise InputError(str(bank or source_path), BANK_FOR_EMBEDDINGS)
    if not source_path.exists():
        raise InputError(str(source_path), "no such file or folder")
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "--out must be a folder, but a file of that name exists")
    if is_embeddings(source_path):
        log(f"Reading precomputed embeddings {source_path.name} (no model is loaded)")
        source = read_embeddings(source_path)
        skipped = [p for space in source.spaces.values() for p in space.problems]  # bad rows, each named
        if skipped and args.on_error == "stop":
            raise InputError(source_path.name, f"a row cannot be used ({skipped[0]})")
        source.problems.extend(p for p in skipped if p not in source.problems)
        for problem in skipped:
            log.skipped(problem)
    else:
        source = _read_dataset(
            source_path,
            settings_from(args),
            on_error=args.on_error,
            use_cache=not args.no_cache,
            budgets=not args.no_budgets,
            log=log,
        )
    evaluation = evaluate(
        source.spaces,
        embed_text=source.embed_text,
        templates=templates,
        hubness=args.hubness,
        hubness_k=args.hubness_k,
        hubness_beta=args.hubness_beta,
        query_bank=query_bank(args, source, log),
        backend=args.backend,
        progress=log.progress,
    )
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


def add_subcommand(subparsers: Any) -> None:
    """Add `evaluate` to an argparse subparsers object."""
    ev = subparsers.add_parser(
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
    ev.add_argument(
        "--hubness",
        choices=["none", *METHODS],
        default="none",
        help="also rank every direction after a hubness correction and report R@1, MRR and hub skew before "
        "and after, with the queries it fixes and breaks (metrics.json: hubness_correction). csls: "
        "2 cos - r_query - r_item, r = mean cosine to the k nearest on the other side (Conneau et al. 2017); "
        "isf: inverted softmax, each item's scores normalised over the evaluated queries (Smith et al. 2017); "
        "qbnorm: QB-Norm, the same normalisation over a query bank, for queries whose top-1 item is a bank "
        "hub (Bogolin et al. 2022). Default: none",
    )
    ev.add_argument(
        "--hubness-k", type=int, default=10, metavar="K", help="csls: neighbours averaged, 1-10 (default: 10)"
    )
    ev.add_argument(
        "--hubness-beta",
        type=float,
        default=20.0,
        metavar="BETA",
        help="isf and qbnorm: inverse temperature of the softmax (default: 20, QB-Norm's)",
    )
    ev.add_argument(
        "--query-bank",
        metavar="FILE",
        help="qbnorm's queries from elsewhere: captions (.txt, one per line, embedded by each space's text "
        "tower) or, for precomputed input, embeddings from the same model (.npz/.safetensors, rows used per "
        f"modality; required there). Default for a manifest: the bundled {CORPUS.name} (assets/corpus)",
    )
    ev.add_argument(
        "--query-bank-max",
        type=int,
        metavar="N",
        help=f"at most N captions of a .txt bank, spread evenly (default: all on a GPU, {CPU_BANK} on CPU for "
        "the bundled corpus)",
    )
    ev.add_argument(
        "--backend",
        choices=["auto", "numba", "torch"],
        default="auto",
        help="what runs the blockwise pass: numba on the CPU, or torch (on CUDA when present); "
        "default auto = torch on CUDA, else numba",
    )
    ev.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    ev.add_argument(
        "--no-budgets",
        action="store_true",
        help="lift the request-wide budgets meant for a shared server (total decoded pixels and audio seconds); "
        "the per-file limits still apply",
    )
    ev.add_argument("-q", "--quiet", action="store_true", help="no progress lines (skipped inputs are still listed)")
    ev.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    ev.set_defaults(run=run_evaluate)
