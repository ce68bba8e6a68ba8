"""Where a checkpoint lives and which revision it is, found without importing torch or loading the model.

The factory reports these revisions in every fingerprint; the app uses them before the models are loaded to
find results it prepared earlier for the same checkpoints (the bundled example, shown as the page opens).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .settings import TINY

TINY_VERSION = "1"  # bump when the tiny architectures change, so cached copies are rebuilt


def tiny_dir(role: str, root: str | os.PathLike[str]) -> Path:
    """The directory the tiny `clip` or `clap` checkpoint is (or will be) saved in under `root`."""
    if role not in ("clip", "clap"):
        raise ValueError(f"unknown tiny role {role!r} (expected 'clip' or 'clap')")
    key = hashlib.sha256(f"{role}-{TINY_VERSION}".encode()).hexdigest()[:12]
    return Path(root) / f"tiny-{role}-{key}"


def local_revision(path: str | os.PathLike[str]) -> str:
    """A local checkpoint's revision: a digest of its config and weight files' names, sizes and times."""
    path = Path(path)
    digest = hashlib.sha256()
    for file in sorted(path.glob("*")):
        if file.suffix in (".json", ".safetensors", ".bin", ".txt"):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update((path / "config.json").read_bytes() if (path / "config.json").exists() else b"")
    return "local-" + digest.hexdigest()[:16]


def known_revision(role: str, model_id: str, *, tiny_root: str | os.PathLike[str]) -> str | None:
    """The revision the factory will report for `model_id`, or None when only loading it can tell (a Hub id that
    is not in the local Hugging Face cache, or a tiny model not built yet)."""
    if model_id == TINY:
        folder = tiny_dir(role, tiny_root)
        return local_revision(folder) if (folder / "config.json").is_file() else None
    if Path(model_id).is_dir():
        return local_revision(model_id)
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model_id, "config.json")
    except ValueError:  # not a valid repository id
        return None
    return Path(found).parent.name if isinstance(found, str) else None  # .../snapshots/<commit>/config.json
