"""What an errors-tab session holds and reads, without a server: items kept as paths and decoded on demand, the
bundled example's session memory, server datasets offered only by name, and the visitor's tag store."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alignment.analysis.prompts import TEMPLATES
from alignment.core.errors import InputError
from alignment.inputs.embeddings import from_arrays, save_npz
from alignment.inputs.items import Item
from alignment.models.encoders import Encoders
from alignment.models.settings import Settings
from ui.assets import ASSETS
from ui.errors.inputs import choose, dataset_key, server_datasets
from ui.errors.load import open_dataset
from ui.errors.tags import VisitorTags, export_csv, tag_database
from ui.models import AppModels
from ui.visitors import Visitor
from ui.widgets.media import MediaLookup

EXAMPLE = ASSETS / "paired.csv"
ALICE = Visitor("browser:alice", "this browser")


@pytest.fixture(scope="module")
def example(tiny_settings: Settings, encoders: Encoders, tmp_path_factory: pytest.TempPathFactory):
    models = AppModels(tiny_settings, encoders=encoders)
    database = tag_database(tmp_path_factory.mktemp("root"))
    chosen = choose(None, True, None, example=EXAMPLE, datasets={})
    assert chosen is not None and chosen.example
    return open_dataset(models, database, chosen, visitor=ALICE, templates=TEMPLATES)


def test_the_bundled_example_keeps_no_decoded_media(example) -> None:
    media = example.media
    kept = [media.ref(m, i) for (m, i) in media._items]
    assert kept and all(item.payload is None for item in kept if item.modality != "text")
    assert all(item.path and Path(item.path).is_file() for item in kept if item.modality != "text")
    assert example.source.items == {} and example.source.embed_text == {}
    held = example.nbytes()
    assert held < 200_000, f"the session holds {held:,} bytes"  # embeddings of 36 rows, ranks, errors, paths
    photo = next(i for (m, i) in media._items if m == "image")
    full, thumb = media.get("image", photo, size="full"), media.get("image", photo, size="thumb")
    assert isinstance(full.payload, Image.Image) and max(full.payload.size) <= 1024
    assert max(thumb.payload.size) <= 256  # hover cards and grid rows decode small
    assert media.get("image", photo, size="full") is full  # a few decoded items are kept for the next view


def test_a_file_that_went_away_has_no_preview(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    Image.new("RGB", (40, 30), "red").save(photo)
    item = Item("p.png", "image", Image.new("RGB", (40, 30)), "sha", "p.png", "p", None, path=str(photo))
    text = Item("caption", "text", "a red square", "sha2", "line 2", "p")
    media = MediaLookup({("image", "p.png"): item, ("text", "caption"): text})
    assert media.ref("image", "p.png").payload is None and media.text("caption") == "a red square"
    assert media("image", "p.png").payload.size == (40, 30)
    photo.unlink()
    assert media.get("image", "p.png", size="full") is None  # not cached at that size, and the file is gone
    assert media("missing", "x") is None


def test_server_datasets_are_offered_by_name_and_stay_inside_their_folder(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    root.mkdir()
    rng = np.random.default_rng(0)
    embedded = from_arrays(["t", "i"], ["text", "image"], ["p", "p"], rng.normal(size=(2, 4)))
    save_npz(root / "small.npz", embedded)
    (root / "notes.txt").write_text("not a dataset")
    (root / ".hidden.npz").write_bytes(b"")
    outside = tmp_path / "secret.npz"
    outside.write_bytes(b"")
    os.symlink(outside, root / "escape.npz")
    found = server_datasets({"ALIGN_DATASETS": str(root)})
    assert list(found) == ["small.npz"]
    assert server_datasets({}) == {} and server_datasets({"ALIGN_DATASETS": str(tmp_path / "none")}) == {}
    chosen = choose(None, True, "small.npz", example=EXAMPLE, datasets=found)
    assert chosen is not None and chosen.path == (root / "small.npz").resolve() and not chosen.example
    with pytest.raises(InputError, match="is not one of this server's datasets"):
        choose(None, True, "../secret.npz", example=EXAMPLE, datasets=found)
    assert choose(None, False, "", example=EXAMPLE, datasets=found) is None


def test_a_zip_without_shards_is_a_dataset_and_folders_have_a_stable_key(tmp_path: Path) -> None:
    archive = tmp_path / "media.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("manifest.csv", "id,modality,content,pair\n")
        zf.writestr("x.parquet", b"not read: a manifest is here")
    chosen = choose(str(archive), False, None, example=EXAMPLE, datasets={})
    assert chosen is not None and chosen.path == archive and chosen.temporary is None
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(InputError, match="bad.zip"):
        choose(str(bad), False, None, example=EXAMPLE, datasets={})
    folder = tmp_path / "f"
    (folder / "clip").mkdir(parents=True)
    (folder / "clip" / "a.parquet").write_bytes(b"1")
    key = dataset_key(folder)
    assert len(key) == 16 and key == dataset_key(folder)
    (folder / "clip" / "a.parquet").write_bytes(b"2")
    assert dataset_key(folder) != key


def test_visitor_tags_keep_notes_and_export_where_gradio_serves(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.delenv("ALIGN_DATA", raising=False)
    database = tag_database(tmp_path / "cache")
    assert database.path == tmp_path / "cache" / "data" / "tags.sqlite3"
    monkeypatch.setenv("ALIGN_DATA", str(tmp_path / "elsewhere"))
    assert tag_database(tmp_path / "cache").path == tmp_path / "elsewhere" / "tags.sqlite3"
    store = database.tags(owner=ALICE.owner, dataset="0123456789abcdef")
    store.set("text->image|a", "ambiguous", "two cats")
    tagger = VisitorTags(store)
    assert tagger.tag(["text->image|a", "text->image|=b"], "model error") == 2
    assert dict(tagger.tags()) == {"text->image|a": "model error", "text->image|=b": "model error"}
    assert store.get("text->image|a").note == "two cats"
    store.set("text->image|c", "fixed", "=HYPERLINK(1)")
    out = export_csv(store, name="../../evil name.csv")
    assert out.is_relative_to(tmp_path / "gradio") and out.name.startswith("tags-evil_name-")
    assert "'=HYPERLINK(1)" in out.read_text()  # a formula-like note is neutralised
