"""The precision setting: the default per device, flags and environment, the cache fingerprint, and the cosine
of bf16 and int8 to fp32 on the real photos, recordings and captions with the tiny models."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from conftest import shared_path

from alignment.inputs.files import load_files
from alignment.models.encoders import Encoders
from alignment.models.factory import load_encoder
from alignment.models.precision import resolve_precision, weight_dtype
from alignment.models.settings import Settings, parse_settings

# Tiny random models (hidden 32) are far more sensitive to rounding than the real-size ones (bench/:
# bf16 >= 0.9999, int8 >= 0.999 there); these floors hold for them with a margin and catch a broken path
# (a wrong dtype, a missing autocast, an unquantized model give 1.0 or much less).
FLOOR = {"bf16": 0.999, "int8": 0.99}


def test_auto_is_fp32_on_a_cpu_and_explicit_choices_are_checked() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("int8", cpu) == "int8" and weight_dtype("bf16", cpu) == torch.float32
    assert weight_dtype("bf16", torch.device("cuda")) == torch.bfloat16
    with pytest.raises(ValueError, match="int8.*CPU only"):
        resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", cpu)


def test_flag_wins_over_environment() -> None:
    assert parse_settings([], env={}).precision == "auto"
    assert parse_settings([], env={"ALIGN_PRECISION": "bf16"}).precision == "bf16"
    assert parse_settings(["--precision", "int8"], env={"ALIGN_PRECISION": "bf16"}).precision == "int8"
    with pytest.raises(ValueError, match="ALIGN_PRECISION='half'"):
        parse_settings([], env={"ALIGN_PRECISION": "half"})


@pytest.fixture(scope="module")
def real_inputs() -> dict[str, list]:
    photos = load_files(sorted(shared_path("photos").iterdir()), "image").items
    clips = load_files(sorted(shared_path("clotho_subset", "audio").glob("*.wav"))[:3], "audio").items
    with shared_path("clotho_subset", "captions.csv").open(newline="", encoding="utf-8") as f:
        texts = [row["caption_1"] for row in csv.DictReader(f)]
    return {"image": [i.payload for i in photos], "audio": [i.payload for i in clips], "text": texts}


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_cosine_to_fp32_on_real_files(
    precision: str, encoders: Encoders, tiny_settings: Settings, real_inputs: dict[str, list]
) -> None:
    root = f"{tiny_settings.cache_dir}/models"
    for role, reference in (("clip", encoders.clip), ("clap", encoders.clap)):
        variant = load_encoder(role, "tiny", device="cpu", tiny_root=root, precision=precision)  # type: ignore[arg-type]
        assert variant.precision == precision and reference.precision == "fp32"
        assert variant.fingerprint("text") != reference.fingerprint("text")  # never served from fp32's cache
        for modality in ("text", "image" if role == "clip" else "audio"):
            inputs = real_inputs[modality]
            low = getattr(variant, f"encode_{modality}")(inputs).numpy()
            ref = getattr(reference, f"encode_{modality}")(inputs).numpy()
            cos = (low * ref).sum(axis=1)  # (N,) both unit length
            assert cos.min() >= FLOOR[precision], (role, modality, cos.min())
            assert cos.min() < 1 - 1e-7, "no change at all: the precision was not applied"
            np.testing.assert_allclose(np.linalg.norm(low, axis=1), 1, atol=1e-5)
    if precision == "int8":
        linear = [m for m in variant.model.modules() if type(m).__name__ == "Linear"]
        assert all("quantized" in type(m).__module__ for m in linear)


def test_describe_names_the_precision(encoders: Encoders) -> None:
    info = encoders.describe()
    assert info["precision"] == "fp32" and info["dtype"] == "float32"
