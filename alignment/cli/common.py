"""What every command shares: progress lines on stderr, the flags of a run, and loading only the towers needed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from ..models.settings import Settings, default_cache_dir

if TYPE_CHECKING:  # torch and transformers load only when a model is needed
    from ..models.encoders import Encoders


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


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """Seed, held-out share, epochs, device and threads of a command that trains a head."""
    parser.add_argument("--seed", type=int, default=0, help="split, initialisation and batches (default: 0)")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of rows held out for the reported metrics (default: 0.2)",
    )
    parser.add_argument("--max-epochs", type=int, default=100, help="upper bound on epochs (default: 100)")
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to train (default: auto = GPU when present)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads while training (default: leave as is)"
    )


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """--quiet and --debug, which every command has."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (the CLI prints bad input as one `error: ...` line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines) or type(exc).__name__


def load_models(settings: Settings, present: Collection[str], log: Log) -> tuple[Encoders, dict]:
    """Only the towers the data needs: CLIP for text + image, CLAP for text + audio (the other stays None)."""
    from transformers.utils import logging as hf_logging

    from ..models.encoders import Encoders, Role
    from ..models.factory import load_encoder
    from ..models.runtime import pick_device

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
                precision=settings.precision,
            )
    models: dict = {"loaded": True, "preset": settings.preset}
    for name, encoder in towers.items():
        models[name] = getattr(encoder, "model_id", None)
        models[f"{name}_revision"] = getattr(encoder, "revision", None)
    loaded = [e for e in towers.values() if e is not None]
    models["device"] = str(device)
    models["dtype"] = str(getattr(loaded[0], "dtype", "")).replace("torch.", "") if loaded else None
    models["precision"] = getattr(loaded[0], "precision", None) if loaded else None
    models["random_weights"] = any(getattr(e, "model_id", None) == "tiny" for e in loaded)
    return Encoders(towers["clip"], towers["clap"]), models  # type: ignore[arg-type]
