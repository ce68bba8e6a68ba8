"""Real-size CLIP ViT-B/32 and CLAP HTSAT-unfused with RANDOM weights, built from configs and cached on disk.

No model hub is reachable here, so the benchmarks measure architectures with the exact shapes (hence
the same FLOPs and memory) of `openai/clip-vit-base-patch32` and `laion/clap-htsat-unfused`, saved
with `save_pretrained` and loaded back through `alignment.models.factory.load_encoder` like a real checkpoint.

    .venv/bin/python -m bench.models            # build (once) and print the shapes and parameter counts

Checkpoints go to $BENCH_MODELS, else <repo>/.cache/bench-models (git-ignored), ~1.2 GB in all.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import (
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    ClapProcessor,
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPProcessor,
)

from alignment.models.tiny import clip_tokenizer_from_bpe, roberta_byte_tokenizer, save

from .machine import ROOT, SHARED, machine_line, table

BENCH_MODELS_VERSION = "1"  # bump when the architectures or processors below change
CLIP_BPE = SHARED / "clip_bpe" / "bpe_simple_vocab_16e6.txt.gz"

# The published configs' shape fields (openai/clip-vit-base-patch32 and laion/clap-htsat-unfused
# config.json); `check_shapes` asserts that the configs built below still have them.
CLIP_SHAPES = {
    "projection_dim": 512,
    "text_config.hidden_size": 512,
    "text_config.intermediate_size": 2048,
    "text_config.num_hidden_layers": 12,
    "text_config.num_attention_heads": 8,
    "text_config.max_position_embeddings": 77,
    "text_config.vocab_size": 49408,
    "text_config.hidden_act": "quick_gelu",
    "vision_config.hidden_size": 768,
    "vision_config.intermediate_size": 3072,
    "vision_config.num_hidden_layers": 12,
    "vision_config.num_attention_heads": 12,
    "vision_config.image_size": 224,
    "vision_config.patch_size": 32,
    "vision_config.hidden_act": "quick_gelu",
}
CLAP_SHAPES = {
    "projection_dim": 512,
    "text_config.hidden_size": 768,
    "text_config.intermediate_size": 3072,
    "text_config.num_hidden_layers": 12,
    "text_config.num_attention_heads": 12,
    "text_config.max_position_embeddings": 514,
    "text_config.vocab_size": 50265,
    "text_config.type_vocab_size": 1,
    "audio_config.depths": [2, 2, 6, 2],
    "audio_config.num_attention_heads": [4, 8, 16, 32],
    "audio_config.hidden_size": 768,
    "audio_config.patch_embeds_hidden_size": 96,
    "audio_config.window_size": 8,
    "audio_config.spec_size": 256,
    "audio_config.num_mel_bins": 64,
    "audio_config.patch_size": 4,
    "audio_config.mlp_ratio": 4.0,
    "audio_config.enable_fusion": False,
}


def models_root() -> Path:
    return Path(os.environ.get("BENCH_MODELS") or ROOT / ".cache" / "bench-models")


def _field(config: object, dotted: str) -> object:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def check_shapes(config: object, expected: dict[str, object]) -> None:
    """Fail loudly if a transformers default drifted away from the published architecture."""
    got = {k: list(v) if isinstance(v := _field(config, k), tuple) else v for k in expected}
    wrong = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    if wrong:
        raise ValueError(f"config differs from the published architecture (got, expected): {wrong}")


def real_size_clip(*, seed: int = 0) -> tuple[CLIPModel, CLIPProcessor]:
    """ViT-B/32 CLIP (`CLIPConfig()` defaults) + the real 49,408-token CLIP tokenizer + 224 px preprocessing."""
    config = CLIPConfig()
    check_shapes(config, CLIP_SHAPES)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    tokenizer = clip_tokenizer_from_bpe(CLIP_BPE)  # 49,408 tokens, model_max_length 77, as the real one
    return model, CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer)


def real_size_clap(*, seed: int = 0) -> tuple[ClapModel, ClapProcessor]:
    """HTSAT-unfused CLAP (`ClapConfig()` defaults) + 48 kHz / 64-mel / 10 s features + a byte-level RoBERTa tokenizer.

    Two things differ from the library defaults and are set to match laion/clap-htsat-unfused:
    the feature extractor's `truncation` ('rand_trunc' there; the class default 'fusion' would stack
    4 mel channels for the fused model) and the tokenizer's `model_max_length` (512).
    The tokenizer is byte-level with no merges (no RoBERTa vocabulary offline): texts become about
    one token per character, ~4x longer than real RoBERTa BPE, so CLAP *text* figures are pessimistic
    (bench_encoders also reports a length-matched proxy).
    """
    config = ClapConfig()
    check_shapes(config, CLAP_SHAPES)
    torch.manual_seed(seed)
    model = ClapModel(config).eval()
    tokenizer = roberta_byte_tokenizer()
    tokenizer.model_max_length = 512  # 514 positions minus RoBERTa's padding offset, as laion/clap-htsat-unfused
    features = ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad")  # 48 kHz, 64 mels, 10 s
    return model, ClapProcessor(feature_extractor=features, tokenizer=tokenizer)


def ensure(role: str) -> Path:
    """Directory of the cached real-size random `clip` or `clap` checkpoint, built on first use (~1 min)."""
    builders = {"clip": real_size_clip, "clap": real_size_clap}
    if role not in builders:
        raise ValueError(f"unknown role {role!r} (expected 'clip' or 'clap')")
    directory = models_root() / f"{role}-real-size-random-v{BENCH_MODELS_VERSION}"
    if not (directory / "config.json").exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        model, processor = builders[role]()
        save(model, processor, directory)
    return directory


def n_parameters(directory: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in directory.glob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                total += torch.Size(f.get_slice(name).get_shape()).numel()
    return total


def main() -> None:
    print(machine_line())
    rows = []
    for role in ("clip", "clap"):
        directory = ensure(role)
        size = sum(f.stat().st_size for f in directory.glob("*.safetensors")) / 2**20
        rows.append([role, f"{n_parameters(directory):,}", f"{size:.0f}", str(directory)])
    print(table(["role", "parameters", "weights MiB", "directory"], rows))


if __name__ == "__main__":
    main()
