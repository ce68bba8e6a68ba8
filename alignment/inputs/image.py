"""Images: decode PNG, JPEG, BMP, WebP and GIF safely (decompression bombs refused before decoding) to RGB."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from ..core.errors import InputError
from .limits import Limits

IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF")


def read_image(data: bytes, *, source: str, limits: Limits = Limits()) -> Image.Image:
    """Decode PNG/JPEG/BMP/WebP/GIF (first frame), apply EXIF orientation, return RGB (alpha over white)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit, checked below, decides
            image = Image.open(io.BytesIO(data))  # lazy: reads the header only
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise InputError(
                    source,
                    f"image is {width}x{height} = {width * height:,} pixels, "
                    f"over the limit of {limits.max_image_pixels:,}",
                )
            if image.format not in IMAGE_FORMATS:
                raise InputError(
                    source, f"image format {image.format} is not supported (use {', '.join(IMAGE_FORMATS)})"
                )
            image.seek(0)  # first frame of an animated GIF / WebP
            image.load()
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
    image = ImageOps.exif_transpose(image)  # type: ignore[assignment]  # an Image, no longer the ImageFile
    if "A" in image.mode or "transparency" in image.info:  # alpha, or a transparent colour (P, and RGB/L PNG tRNS)
        background = Image.new("RGB", image.size, "white")
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")
