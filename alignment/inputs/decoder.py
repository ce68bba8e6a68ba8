"""One request's decoding: each distinct content (by SHA-256) is decoded once and its cost charged once against
the request's budgets (`Limits.max_total_pixels`, `max_total_audio_seconds`), estimated from headers first.

The same bytes named many times (a manifest naming one 38-megapixel PNG 24 times, or one upload twice) give
one decode and one shared payload; a content that failed fails again under its new name without another try.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL import Image

from ..core.errors import BudgetError, InputError
from .audio import Waveform, decode_audio, probe_audio
from .image import decode_image, open_image
from .items import sha256
from .limits import Limits, over_budget

MediaModality = Literal["image", "audio"]
Purpose = Literal["embed", "explain"]


@dataclass(frozen=True)
class Decoded:
    """A decoded payload and the SHA-256 of the original bytes (the cache key's content part)."""

    payload: Image.Image | Waveform
    sha256: str
    shared: bool  # True when an earlier input of this request had the same content (decoded once, shared)


class Decoder:
    """Decodes media for one request under its `limits`; keep one per request, not longer (it holds payloads)."""

    def __init__(self, limits: Limits = Limits(), *, purpose: Purpose = "embed") -> None:
        self.limits = limits
        self.purpose = purpose  # "explain": audio is held to max_explain_seconds
        self.pixels = 0  # decoded so far, distinct content only
        self.seconds = 0.0
        self._done: dict[tuple[MediaModality, str], Image.Image | Waveform | str] = {}  # -> payload or problem

    def decode(self, data: bytes, modality: MediaModality, *, source: str) -> Decoded:
        """Decode `data` (checked, budgeted, downscaled), or InputError naming `source` and the problem."""
        digest = sha256(data)
        earlier = self._done.get((modality, digest))
        if isinstance(earlier, str):
            raise InputError(source, earlier)
        if earlier is not None:
            return Decoded(earlier, digest, True)
        try:
            payload = self._image(data, source) if modality == "image" else self._audio(data, source)
        except BudgetError:
            raise  # depends on what came before in this request: not remembered for this content
        except InputError as exc:
            self._done[(modality, digest)] = exc.problem
            raise
        self._done[(modality, digest)] = payload
        return Decoded(payload, digest, False)

    def check(self, data: bytes, modality: MediaModality, *, source: str) -> str:
        """Only the header's checks (format, size, aspect, duration, rate), no decoding and no budget: for content
        whose embedding is cached already, so there is no work to bound. Returns its SHA-256."""
        if modality == "image":
            open_image(data, source=source, limits=self.limits)
        else:
            header = probe_audio(
                data, source=source, max_seconds=self.limits.max_audio_seconds, max_rate=self.limits.max_sample_rate
            )
            if self.purpose == "explain" and header.seconds > self.limits.max_explain_seconds:
                raise BudgetError(source, f"audio is {header.seconds:.1f} s long, over max_explain_seconds")
        return sha256(data)

    def _image(self, data: bytes, source: str) -> Image.Image:
        opened = open_image(data, source=source, limits=self.limits)
        budget = self.limits.max_total_pixels
        if self.pixels + opened.pixels > budget:
            message = over_budget(
                "max_total_pixels", what="decoding", spent=self.pixels, cost=opened.pixels, budget=budget, unit="pixels"
            )
            raise BudgetError(source, message)
        self.pixels += opened.pixels  # charged before decoding: a decode that fails has still cost the time
        return decode_image(opened, source=source)

    def _audio(self, data: bytes, source: str) -> Waveform:
        limits = self.limits
        header = probe_audio(data, source=source, max_seconds=limits.max_audio_seconds, max_rate=limits.max_sample_rate)
        if self.purpose == "explain" and header.seconds > limits.max_explain_seconds:
            raise BudgetError(
                source,
                f"audio is {header.seconds:.1f} s long; an explanation may cover at most "
                f"{limits.max_explain_seconds:g} s (max_explain_seconds): trim the clip",
            )
        budget = limits.max_total_audio_seconds
        if self.seconds + header.seconds > budget:
            name = "max_total_audio_seconds"
            message = over_budget(name, what="length", spent=self.seconds, cost=header.seconds, budget=budget, unit="s")
            raise BudgetError(source, message)
        self.seconds += header.seconds
        return decode_audio(data, header, source=source, decode_rate=limits.decode_rate)
