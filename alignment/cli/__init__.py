"""The batch command line, `python -m alignment COMMAND`: one module per command, `main(argv)` here.

Commands: embed (a collection of any size into parquet shards), evaluate (metrics, errors and a report for a
paired dataset), search and index (gallery search across modalities, and the index folders it reads), explain
(relevance maps for one pair), bridge fit|apply and fusion train|apply (the learned heads on saved embeddings),
tags list|export|import (hand tags of one owner). Bad input ends with exit status 1 and one `error: ...` line on
stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..core.errors import InputError, ModelUnavailableError
from . import bridge, embed, evaluate, explain, fusion, search, tags
from .common import Log, one_line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m alignment", description="Cross-Modal Alignment Explorer, batch mode"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (embed, evaluate, search, bridge, fusion, explain, tags):
        command.add_subcommand(commands)
    return parser


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
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
