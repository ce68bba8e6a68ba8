"""An eager-attention view of an encoder that shares its weights, for the maps that need attention weights.

SDPA (transformers' default for CLIP) returns no attention weights, and eager attention is slower, so the
encoder used for bulk embedding is never switched. `eager_encoder` builds, once per encoder and on first
use, a *view* of it that runs eager attention: the module tree and configs are copied, the parameters and
buffers are shared (`copy.deepcopy` with a memo that maps every tensor to itself), and the copy is switched
with `set_attn_implementation("eager")`. It costs no second copy of the weights (reloading ViT-B/32 through
the factory with `attn="eager"` grew the RSS by 0.7-1.2 GB in bench/bench_explain.py), no disk read, and
cannot drift from the in-memory weights; the shared encoder keeps SDPA, so a concurrent bulk embedding is
unaffected.
"""

from __future__ import annotations

import copy
import threading
import weakref
from typing import TYPE_CHECKING, TypeVar

import torch

if TYPE_CHECKING:
    from ..models.encoders import Encoder

E = TypeVar("E", bound="Encoder")

_EAGER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # encoder -> its eager view
_LOCK = threading.Lock()


def is_eager(model: torch.nn.Module) -> bool:
    """True when the model and every sub-model run eager attention (so attention weights come back)."""
    configs = [m.config for m in model.modules() if hasattr(m, "config") and hasattr(m.config, "_attn_implementation")]
    return all(c._attn_implementation == "eager" for c in configs)


def _eager_view(encoder: E) -> E:
    tensors = [*encoder.model.parameters(), *encoder.model.buffers()]
    model = copy.deepcopy(encoder.model, {id(t): t for t in tensors})  # new modules and configs, same tensors
    model.set_attn_implementation("eager")  # the copy's configs only
    return type(encoder)(
        model,
        encoder.processor,
        model_id=encoder.model_id,
        revision=encoder.revision,
        device=encoder.device,
        dtype=encoder.dtype,
        batch_size=encoder.batch_size,
    )


def eager_encoder(encoder: E) -> E:
    """The same backbone (same weight tensors) running eager attention; the encoder itself if it already does."""
    if is_eager(encoder.model):
        return encoder
    with _LOCK:
        eager = _EAGER.get(encoder)
        if eager is None:
            eager = _eager_view(encoder)
            _EAGER[encoder] = eager
    return eager


__all__ = ["eager_encoder", "is_eager"]
