"""Cross-Modal Alignment Explorer library: load inputs, embed them with CLIP and CLAP, and score how they align.

Names are imported on first use (PEP 562), so `import alignment.metrics` does not pay for torch and
transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EmbeddingCache": "cache",
    "Comparison": "compare",
    "compare": "compare",
    "Limits": "config",
    "Settings": "config",
    "parse_settings": "config",
    "settings_for": "config",
    "Item": "data",
    "Loaded": "data",
    "load_files": "data",
    "load_texts": "data",
    "Dataset": "dataset",
    "DatasetLimits": "dataset",
    "Record": "dataset",
    "load_dataset": "dataset",
    "load_items": "dataset",
    "read_manifest": "dataset",
    "EmbedStats": "embed",
    "embed_items": "embed",
    "ClapEncoder": "encoders",
    "ClipEncoder": "encoders",
    "Encoders": "encoders",
    "load_encoder": "encoders",
    "load_encoders": "encoders",
    "InputError": "errors",
    "ModelUnavailableError": "errors",
    "Embedded": "precomputed",
    "from_arrays": "precomputed",
    "load_embeddings": "precomputed",
    "save_npz": "precomputed",
    "Projection": "projection",
    "project": "projection",
    "Match": "similarity",
    "Scores": "similarity",
    "best_matches": "similarity",
    "TagStore": "tags",
    "maskclip": "explain_image",
    "rollout": "explain_image",
    "overlay": "explain_image",
    "window_similarity": "explain_audio",
    "mel_gradient": "explain_audio",
    "token_relevance": "explain_text",
    "attention_maps": "attention",
    "Bridge": "bridge",
    "fit_bridge": "bridge",
    "fit_best": "bridge",
    "load_bridge": "bridge",
    "save_bridge": "bridge",
    "FusionModel": "fusion",
    "compare_fusion_methods": "fusion",
    "load_fusion": "fusion",
    "save_fusion": "fusion",
    "train_fusion": "fusion",
    "RetrievalMetrics": "metrics",
    "bidirectional_retrieval": "metrics",
    "retrieval_metrics": "metrics",
    "zero_shot": "metrics",
    "build_prompts": "metrics",
    "Assignment": "matching",
    "ThresholdCurve": "matching",
    "assignment_accuracy": "matching",
    "threshold_curve": "matching",
    "Hubness": "gap",
    "hubness": "gap",
    "modality_gap": "gap",
    "remove_modality_gap": "gap",
    "TopK": "topk",
    "rank_of_first_true": "topk",
    "topk_similarity": "topk",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'alignment' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
