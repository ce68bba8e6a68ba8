"""Where models run: device and dtype choice, and the ZeroGPU decorator (a no-op off Spaces)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable[..., object])


def pick_device(requested: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for 'auto'; an explicit request that cannot be met is an error."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch.cuda.is_available() is False")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was requested but torch.backends.mps.is_available() is False")
    if requested not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {requested!r} (expected auto, cpu, cuda or mps)")
    return torch.device(requested)


def pick_dtype(device: torch.device) -> torch.dtype:
    """bf16 on GPUs that support it, else fp16 on GPU; fp32 on CPU (half precision is slow and lossy there)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def _zero_gpu_decorator() -> Callable[[F], F]:
    try:
        import spaces  # type: ignore[import-not-found]  # only present on Hugging Face Spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU  # type: ignore[no-any-return]


# Wrap only the forward passes: on a ZeroGPU Space the GPU is held for the decorated call alone,
# so decoding and preprocessing happen before it, outside the window.
gpu = _zero_gpu_decorator()
