"""Paired-dataset manifests, folders and zips: good inputs load, hostile ones are refused with their line."""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import shared_path
from PIL import Image

from alignment.core.errors import InputError
from alignment.inputs.audio import Waveform
from alignment.inputs.dataset import extract_zip, find_manifest, load_dataset, load_folder, load_items, load_zip
from alignment.inputs.limits import DatasetLimits, Limits
from alignment.inputs.manifest import Dataset, read_manifest

# ---------------------------------------------------------------------------- fixtures


def png_bytes(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def wav_bytes(freq: float = 440.0) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(1600) / 16_000
    sf.write(buffer, (0.1 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16_000, format="WAV")
    return buffer.getvalue()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A dataset folder with images/cat.png, images/dog.png and audio/bark.wav."""
    folder = tmp_path / "data"
    (folder / "images").mkdir(parents=True)
    (folder / "audio").mkdir()
    (folder / "images" / "cat.png").write_bytes(png_bytes("red"))
    (folder / "images" / "dog.png").write_bytes(png_bytes("blue"))
    (folder / "audio" / "bark.wav").write_bytes(wav_bytes())
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


LONG_HEADER = "id,modality,content,pair,label\n"
LONG_GOOD = (
    LONG_HEADER
    + "t1,text,a red cat,cat,animal\n"
    + "i1,image,images/cat.png,cat,animal\n"
    + "t2,text,a blue dog,dog,\n"
    + "i2,image,images/dog.png,dog,\n"
    + "a1,audio,audio/bark.wav,dog,\n"
)


def skip_problems(root: Path, text: str, name: str = "m.csv") -> list[str]:
    return list(read_manifest(write(root, name, text), on_error="skip").problems)


# ---------------------------------------------------------------------------- good manifests


def test_long_csv(root: Path) -> None:
    dataset = read_manifest(write(root, "m.csv", LONG_GOOD))
    assert dataset.form == "long" and dataset.problems == ()
    assert [(r.id, r.modality, r.pair, r.label, r.line) for r in dataset.records] == [
        ("t1", "text", "cat", "animal", 2),
        ("i1", "image", "cat", "animal", 3),
        ("t2", "text", "dog", None, 4),
        ("i2", "image", "dog", None, 5),
        ("a1", "audio", "dog", None, 6),
    ]
    assert dataset.records[0].content == "a red cat"
    assert dataset.records[1].content == (root / "images" / "cat.png").resolve()
    assert dataset.counts() == {"text": 2, "image": 2, "audio": 1}
    assert dataset.true_pairs() == {("text", "image"): 2, ("text", "audio"): 1, ("image", "audio"): 1}


def test_long_jsonl(root: Path) -> None:
    lines = [
        {"id": "t1", "modality": "text", "content": "a red cat", "pair": "cat", "label": "animal"},
        {"id": "i1", "modality": "image", "content": "images/cat.png", "pair": "cat", "label": None},
        {"id": "a1", "modality": "audio", "content": "audio\\bark.wav", "pair": "cat"},  # Windows separator
    ]
    path = write(root, "m.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    dataset = read_manifest(path)
    assert [(r.id, r.modality, r.label, r.line) for r in dataset.records] == [
        ("t1", "text", "animal", 1),
        ("i1", "image", None, 2),
        ("a1", "audio", None, 3),
    ]
    assert dataset.records[2].content == (root / "audio" / "bark.wav").resolve()


def test_wide_csv_several_captions(root: Path) -> None:
    text = (
        "id,Image,caption_1,caption_2,caption 3,label,notes\n"
        'cat,images/cat.png,a red cat,"a cat, red",,animal,ignored\n'
        "dog,dog.png,a blue dog,a dog,the dog,,\n"  # found in images/ (the media subfolder rule)
    )
    dataset = read_manifest(write(root, "m.csv", text))
    assert dataset.form == "wide" and dataset.problems == ()
    assert [(r.id, r.modality, r.pair, r.label, r.line) for r in dataset.records] == [
        ("cat", "image", "cat", "animal", 2),
        ("cat:caption_1", "text", "cat", "animal", 2),
        ("cat:caption_2", "text", "cat", "animal", 2),  # the empty caption 3 is absent, not an error
        ("dog", "image", "dog", None, 3),
        ("dog:caption_1", "text", "dog", None, 3),
        ("dog:caption_2", "text", "dog", None, 3),
        ("dog:caption_3", "text", "dog", None, 3),
    ]
    assert dataset.records[2].content == "a cat, red"
    assert dataset.records[3].content == (root / "images" / "dog.png").resolve()
    assert dataset.true_pairs() == {("text", "image"): 2}


def test_wide_jsonl_caption_lists_and_file_column(root: Path) -> None:
    lines = [
        {"file_name": "cat.png", "captions": ["a red cat", "a cat"]},
        {"file_name": "bark.wav", "text": None, "captions": ["a dog barks"]},
    ]
    dataset = read_manifest(write(root, "m.jsonl", "\n".join(json.dumps(x) for x in lines)))
    assert [(r.id, r.modality, r.pair) for r in dataset.records] == [
        ("cat.png", "image", "cat.png"),  # file column: image by its suffix
        ("cat.png:captions[1]", "text", "cat.png"),
        ("cat.png:captions[2]", "text", "cat.png"),
        ("bark.wav", "audio", "bark.wav"),  # ... audio by its suffix
        ("bark.wav:captions[1]", "text", "bark.wav"),
    ]


def test_clotho_captions(tmp_path: Path) -> None:
    """The real Clotho subset: 7 clips x 5 captions, joined by the file name."""
    captions = shared_path("clotho_subset", "captions.csv")
    audio = shared_path("clotho_subset", "audio")
    for dataset in (read_manifest(captions, root=audio), read_manifest(captions)):  # explicit root, audio/ rule
        assert dataset.form == "wide" and dataset.problems == ()
        assert dataset.counts() == {"audio": 7, "text": 35}
        assert dataset.true_pairs() == {("text", "audio"): 7}
        clips = dataset.by_modality("audio")
        assert {r.content for r in clips} == {p.resolve() for p in audio.glob("*.wav")}
        assert sorted(r.line for r in clips) == list(range(2, 9))
        for clip in clips:
            texts = [r for r in dataset.by_modality("text") if r.pair == clip.pair]
            assert clip.id == clip.pair == Path(clip.content).name
            assert [r.id for r in texts] == [f"{clip.pair}:caption_{k}" for k in range(1, 6)]
            assert all(r.line == clip.line for r in texts)
    flipping = next(r for r in dataset.by_modality("text") if r.id == "Flipping Pages.wav:caption_1")
    assert flipping.content == "A person is flipping several pages in a book"

    loaded = load_items(dataset, modalities=["audio"])
    assert loaded.problems == [] and len(loaded.items) == 7
    item = loaded.items[0]
    assert item.pair == item.id and item.modality == "audio" and len(item.sha256) == 64
    assert item.source == f"captions.csv line 2 (audio/{item.id})"  # relative to the root


def test_load_items_decodes_lazily_with_per_item_problems(root: Path) -> None:
    (root / "images" / "broken.png").write_bytes(b"not an image")
    text = LONG_GOOD + "i3,image,images/broken.png,dog,\n" + "t3,text,a very long caption indeed,dog,\n"
    dataset = read_manifest(write(root, "m.csv", text))  # parsing does not decode: the broken image is a record
    assert len(dataset.records) == 7
    loaded = load_items(dataset, Limits(max_text_chars=20))
    assert [(i.id, i.modality, i.pair, i.label) for i in loaded.items] == [
        ("t1", "text", "cat", "animal"),
        ("i1", "image", "cat", "animal"),
        ("t2", "text", "dog", None),
        ("i2", "image", "dog", None),
        ("a1", "audio", "dog", None),
    ]
    image, wave = loaded.items[1].payload, loaded.items[4].payload
    assert isinstance(image, Image.Image) and image.size == (8, 8)
    assert isinstance(wave, Waveform) and wave.sample_rate == 16_000
    assert loaded.problems[0].startswith("m.csv line 7 (images/broken.png): not a readable image")
    assert loaded.problems[1] == "m.csv line 8: text is 26 characters, over the limit of 20"


def test_csv_line_numbers_count_physical_lines(root: Path) -> None:
    text = (
        LONG_HEADER + 't1,text,"two\nlines",cat,\n' + "\n" + "i1,image,images/cat.png,cat,\n" + "x,video,v.mp4,cat,\n"
    )
    dataset = read_manifest(write(root, "m.csv", text))
    assert [r.line for r in dataset.records] == [2, 5]
    assert dataset.records[0].content == "two\nlines"
    assert dataset.problems == ("m.csv line 6: unknown modality 'video' (expected text, image or audio)",)


def test_same_id_in_two_modalities_is_allowed(root: Path) -> None:
    text = LONG_HEADER + "cat,text,a cat,cat,\ncat,image,images/cat.png,cat,\n"
    assert [r.id for r in read_manifest(write(root, "m.csv", text)).records] == ["cat", "cat"]


# ---------------------------------------------------------------------------- bad rows: skip vs stop

BAD_ROWS = (
    LONG_HEADER
    + "t1,text,a red cat,cat,\n"  # 2 ok
    + "i1,image,images/cat.png,cat,\n"  # 3 ok
    + "v1,video,clip.mp4,cat,\n"  # 4
    + "t2,text,,dog,\n"  # 5
    + "t3,text,a dog,,\n"  # 6
    + "t1,text,again,dog,\n"  # 7
    + "i2,image,images/missing.png,dog,\n"  # 8
    + ",text,no id,dog,\n"  # 9
    + "t4,text,too,many,cells,here\n"  # 10
)
BAD_MESSAGES = [
    "m.csv line 4: unknown modality 'video' (expected text, image or audio)",
    "m.csv line 5: empty content for text 't2'",
    "m.csv line 6: missing pair for text 't3'",
    "m.csv line 7: duplicate text id 't1' (first on line 2)",
    "m.csv line 8: image 'images/missing.png' does not exist (also looked in images/)",
    "m.csv line 9: missing id",
    "m.csv line 10: row has 6 cells, the header has 5 (quote cells holding commas)",
]


def test_skip_collects_every_bad_row_with_its_line(root: Path) -> None:
    dataset = read_manifest(write(root, "m.csv", BAD_ROWS), on_error="skip")
    assert [r.id for r in dataset.records] == ["t1", "i1"]
    assert list(dataset.problems) == BAD_MESSAGES


def test_stop_raises_on_the_first_bad_row(root: Path) -> None:
    with pytest.raises(InputError) as info:
        read_manifest(write(root, "m.csv", BAD_ROWS), on_error="stop")
    assert str(info.value) == BAD_MESSAGES[0]
    assert info.value.source == "m.csv line 4"


def test_jsonl_wrong_types_and_broken_lines(root: Path) -> None:
    lines = [
        '{"id": "t1", "modality": "text", "content": "a cat", "pair": "cat"}',  # 1
        '{"id": "i1", "modality": "image", "content": "images/cat.png", "pair": "cat"}',  # 2
        "",  # 3: blank lines are counted, not reported
        '{"id": 5, "modality": "text", "content": "x", "pair": "cat"}',  # 4
        '{"id": "t2", "modality": "text", "content": ["a", "b"], "pair": "cat"}',  # 5
        '{"id": "t3", "modality": "text", "content": "x", "pair": "cat", "label": 3}',  # 6
        '["not", "an", "object"]',  # 7
        '{"id": "t4", "modality": ',  # 8
        '{"id": "t5", "modality": "text", "content": "x", "pair": true}',  # 9
    ]
    dataset = read_manifest(write(root, "m.jsonl", "\n".join(lines)))
    assert [r.id for r in dataset.records] == ["t1", "i1"]
    assert list(dataset.problems) == [
        "m.jsonl line 4: 'id' must be a string, got number 5",
        'm.jsonl line 5: \'content\' must be a string, got list ["a", "b"]',
        "m.jsonl line 6: 'label' must be a string, got number 3",
        "m.jsonl line 7: each line must be a JSON object, got list",
        "m.jsonl line 8: not valid JSON (Expecting value at column 26)",
        "m.jsonl line 9: 'pair' must be a string, got boolean true",
    ]


def test_wide_row_is_skipped_whole_and_file_suffix_must_tell_modality(root: Path) -> None:
    text = "file_name,caption\ncat.png,a cat\nnotes.txt,some notes\nmissing.wav,a dog\ncat.png,again\n"
    dataset = read_manifest(write(root, "m.csv", text))
    # one caption column: the caption's id is the row key too (ids are unique within a modality)
    assert [(r.id, r.modality) for r in dataset.records] == [("cat.png", "image"), ("cat.png", "text")]
    assert list(dataset.problems) == [
        "m.csv line 3: file_name 'notes.txt': cannot tell image from audio by the suffix '.txt' "
        "(audio: .wav .flac .ogg .oga .mp3; image: .png .jpg .jpeg .bmp .webp .gif)",
        "m.csv line 4: audio 'missing.wav' does not exist (also looked in audio/)",
        "m.csv line 5: duplicate image id 'cat.png' (first on line 2)",
    ]


# ---------------------------------------------------------------------------- paths confined to the root


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("../x.png", "goes outside the dataset folder ('..' is not allowed)"),
        ("images/../../x.png", "goes outside the dataset folder ('..' is not allowed)"),
        ("images\\..\\..\\x.png", "goes outside the dataset folder ('..' is not allowed)"),
        ("/etc/passwd", "is an absolute path; paths must be relative to the dataset folder"),
        ("C:\\Windows\\win.ini", "is a Windows drive path; paths must be relative to the dataset folder"),
        ("c:x.png", "is a Windows drive path; paths must be relative to the dataset folder"),
        ("\\\\server\\share\\x.png", "is a network (UNC) path; paths must be relative to the dataset folder"),
        ("//server/share/x.png", "is a network (UNC) path; paths must be relative to the dataset folder"),
        ("images", "is a folder, not a file"),
    ],
)
def test_paths_outside_the_root_are_refused(root: Path, raw: str, problem: str) -> None:
    (root.parent / "x.png").write_bytes(png_bytes("green"))  # exists, just outside the root
    text = LONG_HEADER + "t1,text,a cat,cat,\n" + "i1,image,images/cat.png,cat,\n" + f'i2,image,"{raw}",cat,\n'
    assert skip_problems(root, text) == [f"m.csv line 4: image '{raw}' {problem}"]
    with pytest.raises(InputError, match=r"^m\.csv line 4: image '"):
        read_manifest(root / "m.csv", on_error="stop")


def test_symlinks_leaving_the_root_are_refused(root: Path) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png_bytes("black"))
    (root / "leak.png").symlink_to(outside / "secret.png")
    (root / "leakdir").symlink_to(outside, target_is_directory=True)
    (root / "dangling.png").symlink_to(outside / "gone.png")
    (root / "alias.png").symlink_to(root / "images" / "cat.png")  # stays inside: allowed
    text = (
        LONG_HEADER
        + "t1,text,a cat,cat,\n"
        + "i1,image,leak.png,cat,\n"
        + "i2,image,leakdir/secret.png,cat,\n"
        + "i3,image,dangling.png,cat,\n"
        + "i4,image,alias.png,cat,\n"
    )
    dataset = read_manifest(write(root, "m.csv", text))
    assert list(dataset.problems) == [
        "m.csv line 3: image 'leak.png' is a link that leads outside the dataset folder",
        "m.csv line 4: image 'leakdir/secret.png' is a link that leads outside the dataset folder",
        "m.csv line 5: image 'dangling.png' is a link that leads outside the dataset folder",
    ]
    assert dataset.records[-1].content == (root / "images" / "cat.png").resolve()


# ---------------------------------------------------------------------------- empty and unreadable manifests


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.csv", "", "m.csv: manifest is empty (no header line)"),
        ("m.jsonl", "\n\n", "m.jsonl: manifest is empty (no JSON lines)"),
        ("m.csv", LONG_HEADER, "m.csv: no usable records (0 bad row(s) skipped)"),
        (
            "m.csv",
            LONG_HEADER + "x,video,a,b,\n",
            "m.csv: no usable records (1 bad row(s) skipped; first problem: "
            "m.csv line 2: unknown modality 'video' (expected text, image or audio))",
        ),
        (
            "m.csv",
            LONG_HEADER + "t1,text,a cat,cat,\ni1,image,images/cat.png,dog,\n",
            "m.csv: no true pairs: no pair key is shared by records of two modalities (1 text, 1 image)",
        ),
        (
            "m.csv",
            "id,modality,content\n",
            "m.csv line 1: long-form header needs columns id, modality, content, pair; missing: pair",
        ),
        ("m.csv", "id,a,a\n", "m.csv line 1: header repeats column(s) a"),
        ("m.txt", "text\n", "m.txt: a manifest must be .csv or .jsonl, got '.txt'"),
    ],
)
def test_unusable_manifests_raise(root: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        read_manifest(write(root, name, text))
    assert str(info.value) == message


def test_unknown_header_names_the_columns(root: Path) -> None:
    with pytest.raises(
        InputError, match=r"^m\.csv line 1: cannot tell the manifest form from columns \['foo', 'bar'\]"
    ):
        read_manifest(write(root, "m.csv", "foo,bar\n1,2\n"))


def test_row_limit(root: Path) -> None:
    dataset = read_manifest(write(root, "m.csv", LONG_GOOD), limits=DatasetLimits(max_rows=3))
    assert [r.id for r in dataset.records] == ["t1", "i1", "t2"]
    assert dataset.problems == ("m.csv line 5: over the limit of 3 rows; this row and later ones were skipped",)


def test_not_utf8(root: Path) -> None:
    (root / "m.csv").write_bytes(LONG_HEADER.encode() + b"t1,text,caf\xe9,cat,\n")
    with pytest.raises(InputError, match=r"^m\.csv: not UTF-8 text"):
        read_manifest(root / "m.csv")


# ---------------------------------------------------------------------------- folders


def test_folder_finds_the_manifest(root: Path) -> None:
    write(root, "captions.csv", LONG_GOOD)
    assert find_manifest(root) == root / "captions.csv"
    write(root, "manifest.jsonl", json.dumps({"id": "t", "modality": "text", "content": "x", "pair": "p"}))
    assert find_manifest(root) == root / "manifest.jsonl"  # the conventional name wins over other .csv
    write(root, "manifest.csv", LONG_GOOD)
    with pytest.raises(InputError, match="several manifests"):
        find_manifest(root)


def test_folder_without_manifest_and_single_subfolder(tmp_path: Path, root: Path) -> None:
    write(root, "a.csv", LONG_GOOD)
    write(root, "b.jsonl", "")
    with pytest.raises(InputError, match=r"holds several manifests \(a\.csv, b\.jsonl\)"):
        find_manifest(root)
    (root / "b.jsonl").unlink()
    dataset = load_folder(tmp_path)  # tmp_path holds only data/: searched one level down
    assert dataset.name == "data/a.csv" and dataset.root == root.resolve() and len(dataset.records) == 5
    (root / "a.csv").unlink()
    with pytest.raises(InputError, match="no manifest found"):
        find_manifest(root)


# ---------------------------------------------------------------------------- zips


def make_zip(path: Path, entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def good_entries() -> dict[str, bytes]:
    return {
        "manifest.csv": LONG_GOOD.encode(),
        "images/cat.png": png_bytes("red"),
        "images/dog.png": png_bytes("blue"),
        "audio/bark.wav": wav_bytes(),
    }


def test_zip_loads_and_cleans_up(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "upload.zip", {f"mydata/{k}": v for k, v in good_entries().items()})
    dataset = load_dataset(archive)
    assert isinstance(dataset, Dataset) and dataset.extracted is not None
    assert dataset.name == "upload.zip:mydata/manifest.csv"
    assert dataset.counts() == {"text": 2, "image": 2, "audio": 1}
    assert all(Path(r.content).is_relative_to(dataset.root) for r in dataset.records if r.modality != "text")
    assert len(load_items(dataset).items) == 5
    dataset.cleanup()
    assert not dataset.extracted.exists()


def test_zip_bad_row_names_the_zip_and_line(tmp_path: Path) -> None:
    entries = good_entries() | {"manifest.csv": (LONG_GOOD + "i9,image,../evil.png,dog,\n").encode()}
    dataset = load_zip(make_zip(tmp_path / "up.zip", entries), dest=tmp_path / "out")
    assert dataset.problems == (
        "up.zip:manifest.csv line 7: image '../evil.png' goes outside the dataset folder ('..' is not allowed)",
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("../evil.csv", "up.zip: entry '../evil.csv' goes outside the dataset folder ('..' is not allowed)"),
        ("a/../../evil.csv", "up.zip: entry 'a/../../evil.csv' goes outside the dataset folder ('..' is not allowed)"),
        (
            "/tmp/evil.csv",
            "up.zip: entry '/tmp/evil.csv' is an absolute path; paths must be relative to the dataset folder",
        ),
        (
            "C:/evil.csv",
            "up.zip: entry 'C:/evil.csv' is a Windows drive path; paths must be relative to the dataset folder",
        ),
    ],
)
def test_zip_entries_escaping_are_refused(tmp_path: Path, entry: str, message: str) -> None:
    archive = make_zip(tmp_path / "up.zip", good_entries() | {entry: b"x"})
    dest = tmp_path / "deep" / "out"
    with pytest.raises(InputError) as info:
        extract_zip(archive, dest)
    assert str(info.value) == message
    assert not dest.exists()  # refused before anything was written
    assert not (tmp_path / "deep" / "evil.csv").exists() and not (tmp_path / "evil.csv").exists()


def test_zip_symlink_entry_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "up.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in good_entries().items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("images/passwd.png")
        link.create_system = 3  # Unix: the mode lives in the high 16 bits
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(InputError, match=r"^up\.zip: entry 'images/passwd\.png' is a symbolic link \(refused\)$"):
        load_zip(archive)


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", good_entries() | {"zeros.bin": bytes(50_000_000)})
    assert archive.stat().st_size < 200_000
    with pytest.raises(InputError, match=r"^bomb\.zip: entry 'zeros\.bin' expands [\d,]+x .* over the limit of 100x"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_total_size_and_entry_count_limits(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "up.zip", good_entries() | {"big.bin": bytes(300_000)}, compression=zipfile.ZIP_STORED
    )
    with pytest.raises(InputError, match=r"^up\.zip: is 0\.3 MB, over the budget of 0\.2 MB per archive$"):
        extract_zip(archive, tmp_path / "out", limits=DatasetLimits(max_unzipped_mb=0.2))
    small = make_zip(tmp_path / "small.zip", good_entries() | {"big.bin": bytes(300_000)})  # compresses to ~1 kB
    budget = r"unpacks to 0\.3 MB, over the budget of 0\.2 MB decoded per archive \(max_unzipped_mb\)$"
    with pytest.raises(InputError, match=r"^small\.zip: " + budget):
        extract_zip(small, tmp_path / "out", limits=DatasetLimits(max_unzipped_mb=0.2, max_ratio=1e6))
    with pytest.raises(InputError, match=r"^up\.zip: holds 5 entries, over the limit of 4$"):
        extract_zip(archive, tmp_path / "out", limits=DatasetLimits(max_zip_entries=4))


def test_zip_with_lying_sizes_is_refused(tmp_path: Path) -> None:
    """The central directory claims 1,000 bytes for a 5 MB entry: the declared-size checks pass, extraction stops."""
    archive = make_zip(tmp_path / "up.zip", good_entries() | {"zeros.bin": bytes(5_000_000)})
    data = bytearray(archive.read_bytes())
    entry = data.rfind(b"PK\x01\x02")  # the last central-directory record: zeros.bin
    assert data[entry + 46 : entry + 46 + 9] == b"zeros.bin"
    struct.pack_into("<I", data, entry + 24, 1_000)  # uncompressed size
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"^up\.zip: entry 'zeros\.bin' (holds more bytes|could not be extracted)"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "zeros.bin").exists() or (tmp_path / "out" / "zeros.bin").stat().st_size <= 1_000


def test_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^up\.zip: not a readable zip file"):
        load_zip(write(tmp_path, "up.zip", "hello"))


def test_zip_file_and_folder_of_one_name(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "up.zip", good_entries() | {"a": b"x", "a/b.png": b"y"})
    with pytest.raises(InputError, match=r"^up\.zip: entry 'a/b\.png' could not be written"):
        extract_zip(archive, tmp_path / "out")


def test_manifest_behind_a_link_out_of_the_folder_is_refused(tmp_path: Path, root: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside, "manifest.csv", LONG_GOOD)
    (root / "manifest.csv").symlink_to(outside / "manifest.csv")
    with pytest.raises(InputError, match=r"^manifest\.csv: is a link that leads outside the dataset folder$"):
        find_manifest(root)


def test_zip_bomb_of_many_small_entries_is_refused_by_the_total_ratio(tmp_path: Path) -> None:
    """Each entry stays under the 1 MB ratio floor; the archive as a whole does not."""
    archive = make_zip(tmp_path / "bomb.zip", good_entries() | {f"z/{i}.bin": bytes(100_000) for i in range(30)})
    with pytest.raises(InputError, match=r"^bomb\.zip: the whole archive expands [\d,]+x"):
        extract_zip(archive, tmp_path / "out")
