"""One request's decoding: each distinct content decoded once and charged once, JPEGs decoded reduced, images
downscaled to the longest-side setting, thin strips refused, 16-bit scaled, explanation audio budgeted."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from alignment.core.errors import BudgetError, InputError
from alignment.inputs.decoder import Decoder
from alignment.inputs.files import load_file, load_files
from alignment.inputs.image import open_image, read_image, target_size
from alignment.inputs.items import Named
from alignment.inputs.limits import Limits


def _png(size: tuple[int, int], colour: tuple[int, int, int] = (90, 120, 150)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(out, "JPEG")
    return out.getvalue()


def test_the_same_content_is_decoded_and_charged_once() -> None:
    data = _png((3_000, 2_000))
    decoder = Decoder(Limits(max_total_pixels=6_500_000))  # room for one decode of it, not two
    first = decoder.decode(data, "image", source="row 1")
    repeats = [decoder.decode(data, "image", source=f"row {n}") for n in range(2, 25)]
    assert decoder.pixels == 6_000_000  # charged once
    assert all(r.payload is first.payload and r.shared for r in repeats) and not first.shared
    assert first.payload.size == (1_024, 683)
    with pytest.raises(
        BudgetError, match=r"row 25: its decoding \(600,000 pixels\) would bring this request to 6,600,000"
    ):
        decoder.decode(_png((1_000, 600)), "image", source="row 25")  # other content: over the budget


def test_a_failed_content_fails_again_without_a_second_try() -> None:
    decoder = Decoder()
    with pytest.raises(InputError, match="^a.png: not a readable image"):
        decoder.decode(b"not an image", "image", source="a.png")
    with pytest.raises(InputError, match="^b.png: not a readable image"):  # named by its new name
        decoder.decode(b"not an image", "image", source="b.png")


def test_jpeg_decodes_reduced_and_is_charged_what_it_decodes() -> None:
    data = _jpeg((4_000, 3_000))
    opened = open_image(data, source="big.jpg")
    assert opened.pixels < 4_000 * 3_000 / 3  # DCT scaling: at most a half in each direction
    assert opened.target == (1_024, 768)
    decoder = Decoder()
    item = decoder.decode(data, "image", source="big.jpg").payload
    assert item.size == (1_024, 768) and decoder.pixels == opened.pixels


@pytest.mark.parametrize("size", [(20_000, 1), (1, 20_000), (5_100, 100), (2_000_000, 1)])
def test_thin_strips_are_refused_from_the_header(size: tuple[int, int]) -> None:
    data = _png(size) if size[0] * size[1] < 1_000_000 else _header(size)  # a header alone: refused before decoding
    with pytest.raises(InputError, match=r"aspect ratio [\d,]+:1 is over the limit of 50:1"):
        read_image(data, source="strip.png")


def _header(size: tuple[int, int]) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", size[0], size[1], 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_the_aspect_limit_is_inclusive_and_the_longest_side_a_setting() -> None:
    image = read_image(_png((5_000, 100)), source="banner.png")  # 50:1 exactly: accepted
    assert image.size == target_size(5_000, 100, 1_024) == (1_024, 20)
    assert read_image(_png((800, 600)), source="p.png", limits=Limits(max_image_side=224)).size == (224, 168)


def test_16_bit_grey_keeps_its_range() -> None:
    values = np.linspace(0, 65_535, 256).astype(np.uint16)
    image = Image.fromarray(np.tile(values, (16, 1)))
    assert image.mode == "I;16"
    out = io.BytesIO()
    image.save(out, "PNG")
    grey = np.asarray(read_image(out.getvalue(), source="g.png").convert("L"), dtype=int)[0]
    assert grey[0] == 0 and grey[-1] == 255 and abs(grey[128] - 128) <= 1
    assert np.all(np.diff(grey) >= 0)  # monotonic, not clipped


def _wav(path: Path, seconds: float, rate: int = 1_000) -> Path:
    sf.write(path, np.zeros(int(seconds * rate), np.int16), rate, subtype="PCM_16")
    return path


def test_explanations_are_held_to_their_own_audio_budget(tmp_path: Path) -> None:
    clip = _wav(tmp_path / "talk.wav", 61)
    assert load_file(clip, "audio").payload.seconds == 61  # embedding it is fine
    with pytest.raises(BudgetError, match=r"^talk.wav: audio is 61.0 s long; an explanation may cover at most 60 s"):
        load_file(Named(clip, "talk.wav"), "audio", purpose="explain")
    assert load_file(clip, "audio", purpose="explain", limits=Limits(max_explain_seconds=90)).payload.seconds == 61


def test_named_uploads_are_named_by_their_display_name(tmp_path: Path) -> None:
    temp = tmp_path / "gradio" / "0f3a9c" / "upload_3.bin"
    temp.parent.mkdir(parents=True)
    temp.write_bytes(b"not an image")
    loaded = load_files([Named(temp, "holiday.jpg")], "image")
    assert loaded.problems == [
        "holiday.jpg: not a readable image: unknown or damaged image data (expected PNG, JPEG, BMP, WebP or GIF)"
    ]
    with pytest.raises(InputError, match=r"^holiday.jpg: cannot be read \(No such file or directory\)"):
        load_file(Named(tmp_path / "gone", "holiday.jpg"), "image")
