"""Streaming sinc resampling: a long clip resampled block by block, each block with enough context on both sides
that the result equals resampling the whole clip at once (torchaudio's kernel), in bounded memory.

Output sample j sits at input time j * o / n (o:n the reduced rate ratio), so blocks start on multiples of o
and each is resampled with `pad` input samples of context either side (at least the kernel's half-width);
the block's own outputs are then cut out of the result. Memory: one block plus its context, and the output.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchaudio.functional as AF

LOWPASS_WIDTH = 6  # torchaudio's default lowpass_filter_width
ROLLOFF = 0.99  # torchaudio's default rolloff
TARGET_BLOCK = 1 << 20  # input samples per block (rounded to a multiple of o): the kernel is built per block


class StreamResampler:
    """Feed mono float32 blocks of any length with `feed`, then call `finish`; the concatenated outputs equal
    `torchaudio.functional.resample` of the whole clip."""

    def __init__(self, orig: int, new: int) -> None:
        if orig <= 0 or new <= 0:
            raise ValueError(f"sample rates must be positive, got {orig} and {new}")
        g = math.gcd(orig, new)
        self.orig, self.new, self.o, self.n = orig, new, orig // g, new // g
        half_width = math.ceil(LOWPASS_WIDTH * self.o / (min(self.o, self.n) * ROLLOFF)) + 1
        self.pad = math.ceil(half_width / self.o) * self.o  # context, in input samples, a multiple of o
        self.step = self.o * max(1, TARGET_BLOCK // self.o)  # block length, a multiple of o
        self.buffer = np.zeros(0, np.float32)  # input from absolute index `base` on
        self.base = 0
        self.next = 0  # start of the next block to emit (absolute, a multiple of o)

    def feed(self, block: np.ndarray) -> list[np.ndarray]:
        """Outputs of every block that now has its right-hand context."""
        self.buffer = np.concatenate([self.buffer, np.asarray(block, np.float32)])
        out = []
        while self.base + len(self.buffer) >= self.next + self.step + self.pad:
            out.append(self._emit(self.next, self.next + self.step))
            self.next += self.step
            drop = self.next - self.pad - self.base
            if drop > 0:
                self.buffer, self.base = self.buffer[drop:], self.base + drop
        return out

    def finish(self) -> list[np.ndarray]:
        """Outputs of the rest of the clip (no right-hand context: the clip ends there)."""
        end = self.base + len(self.buffer)
        return [self._emit(self.next, end)] if end > self.next else []

    def _emit(self, a: int, b: int) -> np.ndarray:
        lo = max(0, a - self.pad)
        hi = min(self.base + len(self.buffer), b + self.pad)
        chunk = torch.from_numpy(np.ascontiguousarray(self.buffer[lo - self.base : hi - self.base]))
        y = AF.resample(chunk, self.orig, self.new).numpy()
        first = math.ceil(a * self.n / self.o)  # the block's outputs: first .. last - 1
        last = math.ceil(b * self.n / self.o)
        offset = first - math.ceil(lo * self.n / self.o)
        return y[offset : offset + last - first].astype(np.float32, copy=False)
