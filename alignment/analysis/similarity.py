"""Similarity between two sets of unit embeddings: cosine, the model's softmax probability, best matches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D) x (M, D) unit vectors -> (N, M) cosine similarity."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"cosine needs (N, D) and (M, D) arrays with the same D (got {a.shape} and {b.shape})")
    return (a @ b.T).astype(np.float32)


def softmax_over_rows(scores: np.ndarray, logit_scale: float) -> np.ndarray:
    """For each column, a distribution over the rows: p[i, j] = softmax_i(logit_scale * scores[i, j]).

    With texts as rows this is the model's zero-shot probability that caption i describes image
    (or clip) j among the captions given: CLIP's `logits_per_image.softmax(-1)`, transposed.
    """
    if scores.size == 0:
        return scores.astype(np.float32)
    logits = logit_scale * scores.astype(np.float64)
    logits -= logits.max(axis=0, keepdims=True)  # numerically stable softmax
    p = np.exp(logits)
    return (p / p.sum(axis=0, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Scores:
    """Texts x other-modality scores; rows are texts, columns images or clips."""

    rows: list[str]  # text ids
    cols: list[str]  # image or audio ids
    cosine: np.ndarray  # (T, M)
    probability: np.ndarray  # (T, M), each column sums to 1
    logit_scale: float

    @classmethod
    def between(
        cls, rows: list[str], row_emb: np.ndarray, cols: list[str], col_emb: np.ndarray, logit_scale: float
    ) -> Scores:
        cos = cosine(row_emb, col_emb)
        return cls(rows, cols, cos, softmax_over_rows(cos, logit_scale), logit_scale)


@dataclass(frozen=True)
class Match:
    """The best and second-best partner of one query item."""

    query: str
    query_modality: str
    target_modality: str
    best: str
    cosine: float
    probability: float | None  # the model's probability for text targets; None where it is not defined
    runner_up: str | None
    margin: float | None  # best cosine minus runner-up cosine: small margins are fragile matches


def best_matches(scores: Scores, row_modality: str, col_modality: str) -> list[Match]:
    """Best partner of every row (among columns) and every column (among rows)."""
    out: list[Match] = []
    for axis, queries, targets, qmod, tmod in (
        (1, scores.rows, scores.cols, row_modality, col_modality),
        (0, scores.cols, scores.rows, col_modality, row_modality),
    ):
        if not queries or not targets:
            continue
        cos = scores.cosine if axis == 1 else scores.cosine.T  # (Q, K)
        prob = None if axis == 1 else scores.probability.T
        order = np.argsort(-cos, axis=1, kind="stable")
        for q, query in enumerate(queries):
            best = int(order[q, 0])
            second = int(order[q, 1]) if len(targets) > 1 else None
            out.append(
                Match(
                    query=query,
                    query_modality=qmod,
                    target_modality=tmod,
                    best=targets[best],
                    cosine=float(cos[q, best]),
                    probability=float(prob[q, best]) if prob is not None else None,
                    runner_up=targets[second] if second is not None else None,
                    margin=float(cos[q, best] - cos[q, second]) if second is not None else None,
                )
            )
    return out
