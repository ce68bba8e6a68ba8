"""Offline stand-ins for the Hub: tiny random CLIP/CLAP checkpoints and the real CLIP tokenizer from its BPE file.

The tiny models are saved with `save_pretrained` and loaded back through the same factory as real
checkpoints, so tests and the `tiny` preset exercise the production loading path.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Callable
from functools import lru_cache
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
    CLIPTokenizer,
    PreTrainedModel,
    ProcessorMixin,
    RobertaTokenizer,
)

from .checkpoints import tiny_dir

CLIP_SPECIALS = ("<|startoftext|>", "<|endoftext|>")


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte-level alphabet: 256 printable characters standing for the 256 bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


def clip_tokenizer(merges: list[str] | None = None, *, model_max_length: int = 77) -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is derived from `merges` exactly as open_clip's SimpleTokenizer does.

    With no merges the vocabulary is the 512 byte tokens plus the two specials (the tiny preset).
    """
    alphabet = list(bytes_to_unicode().values())
    merges = merges or []
    tokens = alphabet + [t + "</w>" for t in alphabet] + ["".join(m.split()) for m in merges] + list(CLIP_SPECIALS)
    vocab = {token: i for i, token in enumerate(tokens)}
    return CLIPTokenizer(
        vocab=vocab,
        merges=[tuple(m.split()) for m in merges],  # type: ignore[misc]  # tokenizers' BPE wants (left, right) pairs
        bos_token=CLIP_SPECIALS[0],
        eos_token=CLIP_SPECIALS[1],
        unk_token=CLIP_SPECIALS[1],
        pad_token=CLIP_SPECIALS[1],
        model_max_length=model_max_length,
    )


def clip_tokenizer_from_bpe(path: str | os.PathLike[str]) -> CLIPTokenizer:
    """The real CLIP tokenizer (49,408 tokens) from open_clip's `bpe_simple_vocab_16e6.txt.gz`."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]  # open_clip: the first line is a header; 48,894 merges
    return clip_tokenizer(merges)


def roberta_byte_tokenizer() -> RobertaTokenizer:
    """A byte-level RoBERTa tokenizer with no merges (CLAP's text tower tokenizer, tiny vocabulary)."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for char in bytes_to_unicode().values():
        vocab[char] = len(vocab)
    vocab["<mask>"] = len(vocab)
    return RobertaTokenizer(vocab=vocab, merges=[])


def tiny_clip(*, seed: int = 0, image_size: int = 32, patch_size: int = 8) -> tuple[CLIPModel, CLIPProcessor]:
    """Random CLIP: hidden 32, 2 layers, 4 heads, projection 16 (the shapes of the real one, scaled down)."""
    tokenizer = clip_tokenizer()
    eos = tokenizer.convert_tokens_to_ids(CLIP_SPECIALS[1])
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.convert_tokens_to_ids(CLIP_SPECIALS[0]),
            eos_token_id=eos,
            pad_token_id=eos,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=image_size,
            patch_size=patch_size,
        ),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def tiny_clap(*, seed: int = 0) -> tuple[ClapModel, ClapProcessor]:
    """Random CLAP: a 2-stage HTSAT (16/32 channels) and a 2-layer RoBERTa, projection 16; real 48 kHz front end."""
    tokenizer = roberta_byte_tokenizer()
    config = ClapConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=80,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
        ),
        # spec_size stays 256: the 10 s, 1001-frame mel must fit the Swin input (spec_size x freq_ratio).
        audio_config=dict(
            depths=[1, 1],
            num_attention_heads=[2, 2],
            hidden_size=32,
            patch_embeds_hidden_size=16,
            window_size=8,
            spec_size=256,
            num_mel_bins=64,
            enable_fusion=False,
        ),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = ClapModel(config).eval()
    tokenizer.model_max_length = 77  # position table of 80 minus RoBERTa's padding offset
    features = ClapFeatureExtractor(feature_size=64, truncation="rand_trunc", padding="repeatpad")
    return model, ClapProcessor(feature_extractor=features, tokenizer=tokenizer)


def save(model: PreTrainedModel, processor: ProcessorMixin, directory: str | os.PathLike[str]) -> Path:
    """`save_pretrained` both halves into one directory, written to a temp name then renamed (atomic)."""
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    if directory.exists():  # another process finished first; keep its copy
        shutil.rmtree(tmp)
    else:
        tmp.replace(directory)
    return directory


def ensure_tiny_checkpoint(role: str, root: str | os.PathLike[str]) -> Path:
    """Directory holding the tiny `clip` or `clap` checkpoint under `root`, built on first use."""
    builders: dict[str, Callable[[], tuple[PreTrainedModel, ProcessorMixin]]] = {"clip": tiny_clip, "clap": tiny_clap}
    if role not in builders:
        raise ValueError(f"unknown tiny role {role!r} (expected 'clip' or 'clap')")
    directory = tiny_dir(role, root)
    if not (directory / "config.json").exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        save(*builders[role](), directory)
    return directory
