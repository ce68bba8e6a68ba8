"""Input loading: real and generated images, EXIF, alpha, pixel and count limits, bad files, texts and text files."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alignment.core.errors import InputError
from alignment.inputs.audio import Waveform
from alignment.inputs.files import audio_item, load_files
from alignment.inputs.image import read_image, target_size
from alignment.inputs.limits import Limits
from alignment.inputs.text import load_texts, read_text_file

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def png_header(width: int, height: int) -> bytes:
    """A PNG that only claims a size (signature + IHDR + IEND): what a decompression bomb looks like before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def close(pixel: tuple[int, ...], colour: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, colour, strict=True))


# ---------------------------------------------------------------------------- images


def test_real_photos_load_as_rgb(photos: list[Path]) -> None:
    loaded = load_files(photos, "image")
    assert loaded.problems == []
    assert [i.id for i in loaded.items] == [p.name for p in photos]
    assert {Image.open(p).format for p in photos} == {"BMP", "JPEG"}
    for item, path in zip(loaded.items, photos, strict=True):
        assert item.modality == "image" and item.source == path.name
        assert item.payload.mode == "RGB"
        # none of these photos is rotated by EXIF; the one wider than 1024 px is downscaled while decoding
        assert item.payload.size == target_size(*Image.open(path).size, Limits().max_image_side)
        assert item.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert np.asarray(item.payload).std() > 10  # real content, not a blank canvas


@pytest.mark.parametrize(
    "fmt, suffix, exact",
    [("PNG", "png", True), ("WEBP", "webp", False), ("GIF", "gif", True), ("BMP", "bmp", True), ("JPEG", "jpg", False)],
)
def test_generated_formats_load(tmp_path: Path, fmt: str, suffix: str, exact: bool) -> None:
    image = Image.new("RGB", (30, 20), RED)
    image.paste(BLUE, (15, 0, 30, 20))
    path = tmp_path / f"made.{suffix}"
    image.save(path, format=fmt)
    [item] = load_files([path], "image").items
    out = item.payload
    assert (out.mode, out.size) == ("RGB", (30, 20))
    tol = 0 if exact else 40
    assert close(out.getpixel((3, 10)), RED, tol) and close(out.getpixel((26, 10)), BLUE, tol)


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, BLUE, WHITE)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(path), "n_frames", 1) == 3
    [item] = load_files([path], "image").items
    assert item.payload.mode == "RGB" and item.payload.getpixel((8, 8)) == RED


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored 40x20 with red on the left; Orientation=6 means "rotate 90 degrees clockwise to display",
    # so the displayed image is 20x40 with the red half on top.
    image = Image.new("RGB", (40, 20), RED)
    image.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    assert Image.open(path).size == (40, 20)
    out = read_image(path.read_bytes(), source=path.name)
    assert out.size == (20, 40)
    assert close(out.getpixel((10, 5)), RED, 40) and close(out.getpixel((10, 35)), BLUE, 40)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "RGB-tRNS", "L-tRNS"])
def test_transparency_is_composited_on_white(tmp_path: Path, mode: str) -> None:
    rgba = Image.new("RGBA", (20, 10), (255, 0, 0, 0))  # left: fully transparent red
    rgba.paste((0, 0, 255, 255), (10, 0, 20, 10))  # right: opaque blue
    extra = {}
    if mode == "RGBA":
        image = rgba
    elif mode == "LA":
        image = Image.new("LA", (20, 10), (0, 0))
        image.paste((40, 255), (10, 0, 20, 10))
    elif mode == "P":  # palette with a transparent index, as GIFs and small PNGs carry it
        image = rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
        image.info["transparency"] = image.getpixel((2, 2))
    elif mode == "RGB-tRNS":  # no alpha channel: one colour is declared transparent
        image, extra = rgba.convert("RGB"), {"transparency": (255, 0, 0)}
    else:
        image, extra = Image.new("L", (20, 10), 0), {"transparency": 0}
        image.paste(40, (10, 0, 20, 10))
    path = tmp_path / f"alpha-{mode}.png"
    image.save(path, **extra)
    out = read_image(path.read_bytes(), source=path.name)
    assert out.mode == "RGB"
    assert out.getpixel((2, 5)) == WHITE  # transparent pixels show white, not their hidden colour or black
    assert out.getpixel((15, 5)) == ((40, 40, 40) if mode.startswith("L") else BLUE)


def test_too_many_pixels_is_refused_naming_the_file_and_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big photo.png"
    Image.new("RGB", (100, 80), RED).save(path)
    loaded = load_files([path], "image", limits=Limits(max_image_pixels=5_000))
    assert loaded.items == []
    [problem] = loaded.problems
    assert problem.startswith("big photo.png:")
    assert "100x80" in problem and "8,000" in problem and "limit of 5,000" in problem
    assert len(load_files([path], "image", limits=Limits(max_image_pixels=8_000)).items) == 1  # the limit is inclusive


@pytest.mark.parametrize("side", [10_000, 100_000], ids=["over-our-limit", "over-pillows-hard-limit"])
def test_decompression_bomb_is_refused_before_decoding(side: int) -> None:
    # 100 M pixels is over our default 40 M (and over Pillow's warning threshold); 10 G is over Pillow's hard limit.
    limits = Limits()
    with pytest.raises(InputError) as err:
        read_image(png_header(side, side), source="bomb.png", limits=limits)
    assert err.value.source == "bomb.png"
    assert str(err.value).startswith("bomb.png: ")
    assert f"{limits.max_image_pixels:,}" in str(err.value)  # the limit the user can change, not Pillow's


def test_a_bad_file_is_reported_by_name_and_the_others_still_load(tmp_path: Path, photos: list[Path]) -> None:
    garbage = tmp_path / "holiday snap.jpg"
    garbage.write_bytes(b"\xff\xd8 this is not really a JPEG" * 10)
    tiff = tmp_path / "scan.tiff"
    Image.new("RGB", (8, 8)).save(tiff)
    missing = tmp_path / "gone.png"
    loaded = load_files([photos[0], garbage, photos[1], tiff, missing], "image")
    assert [i.id for i in loaded.items] == [photos[0].name, photos[1].name]
    assert len(loaded.problems) == 3
    by_name = {p.split(":")[0]: p for p in loaded.problems}
    assert "not a readable image" in by_name["holiday snap.jpg"]
    assert "TIFF is not supported" in by_name["scan.tiff"]
    assert "cannot be read" in by_name["gone.png"]


def test_item_count_and_file_size_limits(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"img{i}.png")
        Image.new("RGB", (8, 8), (i, i, i)).save(paths[-1])
    loaded = load_files(paths, "image", limits=Limits(max_items=2))
    assert [i.id for i in loaded.items] == ["img0.png", "img1.png"]
    [problem] = loaded.problems
    assert "img2.png" in problem and "limit of 2 image files" in problem and "1 file(s) were skipped" in problem

    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(big)
    loaded = load_files([big], "image", limits=Limits(max_file_mb=0.001))
    assert loaded.items == [] and "big.png" in loaded.problems[0] and "limit of 0.001 MB" in loaded.problems[0]


def test_same_name_in_two_folders_gets_unique_ids(tmp_path: Path) -> None:
    for folder, colour in (("a", RED), ("b", BLUE)):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (8, 8), colour).save(tmp_path / folder / "photo.png")
    loaded = load_files([tmp_path / "a" / "photo.png", tmp_path / "b" / "photo.png"], "image")
    assert [i.id for i in loaded.items] == ["photo.png", "photo.png (2)"]
    assert loaded.items[0].sha256 != loaded.items[1].sha256


def test_audio_files_with_spaces_in_their_names_load(clips: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "not audio.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    loaded = load_files([clips[0], bad], "audio")
    [item] = loaded.items
    assert item.id == clips[0].name and " " in item.id
    assert isinstance(item.payload, Waveform) and item.payload.sample_rate == 44_100
    assert loaded.problems[0].startswith("not audio.wav: ")
    with pytest.raises(ValueError, match="'text'"):
        load_files([clips[0]], "text")  # type: ignore[arg-type]


def test_audio_item_hash_depends_on_samples_and_rate() -> None:
    samples = np.linspace(-0.5, 0.5, 1_000, dtype=np.float32)
    a = audio_item(samples, 16_000)
    assert a.sha256 == audio_item(samples.copy(), 16_000).sha256
    assert a.sha256 != audio_item(samples, 22_050).sha256
    assert a.sha256 != audio_item(samples[::-1].copy(), 16_000).sha256


# ---------------------------------------------------------------------------- texts


def test_texts_skip_blanks_and_keep_line_numbers() -> None:
    loaded = load_texts(["  a cat  ", "", "   ", "a dog"])
    assert [i.payload for i in loaded.items] == ["a cat", "a dog"]
    assert [i.source for i in loaded.items] == ["text 1", "text 4"]
    assert loaded.problems == []


def test_duplicate_texts_get_unique_ids_and_the_same_hash() -> None:
    loaded = load_texts(["a cat", "a dog", "a cat", "a cat"])
    assert [i.id for i in loaded.items] == ["a cat", "a dog", "a cat (2)", "a cat (3)"]
    assert loaded.items[0].sha256 == loaded.items[2].sha256 != loaded.items[1].sha256


def test_long_texts_get_short_unique_ids() -> None:
    base = "a very long caption that goes on and on about many things " * 2
    loaded = load_texts([base + "one", base + "two"])
    ids = [i.id for i in loaded.items]
    assert all(len(i) <= 64 for i in ids) and ids[0].endswith("...") and len(set(ids)) == 2
    assert loaded.items[0].payload == base + "one"  # the payload keeps the whole text


def test_text_limits_name_the_text_and_the_limit() -> None:
    loaded = load_texts(["short", "x" * 30, "also short"], limits=Limits(max_text_chars=20))
    assert [i.payload for i in loaded.items] == ["short", "also short"]
    assert loaded.problems == ["text 2: 30 characters, over the limit of 20"]

    loaded = load_texts([f"text number {n}" for n in range(5)], limits=Limits(max_items=3))
    assert len(loaded.items) == 3
    [problem] = loaded.problems
    assert problem.startswith("text 4:") and "limit of 3 texts" in problem


def test_read_text_file_txt(tmp_path: Path) -> None:
    path = tmp_path / "captions.txt"
    path.write_text("\ufeffa cat\n\n  a dog  \r\nrain, falling\n", encoding="utf-8")
    assert read_text_file(path) == ["a cat", "a dog", "rain, falling"]


@pytest.mark.parametrize("header", ["text", "Caption"])
def test_read_text_file_csv_with_a_header(tmp_path: Path, header: str) -> None:
    path = tmp_path / "captions.csv"
    path.write_text(f'file,{header},split\nx.wav,"a dog, barking",train\ny.wav,,dev\nz.wav,rain\n\n', encoding="utf-8")
    assert read_text_file(path) == ["a dog, barking", "rain"]


def test_read_text_file_csv_without_a_header_uses_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "captions.csv"
    path.write_text('a cat,1\n"a dog, barking",2\n', encoding="utf-8")
    assert read_text_file(path) == ["a cat", "a dog, barking"]
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    assert read_text_file(empty) == []


def test_non_utf8_text_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("un café noir\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"^latin1.txt: not UTF-8 text") as err:
        read_text_file(path)
    assert err.value.source == "latin1.txt"


def test_text_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("a cat\n" * 1_000, encoding="utf-8")
    with pytest.raises(InputError, match=r"huge.txt: file is .* over the limit of 0.001 MB"):
        read_text_file(path, limits=Limits(max_file_mb=0.001))


def test_csv_with_numbered_caption_columns_reads_every_caption(tmp_path) -> None:
    path = tmp_path / "captions.csv"
    path.write_text(
        "file_name,split,caption_1,caption_2\na.wav,eval,a dog barks,a dog is barking\nb.wav,eval,rain falls,\n"
    )
    assert read_text_file(path) == ["a dog barks", "a dog is barking", "rain falls"]


def test_total_audio_per_request_is_capped(tmp_path) -> None:
    import soundfile as sf

    paths = []
    for n in range(3):
        path = tmp_path / f"clip{n}.wav"
        sf.write(path, np.full(16_000 * 4, 0.1 * n, np.float32), 16_000)  # 4 s each, three different contents
        paths.append(path)
    loaded = load_files([*paths, paths[0]], "audio", limits=Limits(max_total_audio_seconds=10))
    assert [i.id for i in loaded.items] == ["clip0.wav", "clip1.wav", "clip0.wav (2)"]  # the repeat costs nothing
    assert loaded.items[2].payload is loaded.items[0].payload  # decoded once, shared
    assert loaded.problems == [
        "clip2.wav: its length (4.0 s) would bring this request to 12.0 s, over the budget of 10.0 s "
        "(max_total_audio_seconds); 2.0 s were left; skipped"
    ]
