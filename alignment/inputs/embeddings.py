"""Precomputed embeddings: load, validate and write .npz / .safetensors files of ids, modalities, pairs and vectors.

File layouts (row i of every column describes item i; all modalities live in one shared space, so one D):

* `.npz` (`np.savez`; read with `allow_pickle=False`, so object arrays are refused): 1-D string arrays
  `ids`, `modality` (text | image | audio) and `pair` (group key), each of length N; `embeddings`,
  float16/32/64 of shape [N, D]; optional `label` (string, "" = no label). Strings are numpy unicode
  (`dtype=str`) or UTF-8 bytes. Other arrays are ignored.
* `.safetensors`: tensor `embeddings` [N, D] (F16, F32 or F64; BF16 is refused: numpy cannot hold it);
  the string columns live in the header metadata (a string -> string map), each a JSON list:
  `ids`, `modality`, `pair`, optional `label` (strings or null), and `format` = "alignment.embeddings/1".
* parquet shards written by `python -m alignment embed` (layout in `alignment.inputs.shards`): one `.parquet`
  file, a space folder (`OUT/clip`), or the output folder when it holds one space; `load_spaces` reads every
  space of an output folder. Rows come in dataset order; items that failed to embed are left out.

Validation (messages name the file, the array and the row, rows counted from 0 like array indices). The
file is refused as a whole when its layout is wrong: required arrays missing, unequal lengths, embeddings
not 2-D float, over `EmbeddingLimits` (rows, width, rows x width, bytes: read from the .npy / safetensors
headers before any data), no usable row, or (by default) no pair key shared by two modalities. A bad row
is skipped with one message each (`on_error="skip"`, the default for files) or refuses the file ("stop"):
an empty, over-long or non-Unicode id, pair or label, an unknown modality, an id repeated within a
modality (as in `alignment.inputs.dataset`), a NaN / infinite value, an all-zero row. Rows are then scaled
to unit length in float32.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np
from numpy.lib import format as npy_format
from safetensors import safe_open
from safetensors.numpy import save_file

from ..core.errors import InputError
from ..core.names import display_name, shown, unicode_problem
from .items import MAX_ID_CHARS, MODALITIES, Modality, count_true_pairs
from .limits import DEFAULT_EMBEDDING_LIMITS, EmbeddingLimits

PathLike = str | os.PathLike
REQUIRED = ("ids", "modality", "pair", "embeddings")
STRING_COLUMNS = ("ids", "modality", "pair", "label")
FORMAT = "alignment.embeddings/1"


DEFAULT_LIMITS = DEFAULT_EMBEDDING_LIMITS
OnError = Literal["skip", "stop"]
TextEmbedder = Callable[[list[str]], np.ndarray]  # prompts -> unit (P, D) in one space (zero-shot prompts)


@dataclass(frozen=True, eq=False)
class Embedded:
    """Unit-length embeddings and, row for row, their ids, modalities, pair keys and labels."""

    ids: tuple[str, ...]
    modality: tuple[Modality, ...]
    pair: tuple[str, ...]
    label: tuple[str | None, ...]  # all None when the file has no labels
    embeddings: np.ndarray  # (N, D) float32, unit rows, read-only
    source: str = "arrays"  # file name, for messages
    problems: tuple[str, ...] = ()  # rows of the file that were skipped, each named (on_error="skip")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def rows(self, modality: Modality) -> np.ndarray:
        """Indices of one modality's rows, in file order."""
        return np.flatnonzero(np.asarray(self.modality) == modality)

    def select(self, indices: np.ndarray | list[int]) -> Embedded:
        """The given rows, in the given order."""
        idx = np.asarray(indices, dtype=np.int64)
        pick = idx.tolist()
        return Embedded(
            tuple(self.ids[i] for i in pick),
            tuple(self.modality[i] for i in pick),
            tuple(self.pair[i] for i in pick),
            tuple(self.label[i] for i in pick),
            _readonly(self.embeddings[idx]),  # (n, D)
            self.source,
        )

    def by_modality(self) -> dict[Modality, Embedded]:
        """One Embedded per modality present, in MODALITIES order."""
        return {m: self.select(self.rows(m)) for m in MODALITIES if m in self.modality}

    def true_pairs(self) -> dict[tuple[Modality, Modality], int]:
        """For each modality pair (in MODALITIES order), how many pair keys join rows of both."""
        return count_true_pairs(self.pair, self.modality)


# ---------------------------------------------------------------------------- validation


def from_arrays(
    ids: object,
    modality: object,
    pair: object,
    embeddings: object,
    *,
    label: object = None,
    source: str = "arrays",
    require_pairs: bool = True,
    limits: EmbeddingLimits = DEFAULT_LIMITS,
    on_error: OnError = "stop",
) -> Embedded:
    """Validate columns (numpy arrays or sequences) and normalise the rows; InputError names the problem.

    A bad row raises (`on_error="stop"`) or is left out with one message in `Embedded.problems` ("skip")."""
    if on_error not in ("skip", "stop"):
        raise ValueError(f"on_error must be 'skip' or 'stop', got {on_error!r}")
    vectors = _matrix(embeddings, source, limits)  # (N, D)
    n = vectors.shape[0]
    id_list = _strings("ids", ids, n, source)
    modality_list = _strings("modality", modality, n, source)
    pair_list = _strings("pair", pair, n, source)
    labels: list[str | None] = [None] * n
    if label is not None:
        labels = [text or None for text in _strings("label", label, n, source, nullable=True)]

    finite = np.isfinite(vectors).all(axis=1)  # (N,)
    scale = np.abs(vectors).max(axis=1)  # (N,) NaN or inf on the rows `finite` rules out
    problems: list[str] = []
    keep: list[int] = []
    first: dict[tuple[str, str], int] = {}
    for row in range(n):
        problem = _row_problem(row, id_list[row], modality_list[row], pair_list[row], labels[row], first)
        if problem is None and not finite[row]:
            problem = f"embeddings row {row} (id '{shown(id_list[row])}') holds NaN or infinite values"
        if problem is None and scale[row] == 0:
            problem = f"embeddings row {row} (id '{shown(id_list[row])}') is all zeros: no direction"
        if problem is not None:
            if on_error == "stop":
                raise InputError(source, problem)
            problems.append(str(InputError(source, f"{problem}; skipped")))
            continue
        first[(modality_list[row], id_list[row])] = row
        keep.append(row)
    if not keep:
        raise InputError(source, f"no usable rows ({len(problems)} bad row(s) skipped; first: {problems[0]})")

    rows = np.asarray(keep, dtype=np.int64)
    scaled = vectors[rows] / scale[rows, None]  # (N', D), entries in [-1, 1]: the norm cannot overflow
    unit = (scaled / np.linalg.norm(scaled, axis=1, keepdims=True)).astype(np.float32)
    kept_modality = [modality_list[i] for i in keep]
    out = Embedded(
        tuple(id_list[i] for i in keep),
        cast(tuple[Modality, ...], tuple(kept_modality)),
        tuple(pair_list[i] for i in keep),
        tuple(labels[i] for i in keep),
        _readonly(unit),
        source,
        tuple(problems),
    )
    if require_pairs and not out.true_pairs():
        counts = ", ".join(f"{kept_modality.count(m)} {m}" for m in MODALITIES if m in kept_modality)
        skipped = f"; {len(problems)} bad row(s) skipped" if problems else ""
        raise InputError(source, f"no true pairs: no pair key is shared by rows of two modalities ({counts}){skipped}")
    return out


def _row_problem(
    row: int, rid: str, modality: str, key: str, label: str | None, first: dict[tuple[str, str], int]
) -> str | None:
    """Why one row cannot be used (its strings), or None; `first` holds the ids of the rows kept so far."""
    if not rid:
        return f"row {row}: empty id"
    for what, value in (("id", rid), ("pair", key), ("label", label or "")):
        problem = unicode_problem(value, what=what)
        if problem:
            return f"row {row}: {problem}"
        if len(value) > MAX_ID_CHARS:
            return f"row {row}: {what} is {len(value):,} characters, over the limit of {MAX_ID_CHARS:,}"
    if modality not in MODALITIES:
        return f"row {row} (id '{shown(rid)}'): unknown modality '{shown(modality)}' (expected text, image or audio)"
    if not key:
        return f"row {row} (id '{shown(rid)}'): empty pair"
    if (modality, rid) in first:
        return f"row {row}: duplicate {modality} id '{shown(rid)}' (first at row {first[(modality, rid)]})"
    return None


def _matrix(values: object, source: str, limits: EmbeddingLimits) -> np.ndarray:
    try:
        array = values if isinstance(values, np.ndarray) else np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise InputError(source, f"embeddings is not a rectangular [N, D] array ({exc})") from None
    if array.dtype.hasobject:
        raise InputError(source, "embeddings is an object array; it must be a float array [N, D]")
    if array.dtype.kind != "f":
        raise InputError(source, f"embeddings must be float16/32/64, got {array.dtype}")
    if array.ndim != 2:
        raise InputError(source, f"embeddings must be 2-D [N, D], got shape {array.shape}")
    n, d = array.shape
    if n == 0 or d == 0:
        raise InputError(source, f"embeddings is empty (shape {array.shape})")
    if n > limits.max_rows:
        raise InputError(source, f"{n:,} rows, over the limit of {limits.max_rows:,}")
    if d > limits.max_dim:
        raise InputError(source, f"embedding width {d:,}, over the limit of {limits.max_dim:,}")
    _check_values(source, n, d, limits)
    return array if array.dtype != np.float16 else array.astype(np.float32)


def _check_values(source: str, rows: int, dim: int, limits: EmbeddingLimits) -> None:
    if rows * dim > limits.max_values:
        raise InputError(
            source,
            f"{rows:,} rows x {dim:,} dims = {rows * dim:,} values, over the budget of {limits.max_values:,} "
            "values per embeddings file (max_values)",
        )


def _strings(name: str, values: object, n: int, source: str, *, nullable: bool = False) -> list[str]:
    """A string column as a list; numpy unicode/bytes arrays or sequences of str ('' for None when nullable)."""
    if isinstance(values, np.ndarray):
        if values.dtype.hasobject:
            raise InputError(source, f"array '{name}' is an object array; save strings with dtype=str")
        if values.ndim != 1:
            raise InputError(source, f"array '{name}' must be 1-D, got shape {values.shape}")
        if values.dtype.kind == "S":
            try:
                out = [value.decode("utf-8") for value in values.tolist()]
            except UnicodeDecodeError as exc:
                raise InputError(source, f"array '{name}' holds bytes that are not UTF-8 ({exc.reason})") from None
        elif values.dtype.kind == "U":
            out = values.tolist()
        else:
            raise InputError(source, f"array '{name}' must hold strings, got {values.dtype}")
    elif isinstance(values, (list, tuple)):
        out = []
        for row, value in enumerate(values):
            if value is None and nullable:
                value = ""
            if not isinstance(value, str):
                raise InputError(source, f"'{name}' row {row} must be a string, got {type(value).__name__} {value!r}")
            out.append(value)
    else:
        raise InputError(source, f"'{name}' must be an array or a list of strings, got {type(values).__name__}")
    if len(out) != n:
        raise InputError(source, f"array '{name}' has {len(out)} entries but embeddings has {n} rows")
    return [value.strip() for value in out]


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


# ---------------------------------------------------------------------------- files


def load_embeddings(
    path: PathLike,
    *,
    require_pairs: bool = True,
    limits: EmbeddingLimits = DEFAULT_LIMITS,
    name: str | None = None,
    on_error: OnError = "skip",
) -> Embedded:
    """Load a .npz or .safetensors embedding file, or parquet shards of one space (layouts in the module docstring);
    messages call it `name` (default: the file name). Bad rows are skipped and listed in `Embedded.problems` unless
    on_error="stop"."""
    from . import shards

    suffix = Path(path).suffix.lower()
    options = dict(require_pairs=require_pairs, limits=limits, name=name, on_error=on_error)
    if shards.is_shards(path):
        spaces = shards.space_folders(path)
        if len(spaces) > 1:
            names = ", ".join(str(Path(path) / s) for s in spaces)
            raise InputError(
                name or display_name(path),
                f"holds {len(spaces)} embedding spaces; name one folder ({names}) or use load_spaces",
            )
        return load_shards(next(iter(spaces.values())), require_pairs=require_pairs, limits=limits)
    if suffix == ".npz":
        return load_npz(path, **options)  # type: ignore[arg-type]
    if suffix == ".safetensors":
        return load_safetensors(path, **options)  # type: ignore[arg-type]
    got = suffix or "no suffix"
    raise InputError(
        name or display_name(path), f"precomputed embeddings must be .npz, .safetensors or parquet shards, got '{got}'"
    )


def load_shards(path: PathLike, *, require_pairs: bool = True, limits: EmbeddingLimits = DEFAULT_LIMITS) -> Embedded:
    """One space of parquet shards (a space folder or one .parquet file): its embedded rows in dataset order."""
    from . import shards

    path = Path(path)
    name = path.name if path.is_file() else f"{path.parent.name}/{path.name}"
    table, meta = shards.read_table(path)
    if table.num_rows > limits.max_rows:
        raise InputError(name, f"{table.num_rows:,} rows, over the limit of {limits.max_rows:,}")
    good = shards.embedded_rows(table)
    if good.num_rows == 0:
        raise InputError(name, f"no embedded rows ({table.num_rows} item(s), all failed: see problems.jsonl)")
    return from_arrays(
        good.column("id").to_pylist(),
        good.column("modality").to_pylist(),
        good.column("pair").to_pylist(),
        shards.embedding_matrix(good, meta),
        label=good.column("label").to_pylist(),
        source=name,
        require_pairs=require_pairs,
        limits=limits,
    )


def load_spaces(
    path: PathLike, *, require_pairs: bool = True, limits: EmbeddingLimits = DEFAULT_LIMITS
) -> dict[str, Embedded]:
    """Every space of an embed output folder (or the one space of a space folder / .parquet file), by space name."""
    from . import shards

    return {
        space: load_shards(folder, require_pairs=require_pairs, limits=limits)
        for space, folder in shards.space_folders(path).items()
    }


def load_npz(
    path: PathLike,
    *,
    require_pairs: bool = True,
    limits: EmbeddingLimits = DEFAULT_LIMITS,
    name: str | None = None,
    on_error: OnError = "skip",
) -> Embedded:
    """Load an .npz without unpickling; array headers are checked before any data is read."""
    path = Path(path)
    name = name or display_name(path)
    _check_file_size(path, limits, name)
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not is_zip:
        raise InputError(name, "not an .npz file (an .npz is a zip of .npy arrays, as np.savez writes)")
    present = _check_npz_members(path, name, limits)
    missing = [key for key in REQUIRED if key not in present]
    if missing:
        raise InputError(name, f"missing array(s) {', '.join(missing)} (found: {', '.join(sorted(present)) or 'none'})")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in (*REQUIRED, "label"):
                if key in present:
                    arrays[key] = npz[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError(name, "holds an object array (pickled Python objects), refused for safety") from None
        raise InputError(name, f"cannot be read as .npz ({exc})") from None
    except Exception as exc:  # noqa: BLE001  damaged members: zlib, zipfile, EOF and memory errors alike
        raise InputError(name, f"cannot be read as .npz ({type(exc).__name__}: {exc})") from None
    return from_arrays(
        arrays["ids"],
        arrays["modality"],
        arrays["pair"],
        arrays["embeddings"],
        label=arrays.get("label"),
        source=name,
        require_pairs=require_pairs,
        limits=limits,
        on_error=on_error,
    )


def _check_npz_members(path: Path, name: str, limits: EmbeddingLimits) -> set[str]:
    """Array names in the archive; refuses object dtypes and sizes past the limits from the .npy headers alone."""
    present: set[str] = set()
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(info.file_size for info in infos)
            if total > limits.max_file_mb * 1e6:
                raise InputError(
                    name, f"unpacks to {total / 1e6:.1f} MB, over the budget of {limits.max_file_mb:g} MB (max_file_mb)"
                )
            for info in infos:
                key = info.filename.removesuffix(".npy")
                if key not in (*REQUIRED, "label"):
                    continue
                present.add(key)
                with zf.open(info) as member:
                    version = npy_format.read_magic(member)
                    if version == (1, 0):
                        shape, _, dtype = npy_format.read_array_header_1_0(member)
                    elif version == (2, 0):
                        shape, _, dtype = npy_format.read_array_header_2_0(member)
                    else:
                        continue  # rarer header versions: np.load checks them
                if dtype.hasobject:
                    raise InputError(
                        name,
                        f"array '{key}' is an object array (pickled Python objects), refused for safety; "
                        "save strings with dtype=str and embeddings as float32",
                    )
                count = int(np.prod(shape, dtype=np.float64))
                if count * dtype.itemsize > info.file_size:
                    raise InputError(name, f"array '{key}' declares shape {shape} but holds fewer bytes (truncated?)")
                if shape and shape[0] > limits.max_rows:
                    raise InputError(
                        name, f"array '{key}' has {shape[0]:,} rows, over the limit of {limits.max_rows:,}"
                    )
                if key == "embeddings" and len(shape) == 2:
                    _check_values(name, int(shape[0]), int(shape[1]), limits)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001  malformed .npy headers, broken zips, RecursionError in a header
        raise InputError(name, f"cannot be read as .npz ({type(exc).__name__}: {exc})") from None
    return present


def load_safetensors(
    path: PathLike,
    *,
    require_pairs: bool = True,
    limits: EmbeddingLimits = DEFAULT_LIMITS,
    name: str | None = None,
    on_error: OnError = "skip",
) -> Embedded:
    """Load a .safetensors file: tensor `embeddings` plus JSON string columns in the metadata."""
    path = Path(path)
    name = name or display_name(path)
    _check_file_size(path, limits, name)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            if "embeddings" not in handle.keys():
                found = ", ".join(sorted(shown(k, limit=60) for k in handle.keys())[:8]) or "none"
                raise InputError(name, f"missing tensor 'embeddings' (found: {found})")
            header = handle.get_slice("embeddings")
            dtype, shape = header.get_dtype(), list(header.get_shape())
            if dtype not in ("F16", "F32", "F64"):
                raise InputError(name, f"tensor 'embeddings' is {dtype}; save it as F32 (or F16 / F64)")
            if len(shape) == 2:  # from the header, before the data is read
                if shape[0] > limits.max_rows:
                    raise InputError(name, f"{shape[0]:,} rows, over the limit of {limits.max_rows:,}")
                if shape[1] > limits.max_dim:
                    raise InputError(name, f"embedding width {shape[1]:,}, over the limit of {limits.max_dim:,}")
                _check_values(name, int(shape[0]), int(shape[1]), limits)
            embeddings = handle.get_tensor("embeddings")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001  SafetensorError, and OSError / ValueError from odd files
        raise InputError(name, f"not a readable .safetensors file ({type(exc).__name__}: {exc})") from None
    columns: dict[str, list[str | None]] = {}
    for key in STRING_COLUMNS:
        if key not in metadata:
            if key != "label":
                raise InputError(name, f"metadata has no '{key}' entry (a JSON list of strings)")
            continue
        try:
            values = json.loads(metadata[key])
        except json.JSONDecodeError as exc:
            raise InputError(name, f"metadata '{key}' is not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InputError(name, f"metadata '{key}' is JSON nested too deeply") from None
        if not isinstance(values, list):
            raise InputError(name, f"metadata '{key}' must be a JSON list of strings, got {type(values).__name__}")
        columns[key] = values
    return from_arrays(
        columns["ids"],
        columns["modality"],
        columns["pair"],
        embeddings,
        label=columns.get("label"),
        source=name,
        require_pairs=require_pairs,
        limits=limits,
        on_error=on_error,
    )


def _check_file_size(path: Path, limits: EmbeddingLimits, name: str) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if size == 0:
        raise InputError(name, "file is empty (0 bytes)")
    if size > limits.max_file_mb * 1e6:
        raise InputError(name, f"file is {size / 1e6:.1f} MB, over the limit of {limits.max_file_mb:g} MB")


# ---------------------------------------------------------------------------- writing


def save_npz(path: PathLike, embedded: Embedded) -> Path:
    """Write the .npz layout (unit float32 rows, '' for no label); written to a temp name, then renamed."""
    path = _target(path, ".npz")
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(
        partial,
        ids=np.asarray(embedded.ids, dtype=str),
        modality=np.asarray(embedded.modality, dtype=str),
        pair=np.asarray(embedded.pair, dtype=str),
        label=np.asarray([text or "" for text in embedded.label], dtype=str),
        embeddings=np.asarray(embedded.embeddings, dtype=np.float32),
    )
    os.replace(partial, path)
    return path


def save_safetensors(path: PathLike, embedded: Embedded) -> Path:
    """Write the .safetensors layout: tensor `embeddings`, string columns as JSON lists in the metadata."""
    path = _target(path, ".safetensors")
    partial = path.with_name(path.name + ".partial")
    metadata = {
        "format": FORMAT,
        "ids": json.dumps(list(embedded.ids)),
        "modality": json.dumps(list(embedded.modality)),
        "pair": json.dumps(list(embedded.pair)),
        "label": json.dumps(list(embedded.label)),
    }
    save_file(
        {"embeddings": np.ascontiguousarray(embedded.embeddings, dtype=np.float32)}, str(partial), metadata=metadata
    )
    os.replace(partial, path)
    return path


def _target(path: PathLike, suffix: str) -> Path:
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise ValueError(f"expected a {suffix} path, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
