"""Cross-Modal Alignment Explorer library: load inputs, embed them with CLIP and CLAP, and score how they align.

One package per stage of the pipeline, each layer importing only the layers below it (checked by import-linter,
see pyproject.toml): inputs -> models -> analysis -> explain | space -> views -> cli, with core and store at the
bottom. Names are imported on first use (PEP 562), so `import alignment.analysis.metrics` does not pay for
torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {  # name -> the module (under alignment) that defines it
    "EmbeddingCache": "models.cache",
    "Comparison": "analysis.comparison",
    "compare": "analysis.compare",
    "Limits": "inputs.limits",
    "Settings": "models.settings",
    "parse_settings": "models.settings",
    "settings_for": "models.settings",
    "Item": "inputs.items",
    "Loaded": "inputs.items",
    "load_files": "inputs.files",
    "load_texts": "inputs.text",
    "Dataset": "inputs.manifest",
    "DatasetLimits": "inputs.limits",
    "Record": "inputs.manifest",
    "load_dataset": "inputs.dataset",
    "load_items": "inputs.dataset",
    "read_manifest": "inputs.manifest",
    "EmbedStats": "models.cache",
    "embed_items": "models.embed",
    "ClapEncoder": "models.encoders",
    "ClipEncoder": "models.encoders",
    "Encoders": "models.encoders",
    "load_encoder": "models.factory",
    "load_encoders": "models.factory",
    "InputError": "core.errors",
    "BudgetError": "core.errors",
    "EmbeddingLimits": "inputs.limits",
    "ModelUnavailableError": "core.errors",
    "Embedded": "inputs.embeddings",
    "from_arrays": "inputs.embeddings",
    "load_embeddings": "inputs.embeddings",
    "save_npz": "inputs.embeddings",
    "Projection": "views.projection",
    "project": "views.projection",
    "Match": "analysis.similarity",
    "Scores": "analysis.similarity",
    "best_matches": "analysis.similarity",
    "TagStore": "store.tags",
    "TagDatabase": "store.tags",
    "Decoder": "inputs.decoder",
    "Named": "inputs.items",
    "load_file": "inputs.files",
    "load_text_file": "inputs.text",
    "public_deployment": "core.deployment",
    "default_data_dir": "core.deployment",
    "escape_html": "core.hygiene",
    "escape_markdown": "core.hygiene",
    "csv_text": "core.hygiene",
    "maskclip": "explain.image",
    "rollout": "explain.image",
    "overlay": "explain.maps",
    "window_similarity": "explain.audio",
    "mel_gradient": "explain.audio",
    "token_relevance": "explain.text",
    "attention_maps": "explain.attention",
    "Bridge": "space.bridge",
    "fit_bridge": "space.bridge",
    "fit_best": "space.bridge",
    "load_bridge": "space.bridge",
    "save_bridge": "space.bridge",
    "FusionModel": "space.fusion",
    "compare_fusion_methods": "space.fusion_training",
    "load_fusion": "space.fusion",
    "save_fusion": "space.fusion",
    "train_fusion": "space.fusion_training",
    "RetrievalMetrics": "analysis.metrics",
    "bidirectional_retrieval": "analysis.metrics",
    "retrieval_metrics": "analysis.metrics",
    "zero_shot": "analysis.metrics",
    "build_prompts": "analysis.prompts",
    "Assignment": "analysis.matching",
    "ThresholdCurve": "analysis.thresholds",
    "assignment_accuracy": "analysis.matching",
    "threshold_curve": "analysis.matching",
    "Hubness": "analysis.hubness",
    "hubness": "analysis.hubness",
    "modality_gap": "analysis.gap",
    "remove_modality_gap": "analysis.gap",
    "TopK": "analysis.topk",
    "rank_of_first_true": "analysis.topk",
    "topk_similarity": "analysis.topk",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'alignment' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
