"""Encoders through the real factory: shapes, unit norm, determinism, batch invariance, windowing, load errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from alignment.core.errors import ModelUnavailableError
from alignment.inputs.audio import Waveform, read_audio, resample, window_starts
from alignment.models.encoders import ClapEncoder, ClipEncoder, Encoders
from alignment.models.factory import load_encoder
from alignment.models.tiny import save, tiny_clap, tiny_clip

ATOL = 1e-5
TEXTS = [
    "a much longer sentence about a brown dog running across a wide green field on a sunny afternoon",
    "a",
    "a photo of a cat",
    "dog",
    "an electronic device beeping twice",
]


def _images() -> list[Image.Image]:
    """Different sizes, aspect ratios and contents (the processor resizes and crops each one)."""
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)),
        Image.new("RGB", (20, 90), (200, 30, 30)),
        Image.fromarray(rng.integers(0, 256, (130, 70, 3), dtype=np.uint8)),
    ]


def _waves() -> list[Waveform]:
    """Clips of different lengths and rates: shorter than, about, and longer than CLAP's 10 s window."""
    rng = np.random.default_rng(1)
    t = np.arange(int(2.5 * 44_100)) / 44_100
    return [
        Waveform((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44_100),
        Waveform((0.1 * rng.standard_normal(11 * 48_000)).astype(np.float32), 48_000),  # two windows
        Waveform((0.2 * rng.standard_normal(4_000)).astype(np.float32), 16_000),
    ]


def _encode(encoder: ClipEncoder | ClapEncoder, modality: str, inputs: list) -> torch.Tensor:
    return getattr(encoder, f"encode_{modality}")(inputs)


CASES = [
    ("clip", "text", lambda: TEXTS),
    ("clap", "text", lambda: TEXTS),
    ("clip", "image", _images),
    ("clap", "audio", _waves),
]
CASE_IDS = [f"{role}-{modality}" for role, modality, _ in CASES]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLIP saved like a downloaded checkpoint, to load by path."""
    return save(*tiny_clip(), tmp_path_factory.mktemp("models") / "my-clip")


# ---------------------------------------------------------------------------- embeddings


@pytest.fixture(scope="module", params=CASES, ids=CASE_IDS)
def case(request: pytest.FixtureRequest, encoders: Encoders) -> dict:
    """One (encoder, modality): its inputs embedded as one batch, one by one, and in batches of two (computed once)."""
    role, modality, make = request.param
    encoder = getattr(encoders, role)
    inputs = make()
    batch = _encode(encoder, modality, inputs)
    alone = [_encode(encoder, modality, [item])[0] for item in inputs]
    size = encoder.batch_size
    try:
        encoder.batch_size = 2  # several batches, reordered by length inside prepare_*
        small_batches = _encode(encoder, modality, inputs)
    finally:
        encoder.batch_size = size
    return dict(
        encoder=encoder, modality=modality, inputs=inputs, batch=batch, alone=alone, small_batches=small_batches
    )


def test_embeddings_are_unit_float32_of_projection_dim(case: dict) -> None:
    encoder, out, n = case["encoder"], case["batch"], len(case["inputs"])
    assert out.shape == (n, encoder.model.config.projection_dim) == (n, encoder.dim)
    assert out.dtype == torch.float32 and out.device.type == "cpu"
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(n), atol=1e-5, rtol=0)
    assert torch.cdist(out, out).add(torch.eye(n)).min() > 1e-4  # different inputs, different vectors


def test_embeddings_are_deterministic(case: dict) -> None:
    assert torch.equal(_encode(case["encoder"], case["modality"], case["inputs"]), case["batch"])


@pytest.mark.parametrize("batching", ["batch", "small_batches"], ids=["one-batch", "several-batches"])
def test_an_item_alone_equals_the_same_item_in_a_mixed_batch(case: dict, batching: str) -> None:
    # Texts are padded to the longest in their batch, audio windows are batched across clips, and
    # batches are reordered by length: none of it may change an item's vector or its position.
    for i, alone in enumerate(case["alone"]):
        torch.testing.assert_close(
            case[batching][i],
            alone,
            atol=ATOL,
            rtol=0,
            msg=lambda m, i=i: f"{case['modality']} item {i} differs inside a batch: {m}",
        )


@pytest.mark.parametrize("role, modality", [("clip", "text"), ("clap", "text"), ("clip", "image"), ("clap", "audio")])
def test_no_inputs_give_an_empty_matrix(encoders: Encoders, role: str, modality: str) -> None:
    encoder = getattr(encoders, role)
    out = _encode(encoder, modality, [])
    assert out.shape == (0, encoder.dim)
    assert encoder.text_tokens([]) == []


def test_text_past_the_token_limit_is_truncated_not_refused(encoders: Encoders) -> None:
    long = "x " * 300  # the tiny tokenizers see one token per character
    for encoder in (encoders.clip, encoders.clap):
        [tokens] = encoder.text_tokens([long])
        assert tokens.truncated and tokens.n_tokens > tokens.max_tokens == 77
        assert not encoder.text_tokens(["a cat"])[0].truncated
        assert encoder.encode_text([long]).shape == (1, encoder.dim)


# ---------------------------------------------------------------------------- audio windowing


@pytest.fixture(scope="module")
def long_clip(clips: list[Path]) -> Waveform:
    """The shortest real Clotho recording (44.1 kHz), still well over CLAP's 10 s window."""
    waves = [read_audio(path.read_bytes(), source=path.name, max_seconds=60) for path in clips]
    wave = min(waves, key=lambda w: w.seconds)
    assert wave.seconds > 15
    return wave


@pytest.fixture(scope="module")
def long_embedding(encoders: Encoders, long_clip: Waveform) -> torch.Tensor:
    return encoders.clap.encode_audio([long_clip])


def test_clip_longer_than_the_window_gives_one_deterministic_embedding(
    encoders: Encoders, long_clip: Waveform, long_embedding: torch.Tensor
) -> None:
    clap = encoders.clap
    assert (clap.sample_rate, clap.window) == (48_000, 480_000)
    assert long_embedding.shape == (1, clap.dim)
    assert torch.equal(clap.encode_audio([long_clip]), long_embedding)  # CLAP's own extractor crops at random


def test_long_clip_is_the_mean_of_its_fixed_windows(
    encoders: Encoders, long_clip: Waveform, long_embedding: torch.Tensor
) -> None:
    clap = encoders.clap
    batch = clap.prepare_audio([long_clip])
    at_48k = resample(long_clip, clap.sample_rate).samples
    starts = window_starts(len(at_48k), clap.window)
    assert len(starts) == len(batch.owner) == -(-len(at_48k) // clap.window) >= 2
    assert batch.owner.tolist() == [0] * len(starts) and batch.n_clips == 1
    assert not batch.is_longer.any()  # every window fits: the model's random-crop / fusion path is never taken
    assert torch.equal(batch.features, clap.prepare_audio([long_clip]).features)
    # Independent route: each window as its own clip, then the renormalised mean of the unit vectors.
    per_window = clap.encode_audio([Waveform(at_48k[s : s + clap.window], clap.sample_rate) for s in starts])
    expected = F.normalize(per_window.mean(dim=0), dim=-1)
    torch.testing.assert_close(long_embedding[0], expected, atol=ATOL, rtol=0)
    assert (per_window - long_embedding).abs().max() > 100 * ATOL  # windows differ from the mean: the check has teeth


def test_short_clip_is_one_window(encoders: Encoders) -> None:
    wave = Waveform(np.zeros(480, np.float32) + 0.01, 48_000)
    batch = encoders.clap.prepare_audio([wave])
    assert batch.owner.tolist() == [0]
    assert encoders.clap.encode_audio([wave]).shape == (1, encoders.clap.dim)


# ---------------------------------------------------------------------------- the factory


def test_local_directory_loads_by_path(encoders: Encoders, clip_dir: Path) -> None:
    encoder = load_encoder("clip", str(clip_dir))
    assert isinstance(encoder, ClipEncoder)
    assert encoder.model_id == str(clip_dir)
    assert encoder.revision.startswith("local-")
    assert encoder.fingerprint("text") != encoders.clip.fingerprint("text")  # another checkpoint, another cache key
    # The same seed as the tiny preset: the same weights came back through save_pretrained / from_pretrained.
    torch.testing.assert_close(encoder.encode_text(TEXTS), encoders.clip.encode_text(TEXTS), atol=1e-6, rtol=0)
    assert load_encoder("clip", str(clip_dir)).revision == encoder.revision  # stable across loads


def test_tiny_preset_is_built_once_and_reused(tmp_path: Path) -> None:
    first = load_encoder("clap", "tiny", tiny_root=tmp_path)
    built = sorted(p.name for p in tmp_path.iterdir())
    assert len(built) == 1 and built[0].startswith("tiny-clap-")
    second = load_encoder("clap", "tiny", tiny_root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == built
    assert isinstance(first, ClapEncoder) and first.revision == second.revision


@pytest.mark.parametrize("role, flag", [("clip", "--clip"), ("clap", "--clap")])
@pytest.mark.parametrize("model_id", ["no-such-org/no-such-model", "/no/such/local/checkpoint"])
def test_unavailable_model_offline_says_how_to_provide_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, role: str, flag: str, model_id: str
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(ModelUnavailableError) as err:
        load_encoder(role, model_id)  # type: ignore[arg-type]
    message = str(err.value)
    assert err.value.model_id == model_id and isinstance(err.value, OSError)
    assert f"'{model_id}'" in message
    assert f"{flag} /path/to/model" in message  # a local directory
    assert "HF_HOME=" in message  # a Hugging Face cache
    assert "--preset tiny" in message  # random tiny models


def test_clip_checkpoint_given_as_clap_is_a_clear_value_error(clip_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"--clap needs a ClapModel checkpoint.*is a CLIPModel") as err:
        load_encoder("clap", str(clip_dir))
    assert str(clip_dir) in str(err.value)


def test_clap_checkpoint_given_as_clip_is_a_clear_value_error(tmp_path: Path) -> None:
    clap_dir = save(*tiny_clap(), tmp_path / "my-clap")
    with pytest.raises(ValueError, match=r"--clip needs an image-text model.*is a ClapModel"):
        load_encoder("clip", str(clap_dir))


def test_logit_scales_and_fingerprints(encoders: Encoders) -> None:
    assert encoders.clip.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)  # CLIP's initial temperature
    assert encoders.clap.logit_scale > 0
    fingerprints = {e.fingerprint(m) for e in (encoders.clip, encoders.clap) for m in e.modalities}
    assert len(fingerprints) == 4  # text in CLIP and text in CLAP must never share cache entries
    assert all("prep" in f and "float32" in f for f in fingerprints)


def test_a_directory_that_is_not_a_checkpoint_is_named(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match=r"--clip .*does not hold a loadable model"):
        load_encoder("clip", str(tmp_path))


def test_text_batches_group_similar_lengths(encoders: Encoders) -> None:
    texts = ["a cat"] * 20 + ["a very long description " * 3]
    batches = encoders.clip.prepare_text(texts)
    assert sorted(i for b in batches for i in b["index"].tolist()) == list(range(len(texts)))
    for batch in batches:  # no batch pads its texts past the budget
        real = int(batch["attention_mask"].sum())
        assert batch["input_ids"].numel() <= 1.3 * real
