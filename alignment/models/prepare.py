"""Per-item preparation apart from the model, so decode workers (processes, Ray tasks) do the CPU work of embedding.

`Preparer` holds only a backbone's processor (picklable, no weights): an image becomes its pixel array, an
audio clip the mel features of its deterministic windows, a text stays a string (tokenized next to the model,
where texts of similar length are batched together). `forward_prepared` runs the encoder's own `forward_*`
on a list of them, so a vector is the one `Encoder.encode_*` gives for the same item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..inputs import audio as audio_io
from ..inputs.items import Item, Modality
from .encoders import AudioBatch, ClapEncoder, ClipEncoder, Role

Payload = str | np.ndarray  # a text, pixels (3, H, W), or audio features (W, 1, frames, mels)


@dataclass(frozen=True)
class Preparer:
    """A backbone's CPU side: its processor and which modalities it takes."""

    role: Role
    processor: Any  # CLIPProcessor / ClapProcessor (tokenizer, image processor or feature extractor)

    @classmethod
    def of(cls, encoder: ClipEncoder | ClapEncoder) -> Preparer:
        return cls(encoder.role, encoder.processor)

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return ("text", "image") if self.role == "clip" else ("text", "audio")

    def prepare(self, item: Item) -> Payload:
        """What the model needs for one decoded item."""
        if item.modality not in self.modalities:
            raise ValueError(f"the {self.role} backbone does not embed {item.modality!r} (it takes {self.modalities})")
        if item.modality == "text":
            return str(item.payload)
        if item.modality == "image":
            pixels = self.processor.image_processor(images=[item.payload], return_tensors="np")["pixel_values"]
            return np.asarray(pixels[0], dtype=np.float32)  # (3, H, W)
        extractor = self.processor.feature_extractor
        rate = int(extractor.sampling_rate)
        samples = audio_io.resample(item.payload, rate).samples  # type: ignore[arg-type]
        chunks = audio_io.windows(samples, int(extractor.nb_max_samples))
        feats = extractor(chunks, sampling_rate=rate, return_tensors="np")["input_features"]
        return np.asarray(feats, dtype=np.float32)  # (W, 1, frames, mels)


def forward_prepared(encoder: ClipEncoder | ClapEncoder, modality: Modality, payloads: list[Payload]) -> np.ndarray:
    """Unit vectors (N, D) float32 for prepared items of one modality, in order, in the encoder's batches."""
    if not payloads:
        return np.zeros((0, encoder.dim), np.float32)
    if modality == "text":
        return encoder.encode_text([str(p) for p in payloads]).numpy()
    arrays = [np.asarray(p) for p in payloads]
    if modality == "image" and isinstance(encoder, ClipEncoder):
        step = encoder.batch_size
        batches = [
            torch.from_numpy(np.stack(arrays[i : i + step])) for i in range(0, len(arrays), step)
        ]  # (B, 3, H, W)
        return encoder.forward_image(batches).numpy()
    if modality == "audio" and isinstance(encoder, ClapEncoder):
        owner = np.repeat(np.arange(len(arrays)), [a.shape[0] for a in arrays])  # (W,) clip of each window
        features = torch.from_numpy(np.concatenate(arrays))  # (W, 1, frames, mels)
        batch = AudioBatch(features, torch.zeros(len(owner), 1, dtype=torch.bool), torch.from_numpy(owner), len(arrays))
        return encoder.forward_audio(batch).numpy()
    raise ValueError(f"{type(encoder).__name__} does not encode {modality!r} (it encodes {encoder.modalities})")


__all__ = ["Payload", "Preparer", "forward_prepared"]
