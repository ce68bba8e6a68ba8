"""Images: PNG, JPEG, BMP, WebP and GIF checked from the header, then decoded small (the longest side at most
`Limits.max_image_side`; JPEGs decode at 1/2..1/8 scale directly), 16-bit scaled to 8, returned as RGB.

Rules: an image over `max_image_pixels` or thinner than `max_aspect_ratio` (e.g. 20000x1) is refused from its
header, before a pixel is decoded; a JPEG's DCT scaling (`draft`) decodes it at the smallest scale still at least
the target size, other formats decode whole and are reduced right away; 16-bit grey (I;16), 32-bit integer and
float images are scaled to 0..255 by their type's range (0..65535 -> 0..255), never clipped.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile

from ..core.errors import InputError
from .limits import Limits

IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF")
_ORIENTATION = 0x0112  # EXIF tag
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_UNREADABLE = "not a readable image: unknown or damaged image data (expected PNG, JPEG, BMP, WebP or GIF)"


@dataclass(frozen=True)
class OpenedImage:
    """An image whose header passed the checks, not yet decoded; `pixels` is what decoding it will cost."""

    image: ImageFile.ImageFile
    width: int  # as stored
    height: int
    pixels: int  # pixels the decoder will produce (fewer than width x height for a drafted JPEG)
    target: tuple[int, int]  # the size it is decoded to


def target_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(w, h) with the longest side at most `side`, the aspect ratio kept, and neither side below 1."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def open_image(data: bytes, *, source: str, limits: Limits = Limits()) -> OpenedImage:
    """Read the header only and check size, format and shape against `limits`; InputError names `source`."""
    if not data:
        raise InputError(source, "file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit, checked below, decides
            image = Image.open(io.BytesIO(data))  # lazy: reads the header only
    except Image.DecompressionBombError as exc:  # Pillow's hard limit (2x its MAX_IMAGE_PIXELS) fires inside open()
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"its header claims {int(claimed.group(1)):,} pixels" if claimed else "its header claims too many pixels"
        message = f"refused as a decompression bomb: {size}, over the limit of {limits.max_image_pixels:,}"
        raise InputError(source, message) from None
    except Image.UnidentifiedImageError:
        raise InputError(source, _UNREADABLE) from None
    except Exception as exc:  # noqa: BLE001  Pillow's plugins raise many types on a malformed header
        raise InputError(source, f"not a readable image (PNG, JPEG, BMP, WebP or GIF): {exc}") from None
    width, height = image.size
    if image.format not in IMAGE_FORMATS:
        raise InputError(source, f"image format {image.format} is not supported (use {', '.join(IMAGE_FORMATS)})")
    if width < 1 or height < 1:
        raise InputError(source, f"image is {width}x{height}: it has no pixels")
    if width * height > limits.max_image_pixels:
        raise InputError(
            source,
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of {limits.max_image_pixels:,}",
        )
    ratio = max(width, height) / min(width, height)
    if ratio > limits.max_aspect_ratio:
        raise InputError(
            source,
            f"image is {width}x{height}: its aspect ratio {ratio:,.0f}:1 is over the limit of "
            f"{limits.max_aspect_ratio:g}:1 (a strip this thin cannot be resized for the model; crop it)",
        )
    target = target_size(width, height, limits.max_image_side)
    if image.format == "JPEG" and target != (width, height):
        image.draft("RGB" if image.mode in ("RGB", "YCbCr") else None, target)  # DCT scaling: decode at 1/2..1/8
    decoded_width, decoded_height = image.size
    return OpenedImage(image, width, height, decoded_width * decoded_height, target)


def decode_image(opened: OpenedImage, *, source: str) -> Image.Image:
    """Decode (first frame of an animation), scale to 8 bits, downscale to the target, apply the EXIF
    orientation, and flatten alpha over white: an RGB image."""
    image = opened.image
    try:
        orientation = _orientation(image)
        image.seek(0)  # first frame of an animated GIF / WebP
        image.load()
        out = _eight_bit(image)
        alpha = "A" in out.mode or "transparency" in out.info  # alpha, or a transparent colour (P, RGB/L tRNS)
        mode = "RGBA" if alpha else "RGB"
        if out.mode != mode:  # before resizing: a palette image only resizes NEAREST (no copy when already right)
            out = out.convert(mode)
        if out.size != opened.target:
            out = out.resize(opened.target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        if orientation in _TRANSPOSE:
            out = out.transpose(_TRANSPOSE[orientation])
    except MemoryError:
        raise InputError(source, "ran out of memory while decoding this image") from None
    except Exception as exc:  # noqa: BLE001  truncated data, bad chunks: Pillow raises OSError, SyntaxError, ...
        raise InputError(source, f"image data could not be decoded (damaged or truncated?): {exc}") from None
    if alpha:
        background = Image.new("RGB", out.size, "white")
        background.paste(out, mask=out.getchannel("A"))
        return background
    return out


def read_image(data: bytes, *, source: str, limits: Limits = Limits()) -> Image.Image:
    """Check the header, then decode to an RGB image at most `limits.max_image_side` on its longest side."""
    return decode_image(open_image(data, source=source, limits=limits), source=source)


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_ORIENTATION, 1))
    except Exception:  # noqa: BLE001  a malformed EXIF block only loses the orientation, not the image
        return 1


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grey images scaled to 8-bit 'L' by their type's range, not clipped."""
    if not (image.mode.startswith("I") or image.mode == "F"):
        return image
    values = np.asarray(image)
    if image.mode.startswith("I;16") or (values.size and values.min() >= 0 and values.max() <= 65_535):
        scaled = values.astype(np.float32) / 257.0  # 65535 -> 255: the full 16-bit range onto 8 bits
    else:  # signed or wider integers, floats: stretch what is there
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        if image.mode == "F" and low >= 0.0 and high <= 1.0:
            low, high = 0.0, 1.0
        scaled = (values.astype(np.float32) - low) * (255.0 / max(high - low, 1e-12))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))  # (H, W) uint8 -> mode L
