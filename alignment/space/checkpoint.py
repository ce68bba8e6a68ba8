"""Small learned heads on disk: tensors in a .safetensors file, everything else as JSON in its metadata; a file
from a stranger is checked (size, format, JSON, float and finite tensors, metadata types, tensor shapes)
before anything is built from it, and every refusal is an InputError naming the file and the problem."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from ..core.errors import InputError
from ..core.names import display_name, shown

MAX_CHECKPOINT_MB = 2_000.0  # a bridge or a fusion head is a few MB; refuse anything absurd before reading it
MAX_DIM = 65_536  # any width a checkpoint may declare (CLIP-L is 768, CLAP 512)


def save_checkpoint(
    path: str | os.PathLike, weights: Mapping[str, np.ndarray], meta: Mapping[str, object], *, format: str, kind: str
) -> Path:
    """Write atomically (temp name, then rename); `format` is stored as a plain string so any reader can tell
    the kind of file; every other metadata value is JSON."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise ValueError(f"a {kind} is saved as .safetensors, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = {name: json.dumps(value) for name, value in meta.items()}
    text["format"] = format
    partial = path.with_name(path.name + ".partial")
    save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, str(partial), metadata=text)
    os.replace(partial, path)
    return path


def load_checkpoint(
    path: str | os.PathLike, *, format: str, kind: str, name: str | None = None
) -> tuple[dict[str, np.ndarray], dict]:
    """(tensors, metadata) of a file `save_checkpoint` wrote; InputError (a ValueError) names an unreadable file,
    the wrong kind, malformed metadata, or a tensor that is not finite floats. Messages call it `name`."""
    path = Path(path)
    name = name or display_name(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if size > MAX_CHECKPOINT_MB * 1e6:
        limit = f"{MAX_CHECKPOINT_MB:g} MB for a {kind}"
        raise InputError(name, f"file is {size / 1e6:.1f} MB, over the limit of {limit}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            meta = handle.metadata() or {}
            if meta.get("format") != format:  # before any tensor is read
                found = shown(meta.get("format"), limit=60) if "format" in meta else None
                raise InputError(name, f"not a {kind} file (format {found!r}, expected {format!r})")
            weights = {key: handle.get_tensor(key) for key in handle.keys()}
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001  SafetensorError, BF16 (TypeError in numpy), OSError, bad headers
        raise InputError(name, f"not a readable .safetensors file ({type(exc).__name__}: {exc})") from None
    for key, array in weights.items():
        if array.dtype.kind != "f":
            raise InputError(name, f"tensor '{shown(key, limit=60)}' is {array.dtype}, not floating point")
        if not np.isfinite(array).all():
            raise InputError(name, f"tensor '{shown(key, limit=60)}' holds NaN or infinite values")
    data: dict[str, object] = {}
    for key, value in meta.items():
        if key == "format":
            continue
        try:
            data[key] = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(name, f"metadata '{shown(key, limit=60)}' is not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InputError(name, f"metadata '{shown(key, limit=60)}' is JSON nested too deeply") from None
    return weights, data


# ---------------------------------------------------------------------------- metadata and shape checks


def meta_int(data: Mapping[str, object], key: str, *, name: str, low: int = 1, high: int = MAX_DIM) -> int:
    """An integer metadata entry within [low, high]; InputError naming the entry and the value otherwise."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, f"metadata '{key}' must be an integer, got {shown(repr(value), limit=60)}")
    if not low <= value <= high:
        raise InputError(name, f"metadata '{key}' is {value}, outside {low}..{high}")
    return value


def meta_number(data: Mapping[str, object], key: str, *, name: str, default: float = 0.0) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InputError(name, f"metadata '{key}' must be a finite number, got {shown(repr(value), limit=60)}")
    return float(value)


def meta_mapping(
    data: Mapping[str, object], key: str, *, name: str, values: tuple[type, ...] | None = None, what: str = "values"
) -> dict:
    """A JSON object entry (absent: {}) whose values are instances of `values` (any when None)."""
    value = data.get(key, {})
    if not isinstance(value, dict) or (
        values is not None and any(isinstance(v, bool) or not isinstance(v, values) for v in value.values())
    ):
        raise InputError(name, f"metadata '{key}' must be a JSON object of {what}")
    return dict(value)


def meta_strings(data: Mapping[str, object], key: str, *, name: str, count: int | None = None) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 200 for v in value):
        raise InputError(name, f"metadata '{key}' must be a list of short strings")
    if count is not None and value and len(value) != count:
        raise InputError(name, f"metadata '{key}' names {len(value)} entries, expected {count}")
    return tuple(value)


def check_shapes(
    weights: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]], *, name: str, kind: str
) -> None:
    """Exactly the expected tensors with exactly the expected shapes; InputError listing what differs."""
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        parts = [f"missing {missing}"] if missing else []
        parts += [f"unexpected {shown(extra, limit=200)}"] if extra else []
        raise InputError(name, f"{kind} tensors do not match its metadata: {'; '.join(parts)}")
    for key, shape in expected.items():
        got = tuple(weights[key].shape)
        if got != tuple(shape) and not (shape == () and got == (1,)):  # scalars are saved as (1,) (ascontiguousarray)
            raise InputError(name, f"{kind} tensor '{key}' has shape {got}, its metadata implies {tuple(shape)}")
