"""Evaluate a paired dataset in one or more embedding spaces: metrics for every modality pair and direction,
modality gap, hubness, thresholds, one-to-one assignment, zero-shot accuracy, and the list of errors.

Pure: embeddings in (`Embedded`, one per space), numbers out. Embedding the dataset is `embed.embed_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..inputs.embeddings import Embedded, TextEmbedder
from ..inputs.items import MODALITIES, Modality
from .gap import modality_gap, remove_modality_gap
from .hubness import Hubness, hubness_from_indices
from .matching import MAX_ASSIGNMENT, Assignment, ThresholdCurve, assignment_accuracy, threshold_curve
from .metrics import RetrievalMetrics, ZeroShot, metrics_from_ranks, zero_shot
from .prompts import TEMPLATES, build_prompts
from .topk import Ranks, rank_of_first_true

K = 10  # top-k kept per query: R@10, mAP@10 and hubness all read it


@dataclass(frozen=True, eq=False)
class Direction:
    """Retrieval from one modality to another inside one space (e.g. text->image in CLIP space)."""

    name: str  # "text->image"
    pair: str  # the PairSummary it belongs to, "text-image"
    space: str
    query_modality: Modality
    gallery_modality: Modality
    query_rows: np.ndarray  # (Nq,) row indices into the space's Embedded
    gallery_rows: np.ndarray  # (Ng,)
    ranks: Ranks
    metrics: RetrievalMetrics
    metrics_without_gap: RetrievalMetrics | None  # after per-modality centering (gap.remove_modality_gap);
    # None when centering is impossible (a modality with one item, or all its items identical): see the notes
    hubness: Hubness  # of gallery items in the queries' top-K
    assignment: Assignment | None
    assignment_note: str | None  # why assignment was skipped


@dataclass(frozen=True, eq=False)
class PairSummary:
    """Direction-free numbers of one modality pair: the gap between the two and the threshold curve."""

    name: str  # "text-image"
    space: str
    gap: float  # distance between the two modality centroids of the unit embeddings
    threshold: ThresholdCurve


@dataclass(frozen=True)
class ErrorRow:
    """One query whose top match is not a true match."""

    direction: str
    space: str
    query: str  # query id
    query_modality: Modality
    truth: str  # the best-ranked true match
    truth_score: float
    top: str  # the wrong item ranked first
    top_score: float
    rank: int  # rank of the truth (1-based)
    margin: float  # top_score - truth_score: how far the truth lost by
    query_row: int  # row in the space's Embedded, for neighbours and previews
    truth_row: int
    top_row: int


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Everything `evaluate` measured; `to_json` is the metrics.json the CLI writes."""

    spaces: dict[str, Embedded]
    directions: dict[str, Direction]
    pairs: dict[str, PairSummary]
    zero_shot: dict[str, ZeroShot]  # keyed "image", "audio" (the labelled modality)
    errors: list[ErrorRow]
    notes: list[str] = field(default_factory=list)  # what could not be computed, and why

    def to_json(self) -> dict:
        """metrics.json: one object per direction, then modality_gap, hubness, threshold, assignment, zero_shot."""
        out: dict = {
            name: {**d.metrics.to_json(), "n_skipped": d.metrics.n_skipped, "space": d.space}
            for name, d in self.directions.items()
        }
        out["modality_gap"] = {
            p.name: {
                "space": p.space,
                "gap": p.gap,
                "after_removal": {
                    d.name: (d.metrics_without_gap.to_json() if d.metrics_without_gap else None)
                    for d in self.directions.values()
                    if d.pair == p.name
                },
            }
            for p in self.pairs.values()
        }
        out["hubness"] = {name: d.hubness.to_json() for name, d in self.directions.items()}
        out["threshold"] = {name: _threshold_json(p.threshold) for name, p in self.pairs.items()}
        out["assignment_accuracy"] = {
            name: (d.assignment.accuracy if d.assignment else None) for name, d in self.directions.items()
        }
        if self.zero_shot:
            out["zero_shot"] = {
                m: {
                    "accuracy": z.accuracy,
                    "classes": list(z.classes),
                    "confusion": z.confusion.tolist(),
                    "n_items": z.n_items,
                }
                for m, z in self.zero_shot.items()
            }
        out["n_errors"] = len(self.errors)
        out["notes"] = self.notes
        return out

    def row(self, space: str, index: int) -> tuple[str, Modality, str, str | None]:
        """(id, modality, pair, label) of one row of a space."""
        data = self.spaces[space]
        return data.ids[index], data.modality[index], data.pair[index], data.label[index]


def _threshold_json(curve: ThresholdCurve) -> dict:
    summary = curve.to_json()
    return {
        "best_threshold": summary["best_threshold"],
        "precision": summary["best_precision"],
        "recall": summary["best_recall"],
        "F1": summary["best_f1"],
        "exact": summary["exact"],
        "n_pairs": summary["n_pairs"],
        "n_positive": summary["n_positive"],
    }


# ---------------------------------------------------------------------------- evaluation


Progress = Callable[[float, str], None]


def evaluate(
    spaces: Mapping[str, Embedded],
    *,
    embed_text: Mapping[str, TextEmbedder] | None = None,
    templates: Mapping[str, Sequence[str]] = TEMPLATES,
    max_assignment: int = MAX_ASSIGNMENT,
    chunk: int | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Measure every modality pair with true pairs in every space, both directions.

    `embed_text[space]` embeds zero-shot prompts in that space; without it (precomputed embeddings from an
    unknown model) zero-shot is skipped with a note. Labels are read from the non-text items.
    """
    report = progress or (lambda fraction, message: None)
    directions: dict[str, Direction] = {}
    pairs: dict[str, PairSummary] = {}
    notes: list[str] = []
    plan = [(space, a, b) for space, data in spaces.items() for (a, b) in data.true_pairs()]
    if not plan:
        raise ValueError(
            "no modality pair shares a pair key in any space: nothing to evaluate "
            f"(spaces: {', '.join(f'{s}: {sorted(set(d.modality))}' for s, d in spaces.items())})"
        )
    for step, (space, a, b) in enumerate(plan):
        report(step / len(plan), f"Scoring {a}<->{b} in {space} space")
        data = spaces[space]
        rows = {m: data.rows(m) for m in (a, b)}
        emb = {m: data.embeddings[rows[m]] for m in (a, b)}  # (N_m, D)
        keys = {m: np.asarray(data.pair, dtype=object)[rows[m]] for m in (a, b)}
        pair_name = _unique(f"{a}-{b}", pairs, space)
        try:
            centred: dict[Modality, np.ndarray] | None = dict(
                zip((a, b), remove_modality_gap(emb[a], emb[b]), strict=True)
            )
        except ValueError as exc:  # one item in a modality (e.g. one clip with five captions), or identical rows
            centred = None
            notes.append(f"{pair_name}: metrics without the modality gap skipped ({exc})")
        pairs[pair_name] = PairSummary(
            pair_name,
            space,
            modality_gap(emb[a], emb[b]),
            threshold_curve(emb[a], emb[b], keys[a], keys[b], chunk=chunk),
        )
        for q, g in ((a, b), (b, a)):
            ranks = rank_of_first_true(emb[q], emb[g], keys[q], keys[g], k=K, chunk=chunk)
            if not ranks.has_true.any():
                continue
            without_gap = (
                metrics_from_ranks(rank_of_first_true(centred[q], centred[g], keys[q], keys[g], k=K, chunk=chunk))
                if centred is not None
                else None
            )
            assignment, why = _assignment(emb[q], emb[g], keys[q], keys[g], max_assignment)
            name = _unique(f"{q}->{g}", directions, space)
            directions[name] = Direction(
                name,
                pair_name,
                space,
                q,
                g,
                rows[q],
                rows[g],
                ranks,
                metrics_from_ranks(ranks),
                without_gap,
                hubness_from_indices(ranks.top_indices, len(rows[g])),
                assignment,
                why,
            )
            if why:
                notes.append(f"{name}: {why}")
    report(0.9, "Zero-shot classification")
    shots = _zero_shot(spaces, embed_text or {}, templates, notes)
    errors = [e for d in directions.values() for e in _errors(d, spaces[d.space])]
    report(1.0, "Done")
    return Evaluation(dict(spaces), directions, pairs, shots, errors, notes)


def _unique(name: str, taken: Mapping[str, object], space: str) -> str:
    """The plain name, or 'space:name' when another space already has it."""
    return name if name not in taken else f"{space}:{name}"


def _assignment(
    q: np.ndarray, g: np.ndarray, q_keys: np.ndarray, g_keys: np.ndarray, max_size: int
) -> tuple[Assignment | None, str | None]:
    if max(len(q), len(g)) > max_size:
        return None, (
            f"one-to-one assignment skipped: {len(q)} x {len(g)} items is over the limit of "
            f"{max_size} per side (the Hungarian algorithm is cubic)"
        )
    return assignment_accuracy(q, g, q_keys, g_keys, max_size=max_size), None


def _errors(direction: Direction, data: Embedded) -> list[ErrorRow]:
    """Every evaluated query whose best true match is not ranked first."""
    ranks = direction.ranks
    wrong = np.flatnonzero(ranks.has_true & (ranks.rank > 1))
    q_rows, g_rows = direction.query_rows, direction.gallery_rows
    out = []
    for i in wrong.tolist():
        truth, top = int(g_rows[ranks.best_true[i]]), int(g_rows[ranks.top_indices[i, 0]])
        truth_score, top_score = float(ranks.best_true_score[i]), float(ranks.top_scores[i, 0])
        out.append(
            ErrorRow(
                direction.name,
                direction.space,
                data.ids[q_rows[i]],
                direction.query_modality,
                data.ids[truth],
                truth_score,
                data.ids[top],
                top_score,
                int(ranks.rank[i]),
                top_score - truth_score,
                int(q_rows[i]),
                truth,
                top,
            )
        )
    return out


def _zero_shot(
    spaces: Mapping[str, Embedded],
    embed_text: Mapping[str, TextEmbedder],
    templates: Mapping[str, Sequence[str]],
    notes: list[str],
) -> dict[str, ZeroShot]:
    out: dict[str, ZeroShot] = {}
    for space, data in spaces.items():
        for modality in MODALITIES:
            if modality == "text" or modality in out:
                continue
            rows = data.rows(modality)
            labels = [data.label[i] for i in rows.tolist()]
            classes = sorted({label for label in labels if label})
            if not classes:
                continue
            if len(classes) < 2:
                notes.append(f"zero-shot {modality}: only one class ({classes[0]!r}); at least two are needed")
                continue
            if space not in embed_text:
                notes.append(
                    f"zero-shot {modality}: skipped, no text encoder for the {space} space "
                    "(precomputed embeddings carry no prompt embeddings)"
                )
                continue
            chosen = list(templates.get(modality, ("{}",)))
            prompts = embed_text[space](build_prompts(classes, chosen))  # (C * T, D) class-major
            grouped = prompts.reshape(len(classes), len(chosen), -1)  # (C, T, D)
            out[modality] = zero_shot(data.embeddings[rows], labels, classes, grouped)
    return out


# ---------------------------------------------------------------------------- drill-down


def neighbours(evaluation: Evaluation, error: ErrorRow, *, k: int = 5) -> list[tuple[str, float, bool]]:
    """The query's k nearest gallery items in its direction: (id, cosine, is a true match), best first."""
    direction = evaluation.directions[error.direction]
    data = evaluation.spaces[direction.space]
    position = int(np.flatnonzero(direction.query_rows == error.query_row)[0])
    ranks = direction.ranks
    top = ranks.top_indices[position, :k].tolist()
    return [
        (data.ids[direction.gallery_rows[j]], float(s), bool(t))
        for j, s, t in zip(
            top, ranks.top_scores[position, :k].tolist(), ranks.top_is_true[position, :k].tolist(), strict=True
        )
    ]
