"""Byte builders for the hostile corpus: small images, sounds, archives, embedding files and checkpoints, made at
test time (nothing binary is committed), each a few kB to a few hundred kB."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image
from safetensors.numpy import save_file

# ---------------------------------------------------------------------------- images


def png(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (200, 40, 40), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour if mode == "RGB" else 0).save(out, "PNG")
    return out.getvalue()


def saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def noise_jpeg(size: tuple[int, int] = (400, 300)) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return saved(Image.fromarray(pixels), "JPEG")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_raw(width: int, height: int, *, depth: int, colour_type: int, rows: list[bytes] | None = None) -> bytes:
    """A PNG written by hand: any bit depth and colour type, rows given as raw scanlines (filter byte added),
    or only a header when `rows` is None (what a decompression bomb looks like before decoding)."""
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0))
    if rows is None:
        return head + _chunk(b"IEND", b"")
    data = zlib.compress(b"".join(b"\x00" + row for row in rows), 9)
    return head + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def png16_gradient(width: int = 256, height: int = 8) -> bytes:
    """16-bit grey, 0 -> 65535 left to right (Pillow reads it as I;16)."""
    row = np.linspace(0, 65_535, width).astype(">u2").tobytes()
    return png_raw(width, height, depth=16, colour_type=0, rows=[row] * height)


def png48_gradient(width: int = 256, height: int = 8) -> bytes:
    """16 bits per channel RGB (48-bit), a grey gradient 0 -> 65535."""
    values = np.linspace(0, 65_535, width).astype(">u2")
    row = np.repeat(values, 3).astype(">u2").tobytes()
    return png_raw(width, height, depth=16, colour_type=2, rows=[row] * height)


def png64_gradient(width: int = 256, height: int = 8) -> bytes:
    """16 bits per channel RGBA (64-bit), opaque, a grey gradient 0 -> 65535."""
    values = np.linspace(0, 65_535, width).astype(">u2")
    pixels = np.stack([values, values, values, np.full_like(values, 65_535)], axis=1)
    return png_raw(width, height, depth=16, colour_type=6, rows=[pixels.astype(">u2").tobytes()] * height)


def png_text_bomb() -> bytes:
    """A 4x4 PNG whose zTXt chunk inflates to 50 MB (~50 kB on disk)."""
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
    text = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * 50_000_000, 9))
    data = _chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + bytes(12) for _ in range(4))))
    return head + text + data + _chunk(b"IEND", b"")


def bmp_header(width: int, height: int) -> bytes:
    """A BMP that only claims a size: file header and info header, no pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def gif_header(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b";"


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def palette_with_transparency() -> bytes:
    image = Image.new("P", (20, 20), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    return saved(image, "PNG", transparency=1)  # every pixel transparent: must come out white


def jpeg_bad_exif() -> bytes:
    """A JPEG whose EXIF block is garbage (the orientation cannot be read)."""
    return saved(Image.new("RGB", (40, 30), (0, 128, 0)), "JPEG", exif=b"Exif\x00\x00" + b"\xff" * 40)


# ---------------------------------------------------------------------------- audio


def tone(seconds: float = 1.0, rate: int = 16_000, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return wave if channels == 1 else np.repeat(wave[:, None], channels, axis=1)


def sound(samples: np.ndarray, rate: int = 16_000, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    out = io.BytesIO()
    sf.write(out, samples, rate, format=fmt, subtype=subtype)
    return out.getvalue()


def wav_with_rate(rate: int) -> bytes:
    """A short WAV whose header claims `rate` samples per second."""
    data = bytearray(sound(tone(0.1, 8_000), 8_000, subtype="PCM_16"))
    data[24:28] = struct.pack("<I", rate)
    data[28:32] = struct.pack("<I", min(rate * 2, 2**32 - 1))  # byte rate, consistent with the claim
    return bytes(data)


# ---------------------------------------------------------------------------- archives and datasets


def zip_bytes(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out.getvalue()


def zip_symlink() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("manifest.csv", "text,image\na cat,cat.png\n")
        link = zipfile.ZipInfo("cat.png")
        link.external_attr = (0o120777 << 16) | 0  # a symbolic link to /etc/passwd
        zf.writestr(link, "/etc/passwd")
    return out.getvalue()


def zip_lying_size() -> bytes:
    """An entry whose central-directory size says 1,000 bytes but which inflates to 3 MB."""
    data = bytearray(zip_bytes({"manifest.csv": b"text,image\na,b.png\n", "zeros.bin": bytes(3_000_000)}))
    entry = data.rfind(b"PK\x01\x02")
    data[entry + 24 : entry + 28] = struct.pack("<I", 1_000)
    return bytes(data)


def zip_encrypted_flag() -> bytes:
    data = bytearray(zip_bytes({"manifest.csv": b"text,image\na,b.png\n"}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + offset] |= 0x1
    return bytes(data)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def good_media(root: Path) -> None:
    """The media a dataset's good rows name: images/cat.png, images/dog.png, audio/bark.wav."""
    write(root / "images" / "cat.png", png((40, 30), (200, 120, 50)))
    write(root / "images" / "dog.png", png((40, 30), (60, 60, 60)))
    write(root / "audio" / "bark.wav", sound(tone(0.5, 16_000, freq=300.0)))


GOOD_ROWS_CSV = "cat,image,images/cat.png,cat\ncat caption,text,a cat on a mat,cat\ndog,image,images/dog.png,dog\n"
GOOD_ROWS_CSV += "dog caption,text,a dog in the park,dog\nbark,audio,audio/bark.wav,dog\n"
GOOD_ROWS_JSONL = "".join(
    json.dumps(row) + "\n"
    for row in (
        {"id": "cat", "modality": "image", "content": "images/cat.png", "pair": "cat"},
        {"id": "cat caption", "modality": "text", "content": "a cat on a mat", "pair": "cat"},
        {"id": "dog", "modality": "image", "content": "images/dog.png", "pair": "dog"},
        {"id": "dog caption", "modality": "text", "content": "a dog in the park", "pair": "dog"},
    )
)


# ---------------------------------------------------------------------------- embeddings and checkpoints


def npz_bytes(**arrays: object) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)  # type: ignore[arg-type]
    return out.getvalue()


def good_arrays(n: int = 4, d: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "ids": np.array([f"t{i}" for i in range(n)] + [f"i{i}" for i in range(n)]),
        "modality": np.array(["text"] * n + ["image"] * n),
        "pair": np.array([f"p{i}" for i in range(n)] * 2),
        "embeddings": rng.normal(size=(2 * n, d)).astype(np.float32),
    }


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.safetensors"
        save_file(tensors, str(path), metadata=metadata)
        return path.read_bytes()


def npy_header_claiming(shape: tuple[int, ...]) -> bytes:
    """An .npy member whose header claims `shape` float32 but holds 16 bytes."""
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    text = repr(header).encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + bytes(16)
