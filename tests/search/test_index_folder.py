"""Index folders: saved and read back with the same answers, approximate ones with their recall, damage named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alignment.analysis.index import IndexSettings
from alignment.core.errors import InputError
from alignment.inputs.embeddings import Embedded, from_arrays
from alignment.search import Gallery, Space, gallery_from_embedded, index_gallery, load_gallery, save_gallery
from alignment.search.gallery import ExactSearcher

D = 16
SPACE = Space("clip", D, "tiny", "rev-1")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> Embedded:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, D))
    n = 1_200
    vectors = centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, D))
    modality = rng.choice(["text", "image"], n)
    return from_arrays(
        [f"id{i}" for i in range(n)], modality, [f"p{i % 400}" for i in range(n)], vectors, label=["l"] * n
    )


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return unit(np.random.default_rng(1).standard_normal((25, D)))


@pytest.fixture
def saved(data: Embedded, tmp_path: Path) -> Path:
    gallery = gallery_from_embedded(data, space=SPACE, name="toy", sources=[f"/m/{i}" for i in range(len(data))])
    return save_gallery(gallery, tmp_path / "index", source="toy.npz")


def same_answers(a: Gallery, b: Gallery, queries: np.ndarray) -> None:
    for targets in (None, ["image"]):
        x, y = a.search(queries, 10, targets=targets), b.search(queries, 10, targets=targets)
        assert np.array_equal(x.rows, y.rows) and np.allclose(x.scores, y.scores, atol=1e-5)


def test_round_trip_keeps_items_space_and_answers(data: Embedded, saved: Path, queries: np.ndarray) -> None:
    loaded = load_gallery(saved, expect=SPACE)
    original = gallery_from_embedded(data, space=SPACE)
    assert loaded.name == "toy" and loaded.space == SPACE and len(loaded) == len(data)
    assert loaded.items.ids == data.ids and loaded.items.label == data.label and loaded.items.source[3] == "/m/3"
    assert isinstance(loaded.parts["text"].searcher, ExactSearcher)  # small flat indexes are searched exactly
    same_answers(original, loaded, queries)
    assert loaded.gap("text", "image") == pytest.approx(original.gap("text", "image"))
    manifest = json.loads((saved / "index.json").read_text())
    assert manifest["format"] == "alignment.index/1" and manifest["source"] == "toy.npz"
    assert {m: e["kind"] for m, e in manifest["modalities"].items()} == {"text": "flat", "image": "flat"}


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_folders_keep_their_recall(data: Embedded, queries, tmp_path: Path, kind: str) -> None:
    built = index_gallery(data, space=SPACE, settings=IndexSettings(kind=kind, target_recall=0.9))  # type: ignore[arg-type]
    loaded = load_gallery(save_gallery(built, tmp_path / kind))
    part = loaded.parts["image"].searcher
    assert part.recall is not None and part.recall.at_10 >= 0.9
    assert part.recall == built.parts["image"].searcher.recall
    assert f"FAISS {kind.upper()} (approximate" in part.describe() and "recall@10" in part.describe()
    same_answers(built, loaded, queries)
    entry = json.loads((tmp_path / kind / "index.json").read_text())["modalities"]["image"]
    assert entry["recall"]["recall@10"] == part.recall.at_10 and entry["recall"]["n_queries"] == part.recall.n_queries
    n_images = len(loaded.parts["image"].rows)
    assert part.recall.n_queries == 500 + n_images // 10  # half other modalities' items, a tenth of its own held out


def test_an_index_for_another_model_or_space_is_refused(saved: Path) -> None:
    with pytest.raises(
        InputError, match=r"was built for CLIP 'tiny' \(revision rev-1\), not for 'tiny' \(revision rev-2\)"
    ):
        load_gallery(saved, expect=Space("clip", D, "tiny", "rev-2"))
    with pytest.raises(InputError, match="is an index of the CLIP space .* not of the CLAP space"):
        load_gallery(saved, expect=Space("clap", D, "tiny", "rev-1"))
    with pytest.raises(InputError, match="holds 16-dimensional vectors; the model embeds into 512"):
        load_gallery(saved, expect=Space("clip", 512))


def damage(folder: Path, how: str) -> str:
    """Break the folder one way; returns the message expected."""
    if how == "truncated":
        path = folder / "image.faiss"
        path.write_bytes(path.read_bytes()[:-100])
        return "image.faiss differs from the file written at build time"
    if how == "flipped":
        path = folder / "text.faiss"
        raw = bytearray(path.read_bytes())
        raw[-5] ^= 0xFF
        path.write_bytes(bytes(raw))
        return "text.faiss differs from the file written at build time"
    if how == "no manifest":
        (folder / "index.json").unlink()
        return "index.json is missing: not an index folder"
    if how == "foreign":
        (folder / "index.json").write_text('{"format": "something/2"}')
        return "index.json is not an index of this app .format 'something/2'"
    if how == "bad json":
        (folder / "index.json").write_text("{ not json")
        return "index.json is damaged"
    if how == "row dropped":
        items = json.loads((folder / "items.json").read_text())
        items = {k: v[:-1] for k, v in items.items()}
        (folder / "items.json").write_text(json.dumps(items))
        return "items.json holds 1199 items, index.json says 1200"
    if how == "no image index":
        (folder / "image.faiss").unlink()
        return "the image index file image.faiss is missing"
    if how == "no centroids":
        (folder / "centroids.npz").unlink()
        return "centroids.npz is missing"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    ["truncated", "flipped", "no manifest", "foreign", "bad json", "row dropped", "no image index", "no centroids"],
)
def test_a_damaged_folder_is_named_with_its_problem(saved: Path, how: str) -> None:
    expected = damage(saved, how)
    with pytest.raises(InputError, match=expected) as caught:
        load_gallery(saved)
    assert str(caught.value).startswith(str(saved))


def test_out_must_be_an_index_folder_or_new(data: Embedded, saved: Path, tmp_path: Path) -> None:
    small = gallery_from_embedded(data.select(np.arange(40)), space=SPACE, name="small")
    save_gallery(small, saved)  # an index folder is replaced whole
    assert len(load_gallery(saved)) == 40 and not list(tmp_path.glob(".index.*"))
    clash = tmp_path / "notes.txt"
    clash.write_text("mine")
    with pytest.raises(InputError, match="exists and is not an index folder"):
        save_gallery(small, clash)
    with pytest.raises(InputError, match="no such index folder"):
        load_gallery(tmp_path / "nowhere")
