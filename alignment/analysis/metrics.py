"""Retrieval metrics over a paired dataset (R@K, MRR, ranks, mAP@10) and zero-shot classification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .topk import PairKeys, Ranks, as_unit_rows, rank_of_first_true, topk_similarity

MAP_K = 10  # the k of mAP@k, and the length of the top list kept per query


# ---------------------------------------------------------------------------- retrieval


@dataclass(frozen=True)
class RetrievalMetrics:
    """Retrieval quality of one direction (queries -> gallery), over queries that have a true match.

    Ranks are those of each query's best-ranked true match, with ties counted in the query's favour
    (rank = 1 + items scoring strictly higher; see `topk.Ranks`).
    """

    r1: float  # share of queries whose best true match is ranked 1st
    r5: float  # ... within the top 5
    r10: float  # ... within the top 10
    mrr: float  # mean of 1 / rank of the first true match
    median_rank: float
    mean_rank: float
    map10: float  # mean AP@10, normalised by min(10, number of true matches); see `average_precision_at`
    accuracy: float  # share of queries whose top-1 item is a true match: the same number as r1, by definition
    n_queries: int  # queries evaluated (with at least one true match in the gallery)
    n_skipped: int  # queries left out because no gallery item shares their pair key

    def to_json(self) -> dict[str, float | int]:
        """Plain numbers under the names shown in the app and the API."""
        return {
            "R@1": self.r1,
            "R@5": self.r5,
            "R@10": self.r10,
            "MRR": self.mrr,
            "median_rank": self.median_rank,
            "mean_rank": self.mean_rank,
            "mAP@10": self.map10,
            "accuracy": self.accuracy,
            "n_queries": self.n_queries,
        }


def average_precision_at(is_true: np.ndarray, n_true: np.ndarray, *, k: int = MAP_K) -> np.ndarray:
    """AP@k of each ranked list: (1 / min(k, n_true)) * sum_{i<=k} P@i * rel_i.

    is_true: (N, >=k) bool, the ranked list's relevance (only the first k columns are read); n_true: (N,)
    the number of true matches in the whole gallery. Dividing by min(k, n_true), not by the true matches
    found in the top k, makes a list that misses some of them score less than 1, and a perfect list 1 even
    when a query has more than k true matches. Rows with n_true == 0 get nan.
    """
    rel = np.asarray(is_true, dtype=bool)[:, :k].astype(np.float64)  # (N, k')
    if len(rel) != len(n_true):
        raise ValueError(f"is_true and n_true disagree on the number of queries (got {len(rel)} and {len(n_true)})")
    hits = np.cumsum(rel, axis=1)  # (N, k') true matches within the first i
    precision = hits / np.arange(1, rel.shape[1] + 1)  # (N, k') P@i
    denominator = np.minimum(k, np.asarray(n_true)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (precision * rel).sum(axis=1) / denominator, np.nan)


def metrics_from_ranks(ranks: Ranks) -> RetrievalMetrics:
    """Summarise per-query ranks (from `rank_of_first_true`) into R@K, MRR, rank statistics and mAP@10."""
    keep = ranks.has_true
    n, skipped = int(keep.sum()), int((~keep).sum())
    if n == 0:
        raise ValueError(
            f"no query has a true match in the gallery (0 of {len(keep)} queries; "
            "check that queries and gallery use the same pair keys)"
        )
    rank = ranks.rank[keep].astype(np.float64)  # (n,)
    ap = average_precision_at(ranks.top_is_true[keep], ranks.n_true[keep], k=MAP_K)
    r1 = float(np.mean(rank <= 1))
    return RetrievalMetrics(
        r1=r1,
        r5=float(np.mean(rank <= 5)),
        r10=float(np.mean(rank <= 10)),
        mrr=float(np.mean(1.0 / rank)),
        median_rank=float(np.median(rank)),
        mean_rank=float(np.mean(rank)),
        map10=float(np.mean(ap)),
        accuracy=r1,
        n_queries=n,
        n_skipped=skipped,
    )


def retrieval_metrics(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_pairs: PairKeys,
    gallery_pairs: PairKeys,
    *,
    chunk: int | None = None,
) -> RetrievalMetrics:
    """R@1/5/10, MRR, median/mean rank and mAP@10 of unit queries (Nq, D) against a unit gallery (Ng, D)."""
    return metrics_from_ranks(rank_of_first_true(queries, gallery, query_pairs, gallery_pairs, k=MAP_K, chunk=chunk))


def bidirectional_retrieval(
    a: np.ndarray,
    b: np.ndarray,
    a_pairs: PairKeys,
    b_pairs: PairKeys,
    *,
    names: tuple[str, str] = ("a", "b"),
    chunk: int | None = None,
) -> dict[str, RetrievalMetrics]:
    """Metrics both ways for one modality pair: {"text->image": ..., "image->text": ...} for names=("text", "image")."""
    first, second = names
    if first == second:
        raise ValueError(f"the two modalities need different names (got {names})")
    return {
        f"{first}->{second}": retrieval_metrics(a, b, a_pairs, b_pairs, chunk=chunk),
        f"{second}->{first}": retrieval_metrics(b, a, b_pairs, a_pairs, chunk=chunk),
    }


# ---------------------------------------------------------------------------- zero-shot classification


def class_embeddings(prompt_embeddings: np.ndarray, n_classes: int) -> np.ndarray:
    """(C * T, D) class-major prompt embeddings -> (C, D): each class's templates averaged, then renormalized."""
    emb = as_unit_rows(prompt_embeddings, "prompt embeddings")
    if n_classes < 1 or len(emb) % n_classes:
        raise ValueError(
            f"prompt embeddings must hold the same number of templates per class "
            f"(got {len(emb)} rows for {n_classes} classes)"
        )
    mean = emb.reshape(n_classes, len(emb) // n_classes, -1).mean(axis=1)  # (C, T, D) -> (C, D)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


@dataclass(frozen=True, eq=False)  # array fields: a generated == would be elementwise
class ZeroShot:
    """Zero-shot classification by nearest class prompt (cosine), over items whose label is a known class."""

    classes: tuple[str, ...]  # the class order of the confusion matrix
    accuracy: float
    confusion: np.ndarray  # (C, C) int64, rows = true class, columns = predicted class
    predicted: np.ndarray  # (N,) int64 predicted class index of every item (evaluated or not)
    n_items: int  # items evaluated
    n_skipped: int  # items whose label is missing or not among `classes`

    @property
    def per_class_recall(self) -> np.ndarray:
        """(C,) share of each class's items predicted as that class; nan for classes with no items."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / self.confusion.sum(axis=1)


def zero_shot(
    items: np.ndarray, labels: Sequence[str | None], classes: Sequence[str], class_prompts: np.ndarray
) -> ZeroShot:
    """Classify unit item embeddings (N, D) by cosine to class prompts: (C, D), or (C, T, D) with T templates.

    With several templates per class they are averaged and renormalized first. Ties go to the earlier class.
    """
    x = as_unit_rows(items, "items")
    prompts = np.asarray(class_prompts, dtype=np.float32)
    if prompts.ndim == 3:
        prompts = class_embeddings(prompts.reshape(-1, prompts.shape[-1]), prompts.shape[0])
    prompts = as_unit_rows(prompts, "class prompts")
    if len(prompts) != len(classes) or len(set(classes)) != len(classes):
        raise ValueError(
            f"need one prompt embedding per distinct class (got {len(prompts)} embeddings for classes {list(classes)})"
        )
    if prompts.shape[1] != x.shape[1]:
        raise ValueError(f"items and class prompts differ in dimension (got {x.shape} and {prompts.shape})")
    if len(labels) != len(x):
        raise ValueError(f"need one label per item (got {len(labels)} labels for {len(x)} items)")
    index = {name: i for i, name in enumerate(classes)}
    truth = np.array([index.get(label, -1) if label is not None else -1 for label in labels], dtype=np.int64)
    keep = truth >= 0
    if not keep.any():
        raise ValueError(
            f"no item has a label among the classes (labels {sorted({str(v) for v in labels})[:10]}, "
            f"classes {list(classes)})"
        )
    predicted = topk_similarity(x, prompts, 1).indices[:, 0]  # (N,) chunked; ties -> lower class index
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (truth[keep], predicted[keep]), 1)
    return ZeroShot(
        classes=tuple(classes),
        accuracy=float(np.mean(truth[keep] == predicted[keep])),
        confusion=confusion,
        predicted=predicted,
        n_items=int(keep.sum()),
        n_skipped=int((~keep).sum()),
    )
