"""Parquet shards: the schema round-trips, failed rows keep their place and reason, partial files are not read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from alignment.core.errors import InputError
from alignment.inputs import shards
from alignment.inputs.embeddings import load_embeddings, load_spaces

META = shards.ShardMeta("clip", "tiny", "rev1", "1", "fp32", "float32", 4)


def columns(rows: list[int], *, modality: list[str], errors: dict[int, str] | None = None) -> dict[str, list]:
    errors = errors or {}
    return {
        "row": rows,
        "id": [f"item{r}" for r in rows],
        "modality": modality,
        "pair": [f"p{r // 2}" for r in rows],
        "label": [None if r % 3 else f"label{r}" for r in rows],
        "source": [f"media/{r}.jpg" for r in rows],
        "sha256": [f"{r:064x}" for r in rows],
        "error": [errors.get(r) for r in rows],
    }


def write(folder: Path, name: str, rows: list[int], meta: shards.ShardMeta = META, **kwargs: object) -> np.ndarray:
    rng = np.random.default_rng(rows[0])
    vectors = rng.standard_normal((len(rows), meta.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    modality = ["text" if r % 2 == 0 else "image" for r in rows]
    table = shards.shard_table(columns(rows, modality=modality, **kwargs), vectors, meta)  # type: ignore[arg-type]
    shards.write_shard(folder / name, table)
    return vectors


def test_round_trip_in_row_order_with_metadata(tmp_path: Path) -> None:
    later = write(tmp_path, "part-b.parquet", [4, 5, 6, 7])
    first = write(tmp_path, "part-a.parquet", [0, 1, 2, 3], errors={2: "cannot decode"})
    table, meta = shards.read_table(tmp_path)
    assert meta == META and table.column("row").to_pylist() == list(range(8))
    assert table.column_names == list(shards.SCHEMA_COLUMNS)
    assert shards.failed_rows(table).column("error").to_pylist() == ["cannot decode"]
    assert table.column("embedding")[2].as_py() is None  # a failed row keeps its place, with no vector
    good = shards.embedded_rows(table)
    expected = np.concatenate([first[[0, 1, 3]], later])
    np.testing.assert_array_equal(shards.embedding_matrix(good, meta), expected)
    stored = json.loads(pq.read_schema(tmp_path / "part-a.parquet").metadata[b"alignment"])
    assert stored["model_id"] == "tiny" and stored["precision"] == "fp32" and stored["format"] == shards.FORMAT


def test_float16_storage(tmp_path: Path) -> None:
    meta = shards.ShardMeta("clap", "tiny", "rev1", "1", "bf16", "float16", 4)
    vectors = write(tmp_path, "part.parquet", [0, 1], meta)
    table, read_meta = shards.read_table(tmp_path)
    assert str(table.schema.field("embedding").type.value_type) == "halffloat" and read_meta.dtype == "float16"
    np.testing.assert_allclose(shards.embedding_matrix(table, read_meta), vectors, atol=1e-3)


def test_a_file_without_footer_is_incomplete_and_skipped(tmp_path: Path) -> None:
    write(tmp_path, "part-a.parquet", [0, 1])
    write(tmp_path, "part-b.parquet", [2, 3])
    data = (tmp_path / "part-b.parquet").read_bytes()
    (tmp_path / "part-b.parquet").write_bytes(data[: len(data) // 2])  # what a killed writer leaves
    (tmp_path / "part-c.parquet.partial").write_bytes(data[:100])
    assert [p.name for p, _ in shards.complete_shards(tmp_path)] == ["part-a.parquet"]
    assert sorted(p.name for p in shards.incomplete_files(tmp_path)) == ["part-b.parquet", "part-c.parquet.partial"]
    assert shards.read_table(tmp_path)[0].column("row").to_pylist() == [0, 1]


def test_shards_of_other_settings_are_refused_by_name(tmp_path: Path) -> None:
    write(tmp_path, "part-a.parquet", [0, 1])
    write(tmp_path, "part-b.parquet", [2, 3], shards.ShardMeta("clip", "tiny", "rev1", "1", "int8", "float32", 4))
    with pytest.raises(InputError, match=r"part-b.parquet.*precision: int8 vs fp32"):
        shards.read_table(tmp_path)


def test_load_embeddings_reads_a_space_folder_and_load_spaces_every_space(tmp_path: Path) -> None:
    write(tmp_path / "out" / "clip", "part.parquet", [0, 1, 2, 3], errors={3: "bad"})
    clap = shards.ShardMeta("clap", "tiny", "rev2", "1", "fp32", "float32", 4)
    write(tmp_path / "out" / "clap", "part.parquet", [0, 1, 4, 5], clap)
    one = load_embeddings(tmp_path / "out" / "clip")
    assert one.ids == ("item0", "item1", "item2") and one.modality == ("text", "image", "text")
    assert one.label == ("label0", None, None) and one.pair == ("p0", "p0", "p1")
    np.testing.assert_allclose(np.linalg.norm(one.embeddings, axis=1), 1, atol=1e-6)
    assert load_embeddings(tmp_path / "out" / "clip" / "part.parquet").ids == one.ids
    with pytest.raises(InputError, match="holds 2 embedding spaces"):
        load_embeddings(tmp_path / "out")
    spaces = load_spaces(tmp_path / "out")
    assert set(spaces) == {"clip", "clap"} and spaces["clap"].ids == ("item0", "item1", "item4", "item5")


def test_a_gallery_without_pairs_loads_when_pairs_are_not_required(tmp_path: Path) -> None:
    meta = META
    vectors = np.eye(4, dtype=np.float32)[:3]
    cols = columns([0, 1, 2], modality=["image"] * 3)
    shards.write_shard(tmp_path / "g" / "part.parquet", shards.shard_table(cols, vectors, meta))
    with pytest.raises(InputError, match="no true pairs"):
        load_embeddings(tmp_path / "g")
    assert len(load_embeddings(tmp_path / "g", require_pairs=False)) == 3


def test_not_shards(tmp_path: Path) -> None:
    pq.write_table(
        shards.shard_table(columns([0], modality=["text"]), np.ones((1, 4)), META).replace_schema_metadata(),
        tmp_path / "x.parquet",
    )
    with pytest.raises(InputError, match="no readable embedding shard"):
        load_embeddings(tmp_path / "x.parquet")
    assert not shards.is_shards(tmp_path / "nothing-here")
