"""On-disk embedding cache keyed by content hash + model fingerprint (id, revision, preprocessing, dtype), with
per-visitor namespaces for public deployments and a size bound with least-recently-used eviction.

Layout: `root/<fingerprint hash>/<sha256>.npy` is the shared namespace (a local run, and on a public
deployment the bundled examples only); `root/owners/<owner hash>/<fingerprint hash>/<sha256>.npy` holds one
visitor's vectors. A visitor's view (`for_owner`) reads its own namespace, then the shared one, and writes
only its own: whether another visitor submitted some content shows neither as a hit nor in timing, since a
visitor's lookup never touches another's files. With `max_bytes`, the whole tree is kept under the bound:
past it, the least recently used vectors (a hit refreshes a file's time) are deleted down to 80 %.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.files import atomic_write_bytes

OWNERS = "owners"  # the folder of per-visitor namespaces under the root
LOW_WATER = 0.8  # eviction goes down to this share of max_bytes
RESCAN_SHARE = 0.05  # writes of this share of max_bytes (from this process) trigger a fresh look at the disk
STALE_TEMP_SECONDS = 3_600  # temp files older than this are a crashed writer's leftovers
BLOCK = 4_096  # a small file takes a whole filesystem block


class _Bound:
    """The size bound shared by a cache and its owner views: the estimate of bytes on disk and a lock."""

    def __init__(self, max_bytes: int | None) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive or None (unbounded), got {max_bytes}")
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self.total: int | None = None  # bytes on disk at the last scan plus what was written since
        self.since_scan = 0


@dataclass(frozen=True)
class EmbedStats:
    """How many items came from the cache and how many needed a forward pass."""

    hits: int
    computed: int


class EmbeddingCache:
    """One `.npy` per (fingerprint, content); writes are atomic (temp + rename), reads of damaged files are misses.

    A fingerprint names everything but the content that fixes an embedding (see `Encoder.fingerprint`), so a
    new checkpoint, revision or preprocessing version never reads stale vectors."""

    def __init__(self, root: str | os.PathLike[str], *, max_bytes: int | None = None) -> None:
        self.root = Path(root)  # this namespace's folder
        self.top = self.root  # the whole tree (what the bound covers)
        self.owner: str | None = None  # hashed owner of this view; None for the shared namespace
        self._shared: EmbeddingCache | None = None  # read fallback of an owner view
        self._bound = _Bound(max_bytes)

    @property
    def max_bytes(self) -> int | None:
        return self._bound.max_bytes

    def for_owner(self, owner: str) -> EmbeddingCache:
        """One visitor's view: reads its own namespace then the shared one, writes only its own (see the module
        docstring). `owner` is the Hugging Face user or the browser-kept id; only its hash reaches the disk."""
        if not isinstance(owner, str) or not owner.strip():
            raise ValueError("an owner id is needed for a per-visitor cache")
        base = self._shared or self
        digest = hashlib.sha256(b"alignment-cache-owner\0" + owner.encode("utf-8", "surrogatepass")).hexdigest()
        view = EmbeddingCache.__new__(EmbeddingCache)
        view.root = base.top / OWNERS / digest[:32]
        view.top = base.top
        view.owner = digest[:32]
        view._shared = base
        view._bound = base._bound
        return view

    def for_visitor(self, owner: str | None, *, public: bool) -> EmbeddingCache:
        """`for_owner(owner)` on a public deployment (an owner is then required), this cache itself otherwise."""
        if not public:
            return self
        if owner is None:
            raise ValueError("a public deployment keeps the cache per visitor: pass the visitor's owner id")
        return self.for_owner(owner)

    def _dir(self, fingerprint: str) -> Path:
        return self.root / hashlib.sha256(fingerprint.encode()).hexdigest()[:24]

    # ---------------------------------------------------------------- reading and writing

    def get(self, fingerprint: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `keys` (this namespace, then the shared one); unreadable entries are misses."""
        wanted = list(keys)
        found = self._get_own(fingerprint, wanted)
        if self._shared is not None and len(found) < len(wanted):
            found.update(self._shared._get_own(fingerprint, [k for k in wanted if k not in found]))
        return found

    def _get_own(self, fingerprint: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        directory = self._dir(fingerprint)
        found: dict[str, np.ndarray] = {}
        for key in keys:
            path = directory / f"{key}.npy"
            try:
                found[key] = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError):  # EOFError: an empty file
                continue  # a miss, or a partial file from a crashed writer on a filesystem without rename
            if self.max_bytes is not None:
                try:
                    os.utime(path)  # recently used: eviction takes the oldest first
                except OSError:
                    pass  # evicted meanwhile: the vector is already read
        return found

    def has(self, fingerprint: str, key: str) -> bool:
        """Whether a vector is stored for `key` in this namespace or the shared one (a later `get` may still miss
        it if the file is damaged)."""
        if (self._dir(fingerprint) / f"{key}.npy").is_file():
            return True
        return self._shared is not None and self._shared.has(fingerprint, key)

    def put(self, fingerprint: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Store vectors in this namespace; each file appears whole or not at all. Past the bound, evict."""
        if not vectors:
            return
        directory = self._dir(fingerprint)
        directory.mkdir(parents=True, exist_ok=True)
        meta = directory / "fingerprint.json"
        if not meta.exists():
            atomic_write_bytes(meta, json.dumps({"fingerprint": fingerprint}).encode())
        written = 0
        for key, vector in vectors.items():
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(vector, dtype=np.float32), allow_pickle=False)
            atomic_write_bytes(directory / f"{key}.npy", buffer.getvalue())
            written += -(-len(buffer.getvalue()) // BLOCK) * BLOCK  # what the disk holds, as `_scan` counts it
        self._account(written)

    # ---------------------------------------------------------------- the size bound

    def _account(self, written: int) -> None:
        bound = self._bound
        if bound.max_bytes is None:
            return
        with bound.lock:
            bound.since_scan += written
            if bound.total is not None:
                bound.total += written
            stale = bound.total is None or bound.since_scan >= RESCAN_SHARE * bound.max_bytes
            if stale or (bound.total or 0) > bound.max_bytes:
                self._evict_locked()

    def evict(self) -> int:
        """Bring the whole cache under `max_bytes` now (down to 80 % when over); returns the bytes freed."""
        if self.max_bytes is None:
            return 0
        with self._bound.lock:
            return self._evict_locked()

    def size_bytes(self) -> int:
        """Bytes the whole cache takes on disk (every namespace)."""
        return sum(size for _, _, size in _scan(self.top))

    def _evict_locked(self) -> int:
        bound = self._bound
        assert bound.max_bytes is not None
        files = _scan(self.top)
        total = sum(size for _, _, size in files)
        freed = 0
        if total > bound.max_bytes:
            goal = total - int(LOW_WATER * bound.max_bytes)
            for _, path, size in sorted(files):  # oldest first
                if freed >= goal:
                    break
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass  # another process evicted it
                freed += size
        bound.total, bound.since_scan = total - freed, 0
        return freed


def _scan(top: Path) -> list[tuple[float, Path, int]]:
    """(mtime, path, bytes on disk) of every vector under `top`; stale temp files of crashed writers are removed."""
    out: list[tuple[float, Path, int]] = []
    now = time.time()
    for folder, _, names in os.walk(top):
        for name in names:
            path = Path(folder) / name
            try:
                info = path.stat()
            except OSError:
                continue
            if name.startswith(".tmp-"):
                if now - info.st_mtime > STALE_TEMP_SECONDS:
                    path.unlink(missing_ok=True)
                continue
            if name.endswith(".npy"):
                used = getattr(info, "st_blocks", 0) * 512 or info.st_size  # what the disk really holds
                out.append((info.st_mtime, path, used))
    return out
