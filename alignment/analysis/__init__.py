"""Analysis: similarity, top-k, retrieval metrics, thresholds and matching, modality gap, hubness, evaluation."""
