"""`bridge fit|apply` and `fusion train|apply`: the learned heads from the command line, on saved embeddings.

`add_subcommands(subparsers)` adds the two commands to `python -m alignment` (alignment.cli registers them);
`main(argv)` runs them on their own: `python -m alignment.cli_models bridge fit --source ...`. Handlers take
(args, log) like alignment.cli's and return an exit status; bad input raises ValueError (or InputError)
with the file and the problem, which the caller prints as one `error: ...` line.

Embedding files: `.npy` (float, 2-D; pickles refused) or `.safetensors` (the tensor named `embeddings`, or
the only tensor). Row i of every file given to one command describes the same item.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError


class _Log:
    """Progress lines on stderr unless quiet (the same shape as alignment.cli.Log)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def progress(self, fraction: float, message: str) -> None:
        self(f"[{fraction:4.0%}] {message}")


# ---------------------------------------------------------------------------- files


def load_matrix(path: str | os.PathLike, *, allow_3d: bool = False) -> np.ndarray:
    """A float array from .npy or .safetensors ('embeddings' or the only tensor); InputError names the file."""
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise InputError(name, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise InputError(name, "holds pickled Python objects, refused for safety; save a float array") from None
            raise InputError(name, f"cannot be read as .npy ({exc})") from None
        except (OSError, EOFError) as exc:
            raise InputError(name, f"cannot be read as .npy ({exc or type(exc).__name__})") from None
    elif suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(name, framework="numpy") as handle:
                keys = list(handle.keys())
                if "embeddings" in keys:
                    key = "embeddings"
                elif len(keys) == 1:
                    key = keys[0]
                else:
                    raise InputError(
                        name,
                        f"has no tensor 'embeddings' and {len(keys)} tensors "
                        f"({', '.join(sorted(keys)[:8]) or 'none'}); which one is meant?",
                    )
                array = handle.get_tensor(key)
        except (SafetensorError, TypeError) as exc:  # TypeError: BF16, which numpy cannot hold
            raise InputError(name, f"cannot be read as .safetensors ({exc})") from None
    else:
        raise InputError(name, f"embeddings must be .npy or .safetensors, got '{suffix or 'no suffix'}'")
    if array.dtype.kind != "f":
        raise InputError(name, f"embeddings must be a float array, got {array.dtype}")
    if array.ndim != 2 and not (allow_3d and array.ndim == 3):
        expected = "(N, D) or (N, T, D)" if allow_3d else "(N, D)"
        raise InputError(name, f"embeddings must be {expected}, got shape {array.shape}")
    return array


def save_matrix(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write float32 .npy through a temporary name, so a failed write leaves nothing behind."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise InputError(str(path), "output must be a .npy file")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    os.replace(partial, path)
    return path


def _in_file(name: str, exc: ValueError) -> InputError:
    return InputError(name, str(exc))


def _mask(path: str | None, n: int, m: int) -> np.ndarray | None:
    if path is None:
        return None
    try:
        mask = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(path, f"cannot be read as .npy ({exc})") from None
    if mask.shape != (n, m) or mask.dtype.kind not in "biu":
        raise InputError(path, f"mask must be a bool (N, M) = ({n}, {m}) array, got {mask.dtype} {mask.shape}")
    return mask.astype(bool)


# ---------------------------------------------------------------------------- handlers


def run_bridge_fit(args: argparse.Namespace, log: Any) -> int:
    """Fit a bridge SRC -> TGT (row i paired with row i) and save it as .safetensors."""
    from .bridge import MLPConfig, bridge_key, fit_best, fit_bridge, save_bridge
    from .contrastive import TrainConfig

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
    from .bridge import load_bridge

    bridge = load_bridge(args.bridge)
    x = load_matrix(args.input)
    try:
        y = bridge.apply(x)
    except ValueError as exc:
        raise _in_file(args.input, exc) from None
    save_matrix(args.out, y)
    log(f"Mapped {len(y)} rows {bridge.source_dim}->{bridge.target_dim} with the {bridge.method} bridge")
    print(f"wrote {args.out} {y.shape}")
    return 0


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
    from .contrastive import TrainConfig
    from .fusion import save_fusion, train_fusion

    out = Path(args.out)
    if out.suffix.lower() != ".safetensors":
        raise InputError(str(out), "--out must be a .safetensors file")
    views = _views(args.views)
    target = load_matrix(args.target)
    if len(target) != len(views[0]):
        raise ValueError(
            f"--target must have one row per item: {args.target} has {len(target)} rows, the views have {len(views[0])}"
        )
    mask = _mask(args.mask, len(target), len(views))
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
    from .fusion import load_fusion

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
    fused, weights = model.apply(views, _mask(args.mask, len(views[0]), len(views)))
    save_matrix(args.out, fused)
    if args.attention and weights is not None:
        save_matrix(args.attention, weights)
    log(f"Fused {len(fused)} items with the {model.method} head")
    print(
        f"wrote {args.out} {fused.shape}"
        + (f" and {args.attention} {weights.shape}" if args.attention and weights is not None else "")
    )
    return 0


# ---------------------------------------------------------------------------- parsers


def _common(parser: argparse.ArgumentParser, *, training: bool) -> None:
    if training:
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
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def add_subcommands(subparsers: Any) -> None:
    """Add `bridge {fit,apply}` and `fusion {train,apply}` to an argparse subparsers object."""
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
    _common(fit, training=True)
    fit.set_defaults(run=run_bridge_fit)

    apply = actions.add_parser("apply", help="map embeddings through a saved bridge")
    apply.add_argument("--bridge", required=True, metavar="BRIDGE.safetensors")
    apply.add_argument("--input", required=True, metavar="X", help="source-space embeddings (.npy/.safetensors)")
    apply.add_argument("--out", required=True, metavar="Y.npy", help="unit target-space rows, float32")
    _common(apply, training=False)
    apply.set_defaults(run=run_bridge_apply)

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
    _common(train, training=True)
    train.set_defaults(run=run_fusion_train)

    apply = actions.add_parser("apply", help="fuse items with a saved head")
    apply.add_argument("--model", required=True, metavar="F.safetensors")
    apply.add_argument("--views", nargs="+", required=True, metavar="VIEW", help="the same modalities, same order")
    apply.add_argument("--mask", metavar="MASK.npy", help="(N, M) bool, False = modality missing")
    apply.add_argument("--out", required=True, metavar="Y.npy", help="unit fused rows, float32")
    apply.add_argument("--attention", metavar="ATT.npy", help="also write the (N, M) attention weights")
    _common(apply, training=False)
    apply.set_defaults(run=run_fusion_apply)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m alignment.cli_models", description="Bridges and fusion heads on saved embeddings"
    )
    add_subcommands(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; bad input ends with exit status 1 and one `error: ...` line on stderr."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args, _Log(quiet=args.quiet))
    except (ValueError, OSError) as exc:
        if args.debug:
            raise
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        print(f"error: {' '.join(lines) or type(exc).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
