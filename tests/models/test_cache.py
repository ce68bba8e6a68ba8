"""The embedding cache and cached embedding: hits skip the encoder, fingerprints separate models, writes are atomic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import alignment.core.files
import alignment.models.encoders
from alignment.inputs.files import audio_item, load_files
from alignment.inputs.items import Item
from alignment.inputs.text import load_texts
from alignment.models.cache import EmbeddingCache, EmbedStats
from alignment.models.embed import embed_items
from alignment.models.encoders import ClapEncoder, ClipEncoder, Encoders

TEXTS = ["a cat on a mat", "a dog", "rain falling on a tin roof", "a siren"]


def _audio() -> list[Item]:
    rng = np.random.default_rng(0)
    return [
        audio_item((0.1 * rng.standard_normal(n)).astype(np.float32), 16_000, name=f"clip{n}") for n in (8_000, 20_000)
    ]


def _images() -> list[Item]:
    return load_files(sorted((ROOT / "assets" / "images").glob("*.jpg"))[:3], "image").items


CASES = {
    "clip-text": ("clip", lambda: load_texts(TEXTS).items),
    "clap-text": ("clap", lambda: load_texts(TEXTS).items),
    "clip-image": ("clip", _images),
    "clap-audio": ("clap", _audio),
}


def _forbid_encoder(monkeypatch: pytest.MonkeyPatch, encoder: ClipEncoder | ClapEncoder) -> None:
    """Any preprocessing or forward pass now fails the test."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the encoder ran although every item was cached")

    for name in dir(encoder):
        if name.startswith(("prepare_", "forward_")):
            monkeypatch.setattr(encoder, name, boom)


@pytest.fixture
def cache(tmp_path: Path) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "cache")


def _files(cache: EmbeddingCache) -> list[Path]:
    return sorted(p for p in cache.root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------- hits and misses


@pytest.mark.parametrize("case", list(CASES))
def test_second_run_is_all_hits_and_runs_no_forward_pass(
    encoders: Encoders, cache: EmbeddingCache, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    role, make = CASES[case]
    encoder = getattr(encoders, role)
    items = make()
    first, stats = embed_items(encoder, items, cache=cache)
    assert stats == EmbedStats(hits=0, computed=len(items))
    assert first.shape == (len(items), encoder.dim) and first.dtype == np.float32
    uncached, _ = embed_items(encoder, items)
    np.testing.assert_array_equal(first, uncached)  # caching does not change the numbers

    _forbid_encoder(monkeypatch, encoder)
    second, stats = embed_items(encoder, items, cache=cache)
    assert stats == EmbedStats(hits=len(items), computed=0)
    np.testing.assert_array_equal(second, first)
    assert second.dtype == np.float32


def test_a_fresh_cache_object_on_the_same_folder_hits(
    encoders: Encoders, cache: EmbeddingCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = load_texts(TEXTS).items
    first, _ = embed_items(encoders.clip, items, cache=cache)
    _forbid_encoder(monkeypatch, encoders.clip)
    again, stats = embed_items(encoders.clip, items, cache=EmbeddingCache(cache.root))  # e.g. after a restart
    assert stats.hits == len(items)
    np.testing.assert_array_equal(again, first)


def test_partial_hit_computes_only_the_new_items(
    encoders: Encoders, cache: EmbeddingCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = load_texts(TEXTS[:2]).items
    embed_items(encoders.clap, old, cache=cache)
    seen: list[int] = []
    forward = encoders.clap.forward_text

    def spy(batches):  # type: ignore[no-untyped-def]
        seen.append(sum(len(b["index"]) for b in batches))
        return forward(batches)

    monkeypatch.setattr(encoders.clap, "forward_text", spy)
    items = load_texts(TEXTS).items
    out, stats = embed_items(encoders.clap, items, cache=cache)
    assert stats == EmbedStats(hits=2, computed=2) and seen == [2]
    np.testing.assert_allclose(out, encoders.clap.encode_text(TEXTS).numpy(), atol=1e-6)


@pytest.mark.parametrize("change", ["model_id", "revision", "preprocessing", "dtype"])
def test_another_fingerprint_misses(
    encoders: Encoders, cache: EmbeddingCache, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    items = load_texts(TEXTS).items
    embed_items(encoders.clip, items, cache=cache)
    before = encoders.clip.fingerprint("text")
    if change == "preprocessing":
        monkeypatch.setattr(alignment.models.encoders, "PREPROCESSING_VERSION", "999")
    elif change == "dtype":
        monkeypatch.setattr(encoders.clip, "dtype", alignment.models.encoders.torch.bfloat16)
    else:
        monkeypatch.setattr(encoders.clip, change, "something-else")
    assert encoders.clip.fingerprint("text") != before
    _, stats = embed_items(encoders.clip, items, cache=cache)
    assert stats == EmbedStats(hits=0, computed=len(items))


def test_same_content_in_two_modalities_or_models_never_collides(encoders: Encoders, cache: EmbeddingCache) -> None:
    items = load_texts(TEXTS).items
    clip, _ = embed_items(encoders.clip, items, cache=cache)
    clap, stats = embed_items(encoders.clap, items, cache=cache)  # same sha256 keys, another fingerprint
    assert stats.hits == 0
    assert not np.allclose(clip, clap)
    assert len([d for d in cache.root.iterdir() if d.is_dir()]) == 2


def test_duplicate_content_in_one_batch_is_computed_once(
    encoders: Encoders, cache: EmbeddingCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = load_texts(["a cat", "a dog", "a cat", "a cat"]).items
    assert len({i.id for i in items}) == 4 and len({i.sha256 for i in items}) == 2
    seen: list[list[str]] = []
    prepare = encoders.clip.prepare_text

    def spy(texts):  # type: ignore[no-untyped-def]
        seen.append(list(texts))
        return prepare(texts)

    monkeypatch.setattr(encoders.clip, "prepare_text", spy)
    out, stats = embed_items(encoders.clip, items, cache=cache)
    assert seen == [["a cat", "a dog"]]
    assert stats == EmbedStats(hits=0, computed=2)
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[0], out[3])
    assert not np.array_equal(out[0], out[1])
    _, stats = embed_items(encoders.clip, items)  # without a cache too
    assert stats.computed == 2


# ---------------------------------------------------------------------------- on disk


def test_files_are_whole_and_no_temp_files_are_left(encoders: Encoders, cache: EmbeddingCache) -> None:
    items = load_texts(TEXTS).items
    out, _ = embed_items(encoders.clip, items, cache=cache)
    files = _files(cache)
    assert not [p for p in files if p.name.startswith(".tmp")]
    npy = [p for p in files if p.suffix == ".npy"]
    assert sorted(p.stem for p in npy) == sorted(i.sha256 for i in items)
    for item, row in zip(items, out, strict=True):
        stored = np.load(next(p for p in npy if p.stem == item.sha256))
        assert stored.dtype == np.float32 and stored.shape == (encoders.clip.dim,)
        np.testing.assert_array_equal(stored, row)
    meta = [p for p in files if p.name == "fingerprint.json"]
    assert len(meta) == 1 and encoders.clip.fingerprint("text") in meta[0].read_text()


def test_a_failed_write_leaves_no_file_behind(cache: EmbeddingCache, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.put("fp", {"kept": np.ones(4, np.float32)})

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(alignment.core.files.os, "replace", disk_full)  # the temp file exists by then
    with pytest.raises(OSError):
        cache.put("fp", {"lost": np.zeros(4, np.float32)})
    names = [p.name for p in _files(cache)]
    assert "lost.npy" not in names
    assert not [n for n in names if n.startswith(".tmp")], names
    assert list(cache.get("fp", ["kept", "lost"])) == ["kept"]


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated", "pickle"])
def test_a_corrupt_entry_is_a_miss_and_is_rewritten(encoders: Encoders, cache: EmbeddingCache, damage: str) -> None:
    items = load_texts(TEXTS).items
    first, _ = embed_items(encoders.clip, items, cache=cache)
    victim = next(p for p in _files(cache) if p.stem == items[1].sha256)
    whole = victim.read_bytes()
    victim.write_bytes(
        {
            "garbage": b"this is not a numpy file",
            "empty": b"",
            "truncated": whole[: len(whole) // 2 + 10],
            "pickle": whole.replace(b"'descr': '<f4'", b"'descr': '|O' ", 1),  # object arrays need pickle: refused
        }[damage]
    )
    assert items[1].sha256 not in cache.get(encoders.clip.fingerprint("text"), [items[1].sha256])
    again, stats = embed_items(encoders.clip, items, cache=cache)
    assert stats == EmbedStats(hits=len(items) - 1, computed=1)
    np.testing.assert_allclose(again, first, atol=1e-6, rtol=0)  # recomputed alone, not in its first batch
    np.testing.assert_allclose(np.load(victim), first[1], atol=1e-6, rtol=0)  # repaired on disk


# ---------------------------------------------------------------------------- argument checks


def test_empty_mixed_and_mismatched_inputs(encoders: Encoders) -> None:
    out, stats = embed_items(encoders.clap, [])
    assert out.shape == (0, encoders.clap.dim) and stats == EmbedStats(0, 0)
    mixed = load_texts(["a cat"]).items + _audio()
    with pytest.raises(ValueError, match="one modality at a time"):
        embed_items(encoders.clap, mixed)
    with pytest.raises(ValueError, match=r"ClapEncoder does not encode 'image'"):
        embed_items(encoders.clap, _images())
    with pytest.raises(ValueError, match=r"ClipEncoder does not encode 'audio'"):
        embed_items(encoders.clip, _audio())


def test_a_cache_that_cannot_be_written_costs_speed_not_the_result(encoders: Encoders, tmp_path, monkeypatch) -> None:
    cache = EmbeddingCache(tmp_path / "cache")

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "put", refuse)
    items = load_texts(["a dog barking", "rain on a roof"]).items
    with pytest.warns(RuntimeWarning, match="embedding cache not written"):
        vectors, stats = embed_items(encoders.clip, items, cache=cache)
    assert vectors.shape == (2, encoders.clip.dim) and stats.computed == 2
    assert np.allclose(vectors, embed_items(encoders.clip, items)[0], atol=1e-6)
