"""Images: decode PNG, JPEG, BMP, WebP and GIF safely (decompression bombs refused before decoding) to RGB."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import TypeVar

from PIL import Image, ImageOps

from ..core.errors import InputError
from .limits import Limits

IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF")
T = TypeVar("T")


def _open(data: bytes, source: str, limits: Limits) -> Image.Image:
    """The image with only its header read, its size and format checked against the limits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit, checked below, decides
        image = Image.open(io.BytesIO(data))  # lazy: reads the header only
    width, height = image.size
    if width * height > limits.max_image_pixels:
        raise InputError(
            source,
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of {limits.max_image_pixels:,}",
        )
    if image.format not in IMAGE_FORMATS:
        raise InputError(source, f"image format {image.format} is not supported (use {', '.join(IMAGE_FORMATS)})")
    return image


def _guarded(source: str, limits: Limits, step: Callable[[], T]) -> T:
    """Run a Pillow step, turning its failures into one InputError that names the image."""
    try:
        return step()
    except InputError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's hard limit (2x its MAX_IMAGE_PIXELS) fires inside open()
        limit = min(limits.max_image_pixels, 2 * (Image.MAX_IMAGE_PIXELS or limits.max_image_pixels))
        message = f"refused as a decompression bomb, over the limit of {limit:,} pixels ({exc})"
        raise InputError(source, message) from None
    except Image.UnidentifiedImageError:
        raise InputError(
            source, "not a readable image: unknown or damaged image data (expected PNG, JPEG, BMP, WebP or GIF)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(source, f"not a readable image (PNG, JPEG, BMP, WebP or GIF): {exc}") from None


def probe_image(data: bytes, *, source: str, limits: Limits = Limits()) -> tuple[int, int]:
    """(width, height) from the header alone, checked like `read_image` checks it, without decoding the pixels."""
    return _guarded(source, limits, lambda: _open(data, source, limits).size)


def read_image(data: bytes, *, source: str, limits: Limits = Limits()) -> Image.Image:
    """Decode PNG/JPEG/BMP/WebP/GIF (first frame), apply EXIF orientation, return RGB (alpha over white)."""

    def decode() -> Image.Image:
        image = _open(data, source, limits)
        image.seek(0)  # first frame of an animated GIF / WebP
        image.load()
        return image

    image = _guarded(source, limits, decode)
    image = ImageOps.exif_transpose(image)  # type: ignore[assignment]  # an Image, no longer the ImageFile
    if "A" in image.mode or "transparency" in image.info:  # alpha, or a transparent colour (P, and RGB/L PNG tRNS)
        background = Image.new("RGB", image.size, "white")
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")
