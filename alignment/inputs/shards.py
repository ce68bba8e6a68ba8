"""Parquet embedding shards: the schema `python -m alignment embed` writes, atomic shard files, and reading them back.

Layout of an embed output folder (`OUT`):

    OUT/embed.json            the run: source, models, precision, counts (rewritten at the end of every run)
    OUT/problems.jsonl        one JSON object per item that could not be embedded, with the reason
    OUT/clip/part-*.parquet   CLIP space: texts and images
    OUT/clap/part-*.parquet   CLAP space: texts and audio

Every shard has the columns of `SCHEMA_COLUMNS`: `row` (the item's position in the dataset, the same in
every space; readers sort by it), `id`, `modality`, `pair`, `label` (null = none), `source` (the file's
path inside the dataset, or 'manifest line N' for a text), `sha256` of the original bytes, `error` (null
when embedded; else why not, and `embedding` is null) and `embedding`, a fixed-size list of float32 (or
float16) of length D. The schema metadata key `alignment` holds `ShardMeta` as JSON: format, space, role,
model id and revision, preprocessing version, precision, stored dtype and D.

A shard is complete when its footer can be read: the local engine writes `*.parquet.partial` and renames,
Ray Data writes in place, so a killed run may leave a file without a footer, which readers skip and the
next run deletes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..core.errors import InputError

if TYPE_CHECKING:  # pyarrow loads only when shards are read or written
    import pyarrow as pa

FORMAT = "alignment.shards/1"
META_KEY = b"alignment"
RUN_FILE = "embed.json"
PROBLEMS_FILE = "problems.jsonl"
SPACES = ("clip", "clap")
STRING_COLUMNS = ("id", "modality", "pair", "label", "source", "sha256", "error")
SCHEMA_COLUMNS = ("row", *STRING_COLUMNS, "embedding")
StoredDtype = Literal["float32", "float16"]


@dataclass(frozen=True)
class ShardMeta:
    """What produced a shard's vectors; two shards of one space must agree on all of it."""

    space: str  # 'clip' or 'clap'
    model_id: str
    revision: str
    preprocessing: str  # alignment.models.encoders.PREPROCESSING_VERSION
    precision: str  # fp32 | bf16 | int8
    dtype: StoredDtype  # how the vectors are stored (computed in float32, unit length)
    dim: int
    format: str = FORMAT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def differs(self, other: ShardMeta) -> list[str]:
        """The fields that differ, as 'name: this vs other'."""
        mine, theirs = asdict(self), asdict(other)
        return [f"{k}: {mine[k]} vs {theirs[k]}" for k in mine if mine[k] != theirs[k]]


# ---------------------------------------------------------------------------- writing


def schema(meta: ShardMeta) -> pa.Schema:
    import pyarrow as pa

    value = pa.float16() if meta.dtype == "float16" else pa.float32()
    fields = [pa.field("row", pa.int64(), nullable=False)]
    fields += [pa.field(name, pa.string(), nullable=name in ("label", "error")) for name in STRING_COLUMNS]
    fields.append(pa.field("embedding", pa.list_(value, meta.dim)))
    return pa.schema(fields, metadata={META_KEY: json.dumps(meta.to_json()).encode()})


def shard_table(columns: Mapping[str, Sequence[Any]], embeddings: np.ndarray, meta: ShardMeta) -> pa.Table:
    """Columns (row and STRING_COLUMNS) plus (N, D) float vectors -> a table; rows whose `error` is set get null."""
    import pyarrow as pa

    target = schema(meta)
    n = len(columns["row"])
    vectors = np.ascontiguousarray(embeddings, dtype=np.float16 if meta.dtype == "float16" else np.float32)
    if vectors.shape != (n, meta.dim):
        raise ValueError(f"embeddings must be ({n}, {meta.dim}), got {vectors.shape}")
    failed = np.array([e is not None for e in columns["error"]], dtype=bool)  # (N,)
    flat = pa.array(vectors.reshape(-1))  # (N * D,)
    embedding = pa.FixedSizeListArray.from_arrays(flat, meta.dim, mask=pa.array(failed))
    arrays = [pa.array(columns["row"], pa.int64())]
    arrays += [pa.array(list(columns[name]), pa.string()) for name in STRING_COLUMNS]
    return pa.Table.from_arrays([*arrays, embedding], schema=target)


def write_shard(path: Path, table: pa.Table) -> Path:
    """Write a shard whole or not at all: a `.partial` name, fsync, then rename."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial, compression="zstd")
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return path


# ---------------------------------------------------------------------------- finding shards


def shard_meta(path: Path) -> ShardMeta | None:
    """A complete shard's metadata; None when the file has no readable footer (a killed writer) or is not ours."""
    import pyarrow.parquet as pq

    try:
        found = pq.read_schema(path)
    except (OSError, ValueError):  # pyarrow raises ArrowInvalid (a ValueError) for a missing footer
        return None
    raw = (found.metadata or {}).get(META_KEY)
    if raw is None:
        return None
    try:
        fields = json.loads(raw)
        return ShardMeta(**fields)
    except (ValueError, TypeError):
        return None


def complete_shards(folder: Path) -> list[tuple[Path, ShardMeta]]:
    """The readable shards of one space folder, by name."""
    out = []
    for path in sorted(folder.glob("*.parquet")):
        meta = shard_meta(path)
        if meta is not None:
            out.append((path, meta))
    return out


def incomplete_files(folder: Path) -> list[Path]:
    """Files a killed writer left: `*.partial`, and `*.parquet` without a readable footer."""
    partial = sorted(folder.glob("*.partial"))
    return partial + [p for p in sorted(folder.glob("*.parquet")) if shard_meta(p) is None]


def is_shards(path: str | os.PathLike[str]) -> bool:
    """A .parquet file, a space folder holding .parquet shards, or an embed output folder (embed.json or spaces)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return True
    if not path.is_dir():
        return False
    return (path / RUN_FILE).is_file() or any(path.glob("*.parquet")) or any(path.glob("*/*.parquet"))


def space_folders(path: str | os.PathLike[str]) -> dict[str, Path]:
    """Space name -> folder: the spaces under an embed output folder, or a space folder / .parquet file itself."""
    path = Path(path)
    if path.is_file() or any(path.glob("*.parquet")):
        files = [path] if path.is_file() else [p for p, _ in complete_shards(path)]
        metas = {m.space for f in files if (m := shard_meta(f)) is not None}
        if not metas:
            raise InputError(path.name, "holds no readable embedding shard (parquet files written by `embed`)")
        if len(metas) > 1:
            raise InputError(path.name, f"mixes shards of several spaces ({', '.join(sorted(metas))})")
        return {metas.pop(): path}
    found = {s: path / s for s in SPACES if (path / s).is_dir() and complete_shards(path / s)}
    found |= {p.name: p for p in sorted(path.iterdir()) if p.is_dir() and p.name not in found and complete_shards(p)}
    if not found:
        raise InputError(path.name, "holds no embedding shards (expected clip/ or clap/ folders of .parquet files)")
    return found


# ---------------------------------------------------------------------------- reading


def read_table(path: str | os.PathLike[str], *, columns: Iterable[str] | None = None) -> tuple[pa.Table, ShardMeta]:
    """Every complete shard of one space (a folder or one .parquet file), sorted by `row`, and their metadata.

    Shards of one space written by different models, revisions, precisions or dtypes are refused by name.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    files = [(path, shard_meta(path))] if path.is_file() else complete_shards(path)
    files = [(f, m) for f, m in files if m is not None]
    if not files:
        raise InputError(path.name, "holds no readable embedding shard (parquet files written by `embed`)")
    first_file, meta = files[0]
    assert meta is not None
    for file, other in files[1:]:
        assert other is not None
        if other.differs(meta):
            raise InputError(
                file.name, f"was written with other settings than {first_file.name} ({'; '.join(other.differs(meta))})"
            )
    wanted = list(columns) if columns is not None else None
    try:
        tables = [pq.read_table(f, columns=wanted) for f, _ in files]
    except (OSError, ValueError) as exc:
        raise InputError(path.name, f"cannot be read as parquet ({exc})") from None
    table = pa.concat_tables(tables).combine_chunks()
    if "row" in table.column_names:
        table = table.sort_by("row")
    return table, meta


def embedding_matrix(table: pa.Table, meta: ShardMeta) -> np.ndarray:
    """The `embedding` column of rows that have one, as (N, D) float32."""
    column = table.column("embedding").combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False)  # (N * D,) nulls are skipped by flatten
    return values.reshape(-1, meta.dim).astype(np.float32)  # (N, D)


def embedded_rows(table: pa.Table) -> pa.Table:
    """The rows that hold an embedding (error is null)."""
    import pyarrow.compute as pc

    return table.filter(pc.is_null(table.column("error")))


def failed_rows(table: pa.Table) -> pa.Table:
    """The rows that could not be embedded, with their `error`."""
    import pyarrow.compute as pc

    return table.filter(pc.is_valid(table.column("error")))


__all__ = [
    "FORMAT",
    "PROBLEMS_FILE",
    "RUN_FILE",
    "SCHEMA_COLUMNS",
    "SPACES",
    "ShardMeta",
    "complete_shards",
    "embedded_rows",
    "embedding_matrix",
    "failed_rows",
    "incomplete_files",
    "is_shards",
    "read_table",
    "schema",
    "shard_meta",
    "shard_table",
    "space_folders",
    "write_shard",
]
