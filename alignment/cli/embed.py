"""`python -m alignment embed SRC --out DIR`: embed a collection of any size into parquet shards, resumably.

SRC is a manifest (.csv/.jsonl), a folder (with a manifest, or of media files: a gallery) or a .zip. The run
goes on from the last complete shard when DIR already holds part of it. Progress with rate and ETA goes to
stderr; one summary line per space to stdout; items that could not be embedded to DIR/problems.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..inputs.limits import Limits
from ..inputs.stream import BulkLimits
from ..models.settings import add_arguments, settings_from
from .common import Log


def _limits(args: argparse.Namespace) -> BulkLimits:
    item = Limits(
        max_items=2**62,
        max_file_mb=args.max_file_mb,
        max_image_pixels=args.max_image_pixels,
        max_audio_seconds=args.max_audio_seconds,
        max_total_audio_seconds=float("inf"),
        max_text_chars=args.max_text_chars,
    )
    return BulkLimits(
        max_rows=args.max_rows,
        max_manifest_mb=args.max_manifest_mb,
        max_zip_entries=args.max_zip_entries,
        max_unzipped_mb=args.max_unzipped_mb,
        item=item,
    )


def run_embed_command(args: argparse.Namespace, log: Log) -> int:
    from transformers.utils import logging as hf_logging

    from ..models.embed_job import EmbedJob
    from ..models.embed_run import run_embed

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "--out must be a folder, but a file of that name exists")
    for name in ("shard_size", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    settings = settings_from(args)
    if args.batch_size:
        settings = dataclasses.replace(settings, batch_size=args.batch_size)
    hf_logging.disable_progress_bar()
    job = EmbedJob(
        source=Path(args.source),
        out=out,
        settings=settings,
        engine=args.engine,
        spaces=tuple(args.space) if args.space else None,
        shard_size=args.shard_size,
        workers=args.workers,
        float16=args.float16,
        limits=_limits(args),
        on_error=args.on_error,
        overwrite=args.overwrite,
        actors=args.actors,
        gpus_per_actor=args.gpus_per_actor,
        workdir=Path(args.workdir) if args.workdir else None,
    )
    summary, problems = run_embed(job, log)
    for problem in problems:
        if problem["space"] is not None:
            log.skipped(f"[{problem['space']}] {problem['problem']}")
    for space, info in summary["spaces"].items():
        counts = ", ".join(f"{n:,} {m}" for m, n in info["embedded"].items()) or "nothing"
        rate = f"{info['items_per_s']:.1f} items/s" if info["items_per_s"] else "nothing left to do"
        print(
            f"{space}: {counts} embedded, {info['failed']:,} failed, {info['already_done']:,} from an earlier run; "
            f"{rate} ({info['model']['precision']}, {info['model']['dtype']})"
        )
    print(f"{len(problems)} problem(s) in {out / 'problems.jsonl'}; {summary['seconds']:.1f} s in all")
    return 0


def add_subcommand(subparsers: Any) -> None:
    """Add `embed` to an argparse subparsers object."""
    em = subparsers.add_parser(
        "embed",
        help="embed a collection of any size into parquet shards (resumable; local or Ray Data)",
        description="Embed a manifest, folder or zip into parquet shards in --out, one folder per backbone space "
        "(clip: texts + images, clap: texts + audio). A killed run continues from its last complete shard.",
    )
    em.add_argument("source", metavar="SRC", help="manifest (.csv/.jsonl), folder (with a manifest, or of media), .zip")
    em.add_argument("--out", required=True, metavar="DIR", help="output folder (created if absent; resumed if not)")
    add_arguments(em)
    em.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: decode processes feeding this process's model (default); ray: Ray Data on a local Ray, or "
        "the cluster RAY_ADDRESS names",
    )
    em.add_argument(
        "--space",
        action="append",
        choices=["clip", "clap"],
        help="embed this space (repeatable); default: clip when there are images, clap when there is audio",
    )
    em.add_argument("--batch-size", type=int, default=None, help="items per forward pass (default: 32)")
    em.add_argument("--shard-size", type=int, default=10_000, help="rows per shard file (default: 10,000)")
    em.add_argument(
        "--workers", type=int, default=None, help="decode processes (0: decode in this process; default: cores - 1)"
    )
    em.add_argument("--float16", action="store_true", help="store vectors as float16 (half the disk)")
    em.add_argument("--overwrite", action="store_true", help="delete existing shards in DIR instead of resuming")
    em.add_argument(
        "--on-error",
        choices=["skip", "stop"],
        default="skip",
        help="a bad manifest row: skip it (listed in problems.jsonl) or stop (default: skip); "
        "an item that cannot be decoded is always listed and skipped",
    )
    em.add_argument("--workdir", default=None, help="where a zip is extracted (default: the system temp folder)")
    ray = em.add_argument_group("Ray engine")
    ray.add_argument("--actors", type=int, default=None, help="model actors (default: one per GPU, else 1)")
    ray.add_argument(
        "--gpus-per-actor", type=float, default=None, help="GPUs per model actor (default: 1 when the cluster has GPUs)"
    )
    limits = em.add_argument_group("limits (far above an upload's)")
    default = BulkLimits()
    limits.add_argument("--max-rows", type=int, default=default.max_rows, help="manifest rows or media files")
    limits.add_argument("--max-manifest-mb", type=float, default=default.max_manifest_mb)
    limits.add_argument("--max-zip-entries", type=int, default=default.max_zip_entries)
    limits.add_argument("--max-unzipped-mb", type=float, default=default.max_unzipped_mb)
    limits.add_argument("--max-file-mb", type=float, default=default.item.max_file_mb, help="per media file")
    limits.add_argument("--max-image-pixels", type=int, default=default.item.max_image_pixels)
    limits.add_argument("--max-audio-seconds", type=float, default=default.item.max_audio_seconds)
    limits.add_argument("--max-text-chars", type=int, default=default.item.max_text_chars)
    em.add_argument("-q", "--quiet", action="store_true", help="no progress lines (problems are still listed)")
    em.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    em.set_defaults(run=run_embed_command)
