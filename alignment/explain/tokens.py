"""Token helpers the text explanations and the attention viewer share: readable labels and the pooled token."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from ..models.tiny import bytes_to_unicode


def token_labels(tokenizer: object, ids: Sequence[int]) -> list[str]:
    """Readable labels, one per id: CLIP's 'cat</w>' -> 'cat', RoBERTa's 'Ġcat' -> 'cat'; specials kept verbatim."""
    special = set(getattr(tokenizer, "all_special_ids", []))
    raw = tokenizer.convert_ids_to_tokens(list(ids))  # type: ignore[attr-defined]
    return [str(token) if i in special else _readable(str(token)) for i, token in zip(ids, raw, strict=True)]


def _readable(token: str) -> str:
    """A byte-level BPE token (CLIP and RoBERTa share GPT-2's byte alphabet) back to text; a lone space is '␣'."""
    core = token.removesuffix("</w>")  # CLIP marks the end of a word
    inverse = _byte_decoder()
    if core and all(ch in inverse for ch in core):
        core = bytes(inverse[ch] for ch in core).decode("utf-8", errors="replace")
    text = core.replace("▁", " ").strip()  # sentencepiece's word marker, for other tokenizers
    return text or ("␣" if core.isspace() else token)


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    return {char: byte for byte, char in bytes_to_unicode().items()}


def pooled_index(model: torch.nn.Module, input_ids: torch.Tensor) -> int:
    """Position of the token the text tower pools into the text embedding (one text, ids of shape (1, T))."""
    text_model = model.text_model  # type: ignore[attr-defined]
    eos = getattr(text_model, "eos_token_id", None)
    if eos is None:
        if getattr(text_model, "pooler", None) is not None:  # RoBERTa (CLAP) pools the first token (<s>)
            return 0
        raise ValueError(
            f"unknown pooling: {type(text_model).__name__} has neither CLIP's end-of-text pooling "
            "nor a first-token pooler"
        )
    ids = input_ids[0]
    if eos == 2:  # CLIP checkpoints from before transformers PR #24773: the highest id is the end-of-text token
        return int(ids.argmax())
    hits = (ids == eos).nonzero()
    if len(hits) == 0:
        raise ValueError(f"the text has no end-of-text token (id {eos}) to pool; got ids {ids.tolist()}")
    return int(hits[0])
