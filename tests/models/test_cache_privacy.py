"""The cache on a public deployment: per-visitor namespaces (no hit, and no read, across visitors), the bundled
examples shared, owners never written to disk as given, and a size bound with least-recently-used eviction."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

import alignment.models.cache as cache_module
from alignment.core.deployment import cache_max_bytes, public_deployment
from alignment.inputs.text import load_texts
from alignment.models.cache import OWNERS, EmbeddingCache
from alignment.models.embed import EmbedStats, embed_items
from alignment.models.encoders import Encoders

SECRET = ["my private diagnosis text", "the draft of a press release"]
BUNDLED = ["a cup of coffee", "a rocket launch"]


def test_another_visitor_neither_hits_nor_reads_my_entries(
    encoders: Encoders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    alice, bob = cache.for_owner("alice"), cache.for_owner("bob")
    items = load_texts(SECRET).items
    mine, stats = embed_items(encoders.clip, items, cache=alice)
    assert stats == EmbedStats(hits=0, computed=2)

    touched: list[Path] = []
    load = np.load

    def spy(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        touched.append(Path(path))
        return load(path, *args, **kwargs)

    monkeypatch.setattr(cache_module.np, "load", spy)
    theirs, stats = embed_items(encoders.clip, items, cache=bob)
    assert stats == EmbedStats(hits=0, computed=2)  # the encoder ran: same work, same time as content never seen
    np.testing.assert_allclose(theirs, mine, atol=1e-6)
    assert touched and not [p for p in touched if alice.root in p.parents]  # alice's files were never opened
    _, stats = embed_items(encoders.clip, items, cache=alice)
    assert stats.hits == 2  # alice's own entries still serve her
    for path in (tmp_path / "cache").rglob("*"):
        assert "alice" not in str(path) and "bob" not in str(path)  # owners reach the disk hashed


def test_bundled_examples_are_shared_and_never_copied(encoders: Encoders, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    embed_items(encoders.clip, load_texts(BUNDLED).items, cache=cache)  # the app's warm-up: shared namespace
    visitor = cache.for_owner("carol")
    items = load_texts([*BUNDLED, SECRET[0]]).items
    _, stats = embed_items(encoders.clip, items, cache=visitor)
    assert stats == EmbedStats(hits=2, computed=1)
    own = sorted(p.stem for p in visitor.root.rglob("*.npy"))
    assert own == [items[2].sha256]  # only carol's own text went to her namespace
    shared = sorted(p.stem for p in cache.root.glob("*/*.npy"))
    assert items[2].sha256 not in shared  # and nothing of hers to the shared one
    assert cache.for_owner("carol").root == visitor.root and visitor.for_owner("dan").root.parent == cache.root / OWNERS


def test_for_visitor_follows_the_public_setting(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    assert cache.for_visitor(None, public=False) is cache
    assert cache.for_visitor("erin", public=True).root == cache.for_owner("erin").root
    with pytest.raises(ValueError, match="pass the visitor's owner id"):
        cache.for_visitor(None, public=True)
    with pytest.raises(ValueError, match="an owner id is needed"):
        cache.for_owner("  ")


def test_public_setting_defaults_to_on_inside_a_space() -> None:
    assert public_deployment({}) is False
    assert public_deployment({"SPACE_ID": "someone/alignment"}) is True
    assert public_deployment({"SPACE_ID": "someone/alignment", "ALIGN_PUBLIC": "0"}) is False
    assert public_deployment({"ALIGN_PUBLIC": "yes"}) is True
    with pytest.raises(ValueError, match="ALIGN_PUBLIC must be one of"):
        public_deployment({"ALIGN_PUBLIC": "maybe"})
    assert cache_max_bytes({}) is None
    assert cache_max_bytes({"SPACE_ID": "x"}) == 2_000_000_000
    assert cache_max_bytes({"ALIGN_CACHE_MAX_MB": "50"}) == 50_000_000
    assert cache_max_bytes({"SPACE_ID": "x", "ALIGN_CACHE_MAX_MB": "0"}) is None
    with pytest.raises(ValueError, match="ALIGN_CACHE_MAX_MB must be a number"):
        cache_max_bytes({"ALIGN_CACHE_MAX_MB": "lots"})


def test_the_size_bound_evicts_the_least_recently_used(tmp_path: Path) -> None:
    vector = np.ones(512, np.float32)  # 2,176 bytes as .npy: one 4 KiB block on disk
    bound = 40 * 4_096
    cache = EmbeddingCache(tmp_path / "cache", max_bytes=bound)
    owners = [cache.for_owner(f"visitor {n}") for n in range(4)]
    for n in range(30):
        owners[n % 4].put("fp", {f"old{n}": vector})
    for n, path in enumerate(sorted((tmp_path / "cache").rglob("old*.npy"), key=lambda p: int(p.stem[3:]))):
        os.utime(path, (time.time() - 1_000 + n, time.time() - 1_000 + n))  # old0 the oldest
    assert owners[0].get("fp", ["old0"])  # a hit: now the most recently used
    for n in range(20):  # 50 vectors in all: over the bound of 40, so down to 32
        owners[n % 4].put("fp", {f"new{n}": vector})
        assert cache.size_bytes() <= bound * (1 + 0.05) + 4_096  # at most one rescan's share over, any owner
    cache.evict()
    assert cache.size_bytes() <= bound
    assert owners[0].get("fp", ["old0"])  # used recently: kept
    assert not owners[1].get("fp", ["old1"])  # the least recently used went first
    assert owners[3].get("fp", ["new19"]) and owners[1].get("fp", ["old29"])


def test_eviction_removes_a_crashed_writers_temp_files(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, max_bytes=1_000_000)
    cache.put("fp", {"kept": np.ones(4, np.float32)})
    folder = next(tmp_path.iterdir())
    stale, fresh = folder / ".tmp-crashed", folder / ".tmp-writing-now"
    stale.write_bytes(b"x" * 100)
    fresh.write_bytes(b"x" * 100)
    old = time.time() - 2 * 3_600
    os.utime(stale, (old, old))
    cache.evict()
    assert not stale.exists() and fresh.exists()  # a write under way is left alone
    assert cache.get("fp", ["kept"])
