"""`python -m alignment tags list|export|import`: one owner's hand tags in the tag database, shared by CSV.

The database is `tags.sqlite3` in the data directory: --data-dir, else $ALIGN_DATA, else `data` beside the
embedding cache. --dataset takes the dataset file itself (its digest is computed) or the digest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.files import atomic_write_text
from ..store.tags import MAX_IMPORT_MB, TagDatabase, dataset_digest
from .common import Log, add_run_flags


def _database(args: argparse.Namespace) -> TagDatabase:
    return TagDatabase(args.data_dir)


def _digest(value: str) -> str:
    path = Path(value)
    return dataset_digest(path) if path.is_file() else value


def run_list(args: argparse.Namespace, log: Log) -> int:
    """Datasets and tag counts of one owner."""
    datasets = _database(args).datasets(owner=args.owner)
    for digest, count in datasets.items():
        print(f"{digest}\t{count}")
    log(f"{len(datasets)} dataset(s) with tags for this owner in {_database(args).path}")
    return 0


def run_export(args: argparse.Namespace, log: Log) -> int:
    """One owner's tags of one dataset as CSV (formula-like cells quoted), to --out or stdout."""
    text = _database(args).tags(owner=args.owner, dataset=_digest(args.dataset)).to_csv()
    if args.out:
        atomic_write_text(Path(args.out), text)
        log(f"Wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def run_import(args: argparse.Namespace, log: Log) -> int:
    """Tags from a CSV that export wrote into one owner's tags of one dataset; bad rows are listed, the rest saved."""
    path = Path(args.csv)
    size = path.stat().st_size
    if size > MAX_IMPORT_MB * 1e6:
        raise ValueError(f"{path.name}: {size / 1e6:.1f} MB, over the limit of {MAX_IMPORT_MB:g} MB for a tags CSV")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    tags = _database(args).tags(owner=args.owner, dataset=_digest(args.dataset))
    report = tags.import_csv(text, name=path.name)
    for problem in report.problems:
        log.skipped(problem)
    print(f"{report.added} added, {report.replaced} replaced, {len(report.problems)} row(s) refused")
    return 0


def add_subcommand(subparsers: Any) -> None:
    """Add `tags {list,export,import}` to an argparse subparsers object."""
    tags = subparsers.add_parser(
        "tags",
        help="list, export or import one owner's hand tags",
        description="One owner's hand tags on alignment errors, in the tag database of the data directory.",
    )
    actions = tags.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(parser: argparse.ArgumentParser, *, dataset: bool) -> None:
        parser.add_argument("--owner", required=True, help="whose tags: the Hugging Face user name, or the local id")
        if dataset:
            parser.add_argument("--dataset", required=True, help="the dataset file (its digest is computed) or digest")
        parser.add_argument(
            "--data-dir",
            default=None,
            metavar="DIR",
            help="where tags.sqlite3 lives (default: $ALIGN_DATA, else ~/.cache/alignment/data)",
        )
        add_run_flags(parser)

    listing = actions.add_parser("list", help="datasets with tags, and how many")
    common(listing, dataset=False)
    listing.set_defaults(run=run_list)
    export = actions.add_parser("export", help="tags of one dataset as CSV")
    common(export, dataset=True)
    export.add_argument("--out", metavar="TAGS.csv", help="write here (default: stdout)")
    export.set_defaults(run=run_export)
    load = actions.add_parser("import", help="tags from a CSV that export wrote")
    load.add_argument("csv", metavar="TAGS.csv")
    common(load, dataset=True)
    load.set_defaults(run=run_import)
