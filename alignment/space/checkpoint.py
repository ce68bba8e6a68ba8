"""Small learned heads on disk: tensors in a .safetensors file, everything else as JSON in its metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file


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


def load_checkpoint(path: str | os.PathLike, *, format: str, kind: str) -> tuple[dict[str, np.ndarray], dict]:
    """(tensors, metadata) of a file `save_checkpoint` wrote; ValueError names an unreadable file or wrong kind."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            meta = handle.metadata() or {}
            weights = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{path.name}: not a readable .safetensors file ({exc})") from None
    if meta.get("format") != format:
        raise ValueError(f"{path.name}: not a {kind} file (format {meta.get('format')!r}, expected {format!r})")
    try:
        data = {name: json.loads(value) for name, value in meta.items() if name != "format"}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name}: metadata is not valid JSON ({exc.msg})") from None
    return weights, data
