"""Fusion: a multi-modal item (e.g. a product = photo + description + sound) becomes one unit vector.

Input: M modality embeddings already in one shared space (bridged into CLIP space where needed), each
(N, D) pooled or (N, T_m, D) token-level, plus a presence mask (N, M) for missing modalities. Methods:

* `mean`: the mean of the present (unit) modality embeddings; no parameters.
* `concat`: the modality embeddings concatenated (absent ones as zeros), then a linear projection
  (M * D -> D), initialised to the mean so training starts from the `mean` baseline.
* `weighted`: learned softmax weights over modalities (renormalised over the present ones), initialised equal.
* `attention`: a learned query per head attends over the modality embeddings (or over all their tokens):
  keys = W_k x + e_m (a learned modality embedding), values = the embeddings themselves split into heads,
  so the attention weights are literally how much of each modality goes into the fused vector; a
  zero-initialised output projection is added residually. Attention per item (N, M) = mean over heads, summed
  over each modality's tokens. With the query at zero it starts as `mean`.

Training: symmetric InfoNCE between the fused vector and a target embedding (e.g. the paired caption's
text embedding), AdamW, seeded three-way split (fit / early-stopping rows / held-out rows), optional modality
dropout. Held-out metrics: fused -> target retrieval (R@1, MRR, ...; pair key = row index).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import InputError
from ..core.names import display_name, shown
from .checkpoint import check_shapes, load_checkpoint, meta_int, meta_mapping, meta_strings, save_checkpoint
from .contrastive import (
    History,
    TrainConfig,
    seeded_init,
)
from .fusion_data import METHODS, Method

FORMAT = "alignment.fusion/1"
__all__ = ["FusionModel", "METHODS", "Views", "load_fusion", "prepare_views", "save_fusion"]

Views = Sequence[np.ndarray]  # M arrays, each (N, D) or (N, T_m, D)
GATE_LR_SCALE = 10.0  # the few parameters that set the mixing (weights' logits, query, modality embedding)
# learn this much faster: Adam moves a logit by about lr per step, and the user's data give few steps
DEFAULT_TRAIN = TrainConfig(lr=3e-3, batch_size=128)


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True, eq=False)
class Prepared:
    """Validated views: pooled (N, M, D) unit rows, tokens (N, T, D) with their modality, mask (N, M)."""

    pooled: np.ndarray  # (N, M, D) float32; zeros where a modality is absent
    tokens: np.ndarray  # (N, T, D) float32 unit tokens (T = M when every view is pooled)
    token_modality: np.ndarray  # (T,) int64 modality of each token
    mask: np.ndarray  # (N, M) bool, True = present


def prepare_views(
    views: Views, mask: np.ndarray | None = None, *, dim: int | None = None, n_modalities: int | None = None
) -> Prepared:
    """Check M views of N items (same N, same D, finite where present) and normalise them.

    Values of absent entries (mask False) are ignored, NaN included. Every item needs one present modality.
    """
    if isinstance(views, np.ndarray) and views.ndim == 3 and views.dtype.kind == "f":
        views = list(np.moveaxis(views, 1, 0))  # (N, M, D) -> M x (N, D)
    views = list(views)
    if not views:
        raise ValueError("need at least one modality view")
    if n_modalities is not None and len(views) != n_modalities:
        raise ValueError(f"expected {n_modalities} modality views, got {len(views)}")
    arrays = []
    for m, view in enumerate(views):
        array = np.asarray(view)
        if array.dtype.hasobject or array.dtype.kind not in "fiu":
            raise ValueError(f"view {m} must be a float array, got dtype {array.dtype}")
        if array.ndim not in (2, 3) or 0 in array.shape:
            raise ValueError(f"view {m} must be (N, D) or (N, T, D) and non-empty, got shape {array.shape}")
        arrays.append(array.astype(np.float32, copy=False))
    n = len(arrays[0])
    shapes = [a.shape for a in arrays]
    if any(len(a) != n for a in arrays):
        raise ValueError(
            f"every view needs one row per item: got row counts {[s[0] for s in shapes]} (shapes {shapes})"
        )
    d = dim if dim is not None else arrays[0].shape[-1]
    if any(a.shape[-1] != d for a in arrays):
        raise ValueError(f"views must share one embedding dimension {d}: got shapes {shapes}")
    m_count = len(arrays)
    present = np.ones((n, m_count), dtype=bool) if mask is None else np.asarray(mask)
    if present.shape != (n, m_count) or present.dtype.kind not in "biu":
        raise ValueError(
            f"mask must be a bool array (N, M) = ({n}, {m_count}), got shape {present.shape} dtype {present.dtype}"
        )
    present = present.astype(bool)
    empty = np.flatnonzero(~present.any(axis=1))
    if empty.size:
        raise ValueError(f"item {empty[0]} has no modality present ({empty.size} such items); drop it or mark one")

    pooled = np.zeros((n, m_count, d), dtype=np.float32)
    token_parts, token_modality = [], []
    for m, array in enumerate(arrays):
        tokens = array if array.ndim == 3 else array[:, None, :]  # (N, T_m, D)
        tokens = np.where(present[:, m, None, None], tokens, 0.0).astype(np.float32)  # absent: ignored values
        flat = tokens.reshape(-1, d)  # (N * T_m, D)
        finite = np.isfinite(flat).all(axis=1).reshape(n, -1).all(axis=1)  # (N,)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(
                f"view {m} row {bad[0]} holds NaN or infinite values ({bad.size} bad rows of {n}); "
                "mark missing modalities in the mask instead"
            )
        norms = np.linalg.norm(tokens.astype(np.float64), axis=-1)  # (N, T_m)
        zero = np.argwhere((norms == 0) & present[:, m, None])
        if len(zero):
            raise ValueError(f"view {m} row {zero[0][0]} is all zeros (no direction); mark it missing in the mask")
        tokens = (tokens / np.where(norms == 0, 1.0, norms)[..., None]).astype(np.float32)
        mean = tokens.mean(axis=1)  # (N, D) pooled; for pooled views the row itself
        pooled_norm = np.linalg.norm(mean, axis=1, keepdims=True)
        pooled[:, m] = np.where(pooled_norm > 0, mean / np.where(pooled_norm == 0, 1.0, pooled_norm), 0.0)
        token_parts.append(tokens)
        token_modality += [m] * tokens.shape[1]
    return Prepared(pooled, np.concatenate(token_parts, axis=1), np.asarray(token_modality, dtype=np.int64), present)


# ---------------------------------------------------------------------------- the model


class FusionNet(nn.Module):
    """One module for every method: (tokens, token modality, mask) -> (unit fused (B, D), weights (B, M) | None)."""

    def __init__(
        self,
        method: Method,
        n_modalities: int,
        dim: int,
        heads: int = 1,
        temperature: float = 0.05,
        learn_temperature: bool = True,
    ) -> None:
        super().__init__()
        self.method, self.n_modalities, self.dim, self.heads = method, n_modalities, dim, heads
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1.0 / temperature))), requires_grad=learn_temperature)
        if method == "concat":
            self.proj = nn.Linear(n_modalities * dim, dim)
            with torch.no_grad():  # start at the mean of the modalities
                self.proj.weight.copy_(torch.eye(dim).repeat(1, n_modalities) / n_modalities)
                self.proj.bias.zero_()
        elif method == "weighted":
            self.logits = nn.Parameter(torch.zeros(n_modalities))
        elif method == "attention":
            if dim % heads:
                raise ValueError(f"dim must be divisible by heads (got dim {dim} and heads {heads})")
            self.query = nn.Parameter(torch.zeros(heads, dim // heads))  # zero: uniform attention = mean
            self.key = nn.Linear(dim, dim)
            # small random, not zero: query and modality embedding both at zero would be a saddle point
            self.modality_embedding = nn.Parameter(torch.randn(n_modalities, dim) * 0.02)
            self.out = nn.Linear(dim, dim)
            with torch.no_grad():
                self.key.weight.normal_(std=dim**-0.5)
                self.key.bias.zero_()
                self.out.weight.zero_()
                self.out.bias.zero_()

    def param_groups(self, lr: float) -> list[dict]:
        """AdamW groups: the mixing parameters at GATE_LR_SCALE x lr, the rest at lr."""
        gates = {"logits", "query", "modality_embedding"}
        fast = [p for name, p in self.named_parameters() if name in gates and p.requires_grad]
        rest = [p for name, p in self.named_parameters() if name not in gates and p.requires_grad]
        return [{"params": rest, "lr": lr}, {"params": fast, "lr": lr * GATE_LR_SCALE}]

    def forward(
        self, pooled: torch.Tensor, tokens: torch.Tensor, token_modality: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # pooled (B, M, D), tokens (B, T, D), token_modality (T,), mask (B, M) bool
        weights: torch.Tensor | None = None
        if self.method == "mean":
            present = mask.to(pooled.dtype)[..., None]  # (B, M, 1)
            fused = (pooled * present).sum(1) / present.sum(1)
        elif self.method == "concat":
            fused = self.proj((pooled * mask[..., None]).flatten(1))  # (B, M * D) -> (B, D)
        elif self.method == "weighted":
            logits = self.logits.expand(mask.shape).masked_fill(~mask, float("-inf"))  # (B, M)
            weights = logits.softmax(dim=-1)
            fused = torch.einsum("bm,bmd->bd", weights, pooled)
        else:
            fused, weights = self._attend(tokens, token_modality, mask)
        return F.normalize(fused, dim=-1), weights

    def _attend(
        self, tokens: torch.Tensor, token_modality: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = tokens.shape
        h, dh = self.heads, d // self.heads
        keys = self.key(tokens) + self.modality_embedding[token_modality]  # (B, T, D)
        scores = torch.einsum("bthe,he->bht", keys.view(b, t, h, dh), self.query) / dh**0.5  # (B, H, T)
        token_present = mask[:, token_modality]  # (B, T)
        attn = scores.masked_fill(~token_present[:, None, :], float("-inf")).softmax(dim=-1)  # (B, H, T)
        mixed = torch.einsum("bht,bthe->bhe", attn, tokens.view(b, t, h, dh)).reshape(b, d)  # (B, D)
        per_modality = torch.zeros(b, self.n_modalities, dtype=attn.dtype, device=attn.device)
        per_modality.index_add_(1, token_modality, attn.mean(dim=1))  # (B, T) summed into (B, M)
        return mixed + self.out(mixed), per_modality


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class FusionModel:
    """A trained fusion head; `apply` gives unit fused vectors (N, D) and, for weighted/attention, weights (N, M)."""

    method: Method
    n_modalities: int
    dim: int
    heads: int
    weights: Mapping[str, np.ndarray]  # read-only float32 state dict of the module (mean: logit_scale only)
    heldout: Mapping[str, float] = field(default_factory=dict)  # fused -> target on held-out rows
    history: History = field(default_factory=History)  # per-epoch train / validation loss
    names: tuple[str, ...] = ()  # modality names, for display ("image", "text", "audio")
    info: Mapping[str, object] = field(default_factory=dict)  # seed, split sizes, config, device...

    @cached_property
    def net(self) -> FusionNet:
        module = seeded_init(0, lambda: FusionNet(self.method, self.n_modalities, self.dim, self.heads))
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.weights.items()})
        return module.eval()

    def apply(self, views: Views, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Fuse M views of N items (CPU, deterministic) -> (unit (N, D) float32, weights (N, M) or None)."""
        prepared = prepare_views(views, mask, dim=self.dim, n_modalities=self.n_modalities)
        with torch.inference_mode():
            fused, weights = self.net(*prepared_tensors(prepared, torch.device("cpu")))
        return fused.numpy(), (weights.numpy() if weights is not None else None)

    @property
    def modality_weights(self) -> np.ndarray | None:
        """(M,) the learned softmax weights of `weighted` (all modalities present); None for other methods."""
        if self.method != "weighted":
            return None
        return torch.from_numpy(np.array(self.weights["logits"])).softmax(dim=0).numpy()

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "method": self.method,
            "n_modalities": self.n_modalities,
            "dim": self.dim,
            "heads": self.heads,
            "heldout": dict(self.heldout),
            "history": self.history.to_json(),
            "names": list(self.names),
            "info": dict(self.info),
        }


def prepared_tensors(p: Prepared, device: torch.device, rows: np.ndarray | None = None) -> tuple[torch.Tensor, ...]:
    pick = slice(None) if rows is None else rows
    return (
        torch.from_numpy(p.pooled[pick]).to(device),
        torch.from_numpy(p.tokens[pick]).to(device),
        torch.from_numpy(p.token_modality).to(device),
        torch.from_numpy(p.mask[pick]).to(device),
    )


def readonly_weights(weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, value in weights.items():
        array = np.ascontiguousarray(value, dtype=np.float32).copy()
        array.flags.writeable = False
        out[name] = array
    return out


def default_heads(dim: int) -> int:
    """8 heads of >= 16 dims where the width allows (CLIP's 512 -> 8 x 64), else fewer, down to 1."""
    for heads in (8, 4, 2):
        if dim % heads == 0 and dim // heads >= 16:
            return heads
    return 1


# ---------------------------------------------------------------------------- persistence


def save_fusion(path: str | os.PathLike, model: FusionModel) -> Path:
    """Write the head's weights and metadata (method, dims, heads, names, metrics, history) as .safetensors."""
    return save_checkpoint(path, model.weights, model.to_json(), format=FORMAT, kind="fusion model")


MAX_MODALITIES = 64


def load_fusion(path: str | os.PathLike, *, name: str | None = None) -> FusionModel:
    """Read a head written by `save_fusion`; InputError (a ValueError) names the file and what is wrong: its kind,
    method, metadata (dimension, views, heads, names), or tensors that differ from what that metadata implies."""
    path = Path(path)
    name = name or display_name(path)
    weights, data = load_checkpoint(path, format=FORMAT, kind="fusion model", name=name)
    method = data.get("method")
    if method not in METHODS:
        raise InputError(name, f"unknown fusion method {shown(repr(method), limit=60)} (expected {', '.join(METHODS)})")
    n_modalities = meta_int(data, "n_modalities", name=name, high=MAX_MODALITIES)
    dim = meta_int(data, "dim", name=name)
    heads = meta_int(data, "heads", name=name, high=dim)
    if method == "attention" and dim % heads:
        raise InputError(name, f"metadata 'dim' {dim} is not divisible by 'heads' {heads}")
    names = meta_strings(data, "names", name=name, count=n_modalities)
    with torch.device("meta"):  # the shapes this metadata implies, without allocating a (dim x dim) layer
        expected = {key: tuple(v.shape) for key, v in FusionNet(method, n_modalities, dim, heads).state_dict().items()}
    check_shapes(weights, expected, name=name, kind=f"{method} fusion")
    try:
        history = History.from_json(meta_mapping(data, "history", name=name))
    except (TypeError, ValueError, AttributeError):
        raise InputError(name, "metadata 'history' is malformed (expected lists of losses)") from None
    return FusionModel(
        method,
        n_modalities,
        dim,
        heads,
        readonly_weights(weights),
        meta_mapping(data, "heldout", name=name, values=(int, float), what="numbers"),
        history,
        names,
        meta_mapping(data, "info", name=name),
    )
