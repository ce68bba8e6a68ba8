"""Typed presets: which checkpoints to load, on what device, and with what input limits."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..inputs.limits import Limits

PresetName = Literal["default", "tiny"]
DeviceName = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["fp32", "bf16", "int8"]  # how the forward passes compute (alignment.models.precision)
PrecisionChoice = Literal["auto", "fp32", "bf16", "int8"]  # auto: bf16 on a CUDA GPU, else fp32
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "int8")

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
DEFAULT_CLAP = "laion/clap-htsat-unfused"
TINY = "tiny"  # checkpoint name meaning "build the random tiny model" (alignment.models.tiny)


@dataclass(frozen=True)
class Settings:
    """Everything needed to build the encoders: the checkpoints, where they run, and the limits."""

    preset: PresetName = "default"  # 'tiny' builds random tiny models (interface only, numbers mean nothing)
    clip: str = DEFAULT_CLIP  # image-text backbone: Hugging Face id or local directory (CLIPModel)
    clap: str = DEFAULT_CLAP  # audio-text backbone: Hugging Face id or local directory (ClapModel)
    device: DeviceName = "auto"  # auto = cuda, then mps, then cpu
    precision: PrecisionChoice = "auto"  # fp32 | bf16 | int8; auto = bf16 on a CUDA GPU, fp32 elsewhere
    batch_size: int = 32  # items per forward pass for bulk embedding
    cache_dir: str | None = None  # embedding cache; None = $ALIGN_CACHE or ~/.cache/alignment
    limits: Limits = Limits()

    @property
    def random_weights(self) -> bool:
        """True when either backbone has random weights: the UI must say so."""
        return TINY in (self.clip, self.clap)


def settings_for(
    preset: PresetName, *, clip: str | None = None, clap: str | None = None, **overrides: object
) -> Settings:
    """A preset with optional checkpoint overrides (an explicit --clip/--clap wins over the preset)."""
    if preset not in ("default", "tiny"):
        raise ValueError(f"unknown preset {preset!r} (expected 'default' or 'tiny')")
    preset_clip, preset_clap = (TINY, TINY) if preset == "tiny" else (DEFAULT_CLIP, DEFAULT_CLAP)
    return Settings(preset=preset, clip=clip or preset_clip, clap=clap or preset_clap, **overrides)  # type: ignore[arg-type]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The model-choice flags shared by app.py and the CLI."""
    parser.add_argument("--preset", choices=["default", "tiny"], default=None, help="model preset (env ALIGN_PRESET)")
    parser.add_argument(
        "--clip", default=None, help="CLIP checkpoint: Hugging Face id or local directory (env ALIGN_CLIP)"
    )
    parser.add_argument(
        "--clap", default=None, help="CLAP checkpoint: Hugging Face id or local directory (env ALIGN_CLAP)"
    )
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda", "mps"], default=None, help="device (env ALIGN_DEVICE)"
    )
    parser.add_argument(
        "--precision",
        choices=["auto", *PRECISIONS],
        default=None,
        help="forward-pass precision: auto = bf16 on a CUDA GPU, fp32 elsewhere; bf16 (CPU: autocast), "
        "int8 (CPU: dynamic quantization) trade a cosine of ~0.9999 to fp32 for speed (env ALIGN_PRECISION)",
    )


def settings_from(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Flags first, then ALIGN_* environment variables, then the preset's defaults."""
    env = os.environ if env is None else env
    get = (lambda name: getattr(args, name, None)) if args is not None else (lambda name: None)
    preset = get("preset") or env.get("ALIGN_PRESET") or "default"
    overrides: dict[str, object] = {}
    device = get("device") or env.get("ALIGN_DEVICE")
    if device:
        overrides["device"] = device
    precision = get("precision") or env.get("ALIGN_PRECISION")
    if precision:
        if precision not in ("auto", *PRECISIONS):
            raise ValueError(f"ALIGN_PRECISION={precision!r} is not one of auto, {', '.join(PRECISIONS)}")
        overrides["precision"] = precision
    if env.get("ALIGN_CACHE"):
        overrides["cache_dir"] = env["ALIGN_CACHE"]
    return settings_for(
        preset,  # type: ignore[arg-type]
        clip=get("clip") or env.get("ALIGN_CLIP"),
        clap=get("clap") or env.get("ALIGN_CLAP"),
        **overrides,
    )


def parse_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Parse app-style flags into Settings."""
    parser = argparse.ArgumentParser(description="Cross-Modal Alignment Explorer")
    add_arguments(parser)
    return settings_from(parser.parse_args(argv), env)


def default_cache_dir() -> Path:
    """$ALIGN_CACHE, else ~/.cache/alignment."""
    return Path(os.environ.get("ALIGN_CACHE") or Path.home() / ".cache" / "alignment")
