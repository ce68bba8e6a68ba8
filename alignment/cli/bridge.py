"""`python -m alignment bridge fit|apply`: map one backbone's space into another's, on saved embeddings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from .common import add_run_flags, add_training_flags
from .matrices import load_matrix, save_matrix


def run_bridge_fit(args: argparse.Namespace, log: Any) -> int:
    """Fit a bridge SRC -> TGT (row i paired with row i) and save it as .safetensors."""
    from ..space.bridge import MLPConfig, bridge_key, fit_best, fit_bridge, save_bridge
    from ..space.contrastive import TrainConfig

    out = Path(args.out)
    if out.suffix.lower() != ".safetensors":
        raise InputError(str(out), "--out must be a .safetensors file")
    src, tgt = load_matrix(args.source), load_matrix(args.target)
    if len(src) != len(tgt):
        raise ValueError(
            f"--source and --target must have one row per pair: {args.source} has {len(src)} rows "
            f"(shape {src.shape}), {args.target} has {len(tgt)} (shape {tgt.shape})"
        )
    key = bridge_key(args.source_model or "", args.source_revision, args.target_model or "", args.target_revision)
    mlp = MLPConfig(
        noise_std=args.noise_std,
        train=TrainConfig(max_epochs=args.max_epochs, device=args.device, cpu_threads=args.threads),
    )
    progress = getattr(log, "progress", None)
    common = dict(seed=args.seed, val_fraction=args.val_fraction, progress=progress, key=key, mlp=mlp)
    if args.method == "best":
        bridge = fit_best(src, tgt, **common)  # type: ignore[arg-type]
        for method, got in bridge.candidates.items():
            print(f"{method}: held-out R@1 {got['R@1']:.3f}, MRR {got['MRR']:.3f}")
    else:
        bridge = fit_bridge(src, tgt, method=args.method, **common)  # type: ignore[arg-type]
    save_bridge(out, bridge)
    got = bridge.heldout
    print(
        f"bridge {bridge.method} {bridge.source_dim}->{bridge.target_dim}: held-out R@1 {got['R@1']:.3f}, "
        f"MRR {got['MRR']:.3f} on {int(got['n_heldout'])} rows (chance {got['chance_R@1']:.3f}); wrote {out}"
    )
    return 0


def run_bridge_apply(args: argparse.Namespace, log: Any) -> int:
    """Map embeddings through a saved bridge; writes unit float32 rows (N, Dt) as .npy."""
    from ..space.bridge import load_bridge

    bridge = load_bridge(args.bridge)
    x = load_matrix(args.input)
    try:
        y = bridge.apply(x)
    except ValueError as exc:
        raise InputError(args.input, str(exc)) from None
    save_matrix(args.out, y)
    log(f"Mapped {len(y)} rows {bridge.source_dim}->{bridge.target_dim} with the {bridge.method} bridge")
    print(f"wrote {args.out} {y.shape}")
    return 0


def add_subcommand(subparsers: Any) -> None:
    """Add `bridge {fit,apply}` to an argparse subparsers object."""
    bridge = subparsers.add_parser(
        "bridge",
        help="fit or apply a bridge between two embedding spaces",
        description="Map one backbone's space into another's (e.g. CLAP -> CLIP), "
        "fitted on the same texts embedded in both.",
    )
    actions = bridge.add_subparsers(dest="action", metavar="ACTION", required=True)
    fit = actions.add_parser(
        "fit",
        help="fit a bridge on paired rows",
        description=("Fit SOURCE -> TARGET where row i of --source and row i of --target embed the same caption."),
    )
    fit.add_argument("--source", required=True, metavar="SRC", help="source-space embeddings (.npy/.safetensors)")
    fit.add_argument("--target", required=True, metavar="TGT", help="target-space embeddings, row i = row i of SRC")
    fit.add_argument(
        "--method",
        choices=["procrustes", "ridge", "mlp", "best"],
        default="best",
        help="best = fit all three and keep the best held-out R@1 (default: best)",
    )
    fit.add_argument("--out", required=True, metavar="BRIDGE.safetensors")
    fit.add_argument(
        "--noise-std",
        type=float,
        default=None,
        help="MLP: Gaussian noise std per input coordinate while training "
        "(default: 1/sqrt(source dim), a noise vector about as long as the embedding)",
    )
    fit.add_argument("--source-model", help="source backbone id, stored with the bridge")
    fit.add_argument("--source-revision", help="source backbone revision")
    fit.add_argument("--target-model", help="target backbone id")
    fit.add_argument("--target-revision", help="target backbone revision")
    add_training_flags(fit)
    add_run_flags(fit)
    fit.set_defaults(run=run_bridge_fit)

    apply = actions.add_parser("apply", help="map embeddings through a saved bridge")
    apply.add_argument("--bridge", required=True, metavar="BRIDGE.safetensors")
    apply.add_argument("--input", required=True, metavar="X", help="source-space embeddings (.npy/.safetensors)")
    apply.add_argument("--out", required=True, metavar="Y.npy", help="unit target-space rows, float32")
    add_run_flags(apply)
    apply.set_defaults(run=run_bridge_apply)
