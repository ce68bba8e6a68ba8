"""Constructed models and inputs where the right explanation is known (helpers for the explain tests, not a test file).

`uniform_clip` is the tiny CLIP of alignment.models.tiny with weights set so that its behaviour can be worked out
by hand: no position embeddings in the vision tower (a patch's token depends on its content only), query
and key projections zero (every token attends uniformly to every token), no MLP, no biases, and the last
layer's attention output zeroed (so one effective attention layer). On a black image every patch token is
exactly 0 (black pixels are 0 after the toy processor's identity normalization, the patch conv has no bias,
LayerNorm of 0 is 0); a planted patch is the only one whose value vector is non-zero, so it alone moves the
image embedding, and the only way it does is through the CLS token's attention to it.

The text side is steered with `point_text_at` / `point_image_at`, which rewrite a projection layer as a
rank-1 map so that one input embeds exactly to a chosen direction: "the text describes the planted content".
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from alignment.inputs.audio import Waveform
from alignment.models.encoders import ClapEncoder, ClipEncoder
from alignment.models.tiny import tiny_clap, tiny_clip

CPU = torch.device("cpu")
RATE = 48_000


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One torch thread while an explain test runs (restored after). The tiny models' ops are too small to gain
    from a second thread, and on the shared 2-core machine a second thread waiting for a busy core made a test
    50x slower (35 s instead of 0.7 s for ~100 tiny CLIP forwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def clip_encoder(model: torch.nn.Module, processor: object) -> ClipEncoder:
    return ClipEncoder(model, processor, model_id="toy", revision="toy", device=CPU, dtype=torch.float32)  # type: ignore[arg-type]


def clap_encoder(model: torch.nn.Module, processor: object) -> ClapEncoder:
    return ClapEncoder(model, processor, model_id="toy", revision="toy", device=CPU, dtype=torch.float32)  # type: ignore[arg-type]


@torch.no_grad()
def uniform_clip(
    *, image_size: int = 32, patch_size: int = 8, text_positions: bool = True, only_token: str | None = None
) -> ClipEncoder:
    """See the module docstring; `only_token`: zero every word's token embedding but this one's (the other words
    are "stop words" that carry nothing). `text_positions=False` zeroes the text position embeddings too."""
    model, processor = tiny_clip(image_size=image_size, patch_size=patch_size)
    processor.image_processor.image_mean = [0.0, 0.0, 0.0]  # pixels stay in [0, 1]: black is exactly 0
    processor.image_processor.image_std = [1.0, 1.0, 1.0]
    for tower in (model.vision_model, model.text_model):
        for layer in tower.encoder.layers:
            attn = layer.self_attn
            for linear in (attn.q_proj, attn.k_proj):  # q.k = 0: uniform attention (causal for the text)
                linear.weight.zero_()
                linear.bias.zero_()
            attn.v_proj.bias.zero_()
            attn.out_proj.bias.zero_()
            layer.layer_norm1.bias.zero_()
            layer.layer_norm2.bias.zero_()
            layer.mlp.fc2.weight.zero_()
            layer.mlp.fc2.bias.zero_()
        tower.encoder.layers[-1].self_attn.out_proj.weight.zero_()  # the last layer passes its input through
    vision = model.vision_model
    vision.embeddings.position_embedding.weight.zero_()
    vision.pre_layrnorm.bias.zero_()
    text = model.text_model
    if not text_positions:
        text.embeddings.position_embedding.weight.zero_()
    if only_token is not None:  # the start/end tokens keep theirs: the pooled end token must not be all zeros
        table = text.embeddings.token_embedding.weight
        keep = [processor.tokenizer.convert_tokens_to_ids(only_token), *processor.tokenizer.all_special_ids]
        rows = table[keep].clone()
        table.zero_()
        table[keep] = rows
    return clip_encoder(model.eval(), processor)


def planted_image(size: int, patch: int, cells: dict[tuple[int, int], tuple[int, int, int]]) -> Image.Image:
    """A black `size` x `size` image with whole patches painted: {(row, col): (r, g, b)}."""
    array = np.zeros((size, size, 3), np.uint8)
    for (row, col), colour in cells.items():
        array[row * patch : (row + 1) * patch, col * patch : (col + 1) * patch] = colour
    return Image.fromarray(array)


def _pooled_text(encoder: ClipEncoder | ClapEncoder, text: str) -> torch.Tensor:
    batch = encoder.tokenizer([text], return_tensors="pt")
    out = encoder.model.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return out.pooler_output[0]  # (hidden,)


@torch.no_grad()
def point_text_at(encoder: ClipEncoder | ClapEncoder, text: str, target: torch.Tensor) -> None:
    """Rewrite the text projection (rank 1) so that `text` embeds exactly to the direction of `target`."""
    target = F.normalize(target.float().reshape(-1), dim=0)
    pooled = _pooled_text(encoder, text)
    projection = encoder.model.text_projection
    if isinstance(projection, torch.nn.Linear):  # CLIP: Linear(hidden, D, bias=False)
        projection.weight.copy_(target[:, None] @ pooled[None] / pooled.dot(pooled))
    else:  # CLAP: linear1 -> ReLU -> linear2; rewrite linear2 on the fixed ReLU features
        hidden = projection.activation(projection.linear1(pooled))
        if hidden.dot(hidden) <= 0:
            raise ValueError("the ReLU features of this text are all zero; pick another text")
        projection.linear2.weight.copy_(target[:, None] @ hidden[None] / hidden.dot(hidden))
        projection.linear2.bias.zero_()


@torch.no_grad()
def point_image_at(encoder: ClipEncoder, image: Image.Image, target: torch.Tensor) -> None:
    """Rewrite CLIP's visual projection (rank 1) so that `image` embeds exactly to the direction of `target`."""
    target = F.normalize(target.float().reshape(-1), dim=0)
    pixels = encoder.prepare_image([image])[0]
    pooled = encoder.model.vision_model(pixel_values=pixels).pooler_output[0]
    encoder.model.visual_projection.weight.copy_(target[:, None] @ pooled[None] / pooled.dot(pooled))


def tiny_clap_encoder() -> ClapEncoder:
    """A fresh in-memory tiny CLAP (the session fixture's is shared and must not be rewritten)."""
    model, processor = tiny_clap()
    return clap_encoder(model, processor)


def tone_clip(seconds: float, tone: tuple[float, float], *, hz: float = 880.0) -> Waveform:
    """Silence with a sine tone in [tone[0], tone[1]) seconds, at 48 kHz (CLAP's rate: no resampling)."""
    samples = np.zeros(round(seconds * RATE), np.float32)
    a, b = round(tone[0] * RATE), round(tone[1] * RATE)
    t = np.arange(b - a) / RATE
    samples[a:b] = 0.5 * np.sin(2 * np.pi * hz * t)
    return Waveform(samples, RATE)
