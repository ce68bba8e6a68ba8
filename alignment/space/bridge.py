"""Bridge: map one backbone's embedding space into another's (CLAP -> CLIP) through the modality both share, text.

C-MCR / Ex-MCR idea: embed the same captions with both text towers, fit a map from the source text
embeddings (N, Ds) to the target text embeddings (N, Dt), then apply it to the source's *other* modality
(audio), which has no paired data in the target space. No audio-image pairs are needed.

Methods (inputs and targets are unit rows; every output is renormalised to unit length):

* `procrustes`: y = s * (x - mu_s) @ W + mu_t with W semi-orthogonal, the scaled orthogonal Procrustes
  solution. Equal dims: `scipy.linalg.orthogonal_procrustes`. Ds != Dt: the semi-orthogonal solution
  W = U @ Vt from the thin SVD of (X - mu_s)^T (Y - mu_t) = U S Vt, (Ds, Dt). It maximises tr(W^T X^T Y) over
  W with orthonormal rows (Ds <= Dt: an isometric embedding) or columns (Ds > Dt: an orthogonal projection),
  with no padding or PCA; for Ds == Dt it is exactly the scipy answer.
  The scale s = tr(S) / ||X - mu_s||^2 only matters through the means, since outputs are renormalised.
* `ridge`: y = (x - mu_s) @ W + mu_t, W = (X^T X + lambda I)^-1 X^T Y in closed form (one
  eigendecomposition for the whole grid); lambda is picked on the inner validation rows from `RIDGE_GRID`
  (relative to the mean eigenvalue of X^T X), then W is refitted on train + inner rows.
* `mlp`: y = skip(x') + fc2(gelu(fc1(x'))), x' = x - mu_s: two layers with a residual linear path, trained
  with symmetric InfoNCE against the targets. Gaussian noise (std `noise_std` per coordinate, then
  renormalised) is added to the inputs during training: the map then covers a neighbourhood of the text
  embeddings rather than the thin text manifold itself, which is what lets it transfer to the source's audio
  embeddings (a shifted region of the same space). AdamW, seeded, early stopping on the inner rows.

Every fit holds out `val_fraction` of the rows (seeded) and reports SRC -> TGT retrieval on them (R@1, MRR, ...
via `alignment.analysis.metrics.retrieval_metrics`, pair key = row index). Held-out rows never influence the weights
or the choices (lambda, early stopping); `fit_best` then picks the method with the best held-out R@1 (then
MRR), which is a mild selection on those rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from scipy.linalg import orthogonal_procrustes
from torch import nn

from ..core.errors import InputError
from ..core.names import display_name, shown
from ..models.runtime import pick_device
from .checkpoint import (
    MAX_DIM,
    check_shapes,
    load_checkpoint,
    meta_int,
    meta_mapping,
    meta_number,
    save_checkpoint,
)
from .contrastive import (
    MIN_ROWS,
    History,
    Progress,
    Split,
    TrainConfig,
    check_matrix,
    check_paired,
    fit_contrastive,
    info_nce,
    pair_metrics,
    rank_key,
    seeded_init,
    split_rows,
    unit,
)

Method = Literal["procrustes", "ridge", "mlp"]
METHODS: tuple[Method, ...] = get_args(Method)
FORMAT = "alignment.bridge/1"
RIDGE_GRID = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)  # x mean eigenvalue of the centred X^T X
KEY_FIELDS = ("source_id", "source_rev", "target_id", "target_rev")
__all__ = [
    "Bridge",
    "MLPConfig",
    "METHODS",
    "MIN_ROWS",
    "bridge_cache_path",
    "bridge_key",
    "fit_best",
    "fit_bridge",
    "load_bridge",
    "save_bridge",
]


@dataclass(frozen=True)
class MLPConfig:
    """The MLP bridge: shape, augmentation and training."""

    hidden: int | None = None  # width of the GELU layer; None = 2 * max(Ds, Dt)
    noise_std: float | None = None  # Gaussian noise std per input coordinate while training (0 = none);
    # None = 1 / sqrt(Ds): a noise vector about as long as the unit embedding (0.044 for CLAP's 512 dims),
    # which is the regime where text-fitted maps carried over to the shifted synthetic 'audio' best
    init_from_ridge: bool = False  # start the residual linear path at the ridge solution (faster, text-bound)
    train: TrainConfig = field(default_factory=TrainConfig)


DEFAULT_MLP = MLPConfig()


# ---------------------------------------------------------------------------- the fitted bridge


class _MLP(nn.Module):
    """skip(x) + fc2(gelu(fc1(x))): a residual linear path plus one hidden layer."""

    def __init__(self, ds: int, dt: int, hidden: int, temperature: float = 0.05, learn_temperature: bool = True):
        super().__init__()
        self.skip = nn.Linear(ds, dt)
        self.fc1 = nn.Linear(ds, hidden)
        self.fc2 = nn.Linear(hidden, dt)
        scale = torch.tensor(float(np.log(1.0 / temperature)))
        self.logit_scale = nn.Parameter(scale, requires_grad=learn_temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Ds) centred -> (B, Dt) unit
        return F.normalize(self.skip(x) + self.fc2(F.gelu(self.fc1(x))), dim=-1)


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class Bridge:
    """A fitted map from a source space (Ds) into a target space (Dt); `apply` returns unit rows.

    `weights` are read-only float32 arrays: `mean_src` (Ds,), then `W` (Ds, Dt) and `mean_tgt` (Dt,) for the
    linear methods, or the MLP's `skip.*`, `fc1.*`, `fc2.*`, `logit_scale`. `heldout` holds SRC -> TGT
    retrieval on the held-out rows (R@1, R@5, R@10, MRR, median_rank, n_heldout, chance_R@1).
    """

    method: Method
    source_dim: int
    target_dim: int
    weights: Mapping[str, np.ndarray]
    heldout: Mapping[str, float]
    key: Mapping[str, str] = field(default_factory=dict)  # source/target model ids and revisions, from the caller
    noise_std: float = 0.0  # the MLP's training noise (0 for the linear methods)
    history: History = field(default_factory=History)  # MLP training curve; empty for the linear methods
    candidates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # fit_best: every method's heldout
    info: Mapping[str, object] = field(default_factory=dict)  # seed, split sizes, lambda, hidden, config...

    @cached_property
    def _module(self) -> _MLP:
        hidden = int(self.weights["fc1.weight"].shape[0])
        module = seeded_init(0, lambda: _MLP(self.source_dim, self.target_dim, hidden))  # init is overwritten
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.weights.items() if k != "mean_src"})
        return module.eval()

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Map source embeddings (N, Ds) to unit target-space embeddings (N, Dt) float32 (CPU, deterministic)."""
        rows = unit(check_matrix(x, "bridge input", dim=self.source_dim), "bridge input")
        centred = rows - self.weights["mean_src"]  # (N, Ds)
        if self.method == "mlp":
            with torch.inference_mode():
                return self._module(torch.from_numpy(centred)).numpy()
        mapped = centred @ self.weights["W"] + self.weights["mean_tgt"]  # (N, Ds) @ (Ds, Dt) -> (N, Dt)
        return unit(mapped, "bridge output")

    def to_json(self) -> dict:
        """Everything but the weights, as plain JSON values."""
        return {
            "format": FORMAT,
            "method": self.method,
            "source_dim": self.source_dim,
            "target_dim": self.target_dim,
            "heldout": dict(self.heldout),
            "key": dict(self.key),
            "noise_std": self.noise_std,
            "history": self.history.to_json(),
            "candidates": {k: dict(v) for k, v in self.candidates.items()},
            "info": dict(self.info),
        }


def _readonly(weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, value in weights.items():
        array = np.ascontiguousarray(value, dtype=np.float32).copy()
        array.flags.writeable = False
        out[name] = array
    return out


# ---------------------------------------------------------------------------- fitting


def _procrustes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """(W, s): W (Ds, Dt) semi-orthogonal maximising tr(W^T X^T Y) for centred X (n, Ds), Y (n, Dt)."""
    if x.shape[1] == y.shape[1]:
        w, trace = orthogonal_procrustes(x.astype(np.float64), y.astype(np.float64))  # trace = sum of singulars
    else:
        u, s, vt = np.linalg.svd(x.T.astype(np.float64) @ y, full_matrices=False)  # (Ds, r) (r,) (r, Dt)
        w, trace = u @ vt, float(s.sum())  # (Ds, Dt)
    return w, trace / max(float(np.sum(x.astype(np.float64) ** 2)), 1e-12)


def _ridge_solutions(x: np.ndarray, y: np.ndarray, alphas: Sequence[float]) -> list[tuple[float, np.ndarray]]:
    """[(lambda, W (Ds, Dt))] for centred X (n, Ds), Y (n, Dt); one eigendecomposition serves every lambda.

    W = (X^T X + lambda I)^-1 X^T Y = V diag(1 / (e + lambda)) V^T X^T Y with X^T X = V diag(e) V^T: a Ds x Ds
    problem whatever n is (an SVD of X itself cost ~4x more at n = 16k, D = 512).
    """
    x64 = x.astype(np.float64)
    evals, v = np.linalg.eigh(x64.T @ x64)  # (Ds,) (Ds, Ds)
    evals = np.clip(evals, 0.0, None)  # rounding can leave tiny negatives on a rank-deficient X
    vt_xty = v.T @ (x64.T @ y)  # (Ds, Dt)
    mean_eig = float(evals.sum()) / x.shape[1]
    out = []
    for alpha in alphas:
        lam = alpha * max(mean_eig, 1e-12)
        out.append((lam, v @ (vt_xty / (evals + lam)[:, None])))  # (Ds, Ds) @ (Ds, Dt)
    return out


def _fit_linear(method: Method, src: np.ndarray, tgt: np.ndarray, split: Split, report: Progress) -> tuple[dict, dict]:
    if method == "procrustes":
        rows = split.fit
        mu_s, mu_t = src[rows].mean(axis=0), tgt[rows].mean(axis=0)
        w, scale = _procrustes(src[rows] - mu_s, tgt[rows] - mu_t)
        return {"mean_src": mu_s, "W": scale * w, "mean_tgt": mu_t}, {"scale": scale}
    # ridge: choose lambda on the inner rows with a fit on the train rows, then refit on both
    mu_s, mu_t = src[split.train].mean(axis=0), tgt[split.train].mean(axis=0)
    scores = []
    for lam, w in _ridge_solutions(src[split.train] - mu_s, tgt[split.train] - mu_t, RIDGE_GRID):
        pred = (src[split.inner] - mu_s) @ w + mu_t  # (n_inner, Dt)
        got = pair_metrics(pred.astype(np.float32), tgt[split.inner])
        cosine = float(np.mean(np.sum(unit(pred.astype(np.float32), "ridge") * tgt[split.inner], axis=1)))
        scores.append(((got["MRR"], cosine), lam))
    alpha_index = max(range(len(scores)), key=lambda i: scores[i][0])
    report(0.5, f"ridge: lambda {scores[alpha_index][1]:.3g} chosen on {len(split.inner)} inner rows")
    rows = split.fit
    mu_s, mu_t = src[rows].mean(axis=0), tgt[rows].mean(axis=0)
    lam, w = _ridge_solutions(src[rows] - mu_s, tgt[rows] - mu_t, [RIDGE_GRID[alpha_index]])[0]
    return {"mean_src": mu_s, "W": w, "mean_tgt": mu_t}, {
        "lambda": lam,
        "alpha": RIDGE_GRID[alpha_index],
        "inner_MRR": scores[alpha_index][0][0],
    }


def resolve_noise(config: MLPConfig, source_dim: int) -> float:
    """The noise std an MLP fit uses: the configured one, or 1 / sqrt(Ds)."""
    noise = config.noise_std if config.noise_std is not None else 1.0 / np.sqrt(source_dim)
    if not noise >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise}")
    return float(noise)


def _fit_mlp(
    src: np.ndarray, tgt: np.ndarray, split: Split, config: MLPConfig, seed: int, report: Progress
) -> tuple[dict, History, dict]:
    train_cfg = config.train
    device = pick_device(train_cfg.device)
    ds, dt = src.shape[1], tgt.shape[1]
    hidden = config.hidden or 2 * max(ds, dt)
    noise_std = resolve_noise(config, ds)
    mu_s = src[split.train].mean(axis=0)  # (Ds,) the text centre; audio stays offset from it, by design
    model = seeded_init(seed, lambda: _MLP(ds, dt, hidden, train_cfg.temperature, train_cfg.learn_temperature))
    with torch.no_grad():
        model.fc2.weight.mul_(0.1)  # start close to the linear path
        if config.init_from_ridge:
            ((lam, w),) = _ridge_solutions(src[split.train] - mu_s, tgt[split.train] - tgt[split.train].mean(0), [1e-2])
            model.skip.weight.copy_(torch.from_numpy(w.T.astype(np.float32)))
            model.skip.bias.copy_(torch.from_numpy(tgt[split.train].mean(0)))
    model.to(device)
    x_train = torch.from_numpy(src[split.train]).to(device)  # (n, Ds) unit
    y_train = torch.from_numpy(tgt[split.train]).to(device)  # (n, Dt) unit
    x_inner = torch.from_numpy(src[split.inner] - mu_s).to(device)
    y_inner = torch.from_numpy(tgt[split.inner]).to(device)
    centre = torch.from_numpy(mu_s).to(device)

    def batch_loss(idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = x_train[idx]  # (B, Ds)
        if noise_std > 0:
            noise = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype)
            x = F.normalize(x + noise_std * noise, dim=-1)  # stays on the sphere, like real embeddings
        return info_nce(model(x - centre), y_train[idx], model.logit_scale)

    reference = torch.tensor(float(np.log(1.0 / train_cfg.temperature)), device=device)

    def val_loss() -> float:  # at the fixed starting temperature: see fit_contrastive
        return float(info_nce(model(x_inner), y_inner, reference))

    history = fit_contrastive(
        model,
        batch_loss,
        val_loss,
        n_train=len(split.train),
        config=train_cfg,
        seed=seed,
        device=device,
        progress=report,
        label="mlp bridge",
    )
    weights = {"mean_src": mu_s, **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}}
    info = {
        "hidden": hidden,
        "device": str(device),
        "temperature": float(np.exp(-model.logit_scale.item())),
        "train_config": {k: getattr(train_cfg, k) for k in train_cfg.__dataclass_fields__},
        "init_from_ridge": config.init_from_ridge,
    }
    return weights, history, info


def fit_bridge(
    src: np.ndarray,
    tgt: np.ndarray,
    *,
    method: Method = "procrustes",
    seed: int = 0,
    val_fraction: float = 0.2,
    progress: Progress | None = None,
    key: Mapping[str, str] | None = None,
    mlp: MLPConfig = DEFAULT_MLP,
) -> Bridge:
    """Fit a SRC (N, Ds) -> TGT (N, Dt) bridge (row i of src pairs with row i of tgt) and score it held out.

    `key` names the two spaces (source_id, source_rev, target_id, target_rev), stored with the bridge.
    Needs at least `MIN_ROWS` rows; ValueError names mismatched shapes, the first NaN/inf row, or the count.
    """
    if method not in METHODS:
        raise ValueError(f"unknown bridge method {method!r} (expected one of {', '.join(METHODS)})")
    report = progress or (lambda fraction, message: None)
    s, t = check_paired(src, tgt)
    split = split_rows(len(s), val_fraction=val_fraction, seed=seed)
    report(0.0, f"{method}: fitting on {len(split.fit)} rows, {len(split.heldout)} held out")
    history, noise = History(), 0.0
    if method == "mlp":
        weights, history, info = _fit_mlp(s, t, split, mlp, seed, report)
        noise = resolve_noise(mlp, s.shape[1])
    else:
        weights, info = _fit_linear(method, s, t, split, report)
    info = {
        "seed": seed,
        "val_fraction": val_fraction,
        "n_rows": len(s),
        "n_train": len(split.train),
        "n_inner": len(split.inner),
        "n_heldout": len(split.heldout),
        **info,
    }
    bridge = Bridge(method, s.shape[1], t.shape[1], _readonly(weights), {}, dict(key or {}), noise, history, {}, info)
    heldout = pair_metrics(bridge.apply(s[split.heldout]), t[split.heldout])
    report(
        1.0,
        f"{method}: held-out R@1 {heldout['R@1']:.3f}, MRR {heldout['MRR']:.3f} (chance {heldout['chance_R@1']:.3f})",
    )
    return replace(bridge, heldout=heldout)


def fit_best(
    src: np.ndarray,
    tgt: np.ndarray,
    *,
    methods: Sequence[Method] = METHODS,
    seed: int = 0,
    val_fraction: float = 0.2,
    progress: Progress | None = None,
    key: Mapping[str, str] | None = None,
    mlp: MLPConfig = DEFAULT_MLP,
) -> Bridge:
    """Fit every method on the same split; keep the best held-out R@1 (then MRR). All scores: `.candidates`."""
    if not methods:
        raise ValueError("need at least one method to choose from")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown bridge method(s) {unknown} (expected some of {', '.join(METHODS)})")
    report = progress or (lambda fraction, message: None)
    fitted: dict[str, Bridge] = {}
    for i, method in enumerate(methods):

        def sub(fraction: float, message: str, i: int = i) -> None:
            report((i + fraction) / len(methods), message)

        fitted[method] = fit_bridge(
            src, tgt, method=method, seed=seed, val_fraction=val_fraction, progress=sub, key=key, mlp=mlp
        )
    best = max(fitted.values(), key=lambda b: rank_key(dict(b.heldout)))
    report(1.0, f"best bridge: {best.method} (held-out R@1 {best.heldout['R@1']:.3f})")
    return replace(best, candidates={m: dict(b.heldout) for m, b in fitted.items()})


# ---------------------------------------------------------------------------- persistence


def save_bridge(path: str | os.PathLike, bridge: Bridge) -> Path:
    """Write weights + metadata (format, method, key, dims, held-out metrics, noise std...) as .safetensors."""
    return save_checkpoint(path, bridge.weights, bridge.to_json(), format=FORMAT, kind="bridge")


def load_bridge(path: str | os.PathLike, *, name: str | None = None) -> Bridge:
    """Read a bridge written by `save_bridge`; InputError (a ValueError) names the file and what is wrong: its
    kind, its method, its metadata, or a tensor whose shape disagrees with the declared dimensions."""
    path = Path(path)
    name = name or display_name(path)
    weights, data = load_checkpoint(path, format=FORMAT, kind="bridge", name=name)
    method = data.get("method")
    if method not in METHODS:
        raise InputError(name, f"unknown bridge method {shown(repr(method), limit=60)} (expected {', '.join(METHODS)})")
    ds = meta_int(data, "source_dim", name=name)
    dt = meta_int(data, "target_dim", name=name)
    check_shapes(weights, _expected_shapes(method, ds, dt, weights, name), name=name, kind=f"{method} bridge")
    try:
        history = History.from_json(meta_mapping(data, "history", name=name))
    except (TypeError, ValueError, AttributeError):
        raise InputError(name, "metadata 'history' is malformed (expected lists of losses)") from None
    return Bridge(
        method,  # type: ignore[arg-type]  # checked against METHODS above
        ds,
        dt,
        _readonly(weights),
        meta_mapping(data, "heldout", name=name, values=(int, float), what="numbers"),
        meta_mapping(data, "key", name=name, values=(str,), what="strings"),
        meta_number(data, "noise_std", name=name),
        history,
        meta_mapping(data, "candidates", name=name, values=(dict,), what="objects"),
        meta_mapping(data, "info", name=name),
    )


def _expected_shapes(
    method: str, ds: int, dt: int, weights: Mapping[str, np.ndarray], name: str
) -> dict[str, tuple[int, ...]]:
    """The tensors a bridge of this method and these dimensions holds, with their shapes."""
    if method != "mlp":
        return {"mean_src": (ds,), "W": (ds, dt), "mean_tgt": (dt,)}
    fc1 = weights.get("fc1.weight")
    if fc1 is None or fc1.ndim != 2 or not 1 <= fc1.shape[0] <= MAX_DIM:
        raise InputError(name, "mlp bridge has no usable 'fc1.weight' (hidden, source_dim) tensor")
    hidden = int(fc1.shape[0])
    with torch.device("meta"):  # shapes only: nothing is allocated
        module = _MLP(ds, dt, hidden)
    return {"mean_src": (ds,), **{key: tuple(value.shape) for key, value in module.state_dict().items()}}


def _slug(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text or "none").strip("_.")[:60] or "none"


def bridge_cache_path(
    root: str | os.PathLike, source_id: str, source_rev: str | None, target_id: str, target_rev: str | None
) -> Path:
    """Where the bridge between two backbones lives: readable names plus a hash of the exact key (no clashes)."""
    exact = json.dumps([source_id, source_rev, target_id, target_rev])
    digest = hashlib.sha256(exact.encode()).hexdigest()[:12]
    name = f"{_slug(source_id)}@{_slug(source_rev)[:12]}--{_slug(target_id)}@{_slug(target_rev)[:12]}-{digest}"
    return Path(root) / "bridges" / f"{name}.safetensors"


def bridge_key(source_id: str, source_rev: str | None, target_id: str, target_rev: str | None) -> dict[str, str]:
    """The `key` dict stored with a bridge (None revisions become '')."""
    return dict(zip(KEY_FIELDS, (source_id, source_rev or "", target_id, target_rev or ""), strict=True))
