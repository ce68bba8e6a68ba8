"""The app's shared space: a CLAP -> CLIP bridge fitted through the caption corpus, cached by both backbones."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT

from alignment.models.cache import EmbeddingCache
from alignment.models.encoders import Encoders
from alignment.space.shared import read_corpus, shared_space

CORPUS = ROOT / "assets" / "corpus" / "captions.txt"


def test_bundled_corpus_is_large_and_distinct() -> None:
    captions = read_corpus(CORPUS)
    assert len(captions) >= 3_000 and len(set(captions)) == len(captions)
    assert len(read_corpus(CORPUS, max_captions=300)) == 300


def test_bridge_is_fitted_once_then_loaded(encoders: Encoders, tmp_path) -> None:
    cache = EmbeddingCache(tmp_path / "emb")
    first = shared_space(encoders, CORPUS, root=tmp_path, cache=cache, max_captions=200)
    assert not first.loaded and first.path.exists()
    assert first.path.parent.name == "bridges" and first.path.parent.parent.parent == tmp_path
    other = shared_space(encoders, CORPUS, root=tmp_path, cache=cache, max_captions=150)
    assert not other.loaded and other.path != first.path  # another sample of captions is another bridge
    assert dict(first.bridge.key) == {
        "source_id": "tiny",
        "source_rev": encoders.clap.revision,
        "target_id": "tiny",
        "target_rev": encoders.clip.revision,
    }
    again = shared_space(encoders, CORPUS, root=tmp_path, cache=cache, max_captions=200)
    assert again.loaded and again.bridge.method == first.bridge.method
    audio = np.random.default_rng(0).normal(size=(5, encoders.clap.dim)).astype(np.float32)
    audio /= np.linalg.norm(audio, axis=1, keepdims=True)
    mapped = again.to_clip(audio)
    assert mapped.shape == (5, encoders.clip.dim)
    assert np.allclose(np.linalg.norm(mapped, axis=1), 1, atol=1e-5)
    assert np.array_equal(mapped, first.to_clip(audio))  # the cached bridge is the fitted one
    assert "held-out caption R@1" in again.describe() and "loaded from" in again.describe()


def test_too_small_a_corpus_is_named(tmp_path) -> None:
    small = tmp_path / "few.txt"
    small.write_text("a dog\na cat\n")
    with pytest.raises(ValueError, match=r"at least 100 distinct captions .*few.txt has 2"):
        read_corpus(small)
