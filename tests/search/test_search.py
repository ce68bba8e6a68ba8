"""`search` end to end with tiny models: the space it picks, results equal to brute-force cosine, the bridge,
combinations, the modality gap note, and bad queries named."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from alignment.analysis.gap import modality_gap
from alignment.core.errors import InputError
from alignment.core.files import finite
from alignment.inputs.embeddings import from_arrays
from alignment.inputs.files import load_files
from alignment.inputs.limits import Limits
from alignment.inputs.text import load_texts
from alignment.models.embed import embed_items
from alignment.models.encoders import Encoders
from alignment.search import Gallery, Query, QueryPart, Space, embed_query, examples_galleries, search
from alignment.search.gallery import gallery_from_embedded
from alignment.space.bridge import Bridge, fit_bridge
from alignment.space.fusion import FusionModel
from alignment.space.shared import read_corpus

ASSETS = ROOT / "assets"
CAT, COFFEE = ASSETS / "images" / "cat.jpg", ASSETS / "images" / "coffee.jpg"
SIREN = ASSETS / "audio" / "siren_sweep.flac"
IMAGES = sorted((ASSETS / "images").iterdir())
SOUNDS = sorted((ASSETS / "audio").iterdir())


@pytest.fixture(scope="module")
def bridge(encoders: Encoders) -> Bridge:
    """Procrustes on 200 captions embedded by both tiny text towers: the real fitting path, in a second."""
    captions = read_corpus(ASSETS / "corpus" / "captions.txt", max_captions=200)
    items = load_texts(captions, limits=Limits(max_items=200)).items
    return fit_bridge(embed_items(encoders.clap, items)[0], embed_items(encoders.clip, items)[0], method="procrustes")


@pytest.fixture(scope="module")
def examples(encoders: Encoders, bridge: Bridge) -> dict[str, Gallery]:
    return examples_galleries(encoders, bridge=bridge)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def media(encoders: Encoders, modality: str, paths: list[Path]) -> np.ndarray:
    """Reference embeddings straight from the towers, not through the gallery code."""
    items = load_files(paths, modality).items  # type: ignore[arg-type]
    if modality == "image":
        return encoders.clip.encode_image([i.payload for i in items]).numpy()  # type: ignore[misc]
    return encoders.clap.encode_audio([i.payload for i in items]).numpy()  # type: ignore[misc]


def expect_order(query: np.ndarray, names: list[str], vectors: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
    scores = vectors @ query  # (N,)
    order = sorted(range(len(names)), key=lambda i: (-scores[i], i))[:k]
    return [names[i] for i in order], scores[order]


def test_examples_galleries_hold_every_bundled_item(examples: dict[str, Gallery], bridge: Bridge) -> None:
    clip, clap = examples["clip"], examples["clap"]
    assert clip.modalities == ("text", "image", "audio") and clap.modalities == ("text", "audio")
    assert len(clip.parts["image"].rows) == len(IMAGES) and len(clap.parts["audio"].rows) == len(SOUNDS)
    assert clip.space.bridge and clip.space.bridge.startswith("procrustes:") and clap.space.bridge is None
    assert clip.space.model_id == "tiny" and clip.space.revision
    row = clip.items.ids.index("cat.jpg")
    assert clip.items.source[row] == str(CAT) and clip.items.pair[row] == "a close-up photo of a tabby cat"
    caption = clip.items.text.index("a close-up photo of a tabby cat")
    assert clip.items.modality[caption] == "text" and clip.items.pair[caption] == clip.items.pair[row]


def test_text_to_image_equals_brute_force_in_clip_space(encoders: Encoders, examples: dict[str, Gallery]) -> None:
    result = search(examples, Query.of(text="a cat on a sofa"), encoders=encoders, targets=["image"], k=4)
    assert result.space.backbone == "clip" and result.combination == "single text"
    query = encoders.clip.encode_text(["a cat on a sofa"]).numpy()[0]
    names, scores = expect_order(query, [p.name for p in IMAGES], media(encoders, "image", IMAGES), 4)
    assert [h.id for h in result.hits] == names
    assert np.allclose([h.score for h in result.hits], scores, atol=1e-5)
    assert [h.rank for h in result.hits] == [1, 2, 3, 4] and all(h.crosses for h in result.hits)
    assert all(h.source and Path(h.source).is_file() for h in result.hits)
    assert result.method == {"image": f"exact cosine ({len(IMAGES)} vectors)"}


def test_text_to_audio_searches_clap_space_without_the_bridge(encoders: Encoders, examples) -> None:
    result = search(examples, Query.of(text="a siren"), encoders=encoders, targets=["audio"], k=3)
    assert result.space.backbone == "clap" and result.query[0].via == "CLAP text tower"
    query = encoders.clap.encode_text(["a siren"]).numpy()[0]
    names, scores = expect_order(query, [p.name for p in SOUNDS], media(encoders, "audio", SOUNDS), 3)
    assert [h.id for h in result.hits] == names and np.allclose([h.score for h in result.hits], scores, atol=1e-5)


def test_image_to_audio_goes_through_the_bridge(encoders: Encoders, examples, bridge: Bridge) -> None:
    result = search(examples, Query.of(image=CAT), encoders=encoders, targets=["audio"], k=6)
    assert result.space.backbone == "clip"
    query = media(encoders, "image", [CAT])[0]
    bridged = bridge.apply(media(encoders, "audio", SOUNDS))  # (A, D_clip)
    names, scores = expect_order(query, [p.name for p in SOUNDS], bridged, 6)
    assert [h.id for h in result.hits] == names and np.allclose([h.score for h in result.hits], scores, atol=1e-5)

    (note,) = result.gaps
    clip = examples["clip"]
    images = np.stack([clip.parts["image"].searcher.vectors[i] for i in range(len(IMAGES))])  # type: ignore[union-attr]
    assert note.gap == pytest.approx(modality_gap(images, bridged), abs=1e-5)
    assert note.mean_cosine_across == pytest.approx(float(np.mean(images @ bridged.T)), abs=1e-5)
    assert "crosses modalities (the audio reached CLIP space through the bridge)" in note.text
    assert f"{note.gap:.2f} apart" in note.text


def test_audio_query_is_bridged_into_clip_space(encoders: Encoders, examples, bridge: Bridge) -> None:
    result = search(examples, Query.of(audio=SIREN), encoders=encoders, bridge=bridge, targets=["image"], k=2)
    assert result.query[0].via == "CLAP audio tower + bridge into CLIP space"
    query = bridge.apply(media(encoders, "audio", [SIREN]))[0]
    names, _ = expect_order(query, [p.name for p in IMAGES], media(encoders, "image", IMAGES), 2)
    assert [h.id for h in result.hits] == names
    with pytest.raises(ValueError, match="needs the CLAP -> CLIP bridge"):
        search(examples, Query.of(audio=SIREN), encoders=encoders, targets=["image"])


def test_a_photo_plus_words_is_the_renormalised_weighted_sum(encoders: Encoders, examples) -> None:
    query = Query.of(image=CAT, text="at night", weights={"text": 0.5})
    result = search(examples, query, encoders=encoders, targets=["image"], k=6)
    image, text = media(encoders, "image", [CAT])[0], encoders.clip.encode_text(["at night"]).numpy()[0]
    combined = unit(1.0 * image + 0.5 * text)
    names, scores = expect_order(combined, [p.name for p in IMAGES], media(encoders, "image", IMAGES), 6)
    assert [h.id for h in result.hits] == names and np.allclose([h.score for h in result.hits], scores, atol=1e-5)
    assert result.combination == (
        "weighted sum of unit embeddings, renormalised: 0.5 x text 'at night' + 1 x image 'cat.jpg'"
    )
    assert {g.query_modality for g in result.gaps} == {"text"}  # image -> image does not cross


def test_fusion_model_combines_when_it_covers_the_parts(encoders: Encoders, examples) -> None:
    d = encoders.clip.dim
    fusion = FusionModel(
        "weighted",
        2,
        d,
        1,
        {"logit_scale": np.array(np.log(20.0), np.float32), "logits": np.array([np.log(3.0), 0.0], np.float32)},
        names=("image", "text"),
    )
    query = Query.of(image=CAT, text="at night")
    got = embed_query(query, space=examples["clip"].space, encoders=encoders, fusion=fusion)
    image, text = media(encoders, "image", [CAT])[0], encoders.clip.encode_text(["at night"]).numpy()[0]
    assert np.allclose(got.vector, unit(0.75 * image + 0.25 * text), atol=1e-5)  # softmax([log 3, 0]) = (.75, .25)
    assert got.combination.startswith("fusion model (weighted, trained on image, text)")
    audio_only = FusionModel("mean", 2, d, 1, {"logit_scale": np.array(3.0, np.float32)}, names=("image", "audio"))
    fallback = embed_query(query, space=examples["clip"].space, encoders=encoders, fusion=audio_only)
    assert (
        fallback.combination.startswith("weighted sum") and "trained on image, audio, not text" in fallback.combination
    )


def test_same_modality_has_no_gap_note_and_mixed_lists_say_why(encoders: Encoders, examples) -> None:
    same = search(examples, Query.of(text="a dog"), encoders=encoders, targets=["text"], k=3)
    assert same.gaps == () and not any(h.crosses for h in same.hits)
    assert same.hits[0].text and same.hits[0].source is None
    mixed = search(examples["clip"], Query.of(text="a dog"), encoders=encoders, k=40)
    assert mixed.targets == ("text", "image", "audio") and len(mixed.hits) == len(examples["clip"])
    assert any("the list mixes text, image, audio" in n for n in mixed.notes)
    assert [g.target_modality for g in mixed.gaps] == ["image", "audio"]
    scores = [h.score for h in mixed.hits]
    assert scores == sorted(scores, reverse=True)


def test_an_embedded_query_vector_gives_the_same_result(encoders: Encoders, examples) -> None:
    vector = embed_query(Query.of(text="coffee"), space=examples["clip"].space, encoders=encoders)
    a = search(examples, vector, targets=["image"], k=3)
    b = search(examples, Query.of(text="coffee"), encoders=encoders, targets=["image"], k=3)
    assert a.hits == b.hits
    json.dumps(finite(a.to_json()), allow_nan=False)  # strict JSON for the CLI and the API


# ---------------------------------------------------------------------------- bad queries


def test_empty_text_and_unknown_modality_are_named(encoders: Encoders, examples) -> None:
    with pytest.raises(InputError, match="text query: the text is empty"):
        search(examples, Query.of(text="   "), encoders=encoders)
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        search(examples, Query((QueryPart("video", "clip.mp4"),)), encoders=encoders)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="empty: give a text, an image or a sound"):
        embed_query(Query(()), space=examples["clip"].space, encoders=encoders)
    with pytest.raises(ValueError, match="a weight is given for audio but the query has no audio part"):
        Query.of(text="a", weights={"audio": 2})
    with pytest.raises(InputError, match="the weighted parts cancel out"):
        search(examples, Query((QueryPart("text", "a cat"), QueryPart("text", "a cat", -1.0))), encoders=encoders)


def test_an_unreadable_image_is_named_and_the_rest_still_runs(encoders: Encoders, examples, tmp_path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(InputError, match=r"no part could be read: \S*broken.jpg: not a readable image"):
        search(examples, Query.of(image=broken), encoders=encoders)
    result = search(examples, Query.of(image=broken, text="a cat"), encoders=encoders, targets=["image"])
    assert len(result.problems) == 1 and result.problems[0].startswith(f"{broken}: not a readable image")
    assert result.combination == "single text" and [p.modality for p in result.query] == ["text"]
    with pytest.raises(InputError, match=r"missing.png: no such image file"):
        search(examples, Query.of(image=tmp_path / "missing.png"), encoders=encoders)


def test_space_and_dimension_mismatches_are_refused(encoders: Encoders, examples) -> None:
    with pytest.raises(ValueError, match="no gallery can answer a image query for image results"):
        search({"clap": examples["clap"]}, Query.of(image=CAT), encoders=encoders, targets=["image"])
    with pytest.raises(ValueError, match="an image query cannot search a CLAP-space gallery"):
        search(examples["clap"], Query.of(image=CAT), encoders=encoders, targets=["audio"])
    other = examples["clip"].space.__class__("clip", encoders.clip.dim, "openai/clip-vit-base-patch32", "abc")
    with pytest.raises(
        ValueError, match="embedded by CLIP 'openai/clip-vit-base-patch32'.*query would be embedded by 'tiny'"
    ):
        embed_query(Query.of(text="a cat"), space=other, encoders=encoders)
    rng = np.random.default_rng(0)
    wide = from_arrays(["a", "b"], ["image", "image"], ["p", "q"], rng.standard_normal((2, 24)), require_pairs=False)
    gallery = gallery_from_embedded(wide, space=Space("clip", 24), name="wide.npz")
    with pytest.raises(InputError, match=r"embeds to 16 dimensions \(CLIP text tower\) but the gallery's space has 24"):
        search(gallery, Query.of(text="a cat"), encoders=encoders)
    vector = embed_query(Query.of(text="a cat"), space=examples["clap"].space, encoders=encoders)
    with pytest.raises(ValueError, match="the query lives in the CLAP space"):
        search(examples["clip"], vector)
    elsewhere = embed_query(Query.of(text="a cat"), space=examples["clip"].space, encoders=encoders)
    renamed = Gallery(
        "other", replace(examples["clip"].space, revision="other"), examples["clip"].items, examples["clip"].parts
    )
    with pytest.raises(ValueError, match="the query lives in the CLIP space of 'tiny'"):
        search(renamed, elsewhere)
    result = search(
        gallery_from_embedded(
            from_arrays(["a"], ["image"], ["p"], rng.standard_normal((1, 16)), require_pairs=False),
            space=Space("clip", 16),
        ),
        Query.of(text="a cat"),
        encoders=encoders,
    )
    assert any("does not record which CLIP checkpoint" in n for n in result.notes)
