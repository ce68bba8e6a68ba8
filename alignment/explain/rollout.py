"""Gradient-weighted attention rollout (Chefer et al. 2021), shared by the image and text explanations."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def chefer_rollout(attentions: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]) -> torch.Tensor:
    """Gradient-weighted attention rollout (Chefer et al. 2021, eq. 5-6): R = I; R += mean_h((grad * A)^+) @ R.

    `attentions[l]` and `gradients[l]` are one layer's attention map and the score's gradient w.r.t. it,
    (heads, T, T) or (1, heads, T, T). Returns R, (T, T): row i says how much each token contributed to token i.
    """
    if len(attentions) != len(gradients) or not attentions:
        raise ValueError(
            f"need one gradient per attention map (got {len(attentions)} maps and {len(gradients)} gradients)"
        )
    first = attentions[0].reshape(-1, *attentions[0].shape[-2:])
    relevance = torch.eye(first.shape[-1], dtype=torch.float32, device=first.device)  # (T, T)
    for attn, grad in zip(attentions, gradients, strict=True):
        attn = attn.reshape(-1, *attn.shape[-2:]).float()  # (heads, T, T)
        grad = grad.reshape(attn.shape).float()
        cam = (grad * attn).clamp(min=0).mean(dim=0)  # (T, T)
        relevance = relevance + cam @ relevance
    return relevance
