"""Precomputed embeddings: round trips through .npz and .safetensors, strict validation of hostile files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from alignment.core.errors import InputError
from alignment.inputs.embeddings import (
    Embedded,
    EmbeddingLimits,
    from_arrays,
    load_embeddings,
    load_npz,
    save_npz,
    save_safetensors,
)

IDS = ["t1", "t2", "i1", "i2", "a1"]
MODALITY = ["text", "text", "image", "image", "audio"]
PAIR = ["cat", "dog", "cat", "dog", "dog"]


def vectors(n: int = 5, d: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32) * 3  # (n, d), not unit length


def arrays(**overrides: object) -> dict[str, object]:
    """The five npz arrays, with overrides (None drops an array)."""
    base: dict[str, object] = {
        "ids": np.array(IDS),
        "modality": np.array(MODALITY),
        "pair": np.array(PAIR),
        "embeddings": vectors(),
        "label": np.array(["animal", "", "animal", "", ""]),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def npz(tmp_path: Path, **overrides: object) -> Path:
    path = tmp_path / "emb.npz"
    np.savez(path, **arrays(**overrides))  # type: ignore[arg-type]
    return path


def load_error(path: Path) -> str:
    """The message of a file refused under on_error="stop" (the first bad row refuses the file)."""
    with pytest.raises(InputError) as info:
        load_embeddings(path, on_error="stop")
    return str(info.value)


# ---------------------------------------------------------------------------- good files


def test_npz_loads_normalised_and_splits_by_modality(tmp_path: Path) -> None:
    raw = vectors()
    embedded = load_embeddings(npz(tmp_path, embeddings=raw))
    assert embedded.ids == tuple(IDS) and embedded.modality == tuple(MODALITY) and embedded.pair == tuple(PAIR)
    assert embedded.label == ("animal", None, "animal", None, None)  # "" means no label
    assert embedded.embeddings.dtype == np.float32 and embedded.embeddings.shape == (5, 4) and embedded.dim == 4
    np.testing.assert_allclose(np.linalg.norm(embedded.embeddings, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(embedded.embeddings, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5)
    assert not embedded.embeddings.flags.writeable
    assert embedded.true_pairs() == {("text", "image"): 2, ("text", "audio"): 1, ("image", "audio"): 1}

    parts = embedded.by_modality()
    assert list(parts) == ["text", "image", "audio"]
    assert parts["image"].ids == ("i1", "i2") and parts["image"].pair == ("cat", "dog")
    np.testing.assert_array_equal(parts["image"].embeddings, embedded.embeddings[2:4])
    np.testing.assert_array_equal(embedded.rows("text"), [0, 1])


def test_labels_are_optional(tmp_path: Path) -> None:
    assert load_embeddings(npz(tmp_path, label=None)).label == (None,) * 5


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    original = from_arrays(IDS, MODALITY, PAIR, vectors(), label=["animal", None, "animal", None, None])
    path = tmp_path / f"out{suffix}"
    (save_npz if suffix == ".npz" else save_safetensors)(path, original)
    loaded = load_embeddings(path)
    assert (loaded.ids, loaded.modality, loaded.pair, loaded.label) == (
        original.ids,
        original.modality,
        original.pair,
        original.label,
    )
    np.testing.assert_allclose(loaded.embeddings, original.embeddings, rtol=1e-6)
    assert loaded.source == path.name
    assert not list(tmp_path.glob("*partial*"))


def test_normalising_huge_float64_values_does_not_overflow() -> None:
    big = np.full((2, 3), 1e300)  # float64: the squared norm would overflow
    big[1] = [-1e300, 0.0, 0.0]
    embedded = from_arrays(["t", "i"], ["text", "image"], ["p", "p"], big)
    np.testing.assert_allclose(embedded.embeddings, np.array([[3**-0.5] * 3, [-1.0, 0.0, 0.0]]), rtol=1e-6)


def test_safetensors_layout(tmp_path: Path) -> None:
    path = tmp_path / "emb.safetensors"
    metadata = {"ids": json.dumps(IDS), "modality": json.dumps(MODALITY), "pair": json.dumps(PAIR)}
    save_file({"embeddings": vectors().astype(np.float16)}, str(path), metadata=metadata)
    embedded = load_embeddings(path)
    assert embedded.embeddings.dtype == np.float32 and embedded.label == (None,) * 5


# ---------------------------------------------------------------------------- hostile and broken files


def test_nan_row_is_named(tmp_path: Path) -> None:
    bad = vectors()
    bad[3, 1] = np.nan
    bad[4, 0] = np.inf
    assert (
        load_error(npz(tmp_path, embeddings=bad)) == "emb.npz: embeddings row 3 (id 'i2') holds NaN or infinite values"
    )


def test_zero_row_is_an_error(tmp_path: Path) -> None:
    bad = vectors()
    bad[2] = 0
    assert load_error(npz(tmp_path, embeddings=bad)) == "emb.npz: embeddings row 2 (id 'i1') is all zeros: no direction"


def test_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = npz(tmp_path, ids=np.array(IDS, dtype=object))
    assert load_error(path) == (
        "emb.npz: array 'ids' is an object array (pickled Python objects), refused for safety; "
        "save strings with dtype=str and embeddings as float32"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pair": None}, "emb.npz: missing array(s) pair (found: embeddings, ids, label, modality)"),
        ({"pair": np.array(PAIR[:4])}, "emb.npz: array 'pair' has 4 entries but embeddings has 5 rows"),
        ({"embeddings": vectors()[0]}, "emb.npz: embeddings must be 2-D [N, D], got shape (4,)"),
        ({"embeddings": np.ones((5, 4), dtype=np.int64)}, "emb.npz: embeddings must be float16/32/64, got int64"),
        ({"ids": np.arange(5)}, "emb.npz: array 'ids' must hold strings, got int64"),
        (
            {"modality": np.array(["text", "text", "video", "image", "audio"])},
            "emb.npz: row 2 (id 'i1'): unknown modality 'video' (expected text, image or audio)",
        ),
        ({"ids": np.array(["t1", "t1", "i1", "i2", "a1"])}, "emb.npz: row 1: duplicate text id 't1' (first at row 0)"),
        ({"ids": np.array(["t1", "", "i1", "i2", "a1"])}, "emb.npz: row 1: empty id"),
        ({"pair": np.array(["cat", "dog", "cat", " ", "dog"])}, "emb.npz: row 3 (id 'i2'): empty pair"),
        (
            {"pair": np.array(["a", "b", "c", "d", "e"])},
            "emb.npz: no true pairs: no pair key is shared by rows of two modalities (2 text, 2 image, 1 audio)",
        ),
        ({"embeddings": np.zeros((0, 4), np.float32)}, "emb.npz: embeddings is empty (shape (0, 4))"),
    ],
)
def test_invalid_npz(tmp_path: Path, overrides: dict[str, object], message: str) -> None:
    assert load_error(npz(tmp_path, **overrides)) == message


def test_bad_rows_are_skipped_one_message_each_by_default(tmp_path: Path) -> None:
    bad = vectors(6)
    bad[1, 0] = np.nan
    bad[4] = 0
    path = npz(
        tmp_path,
        ids=np.array(["t1", "t2", "i1", "i1", "a1", "t\ud800"]),
        modality=np.array(["text", "text", "image", "image", "audio", "text"]),
        pair=np.array(["cat", "dog", "cat", "dog", "dog", "cat"]),
        label=None,
        embeddings=bad,
    )
    embedded = load_embeddings(path)
    assert embedded.ids == ("t1", "i1")
    assert embedded.problems == (
        "emb.npz: embeddings row 1 (id 't2') holds NaN or infinite values; skipped",
        "emb.npz: row 3: duplicate image id 'i1' (first at row 2); skipped",
        "emb.npz: embeddings row 4 (id 'a1') is all zeros: no direction; skipped",
        "emb.npz: row 5: id holds a lone surrogate U+D800 at character 2: not valid Unicode "
        "(it cannot be encoded as UTF-8); skipped",
    )
    assert np.allclose(np.linalg.norm(embedded.embeddings, axis=1), 1.0)


def test_same_id_in_two_modalities_is_allowed() -> None:
    embedded = from_arrays(["cat", "cat"], ["text", "image"], ["cat", "cat"], vectors(2))
    assert embedded.ids == ("cat", "cat")


def test_sequences_are_type_checked() -> None:
    with pytest.raises(InputError, match=r"^arrays: 'ids' row 1 must be a string, got int 7$"):
        from_arrays(["a", 7], ["text", "image"], ["p", "p"], vectors(2))
    with pytest.raises(InputError, match=r"^arrays: embeddings is not a rectangular \[N, D\] array"):
        from_arrays(["a", "b"], ["text", "image"], ["p", "p"], [[1.0, 2.0], [1.0]])


def test_unpaired_files_load_when_pairs_are_not_required(tmp_path: Path) -> None:
    embedded = load_npz(npz(tmp_path, pair=np.array(["a", "b", "c", "d", "e"])), require_pairs=False)
    assert embedded.true_pairs() == {} and len(embedded) == 5


def test_limits(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^emb\.npz: array 'ids' has 5 rows, over the limit of 4$"):
        load_embeddings(npz(tmp_path), limits=EmbeddingLimits(max_rows=4))
    with pytest.raises(InputError, match=r"^emb\.npz: embedding width 4, over the limit of 3$"):
        load_embeddings(npz(tmp_path), limits=EmbeddingLimits(max_dim=3))


def test_truncated_array_is_caught_from_its_header(tmp_path: Path) -> None:
    path = npz(tmp_path, embeddings=np.ones((5, 4000), np.float32))
    data = bytearray(path.read_bytes())
    assert b"(5, 4000)" in data
    path.write_bytes(bytes(data.replace(b"(5, 4000)", b"(9, 4000)")))  # stored: same length, CRC unchecked until read
    assert load_error(path) == "emb.npz: array 'embeddings' declares shape (9, 4000) but holds fewer bytes (truncated?)"


def test_not_npz_or_safetensors(tmp_path: Path) -> None:
    (tmp_path / "emb.npz").write_bytes(b"hello")
    assert load_error(tmp_path / "emb.npz") == (
        "emb.npz: not an .npz file (an .npz is a zip of .npy arrays, as np.savez writes)"
    )
    (tmp_path / "emb.safetensors").write_bytes(b"hello world, not a header")
    assert load_error(tmp_path / "emb.safetensors").startswith("emb.safetensors: not a readable .safetensors file")
    (tmp_path / "emb.pkl").write_bytes(b"")
    assert (
        load_error(tmp_path / "emb.pkl")
        == "emb.pkl: precomputed embeddings must be .npz, .safetensors or parquet shards, got '.pkl'"
    )


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"modality": json.dumps(MODALITY), "pair": json.dumps(PAIR)}, "metadata has no 'ids' entry"),
        (
            {"ids": "[oops", "modality": json.dumps(MODALITY), "pair": json.dumps(PAIR)},
            "metadata 'ids' is not valid JSON",
        ),
        (
            {"ids": json.dumps([1, 2, 3, 4, 5]), "modality": json.dumps(MODALITY), "pair": json.dumps(PAIR)},
            "'ids' row 0",
        ),
    ],
)
def test_invalid_safetensors_metadata(tmp_path: Path, metadata: dict[str, str], message: str) -> None:
    path = tmp_path / "emb.safetensors"
    save_file({"embeddings": vectors()}, str(path), metadata=metadata)
    assert message in load_error(path)


def test_safetensors_without_embeddings_tensor(tmp_path: Path) -> None:
    path = tmp_path / "emb.safetensors"
    save_file({"vectors": vectors()}, str(path), metadata={"ids": json.dumps(IDS)})
    assert load_error(path) == "emb.safetensors: missing tensor 'embeddings' (found: vectors)"


def test_embedded_select_keeps_rows_aligned() -> None:
    embedded = from_arrays(IDS, MODALITY, PAIR, vectors())
    picked = embedded.select([4, 0])
    assert isinstance(picked, Embedded) and picked.ids == ("a1", "t1") and picked.modality == ("audio", "text")
    np.testing.assert_array_equal(picked.embeddings, embedded.embeddings[[4, 0]])
