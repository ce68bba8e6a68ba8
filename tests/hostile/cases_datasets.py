"""Hostile paired datasets: manifests (CSV, JSONL) with their media, and zips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alignment.inputs.limits import DatasetLimits, Limits

from . import files as f
from .case import (
    Case,
    decoded_once,
    file_at,
)

# ---------------------------------------------------------------------------- datasets


def _dataset(manifest: str, body: str | bytes, *, extra: dict[str, bytes] | None = None) -> Callable[[Path], Path]:
    """A folder with good media, `extra` files and a manifest: good rows first, then `body`."""

    def build(folder: Path) -> Path:
        root = folder / "data"
        f.good_media(root)
        for name, data in (extra or {}).items():
            f.write(root / name, data)
        if manifest.endswith(".jsonl"):
            head: str | bytes = f.GOOD_ROWS_JSONL
        else:
            head = "id,modality,content,pair\n" + f.GOOD_ROWS_CSV
        text = head + body if isinstance(body, str) else head.encode() + body  # type: ignore[operator]
        return f.write(root / manifest, text)

    return build


def _zip(upload: str, entries: Callable[[], dict[str, bytes]]) -> Callable[[Path], Path]:
    return lambda folder: f.write(folder / upload, f.zip_bytes(entries()))


def _zip_with_media(manifest: str) -> dict[str, bytes]:
    media = {"images/cat.png": f.png((40, 30), (200, 120, 50)), "images/dog.png": f.png((40, 30), (60, 60, 60))}
    return {**media, "manifest.csv": manifest.encode()}


def _png_24_times() -> dict[str, bytes]:
    rows = "".join(f"big{i},image,big.png,p{i}\ncaption {i},text,a wide grey plain,p{i}\n" for i in range(24))
    return {
        "big.png": f.png((3_000, 2_000), (128, 128, 128)),
        "manifest.csv": f"id,modality,content,pair\n{rows}".encode(),
    }


def _deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


SMALL_ARCHIVE = Limits(dataset=DatasetLimits(max_unzipped_mb=0.5, max_ratio=1e9))

DATASETS: tuple[Case, ...] = (
    # ------------------------------------------------------------------ datasets (manifests, folders, zips)
    Case(
        "dataset-jsonl-nested-100000",
        "dataset",
        "data.jsonl",
        _dataset("data.jsonl", '{"id": ' + _deep_json() + "}\n"),
        "partial",
        r"data.jsonl line 5: JSON nested too deeply",
    ),
    Case(
        "dataset-jsonl-surrogate-id",
        "dataset",
        "data.jsonl",
        _dataset("data.jsonl", '{"id": "x\\ud800", "modality": "text", "content": "t", "pair": "cat"}\n'),
        "partial",
        r"data.jsonl line 5: a string holds a lone surrogate",
    ),
    Case(
        "dataset-jsonl-surrogate-path",
        "dataset",
        "data.jsonl",
        _dataset("data.jsonl", '{"id": "y", "modality": "image", "content": "images/\\udcff.png", "pair": "cat"}\n'),
        "partial",
        r"data.jsonl line 5: a string holds a lone surrogate",
    ),
    Case(
        "dataset-jsonl-not-object",
        "dataset",
        "data.jsonl",
        _dataset("data.jsonl", "[1, 2, 3]\n"),
        "partial",
        r"data.jsonl line 5: each line must be a JSON object",
    ),
    Case(
        "dataset-csv-field-over-limit",
        "dataset",
        "data.csv",
        _dataset("data.csv", f'long,text,"{"x" * 200_000}",cat\nlast,text,still read,dog\n'),
        "partial",
        r"data.csv line 7: not valid CSV \(field larger",
    ),
    Case(
        "dataset-csv-nul-in-path",
        "dataset",
        "data.csv",
        _dataset("data.csv", "nul,image,images/a\x00b.png,cat\n"),
        "partial",
        r"data.csv line 7: image 'images/a\\x00b.png' contains a NUL character",
    ),
    Case(
        "dataset-path-traversal",
        "dataset",
        "data.csv",
        _dataset("data.csv", "evil,image,../../../etc/passwd,cat\n"),
        "partial",
        r"data.csv line 7: image '../../../etc/passwd' goes outside the dataset folder",
    ),
    Case(
        "dataset-absolute-path",
        "dataset",
        "data.csv",
        _dataset("data.csv", "evil,image,/etc/passwd,cat\n"),
        "partial",
        r"data.csv line 7: image '/etc/passwd' is an absolute path",
    ),
    Case(
        "dataset-path-too-long",
        "dataset",
        "data.csv",
        _dataset("data.csv", f"long,image,images/{'a' * 5_000}.png,cat\n"),
        "partial",
        r"data.csv line 7: image 'images/a+…' (cannot be looked up|does not exist)",
    ),
    Case(
        "dataset-id-too-long",
        "dataset",
        "data.csv",
        _dataset("data.csv", f"{'i' * 1_500},text,a caption,cat\n"),
        "partial",
        r"data.csv line 7: id is 1,500 characters, over the limit of 1,000",
    ),
    Case(
        "dataset-text-too-long",
        "dataset",
        "data.csv",
        _dataset("data.csv", f"essay,text,{'w' * 2_500},cat\n"),
        "partial",
        r"data.csv line 7: text is 2500 characters, over the limit of 2000",
    ),
    Case(
        "dataset-text-named-png",
        "dataset",
        "data.csv",
        _dataset("data.csv", "fake,image,images/fake.png,cat\n", extra={"images/fake.png": b"just text"}),
        "partial",
        r"data.csv line 7 \(images/fake.png\): not a readable image",
    ),
    Case(
        "dataset-empty-image",
        "dataset",
        "data.csv",
        _dataset("data.csv", "zero,image,images/zero.png,cat\n", extra={"images/zero.png": b""}),
        "partial",
        r"data.csv line 7 \(images/zero.png\): file is empty",
    ),
    Case(
        "dataset-not-utf8",
        "dataset",
        "data.csv",
        _dataset("data.csv", "caf\xe9,text,au lait,cat\n".encode("latin-1")),
        "refused",
        "not UTF-8 text",
    ),
    Case(
        "dataset-binary-manifest",
        "dataset",
        "data.csv",
        file_at("data.csv", lambda: bytes(range(256)) * 4),
        "refused",
        "not UTF-8 text|not valid CSV|cannot tell the manifest form",
    ),
    Case(
        "dataset-header-only",
        "dataset",
        "data.csv",
        file_at("data.csv", lambda: "id,modality,content,pair\n"),
        "refused",
        "no usable records",
    ),
    Case(
        "dataset-pixel-budget",
        "dataset",
        "data.csv",
        _dataset("data.csv", ""),
        "partial",
        r"over the budget of 1,500 pixels \(max_total_pixels\)",
        limits=Limits(max_total_pixels=1_500),
        cli=False,
    ),
    Case(
        "dataset-audio-budget",
        "dataset",
        "data.csv",
        _dataset(
            "data.csv", "bark2,audio,audio/bark2.wav,cat\n", extra={"audio/bark2.wav": f.sound(f.tone(0.5, freq=900.0))}
        ),
        "partial",
        r"over the budget of 0.6 s \(max_total_audio_seconds\)",
        limits=Limits(max_total_audio_seconds=0.6),
        cli=False,
    ),
    Case(
        "zip-png-named-24-times", "dataset", "upload.zip", _zip("upload.zip", _png_24_times), "ok", check=decoded_once
    ),
    Case(
        "zip-slip",
        "dataset",
        "upload.zip",
        _zip("upload.zip", lambda: {**_zip_with_media("text,image\na cat,images/cat.png\n"), "../../evil.csv": b"x"}),
        "refused",
        r"entry '../../evil.csv' goes outside the dataset folder",
    ),
    Case(
        "zip-absolute-entry",
        "dataset",
        "upload.zip",
        _zip("upload.zip", lambda: {**_zip_with_media("text,image\na cat,images/cat.png\n"), "/tmp/evil.csv": b"x"}),
        "refused",
        "is an absolute path",
    ),
    Case("zip-symlink", "dataset", "upload.zip", file_at("upload.zip", f.zip_symlink), "refused", "is a symbolic link"),
    Case(
        "zip-bomb-ratio",
        "dataset",
        "upload.zip",
        _zip(
            "upload.zip", lambda: {**_zip_with_media("text,image\na,images/cat.png\n"), "zeros.bin": bytes(20_000_000)}
        ),
        "refused",
        r"expands [\d,]+x .* over the limit of 100x",
    ),
    Case(
        "zip-lying-size",
        "dataset",
        "upload.zip",
        file_at("upload.zip", f.zip_lying_size),
        "refused",
        "more bytes than its header says|could not be extracted",
    ),
    Case(
        "zip-encrypted", "dataset", "upload.zip", file_at("upload.zip", f.zip_encrypted_flag), "refused", "is encrypted"
    ),
    Case(
        "zip-not-a-zip",
        "dataset",
        "upload.zip",
        file_at("upload.zip", lambda: "PK? no."),
        "refused",
        "not a readable zip file",
    ),
    Case(
        "zip-truncated",
        "dataset",
        "upload.zip",
        file_at("upload.zip", lambda: f.zip_bytes(_zip_with_media("text,image\na,images/cat.png\n"))[:300]),
        "refused",
        "not a readable zip file",
    ),
    Case(
        "zip-no-manifest",
        "dataset",
        "upload.zip",
        _zip("upload.zip", lambda: {"images/cat.png": f.png()}),
        "refused",
        "no manifest found",
    ),
    Case(
        "zip-two-manifests",
        "dataset",
        "upload.zip",
        _zip("upload.zip", lambda: {"a.csv": b"text\nx\n", "b.csv": b"text\ny\n"}),
        "refused",
        "holds several manifests",
    ),
    Case(
        "zip-duplicate-entry",
        "dataset",
        "upload.zip",
        _zip("upload.zip", lambda: {"manifest.csv": b"text\nx\n", "MANIFEST.csv": b"text\ny\n"}),
        "refused",
        "appears twice",
    ),
    Case(
        "zip-bad-rows",
        "dataset",
        "upload.zip",
        _zip(
            "upload.zip",
            lambda: _zip_with_media(
                "id,modality,content,pair\nc,image,images/cat.png,cat\nt,text,a cat,cat\nx,video,v.mp4,cat\n"
            ),
        ),
        "partial",
        r"upload.zip:manifest.csv line 4: unknown modality 'video'",
    ),
    Case(
        "zip-over-archive-budget",
        "dataset",
        "upload.zip",
        _zip("upload.zip", lambda: {**_zip_with_media("text,image\na,images/cat.png\n"), "pad.bin": bytes(600_000)}),
        "refused",
        r"over the budget of 0.5 MB decoded per archive \(max_unzipped_mb\)",
        limits=SMALL_ARCHIVE,
        cli=False,
    ),
)
