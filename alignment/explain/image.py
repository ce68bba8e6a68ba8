"""Why does this text match this image: patch relevance maps (MaskCLIP, gradient-weighted rollout) and word relevance.

Both maps are on CLIP's patch grid, read from the config (`image_size // patch_size` per side: 7 x 7 for
ViT-B/32, 14 x 14 for ViT-B/16), normalized to [0, 1], for the region of the image the model saw
(`ImageRelevance.box`: the processor resizes the short side and crops the centre).

MaskCLIP (Zhou et al., ECCV 2022). CLIP's final patch tokens are poorly localized: the last attention layer
mixes every token into every other. MaskCLIP keeps the *value* path of the last layer and drops its
query/key attention, i.e. each token attends only to itself:
``v = x + out_proj(v_proj(ln1(x))); v = v + mlp(ln2(v))``, then ``visual_projection(post_layernorm(v))``,
exactly as MaskCLIP's ViT backbone computes it. That is the default ``variant="value"``; ``variant="tokens"``
is the naive alternative (the last layer's output tokens through post-layernorm and the projection), kept
for comparison. The map is the cosine of each patch feature with the text embedding, min-max normalized.
Needs no attention weights, so it runs on the encoder as loaded (SDPA).

Rollout (Chefer et al., CVPR 2021, "Generic Attention-model Explainability"): eager attention, gradients of
the image-text cosine w.r.t. every layer's attention map, ``R = I; R += mean_heads((grad * A)^+) @ R``;
the CLS row over the patches, divided by its maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .eager import eager_encoder
from .maps import Box, normalize, patch_grid
from .rollout import chefer_rollout
from .text import TextMethod, TokenRelevance, token_relevance

if TYPE_CHECKING:
    from ..models.encoders import ClipEncoder

Variant = Literal["value", "tokens"]
Baseline = Literal["mean", "blur", "black"]


@dataclass(frozen=True)
class ImageRelevance:
    """A relevance map over CLIP's patch grid for one (text, image) pair."""

    method: str  # "maskclip" or "rollout"
    relevance: np.ndarray  # (grid_h, grid_w) float32 in [0, 1]
    raw: np.ndarray  # (grid_h, grid_w) before normalization (MaskCLIP: cosine per patch; rollout: CLS-row relevance)
    score: float  # cosine of the pair's global embeddings
    box: Box  # the region of the original image the model saw (resize + centre crop)

    @property
    def grid(self) -> tuple[int, int]:
        return self.relevance.shape  # type: ignore[return-value]


# ---------------------------------------------------------------------------- helpers


def _scaled(values: np.ndarray) -> np.ndarray:
    """Non-negative values divided by their maximum (0 stays 0, unlike min-max)."""
    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    top = float(values.max()) if values.size else 0.0
    if not np.isfinite(top) or top <= 0.0:
        return np.zeros(values.shape, dtype=np.float32)
    return (values / top).astype(np.float32)


def _check(encoder: object) -> None:
    model = getattr(encoder, "model", None)
    if not (hasattr(model, "vision_model") and hasattr(model, "visual_projection")):
        raise ValueError(
            f"patch relevance needs a CLIPModel (vision_model + visual_projection), got {type(model).__name__}"
        )


@torch.inference_mode()
def _text_embedding(encoder: ClipEncoder, text: str) -> torch.Tensor:
    return encoder.encode_text([text])[0].to(encoder.device)  # (D,) unit


def _pixels(encoder: ClipEncoder, image: Image.Image) -> torch.Tensor:
    return encoder.prepare_image([image.convert("RGB")])[0].to(encoder.device, encoder.dtype)  # (1, 3, H, W)


def model_view_box(encoder: ClipEncoder, size: tuple[int, int]) -> Box:
    """Where the processor's input lies in an image of `size` (w, h): CLIP resizes the short side, crops the centre."""
    width, height = size
    processor = getattr(encoder.processor, "image_processor", None)
    resize = dict(getattr(processor, "size", None) or {})
    crop = dict(getattr(processor, "crop_size", None) or {})
    crops = getattr(processor, "do_center_crop", False) and {"height", "width"} <= crop.keys()
    if not (getattr(processor, "do_resize", False) and "shortest_edge" in resize and crops):
        return (0.0, 0.0, float(width), float(height))  # e.g. a processor that resizes to a fixed square
    scale = resize["shortest_edge"] / min(width, height)
    crop_w, crop_h = crop["width"] / scale, crop["height"] / scale  # the crop in original pixels
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    return (max(0.0, left), max(0.0, top), min(float(width), left + crop_w), min(float(height), top + crop_h))


# ---------------------------------------------------------------------------- MaskCLIP


def _patch_features(encoder: ClipEncoder, image: Image.Image, variant: Variant) -> tuple[torch.Tensor, torch.Tensor]:
    """(unit patch features (P, D), unit image embedding (D,)) from one forward pass of the vision tower."""
    _check(encoder)
    if variant not in ("value", "tokens"):
        raise ValueError(f"unknown MaskCLIP variant {variant!r} (expected 'value' or 'tokens')")
    model = encoder.model
    vision = model.vision_model  # type: ignore[attr-defined]
    last = vision.encoder.layers[-1]
    with torch.inference_mode():
        # hidden_states rather than a hook on the shared model, which a concurrent bulk embedding could trigger
        out = vision(pixel_values=_pixels(encoder, image), output_hidden_states=True)
        if variant == "value":
            x = out.hidden_states[-2]  # (1, T, hidden): the last layer's input
            v = x + last.self_attn.out_proj(last.self_attn.v_proj(last.layer_norm1(x)))  # attention -> identity
            tokens = v + last.mlp(last.layer_norm2(v))  # (1, T, hidden)
        else:
            tokens = out.last_hidden_state  # (1, T, hidden)
        feats = model.visual_projection(vision.post_layernorm(tokens[0, 1:]))  # type: ignore[attr-defined]  # (P, D)
        image_emb = model.visual_projection(out.pooler_output[0])  # type: ignore[attr-defined]  # (D,)
    grid = patch_grid(model)
    if feats.shape[0] != grid[0] * grid[1]:
        raise ValueError(f"the vision tower gave {feats.shape[0]} patch tokens, but the config's grid is {grid}")
    return F.normalize(feats.float(), dim=-1), F.normalize(image_emb.float(), dim=-1)


def patch_features(encoder: ClipEncoder, image: Image.Image, *, variant: Variant = "value") -> torch.Tensor:
    """Unit-norm patch embeddings in the joint space, (grid_h * grid_w, D), row-major (see the module docstring)."""
    return _patch_features(encoder, image, variant)[0]


def maskclip(encoder: ClipEncoder, text: str, image: Image.Image, *, variant: Variant = "value") -> ImageRelevance:
    """MaskCLIP patch-text cosine map, (grid_h, grid_w) min-max normalized to [0, 1]."""
    feats, image_emb = _patch_features(encoder, image.convert("RGB"), variant)  # (P, D), (D,)
    text_emb = _text_embedding(encoder, text).float()
    with torch.inference_mode():
        cosine = (feats @ text_emb).cpu().numpy()  # (P,)
        score = float(image_emb @ text_emb)
    raw = cosine.reshape(patch_grid(encoder.model)).astype(np.float32)
    return ImageRelevance("maskclip", normalize(raw), raw, score, model_view_box(encoder, image.size))


# ---------------------------------------------------------------------------- rollout


def rollout(encoder: ClipEncoder, text: str, image: Image.Image) -> ImageRelevance:
    """Chefer et al. gradient-weighted attention rollout: the CLS row over the patches, (grid_h, grid_w) in [0, 1]."""
    _check(encoder)
    target = _text_embedding(encoder, text).float().clone()
    eager = eager_encoder(encoder)
    pixels = _pixels(eager, image)
    with torch.inference_mode(False), torch.enable_grad():
        target = target.clone()  # a normal tensor: inference tensors cannot be saved for backward
        out = eager.model.get_image_features(pixel_values=pixels, output_attentions=True)
        attentions = list(out.attentions)  # layers x (1, heads, T, T)
        score = F.cosine_similarity(out.pooler_output.float(), target[None], dim=-1)[0]
        grads = torch.autograd.grad(score, attentions)
    relevance = chefer_rollout(attentions, grads)  # (T, T)
    grid = patch_grid(encoder.model)
    if relevance.shape[0] != 1 + grid[0] * grid[1]:
        raise ValueError(f"the vision tower has {relevance.shape[0]} tokens, but the config's grid is {grid} (+ CLS)")
    raw = relevance[0, 1:].reshape(grid).detach().cpu().numpy().astype(np.float32)  # CLS row, patches only
    return ImageRelevance("rollout", _scaled(raw), raw, float(score.detach()), model_view_box(encoder, image.size))


def explain(
    encoder: ClipEncoder, text: str, image: Image.Image, *, method: Literal["maskclip", "rollout"] = "maskclip"
) -> ImageRelevance:
    """One entry point for both maps."""
    if method == "maskclip":
        return maskclip(encoder, text, image)
    if method == "rollout":
        return rollout(encoder, text, image)
    raise ValueError(f"unknown image relevance method {method!r} (expected 'maskclip' or 'rollout')")


# ---------------------------------------------------------------------------- words


def text_relevance(
    encoder: ClipEncoder, text: str, image: Image.Image, *, method: TextMethod = "gradient"
) -> TokenRelevance:
    """Which words of `text` drive its similarity with `image` (see alignment.explain.text)."""
    with torch.inference_mode():
        target = encoder.encode_image([image.convert("RGB")])[0]
    return token_relevance(encoder, text, target, method=method)


# ---------------------------------------------------------------------------- faithfulness score


def _blur(pixels: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (1, C, H, W), reflect padding."""
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=pixels.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).to(pixels.dtype)
    channels = pixels.shape[1]
    out = F.pad(pixels, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def image_score(encoder: ClipEncoder, text: str, image: Image.Image, *, baseline: Baseline = "mean") -> _PatchScore:
    """`score(mask) -> cosine(text, image with the patches where mask is False replaced)`, for `faithfulness`.

    `mask` is (grid_h * grid_w,) or (grid_h, grid_w) booleans, True = patch present. Replaced patches take
    ``mean``: 0 in the processor's normalized space, i.e. CLIP's dataset-mean colour (the default: it carries
    no edge or texture and is what the model sees as "average"); ``blur``: the same patch of a Gaussian-blurred
    copy (sigma = half a patch; keeps colours, removes detail); ``black``: black pixels.
    """
    _check(encoder)
    if baseline not in ("mean", "blur", "black"):
        raise ValueError(f"unknown deletion baseline {baseline!r} (expected 'mean', 'blur' or 'black')")
    grid = patch_grid(encoder.model)
    patch = int(encoder.model.config.vision_config.patch_size)  # type: ignore[attr-defined]
    pixels = _pixels(encoder, image)  # (1, 3, H, W)
    if baseline == "mean":
        filler = torch.zeros_like(pixels)
    elif baseline == "blur":
        filler = _blur(pixels, sigma=patch / 2)
    else:
        filler = _pixels(encoder, Image.new("RGB", image.size))
    return _PatchScore(encoder, pixels, filler, _text_embedding(encoder, text).float(), grid, patch)


class _PatchScore:
    """cosine(text, image with some patches replaced), for one mask or a batch of them (one forward)."""

    def __init__(
        self,
        encoder: ClipEncoder,
        pixels: torch.Tensor,
        filler: torch.Tensor,
        text_emb: torch.Tensor,
        grid: tuple[int, int],
        patch: int,
    ) -> None:
        self.encoder, self.pixels, self.filler, self.text_emb, self.grid, self.patch = (
            encoder,
            pixels,
            filler,
            text_emb,
            grid,
            patch,
        )

    @torch.inference_mode()
    def many(self, masks: np.ndarray) -> np.ndarray:
        keep = torch.as_tensor(np.asarray(masks, dtype=bool).reshape(-1, *self.grid), device=self.pixels.device)
        keep = keep.repeat_interleave(self.patch, 1).repeat_interleave(self.patch, 2)  # (M, H, W)
        masked = torch.where(keep[:, None], self.pixels, self.filler)  # (M, 3, H, W)
        out = self.encoder.model.get_image_features(pixel_values=masked)
        emb = out if isinstance(out, torch.Tensor) else out.pooler_output  # (M, D)
        return F.cosine_similarity(emb.float(), self.text_emb[None], dim=-1).cpu().numpy()  # (M,)

    def __call__(self, mask: np.ndarray) -> float:
        return float(self.many(np.asarray(mask)[None])[0])


__all__ = [
    "ImageRelevance",
    "explain",
    "image_score",
    "maskclip",
    "model_view_box",
    "patch_features",
    "rollout",
    "text_relevance",
]
