"""`python -m alignment fusion train|apply`: fuse items with several modality embeddings into one vector."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InputError
from .common import add_run_flags, add_training_flags
from .matrices import load_mask, load_matrix, save_matrix


def _views(paths: Sequence[str]) -> list[np.ndarray]:
    if len(paths) < 2:
        raise ValueError(f"--views needs at least two files, one per modality (got {len(paths)})")
    views = [load_matrix(p, allow_3d=True) for p in paths]
    rows = [len(v) for v in views]
    if len(set(rows)) > 1:
        listing = ", ".join(f"{p}: {v.shape}" for p, v in zip(paths, views, strict=True))
        raise ValueError(f"--views must have one row per item in every file, got {listing}")
    return views


def run_fusion_train(args: argparse.Namespace, log: Any) -> int:
    """Train a fusion head on views -> target and save it as .safetensors."""
    from ..space.contrastive import TrainConfig
    from ..space.fusion import save_fusion
    from ..space.fusion_training import train_fusion

    out = Path(args.out)
    if out.suffix.lower() != ".safetensors":
        raise InputError(str(out), "--out must be a .safetensors file")
    views = _views(args.views)
    target = load_matrix(args.target)
    if len(target) != len(views[0]):
        raise ValueError(
            f"--target must have one row per item: {args.target} has {len(target)} rows, the views have {len(views[0])}"
        )
    mask = load_mask(args.mask, len(target), len(views))
    config = TrainConfig(
        max_epochs=args.max_epochs, lr=args.lr, batch_size=args.batch_size, device=args.device, cpu_threads=args.threads
    )
    names = tuple(args.names) if args.names else tuple(Path(p).stem for p in args.views)
    model = train_fusion(
        views,
        target,
        method=args.method,
        mask=mask,
        seed=args.seed,
        val_fraction=args.val_fraction,
        config=config,
        heads=args.heads,
        modality_dropout=args.modality_dropout,
        names=names,
        progress=getattr(log, "progress", None),
    )
    save_fusion(out, model)
    got = model.heldout
    print(
        f"fusion {model.method} of {model.n_modalities} views: held-out R@1 {got['R@1']:.3f}, MRR "
        f"{got['MRR']:.3f} on {int(got['n_heldout'])} items (chance {got['chance_R@1']:.3f}); wrote {out}"
    )
    return 0


def run_fusion_apply(args: argparse.Namespace, log: Any) -> int:
    """Fuse views with a saved head; writes (N, D) fused vectors and optionally (N, M) attention weights."""
    from ..space.fusion import load_fusion

    model = load_fusion(args.model)
    if args.attention and model.method not in ("weighted", "attention"):
        raise ValueError(
            f"--attention: a {model.method} fusion has no attention weights (only weighted and attention do)"
        )
    views = _views(args.views)
    if len(views) != model.n_modalities:
        raise ValueError(
            f"{args.model} fuses {model.n_modalities} views ({', '.join(model.names)}), got {len(views)} --views"
        )
    fused, weights = model.apply(views, load_mask(args.mask, len(views[0]), len(views)))
    save_matrix(args.out, fused)
    if args.attention and weights is not None:
        save_matrix(args.attention, weights)
    log(f"Fused {len(fused)} items with the {model.method} head")
    print(
        f"wrote {args.out} {fused.shape}"
        + (f" and {args.attention} {weights.shape}" if args.attention and weights is not None else "")
    )
    return 0


def add_subcommand(subparsers: Any) -> None:
    """Add `fusion {train,apply}` to an argparse subparsers object."""
    fusion = subparsers.add_parser(
        "fusion",
        help="train or apply a fusion head over several modalities",
        description="Turn items with several modality embeddings into one vector.",
    )
    actions = fusion.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="train a fusion head against target embeddings")
    train.add_argument(
        "--views",
        nargs="+",
        required=True,
        metavar="VIEW",
        help="one file per modality, (N, D) or (N, T, D) token features, all in one space",
    )
    train.add_argument("--target", required=True, metavar="T", help="(N, D) target, e.g. the caption embeddings")
    train.add_argument("--method", choices=["mean", "concat", "weighted", "attention"], default="attention")
    train.add_argument("--out", required=True, metavar="F.safetensors")
    train.add_argument("--mask", metavar="MASK.npy", help="(N, M) bool, False = modality missing for that item")
    train.add_argument("--names", nargs="+", help="modality names (default: the view file names)")
    train.add_argument("--heads", type=int, default=None, help="attention heads (default: by dimension)")
    train.add_argument(
        "--modality-dropout",
        type=float,
        default=0.0,
        help="chance of hiding each modality of a training item (default: 0)",
    )
    train.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate (default: 3e-3)")
    train.add_argument("--batch-size", type=int, default=128, help="InfoNCE batch (default: 128)")
    add_training_flags(train)
    add_run_flags(train)
    train.set_defaults(run=run_fusion_train)

    apply = actions.add_parser("apply", help="fuse items with a saved head")
    apply.add_argument("--model", required=True, metavar="F.safetensors")
    apply.add_argument("--views", nargs="+", required=True, metavar="VIEW", help="the same modalities, same order")
    apply.add_argument("--mask", metavar="MASK.npy", help="(N, M) bool, False = modality missing")
    apply.add_argument("--out", required=True, metavar="Y.npy", help="unit fused rows, float32")
    apply.add_argument("--attention", metavar="ATT.npy", help="also write the (N, M) attention weights")
    add_run_flags(apply)
    apply.set_defaults(run=run_fusion_apply)
