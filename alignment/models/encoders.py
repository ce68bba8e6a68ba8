"""Backbone towers behind one small API: `encode_text` / `encode_image` / `encode_audio` -> unit Tensor[B, D].

Each encode is split into `prepare_*` (CPU: tokenize, decode, resample, mel features) and `forward_*` (the
device), so a ZeroGPU Space holds the GPU for the forward passes alone. The models are built by
`alignment.models.factory`, the only place in the project that calls `from_pretrained`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import PreTrainedModel

from ..inputs import audio as audio_io
from .precision import compute, quantize_int8
from .settings import Precision

Role = Literal["clip", "clap"]
PAD_BUDGET = 1.3  # padded tokens per real token allowed in a text batch (see Encoder.prepare_text)
PREPROCESSING_VERSION = "1"  # bump when decoding, resampling, windowing or pooling changes embeddings


@dataclass(frozen=True)
class TextTokens:
    """How a text fared in the tokenizer: `truncated` when it had more tokens than the model accepts."""

    n_tokens: int  # including the special tokens
    max_tokens: int

    @property
    def truncated(self) -> bool:
        return self.n_tokens > self.max_tokens


def _unwrap(output: object) -> torch.Tensor:
    """transformers 5 `get_*_features` return an output object; older versions a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output  # type: ignore[attr-defined]


class Encoder:
    """Shared parts of a backbone: the model, its processor, the device, and the text tower."""

    role: Role
    modalities: tuple[str, ...]

    def __init__(
        self,
        model: PreTrainedModel,
        processor: object,
        *,
        model_id: str,
        revision: str,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int = 32,
        precision: Precision = "fp32",
    ) -> None:
        # `dtype` is the weights' (precision.weight_dtype); bf16 on a CPU keeps float32 weights and autocasts
        self.model: Any = model.to(device=device, dtype=dtype).eval()  # type: ignore[call-arg]  # transformers' stubs
        if precision == "int8":
            self.model = quantize_int8(self.model)
        self.processor: Any = processor  # a CLIPProcessor or ClapProcessor
        self.tokenizer = processor.tokenizer  # type: ignore[attr-defined]
        self.model_id = model_id
        self.revision = revision
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.precision: Precision = precision

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def max_text_tokens(self) -> int:
        return int(self.tokenizer.model_max_length)

    def fingerprint(self, modality: str) -> str:
        """Everything besides the content that determines an embedding (the cache key's model part)."""
        return (
            f"{self.role}|{self.model_id}|{self.revision}|{modality}|prep{PREPROCESSING_VERSION}|{self.dtype}"
            f"|{self.precision}"
        ).replace("torch.", "")

    # ------------------------------------------------------------------ text

    def text_tokens(self, texts: Sequence[str]) -> list[TextTokens]:
        """Token counts without truncation, so the UI can report what the model will not see."""
        if not texts:
            return []  # tokenizers raise IndexError on an empty batch
        ids = self.tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]
        return [TextTokens(len(row), self.max_text_tokens) for row in ids]

    def prepare_text(self, texts: Sequence[str]) -> list[dict[str, torch.Tensor]]:
        """Tokenized batches of similar length: texts sorted by token count, and a batch closes when it is full
        or when padding to its longest text would exceed PAD_BUDGET x its real tokens (a batch of 32 short
        captions and one long text otherwise pads all 32 to the long one: 2.5x the work in bench/)."""
        lengths = [min(n.n_tokens, self.max_text_tokens) for n in self.text_tokens(texts)]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        groups: list[list[int]] = []
        for i in order:
            group = groups[-1] if groups else None
            if (
                group is None
                or len(group) == self.batch_size
                or (len(group) + 1) * lengths[i] > PAD_BUDGET * (sum(lengths[j] for j in group) + lengths[i])
            ):
                groups.append([i])
            else:
                group.append(i)
        batches = []
        for index in groups:
            batch = self.tokenizer(
                [texts[i] for i in index],
                padding="longest",
                truncation=True,
                max_length=self.max_text_tokens,
                return_tensors="pt",
            )
            batches.append({"index": torch.tensor(index), **batch})
        return batches

    @torch.inference_mode()
    def forward_text(self, batches: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        n = sum(len(b["index"]) for b in batches)
        out = torch.empty(n, self.dim)
        for batch in batches:
            inputs = {k: v.to(self.device) for k, v in batch.items() if k != "index"}
            with compute(self.precision, self.device):
                out[batch["index"]] = _unwrap(self.model.get_text_features(**inputs)).float().cpu()
        return F.normalize(out, dim=-1)  # (N, D)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-norm text embeddings, (N, D) float32 on CPU; texts past the token limit are truncated."""
        if not texts:
            return torch.empty(0, self.dim)
        return self.forward_text(self.prepare_text(texts))


class ClipEncoder(Encoder):
    """CLIP-style image-text backbone (CLIPModel, or any model with get_image_features/get_text_features)."""

    role: Role = "clip"
    modalities = ("text", "image")

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp())

    def prepare_image(self, images: Sequence[Image.Image]) -> list[torch.Tensor]:
        batches = []
        for start in range(0, len(images), self.batch_size):
            pixels = self.processor.image_processor(
                images=list(images[start : start + self.batch_size]),  # type: ignore[attr-defined]
                return_tensors="pt",
            )["pixel_values"]
            batches.append(pixels)  # (B, 3, H, W)
        return batches

    @torch.inference_mode()
    def forward_image(self, batches: list[torch.Tensor]) -> torch.Tensor:
        with compute(self.precision, self.device):
            out = [
                _unwrap(self.model.get_image_features(pixel_values=b.to(self.device, self.dtype))).float().cpu()
                for b in batches
            ]
        return F.normalize(torch.cat(out), dim=-1) if out else torch.empty(0, self.dim)

    def encode_image(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Unit-norm image embeddings, (N, D) float32 on CPU."""
        return self.forward_image(self.prepare_image(images))


@dataclass(frozen=True)
class AudioBatch:
    """Mel features of every window of every clip; `owner[w]` is the clip that window w belongs to."""

    features: torch.Tensor  # (W, 1, frames, mels)
    is_longer: torch.Tensor  # (W, 1) always False: windows never exceed the model's length
    owner: torch.Tensor  # (W,)
    n_clips: int


class ClapEncoder(Encoder):
    """CLAP audio-text backbone (ClapModel); audio goes through deterministic windows (see alignment.audio)."""

    role: Role = "clap"
    modalities = ("text", "audio")

    @property
    def sample_rate(self) -> int:
        return int(self.processor.feature_extractor.sampling_rate)  # type: ignore[attr-defined]

    @property
    def window(self) -> int:
        """Samples the model sees at once (10 s at 48 kHz for HTSAT)."""
        return int(self.processor.feature_extractor.nb_max_samples)  # type: ignore[attr-defined]

    @property
    def logit_scale(self) -> float:
        """Scale of audio->text logits (ClapModel keeps separate text and audio scales)."""
        return float(self.model.logit_scale_a.detach().exp())

    def prepare_audio(self, waves: Sequence[audio_io.Waveform]) -> AudioBatch:
        chunks: list[np.ndarray] = []
        owner: list[int] = []
        for clip, wave in enumerate(waves):
            samples = audio_io.resample(wave, self.sample_rate).samples
            for chunk in audio_io.windows(samples, self.window):
                chunks.append(chunk)
                owner.append(clip)
        if not chunks:
            return AudioBatch(
                torch.empty(0, 1, 0, 0), torch.empty(0, 1, dtype=torch.bool), torch.empty(0, dtype=torch.long), 0
            )
        feats = self.processor.feature_extractor(chunks, sampling_rate=self.sample_rate, return_tensors="pt")  # type: ignore[attr-defined]
        return AudioBatch(
            feats["input_features"], torch.zeros(len(chunks), 1, dtype=torch.bool), torch.tensor(owner), len(waves)
        )

    @torch.inference_mode()
    def forward_audio(self, batch: AudioBatch) -> torch.Tensor:
        if batch.n_clips == 0:
            return torch.empty(0, self.dim)
        per_window = []
        for start in range(0, len(batch.owner), self.batch_size):
            end = start + self.batch_size
            with compute(self.precision, self.device):
                out = self.model.get_audio_features(
                    input_features=batch.features[start:end].to(self.device, self.dtype),
                    is_longer=batch.is_longer[start:end].to(self.device),
                )
            per_window.append(F.normalize(_unwrap(out).float().cpu(), dim=-1))
        windows = torch.cat(per_window)  # (W, D)
        sums = torch.zeros(batch.n_clips, windows.shape[1]).index_add_(0, batch.owner, windows)  # (N, D)
        return F.normalize(sums, dim=-1)  # mean of unit window vectors, renormalized

    def encode_audio(self, waves: Sequence[audio_io.Waveform]) -> torch.Tensor:
        """Unit-norm audio embeddings, (N, D) float32 on CPU; one per clip whatever its length."""
        return self.forward_audio(self.prepare_audio(waves))


@dataclass(frozen=True)
class Encoders:
    """The two backbones of a session."""

    clip: ClipEncoder
    clap: ClapEncoder

    def describe(self) -> dict[str, str]:
        return {
            "clip": self.clip.model_id,
            "clip_revision": self.clip.revision,
            "clap": self.clap.model_id,
            "clap_revision": self.clap.revision,
            "device": str(self.clip.device),
            "dtype": str(self.clip.dtype).replace("torch.", ""),  # the weights' dtype
            "precision": self.clip.precision,  # how the forward passes compute: fp32 | bf16 | int8
        }


__all__ = ["AudioBatch", "ClapEncoder", "ClipEncoder", "Encoder", "Encoders", "Role", "TextTokens"]
