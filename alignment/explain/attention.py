"""Raw attention maps of one item, per layer and head, from the encoder's eager-attention view (`eager`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from .eager import eager_encoder
from .maps import patch_grid
from .tokens import pooled_index, token_labels

if TYPE_CHECKING:
    from ..models.encoders import ClapEncoder, ClipEncoder


@dataclass(frozen=True)
class AttentionMaps:
    """Every attention map of one tower for one item: `attentions[l, h, i, j]` = how much token i reads token j."""

    attentions: np.ndarray  # (layers, heads, T, T) float32, each row sums to 1
    labels: list[str]  # (T,) text tokens (specials verbatim), or "CLS" then "(row,col)" patch positions
    tower: str  # "clip-text", "clip-image" or "clap-text"
    pooled: int = 0  # the token whose output becomes the embedding: CLS for images and CLAP, end-of-text for CLIP
    grid: tuple[int, int] | None = None  # the patch grid (rows, cols) of an image tower; None for text

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self.attentions.shape  # type: ignore[return-value]

    def _check(self, layer: int, head: int | None) -> None:
        layers, heads = self.shape[:2]
        if not 0 <= layer < layers:
            raise ValueError(f"{self.tower}: layer {layer} does not exist (the tower has layers 0-{layers - 1})")
        if head is not None and not 0 <= head < heads:
            raise ValueError(f"{self.tower}: head {head} does not exist (each layer has heads 0-{heads - 1})")

    def map(self, layer: int, head: int | None = None) -> np.ndarray:
        """(T, T) attention of one head, or the mean over the layer's heads when `head` is None (rows sum to 1)."""
        self._check(layer, head)
        block = self.attentions[layer]
        return block.mean(axis=0) if head is None else block[head]

    def pooled_row(self, layer: int, head: int | None = None) -> np.ndarray:
        """(T,) how much the pooled token reads each token in that layer: what the embedding is gathered from."""
        return self.map(layer, head)[self.pooled]

    def patch_map(self, layer: int, head: int | None = None) -> np.ndarray:
        """(rows, cols) the CLS token's attention over the image patches, CLS itself left out (image towers)."""
        if self.grid is None:
            raise ValueError(f"{self.tower}: a text tower has no patch grid")
        return self.pooled_row(layer, head)[1:].reshape(self.grid)


# ---------------------------------------------------------------------------- attention maps


def patch_labels(grid: tuple[int, int]) -> list[str]:
    """'CLS' then '(row,col)' for each patch, row-major: the order of CLIP's vision tokens."""
    return ["CLS"] + [f"({r},{c})" for r in range(grid[0]) for c in range(grid[1])]


def _stack(attentions: tuple[torch.Tensor, ...] | None, tower: str) -> np.ndarray:
    if not attentions or any(a is None for a in attentions):
        raise ValueError(f"{tower}: the model returned no attention weights (it is not running eager attention)")
    return torch.stack([a[0] for a in attentions]).float().cpu().numpy()  # (layers, heads, T, T)


@torch.inference_mode()
def attention_maps(encoder: ClipEncoder | ClapEncoder, item: str | Image.Image) -> AttentionMaps:
    """Attention maps of the tower that reads `item`: a text (CLIP or CLAP) or an image (CLIP)."""
    from ..models.encoders import ClipEncoder

    eager = eager_encoder(encoder)
    if isinstance(item, str):
        batch = eager.tokenizer([item], truncation=True, max_length=eager.max_text_tokens, return_tensors="pt")
        inputs = {k: v.to(eager.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        out = eager.model.get_text_features(**inputs, output_attentions=True)
        tower = f"{eager.role}-text"
        labels = token_labels(eager.tokenizer, inputs["input_ids"][0].tolist())
        pooled = pooled_index(eager.model, inputs["input_ids"])
        return AttentionMaps(_stack(out.attentions, tower), labels, tower, pooled=pooled)
    if isinstance(item, Image.Image):
        if not isinstance(eager, ClipEncoder):
            raise ValueError(f"images go through the CLIP encoder, not {type(encoder).__name__}")
        pixels = eager.prepare_image([item])[0].to(eager.device, eager.dtype)
        out = eager.model.get_image_features(pixel_values=pixels, output_attentions=True)
        maps = _stack(out.attentions, "clip-image")
        grid = patch_grid(eager.model)
        labels = patch_labels(grid)
        if maps.shape[-1] != len(labels):
            raise ValueError(f"clip-image: {maps.shape[-1]} tokens, but the config's patch grid gives {len(labels)}")
        return AttentionMaps(maps, labels, "clip-image", pooled=0, grid=grid)
    raise ValueError(
        f"attention maps exist for texts and images (got {type(item).__name__}); CLAP's audio tower (HTSAT) is a Swin "
        "transformer whose attention is local to shifted windows and whose heads and token counts change per stage, "
        "so it has no (layers, heads, T, T) map"
    )


__all__ = ["AttentionMaps", "attention_maps", "patch_labels"]
