"""Numeric precision of the forward passes: fp32, bf16 or int8, the default per device, and how each is applied.

- fp32: float32 weights and compute (the reference every other precision is measured against).
- bf16: on a GPU the weights are cast to bfloat16 (half the memory, tensor cores); on a CPU the weights stay
  float32 and the forward runs under `torch.autocast("cpu", torch.bfloat16)`: matrix products in bf16 with
  float32 accumulation, layer norms and softmax in float32. Measured on this project's CPU (AVX-512 BF16),
  autocast kept a cosine to fp32 >= 0.99997 at the speed of bf16 weights (docs/BENCHMARKS.md).
- int8: dynamic quantization of every `nn.Linear` (int8 weights, activations quantized per batch at run time)
  with torch's x86/fbgemm kernels; CPU only, and no gradients (the gradient explanations refuse it).

The default (`auto`) is bf16 on a CUDA GPU that supports it and fp32 everywhere else: on a CPU fp32 keeps the
app's numbers reproducible across machines (bf16 is only fast on CPUs with native bf16 instructions) and exact
to float rounding between a batch and an item alone; int8 and bf16 are opt-in for bulk embedding.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import cast

import torch

from .settings import PRECISIONS, Precision, PrecisionChoice


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """`auto` -> bf16 on a CUDA GPU with bf16, else fp32; an explicit choice is checked against the device."""
    if requested == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r} (expected auto, {', '.join(PRECISIONS)})")
    if requested == "int8" and device.type != "cpu":
        raise ValueError(f"precision 'int8' runs on the CPU only (torch's dynamic quantization), got device {device}")
    return cast(Precision, requested)


def weight_dtype(precision: Precision, device: torch.device) -> torch.dtype:
    """The dtype the weights are stored in: bf16 weights on accelerators only (a CPU runs bf16 as autocast)."""
    if precision == "bf16" and device.type != "cpu":
        return torch.bfloat16
    return torch.float32


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Every nn.Linear as a dynamically quantized int8 linear (in place on a CPU model); the rest stays fp32."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch 2.11 warns that torch.ao.quantization moves to torchao; the pinned torch still ships it.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


@contextlib.contextmanager
def compute(precision: Precision, device: torch.device) -> Iterator[None]:
    """The context every forward pass runs in: bf16 autocast on a CPU, nothing otherwise."""
    if precision == "bf16" and device.type == "cpu":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield


__all__ = [
    "PRECISIONS",
    "Precision",
    "PrecisionChoice",
    "compute",
    "quantize_int8",
    "resolve_precision",
    "weight_dtype",
]
