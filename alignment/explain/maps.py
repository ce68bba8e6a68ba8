"""Helpers every relevance map shares: the patch grid, min-max normalisation, the colour map, and overlays."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Box = tuple[float, float, float, float]  # (left, top, right, bottom) in the original image's pixels

# matplotlib's "inferno" at 9 evenly spaced points (no matplotlib in the runtime requirements)
_INFERNO = np.array(
    [
        (0, 0, 4),
        (31, 12, 72),
        (85, 15, 109),
        (136, 34, 106),
        (186, 54, 85),
        (227, 89, 51),
        (249, 140, 10),
        (249, 201, 50),
        (252, 255, 164),
    ],
    dtype=np.float64,
)


def patch_grid(model_or_config: object) -> tuple[int, int]:
    """(grid_h, grid_w) of a CLIP vision tower, from its config: image_size // patch_size per side."""
    config = getattr(model_or_config, "config", model_or_config)
    vision = getattr(config, "vision_config", config)
    size, patch = getattr(vision, "image_size", None), getattr(vision, "patch_size", None)
    if not size or not patch or size % patch:
        raise ValueError(f"cannot read a patch grid from the config (got image_size: {size} and patch_size: {patch})")
    return size // patch, size // patch


def normalize(values: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1], float32; a constant (or empty) map becomes zeros rather than NaN."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values.astype(np.float32)
    low, high = float(values.min()), float(values.max())
    if not np.isfinite(low) or not np.isfinite(high) or high - low <= 1e-12 * max(1.0, abs(high)):
        return np.zeros(values.shape, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB (..., 3) with an "inferno"-like ramp (dark = low, bright yellow = high)."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    stops = np.linspace(0.0, 1.0, len(_INFERNO))
    rgb = np.stack([np.interp(v, stops, _INFERNO[:, c]) for c in range(3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def upsample(relevance: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a (grid_h, grid_w) map to `size` = (width, height), as (height, width) in [0, 1]."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive (got width: {width} and height: {height})")
    grid = torch.as_tensor(np.asarray(relevance, dtype=np.float32))[None, None]  # (1, 1, gh, gw)
    up = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    return up.clamp(0.0, 1.0).numpy()


def overlay(
    image: Image.Image,
    relevance: np.ndarray,
    *,
    opacity: float = 0.5,
    box: Box | None = None,
    dim_outside: float = 0.0,
) -> Image.Image:
    """The image with the relevance map blended over `box` (default: the whole image); opacity 0 = image only.
    `dim_outside` darkens what lies outside the box (0 = not at all, 1 = black), e.g. what CLIP's crop left out."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    base = image.convert("RGB")
    left, top, right, bottom = (round(v) for v in (box or (0, 0, *base.size)))
    width, height = right - left, bottom - top
    if width <= 0 or height <= 0:
        return base
    heat = colormap(upsample(relevance, (width, height))).astype(np.float32)  # (h, w, 3)
    out = np.asarray(base, dtype=np.float32).copy()
    if dim_outside:
        inside = out[top:bottom, left:right].copy()
        out *= 1.0 - dim_outside
        out[top:bottom, left:right] = inside
    region = out[top:bottom, left:right]
    out[top:bottom, left:right] = (1.0 - opacity) * region + opacity * heat
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))


def with_colorbar(image: Image.Image, *, low: str = "low", high: str = "high", title: str = "relevance") -> Image.Image:
    """`image` with the colour map's scale drawn under it: a bar from `low` to `high`, named `title`."""
    from PIL import ImageDraw

    base = image.convert("RGB")
    width = base.width
    bar_h, pad, text_h = 12, 6, 14
    canvas = Image.new("RGB", (width, base.height + pad + bar_h + text_h + pad), "white")
    canvas.paste(base, (0, 0))
    bar_w = max(40, min(width - 2 * pad, 320))
    ramp = colormap(np.linspace(0.0, 1.0, bar_w))[None].repeat(bar_h, axis=0)  # (bar_h, bar_w, 3)
    left = (width - bar_w) // 2
    top = base.height + pad
    canvas.paste(Image.fromarray(ramp), (left, top))
    draw = ImageDraw.Draw(canvas)
    draw.text((left, top + bar_h + 1), low, fill=(0, 0, 0))
    right_text = draw.textlength(high)
    draw.text((left + bar_w - right_text, top + bar_h + 1), high, fill=(0, 0, 0))
    middle = draw.textlength(title)
    draw.text((left + (bar_w - middle) / 2, top + bar_h + 1), title, fill=(60, 60, 60))
    return canvas
