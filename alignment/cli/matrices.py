"""Embedding matrices on disk for the bridge and fusion commands: `.npy` (pickles refused) or `.safetensors`.

Row i of every file given to one command describes the same item. Errors name the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.errors import InputError


def load_matrix(path: str | os.PathLike, *, allow_3d: bool = False) -> np.ndarray:
    """A float array from .npy or .safetensors ('embeddings' or the only tensor); InputError names the file."""
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
