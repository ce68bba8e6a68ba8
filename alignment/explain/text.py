"""Which words drive a match: per-token relevance of a text against a fixed image or audio embedding.

Shared by `explain_image` (CLIP text tower) and `explain_audio` (CLAP's RoBERTa text tower). Two methods:

- ``gradient``: gradient x input on the token embeddings (the output of the word-embedding table, before
  position embeddings), summed over the hidden dimension. Signed: a negative token pushes the score down.
  Cheap (one forward and one backward pass, any attention implementation). Caveat: in a pre-LayerNorm
  transformer the first layer sees each token only through a scale-invariant LayerNorm, so what this
  measures comes from the position embeddings and the later layers; it is noisier than rollout.
- ``rollout``: Chefer et al. (2021) gradient-weighted attention rollout, read on the row of the token the
  text tower pools (CLIP: the end-of-text token; CLAP/RoBERTa: the first token). Non-negative. Needs eager
  attention, so it runs on the encoder's eager view (`alignment.explain.eager.eager_encoder`: same weights).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F

from .eager import eager_encoder
from .rollout import chefer_rollout
from .tokens import pooled_index, token_labels

if TYPE_CHECKING:
    from ..models.encoders import ClapEncoder, ClipEncoder

TextMethod = Literal["gradient", "rollout"]


@dataclass(frozen=True)
class TokenRelevance:
    """Relevance of each non-special token of a text for its similarity with one image or audio clip."""

    tokens: list[str]  # readable token strings, special tokens dropped
    relevance: np.ndarray  # (n_tokens,) gradient: raw / max|raw| in [-1, 1]; rollout: raw / max in [0, 1]
    raw: np.ndarray  # (n_tokens,) before normalization
    method: TextMethod
    score: float  # cosine between the text embedding and the target embedding

    def pairs(self) -> list[tuple[str, float]]:
        """[(token, relevance)] in text order, the shape tokens.json and a bar chart want."""
        return [(t, float(r)) for t, r in zip(self.tokens, self.relevance, strict=True)]


# ---------------------------------------------------------------------------- token relevance


def _tokenize(encoder: ClipEncoder | ClapEncoder, text: str) -> dict[str, torch.Tensor]:
    batch = encoder.tokenizer([text], truncation=True, max_length=encoder.max_text_tokens, return_tensors="pt")
    return {k: v.to(encoder.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.float(), dim=-1)


def _text_features(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], **kwargs: object
) -> tuple[torch.Tensor, object]:
    out = model.get_text_features(**inputs, **kwargs)  # type: ignore[operator]
    pooled = out if isinstance(out, torch.Tensor) else out.pooler_output
    return pooled, out


def _normalized(raw: np.ndarray, *, signed: bool) -> np.ndarray:
    scale = float(np.abs(raw).max()) if raw.size else 0.0
    if not np.isfinite(scale) or scale == 0.0:
        return np.zeros_like(raw, dtype=np.float32)
    out = raw / scale
    return (out if signed else np.clip(out, 0.0, 1.0)).astype(np.float32)


def token_relevance(
    encoder: ClipEncoder | ClapEncoder, text: str, target: torch.Tensor, *, method: TextMethod = "gradient"
) -> TokenRelevance:
    """Relevance of each token of `text` for cos(text embedding, `target`); `target` is one embedding (D,)."""
    if method not in ("gradient", "rollout"):
        raise ValueError(f"unknown text relevance method {method!r} (expected 'gradient' or 'rollout')")
    # clone: a normal tensor even if `target` was made in inference mode (those cannot be saved for backward)
    target = _unit(target.detach().reshape(-1).clone()).to(encoder.device)
    inputs = _tokenize(encoder, text)
    ids = inputs["input_ids"]
    with torch.inference_mode(False), torch.enable_grad():
        if method == "gradient":
            raw, score = _gradient_x_input(encoder, inputs, target)
        else:
            raw, score = _text_rollout(encoder, inputs, target)
    special = set(encoder.tokenizer.all_special_ids)
    keep = [i for i, t in enumerate(ids[0].tolist()) if t not in special]
    labels = token_labels(encoder.tokenizer, ids[0].tolist())
    raw = raw[keep].astype(np.float32)
    return TokenRelevance(
        tokens=[labels[i] for i in keep],
        relevance=_normalized(raw, signed=method == "gradient"),
        raw=raw,
        method=method,
        score=score,
    )


def _gradient_x_input(
    encoder: ClipEncoder | ClapEncoder, inputs: dict[str, torch.Tensor], target: torch.Tensor
) -> tuple[np.ndarray, float]:
    captured: list[torch.Tensor] = []
    table = encoder.model.text_model.get_input_embeddings()  # type: ignore[attr-defined]
    me = threading.get_ident()  # the model is shared: capture this thread's forward pass only

    def hook(_module: torch.nn.Module, _inputs: object, out: torch.Tensor) -> None:
        if threading.get_ident() == me and not captured:
            captured.append(out)

    handle = table.register_forward_hook(hook)
    try:
        pooled, _ = _text_features(encoder.model, inputs)
    finally:
        handle.remove()
    score = F.cosine_similarity(pooled.float(), target[None], dim=-1)[0]
    (grad,) = torch.autograd.grad(score, captured[0])
    raw = (grad * captured[0]).sum(dim=-1)[0]  # (T,)
    return raw.detach().float().cpu().numpy(), float(score.detach())


def _text_rollout(
    encoder: ClipEncoder | ClapEncoder, inputs: dict[str, torch.Tensor], target: torch.Tensor
) -> tuple[np.ndarray, float]:
    eager = eager_encoder(encoder)
    pooled, out = _text_features(eager.model, inputs, output_attentions=True)
    attentions = list(out.attentions)  # type: ignore[attr-defined]  # layers x (1, heads, T, T)
    score = F.cosine_similarity(pooled.float(), target[None], dim=-1)[0]
    grads = torch.autograd.grad(score, attentions)
    relevance = chefer_rollout(attentions, grads)  # (T, T)
    row = relevance[pooled_index(eager.model, inputs["input_ids"])]  # (T,)
    return row.detach().cpu().numpy(), float(score.detach())


__all__ = ["TextMethod", "TokenRelevance", "token_relevance"]
