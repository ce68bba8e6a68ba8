"""Embedding matrices on disk for the bridge and fusion commands: `.npy` (pickles refused), `.safetensors`, or
one modality of `embed`'s parquet shards.

Shards are selected as `SPACE_FOLDER::MODALITY` (e.g. `out/clap::text`, `out/clip::image`; `::MODALITY` may be
left out when the folder holds one modality): that modality's embedded rows in dataset order. Row i of every
file given to one command describes the same item; both spaces of one embed run hold the same texts in the same
order, so `out/clap::text` and `out/clip::text` pair up row for row. Errors name the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.errors import InputError

SELECT = "::"  # SPACE_FOLDER::MODALITY selects one modality of parquet shards


def load_matrix(path: str | os.PathLike, *, allow_3d: bool = False) -> np.ndarray:
    """A float array from .npy, .safetensors ('embeddings' or the only tensor) or shards; InputError names the file."""
    from ..inputs import shards

    if SELECT in str(path) or shards.is_shards(path):
        return shard_matrix(str(path))
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise InputError(name, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise InputError(name, "holds pickled Python objects, refused for safety; save a float array") from None
            raise InputError(name, f"cannot be read as .npy ({exc})") from None
        except (OSError, EOFError) as exc:
            raise InputError(name, f"cannot be read as .npy ({exc or type(exc).__name__})") from None
    elif suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(name, framework="numpy") as handle:
                keys = list(handle.keys())
                if "embeddings" in keys:
                    key = "embeddings"
                elif len(keys) == 1:
                    key = keys[0]
                else:
                    raise InputError(
                        name,
                        f"has no tensor 'embeddings' and {len(keys)} tensors "
                        f"({', '.join(sorted(keys)[:8]) or 'none'}); which one is meant?",
                    )
                array = handle.get_tensor(key)
        except (SafetensorError, TypeError) as exc:  # TypeError: BF16, which numpy cannot hold
            raise InputError(name, f"cannot be read as .safetensors ({exc})") from None
    else:
        raise InputError(name, f"embeddings must be .npy or .safetensors, got '{suffix or 'no suffix'}'")
    if array.dtype.kind != "f":
        raise InputError(name, f"embeddings must be a float array, got {array.dtype}")
    if array.ndim != 2 and not (allow_3d and array.ndim == 3):
        expected = "(N, D) or (N, T, D)" if allow_3d else "(N, D)"
        raise InputError(name, f"embeddings must be {expected}, got shape {array.shape}")
    return array


def shard_matrix(spec: str) -> np.ndarray:
    """`FOLDER[::MODALITY]`: one modality of one space's shards, (N, D) float32 in dataset order."""
    import pyarrow.compute as pc

    from ..inputs import shards

    folder, _, modality = spec.partition(SELECT)
    spaces = shards.space_folders(folder)
    if len(spaces) > 1:
        choices = ", ".join(f"{Path(folder) / s}{SELECT}{modality or 'MODALITY'}" for s in spaces)
        raise InputError(spec, f"holds {len(spaces)} spaces; name one ({choices})")
    table, meta = shards.read_table(next(iter(spaces.values())))
    table = shards.embedded_rows(table)
    present = list(dict.fromkeys(table.column("modality").to_pylist()))
    if not modality:
        if len(present) != 1:
            raise InputError(spec, f"holds {' and '.join(present)}; add {SELECT}MODALITY (e.g. {folder}{SELECT}text)")
        modality = present[0]
    if modality not in present:
        raise InputError(spec, f"has no embedded {modality!r} rows (it holds {', '.join(present) or 'none'})")
    return shards.embedding_matrix(table.filter(pc.equal(table.column("modality"), modality)), meta)  # (N, D)


def save_matrix(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write float32 .npy through a temporary name, so a failed write leaves nothing behind."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise InputError(str(path), "output must be a .npy file")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    os.replace(partial, path)
    return path


def load_mask(path: str | None, n: int, m: int) -> np.ndarray | None:
    if path is None:
        return None
    try:
        mask = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(path, f"cannot be read as .npy ({exc})") from None
    if mask.shape != (n, m) or mask.dtype.kind not in "biu":
        raise InputError(path, f"mask must be a bool (N, M) = ({n}, {m}) array, got {mask.dtype} {mask.shape}")
    return mask.astype(bool)
