"""On-disk embedding cache keyed by content hash + model fingerprint (id, revision, preprocessing, dtype)."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.files import atomic_write_bytes


@dataclass(frozen=True)
class EmbedStats:
    """How many items came from the cache and how many needed a forward pass."""

    hits: int
    computed: int


class EmbeddingCache:
    """One `.npy` per (fingerprint, content) under `root/<fingerprint hash>/`; writes are atomic (temp + rename).

    A fingerprint names everything but the content that fixes an embedding
    (see `Encoder.fingerprint`), so a new checkpoint, revision or preprocessing version never
    reads stale vectors.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _dir(self, fingerprint: str) -> Path:
        return self.root / hashlib.sha256(fingerprint.encode()).hexdigest()[:24]

    def get(self, fingerprint: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `keys`; unreadable or missing entries are simply absent."""
        directory = self._dir(fingerprint)
        found: dict[str, np.ndarray] = {}
        for key in keys:
            path = directory / f"{key}.npy"
            try:
                found[key] = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError):  # EOFError: an empty file
                continue  # a miss, or a partial file from a crashed writer on a filesystem without rename
        return found

    def has(self, fingerprint: str, key: str) -> bool:
        """Whether a vector is stored for `key` (a later `get` may still miss it if the file is damaged)."""
        return (self._dir(fingerprint) / f"{key}.npy").is_file()

    def put(self, fingerprint: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store vectors; each file appears whole or not at all."""
        if not vectors:
            return
        directory = self._dir(fingerprint)
        directory.mkdir(parents=True, exist_ok=True)
        meta = directory / "fingerprint.json"
        if not meta.exists():
            atomic_write_bytes(meta, json.dumps({"fingerprint": fingerprint}).encode())
        for key, vector in vectors.items():
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(vector, dtype=np.float32), allow_pickle=False)
            atomic_write_bytes(directory / f"{key}.npy", buffer.getvalue())
