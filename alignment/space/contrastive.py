"""Shared pieces of the learned heads (bridge, fusion): input checks, seeded splits, symmetric InfoNCE, early stopping.

Pure training utilities: arrays and modules in, arrays, histories and metrics out; no files, no models from a hub.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.metrics import retrieval_metrics

Progress = Callable[[float, str], None]

# A fit holds out rows to report on, and (for the learned heads) keeps a few more aside to stop on; below
# these counts a split is too small to say anything, so `split_rows` refuses it by name.
MIN_HELDOUT = 5  # rows the reported metrics are computed on
MIN_INNER = 5  # rows early stopping (MLP, fusion) and the ridge lambda are chosen on
MIN_FIT = 10  # rows the parameters are fitted on
MIN_ROWS = MIN_HELDOUT + MIN_INNER + MIN_FIT
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: temperature never below 0.01


def _silent(fraction: float, message: str) -> None:
    return None


# ---------------------------------------------------------------------------- input checks


def check_matrix(x: object, name: str, *, dim: int | None = None, rows: int | None = None) -> np.ndarray:
    """A finite 2-D float array as float32 (N, D); ValueError names the shape, or the first bad row."""
    array = np.asarray(x)
    if array.dtype.hasobject or array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a float array (N, D), got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{name} has dimension {array.shape[1]}, expected {dim} (shape {array.shape})")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"{name} has {array.shape[0]} rows, expected {rows} (shape {array.shape})")
    array = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"{name} row {bad[0]} holds NaN or infinite values ({bad.size} bad rows of {len(array)})")
    return array


def unit(x: np.ndarray, name: str) -> np.ndarray:
    """Rows scaled to unit length (float32); an all-zero row has no direction and is refused by index."""
    norms = np.linalg.norm(x.astype(np.float64), axis=1)  # (N,) float64: no overflow for large entries
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"{name} row {zero[0]} is all zeros: no direction to normalise")
    return (x / norms[:, None]).astype(np.float32)


def check_paired(src: object, tgt: object, names: tuple[str, str] = ("source", "target")) -> tuple[np.ndarray, ...]:
    """Two arrays whose row i describe the same item: same N, each finite; returned as unit float32 rows."""
    a, b = check_matrix(src, names[0]), check_matrix(tgt, names[1])
    if len(a) != len(b):
        raise ValueError(
            f"{names[0]} and {names[1]} must have one row per pair: got {len(a)} and {len(b)} rows "
            f"(shapes {a.shape} and {b.shape})"
        )
    return unit(a, names[0]), unit(b, names[1])


# ---------------------------------------------------------------------------- splits


@dataclass(frozen=True, eq=False)
class Split:
    """Row indices of a seeded three-way split: fit on `train`, choose on `inner`, report on `heldout`."""

    train: np.ndarray  # (n_train,) int64
    inner: np.ndarray  # (n_inner,) rows for early stopping / hyper-parameter choice, never reported on
    heldout: np.ndarray  # (n_heldout,) rows the reported metrics use, never seen while fitting or choosing

    @property
    def fit(self) -> np.ndarray:
        """train + inner: what a method without a choice to make (Procrustes, ridge's final refit) fits on."""
        return np.concatenate([self.train, self.inner])


def split_rows(n: int, *, val_fraction: float, seed: int, inner_fraction: float = 0.15) -> Split:
    """Shuffle n rows with `seed`; hold out `val_fraction` of them, then `inner_fraction` of the rest."""
    if not 0.0 < val_fraction < 0.9:
        raise ValueError(f"val_fraction must be in (0, 0.9), got {val_fraction}")
    if not 0.0 < inner_fraction < 0.9:
        raise ValueError(f"inner_fraction must be in (0, 0.9), got {inner_fraction}")
    if n < MIN_ROWS:
        raise ValueError(
            f"need at least {MIN_ROWS} paired rows ({MIN_FIT} to fit, {MIN_INNER} to choose on, "
            f"{MIN_HELDOUT} to report on), got {n}"
        )
    order = np.random.default_rng(seed).permutation(n)
    n_heldout = max(MIN_HELDOUT, round(val_fraction * n))
    n_inner = max(MIN_INNER, round(inner_fraction * (n - n_heldout)))
    if n - n_heldout - n_inner < MIN_FIT:
        raise ValueError(
            f"val_fraction={val_fraction} leaves {n - n_heldout - n_inner} of {n} rows to fit on; "
            f"need at least {MIN_FIT} (lower val_fraction or add rows)"
        )
    heldout, inner, train = np.split(order, [n_heldout, n_heldout + n_inner])
    return Split(np.sort(train), np.sort(inner), np.sort(heldout))


# ---------------------------------------------------------------------------- metrics


def pair_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Retrieval pred -> target where row i pairs with row i (pair keys = row index): R@1/5/10, MRR, chance."""
    keys = [str(i) for i in range(len(pred))]
    got = retrieval_metrics(unit(pred, "predictions"), unit(target, "targets"), keys, keys).to_json()
    return {
        "R@1": got["R@1"],
        "R@5": got["R@5"],
        "R@10": got["R@10"],
        "MRR": got["MRR"],
        "median_rank": got["median_rank"],
        "n_heldout": got["n_queries"],
        "chance_R@1": 1.0 / len(pred),
    }


def rank_key(metrics: dict[str, float]) -> tuple[float, float]:
    """Ordering used to pick the best method: R@1, then MRR."""
    return metrics["R@1"], metrics["MRR"]


# ---------------------------------------------------------------------------- training


def info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of unit rows a (B, D) and b (B, D), row i the positive of row i (CLIP's loss)."""
    logits = logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * a @ b.T  # (B, B)
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and stopping settings shared by the learned heads."""

    max_epochs: int = 100  # upper bound; early stopping usually ends sooner
    patience: int = 10  # epochs without a better inner-validation loss before stopping
    min_delta: float = 1e-3  # an epoch counts as better when it lowers the validation loss by more than this
    batch_size: int = 256  # InfoNCE negatives per step = batch_size - 1
    lr: float = 2e-3  # AdamW learning rate
    weight_decay: float = 1e-4
    temperature: float = 0.05  # initial (or fixed) softmax temperature of InfoNCE
    learn_temperature: bool = True  # learn log(1 / temperature) with the weights, clamped at 1 / 100
    device: str = "auto"  # auto = cuda, then mps, then cpu (alignment.models.runtime.pick_device)
    cpu_threads: int | None = None  # torch intra-op threads while training on CPU (None = leave as set);
    # process-wide while it runs: small heads on shared cores train several times faster with 1

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.patience < 1 or self.batch_size < 2:
            raise ValueError(
                f"need max_epochs >= 1, patience >= 1, batch_size >= 2 (got {self.max_epochs}, "
                f"{self.patience}, {self.batch_size})"
            )
        if not (self.lr > 0 and self.temperature > 0 and self.weight_decay >= 0):
            raise ValueError(
                f"need lr > 0, temperature > 0, weight_decay >= 0 (got {self.lr}, {self.temperature}, "
                f"{self.weight_decay})"
            )


@dataclass(frozen=True)
class History:
    """Per-epoch losses, for training curves; the kept weights are those of `best_epoch`."""

    train: tuple[float, ...] = ()  # mean training loss of each epoch (with augmentation)
    val: tuple[float, ...] = ()  # inner-validation loss after each epoch (no augmentation)
    best_epoch: int = 0  # 1-based; 0 = nothing trained
    stopped_early: bool = False
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "train": list(self.train),
            "val": list(self.val),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict) -> History:
        return cls(
            tuple(float(v) for v in data.get("train", ())),
            tuple(float(v) for v in data.get("val", ())),
            int(data.get("best_epoch", 0)),
            bool(data.get("stopped_early", False)),
            float(data.get("seconds", 0.0)),
        )


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def seeded_init(seed: int, build: Callable[[], ModuleT]) -> ModuleT:
    """Build a module with its random init drawn from `seed`, leaving torch's global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


@contextmanager
def torch_threads(n: int | None, device: torch.device) -> Iterator[None]:
    """Set torch's intra-op threads for a CPU run and restore them after (no-op for None or a GPU)."""
    if n is None or device.type != "cpu":
        yield
        return
    if n < 1:
        raise ValueError(f"cpu_threads must be at least 1, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_contrastive(
    model: nn.Module,
    batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    val_loss: Callable[[], float],
    *,
    n_train: int,
    config: TrainConfig,
    seed: int,
    device: torch.device,
    progress: Progress | None = None,
    label: str = "Training",
    param_groups: list[dict] | None = None,
) -> History:
    """AdamW over `model` with early stopping on `val_loss`; the best epoch's weights are restored.

    `batch_loss(indices, generator)` returns the loss of one batch of training rows (indices into the
    training set, on `device`); the generator drives any augmentation noise so a seed fixes the whole run.
    `val_loss` should score at a fixed temperature: with a learned one, the loss keeps falling as the
    temperature sharpens long after retrieval stops improving, and early stopping would never fire.
    """
    with torch_threads(config.cpu_threads, device):
        return _fit(
            model, batch_loss, val_loss, n_train, config, seed, device, progress or _silent, label, param_groups
        )


def _fit(
    model: nn.Module,
    batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    val_loss: Callable[[], float],
    n_train: int,
    config: TrainConfig,
    seed: int,
    device: torch.device,
    report: Progress,
    label: str,
    param_groups: list[dict] | None,
) -> History:
    groups = param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}]
    optimiser = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    order_rng = torch.Generator()
    order_rng.manual_seed(seed)
    batch = min(config.batch_size, n_train)
    start = time.perf_counter()
    model.eval()
    with torch.no_grad():
        best = val_loss()
    best_state = copy.deepcopy(model.state_dict())
    best_epoch, waited, stopped = 0, 0, False
    train_losses: list[float] = []
    val_losses: list[float] = []
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        order = torch.randperm(n_train, generator=order_rng).to(device)
        total, steps = 0.0, 0
        # Drop the last short batch: InfoNCE with a handful of negatives is a noisy, easy loss.
        for first in range(0, n_train - batch + 1, batch):
            loss = batch_loss(order[first : first + batch], generator)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total, steps = total + float(loss.detach()), steps + 1
        model.eval()
        with torch.no_grad():
            current = val_loss()
        train_losses.append(total / max(steps, 1))
        val_losses.append(current)
        if current < best - config.min_delta:
            best, best_epoch, waited = current, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
        report(
            epoch / config.max_epochs,
            f"{label}: epoch {epoch}, train loss {train_losses[-1]:.4f}, validation loss {current:.4f}",
        )
        if waited >= config.patience:
            stopped = True
            break
    model.load_state_dict(best_state)
    model.eval()
    return History(tuple(train_losses), tuple(val_losses), best_epoch, stopped, time.perf_counter() - start)
