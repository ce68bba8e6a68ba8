"""Evaluate a paired dataset in one or more embedding spaces: metrics for every modality pair and direction,
modality gap, hubness (and its correction), thresholds, one-to-one assignment, zero-shot accuracy, the errors.

Pure: embeddings in (`Embedded`, one per space), numbers out; each modality pair is one blockwise pass
(`pair_eval`). Embedding the dataset is `embed.embed_dataset`. The result types live in `evaluation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..inputs.embeddings import Embedded, TextEmbedder
from ..inputs.items import MODALITIES
from .blockwise import Backend
from .evaluation import Change, Corrected, Direction, ErrorRow, Evaluation, PairSummary
from .hubness_correction import HubnessOption, Settings
from .matching import MAX_ASSIGNMENT
from .metrics import ZeroShot, zero_shot
from .pair_eval import QueryBank, measure_pair
from .prompts import TEMPLATES, build_prompts

K = 10  # top-k kept per query: R@10, mAP@10, hubness and the sparse assignment's graph all read it

__all__ = [
    "Change",
    "Corrected",
    "Direction",
    "ErrorRow",
    "Evaluation",
    "PairSummary",
    "QueryBank",
    "evaluate",
    "neighbours",
]


# ---------------------------------------------------------------------------- evaluation


Progress = Callable[[float, str], None]


def evaluate(
    spaces: Mapping[str, Embedded],
    *,
    embed_text: Mapping[str, TextEmbedder] | None = None,
    templates: Mapping[str, Sequence[str]] = TEMPLATES,
    max_assignment: int = MAX_ASSIGNMENT,
    hubness: HubnessOption = "none",
    hubness_k: int = 10,
    hubness_beta: float = 20.0,
    query_bank: QueryBank | None = None,
    backend: Backend = "auto",
    chunk: int | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Measure every modality pair with true pairs in every space, both directions, one pass per pair.

    `embed_text[space]` embeds zero-shot prompts in that space; without it (precomputed embeddings from an
    unknown model) zero-shot is skipped with a note. Labels are read from the non-text items.
    `hubness` ("csls", "isf", "qbnorm"; see `hubness_correction`) also ranks every direction after that
    correction (`Direction.corrected`): CSLS with `hubness_k` neighbours, the (dynamic) inverted softmax with
    inverse temperature `hubness_beta`; qbnorm normalises over `query_bank[space][query modality]`, and a
    direction without a bank is skipped with a note. `backend`: "auto" runs the pass through torch on CUDA
    when one is present, else numba on the CPU.
    """
    report = progress or (lambda fraction, message: None)
    correction = None
    if hubness != "none":
        correction = Settings(hubness, k=hubness_k, beta=hubness_beta)  # type: ignore[arg-type]
        if correction.k > K:
            raise ValueError(f"hubness_k must be at most {K} inside evaluate (got {hubness_k})")
    if max_assignment < 0:
        raise ValueError(f"max_assignment must be at least 0 (got {max_assignment})")
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

        def pair_progress(fraction: float, message: str, step: int = step) -> None:
            report(0.9 * (step + fraction) / len(plan), message)

        pair_progress(0.0, f"Scoring {a}<->{b} in {space} space")
        result = measure_pair(
            spaces[space],
            space,
            a,
            b,
            pair_name=_unique(f"{a}-{b}", pairs, space),
            direction_names=(_unique(f"{a}->{b}", directions, space), _unique(f"{b}->{a}", directions, space)),
            k=K,
            max_assignment=max_assignment,
            correction=correction,
            query_bank=query_bank,
            backend=backend,
            chunk=chunk,
            progress=pair_progress,
        )
        pairs[result.summary.name] = result.summary
        directions.update((d.name, d) for d in result.directions)
        notes.extend(result.notes)
    report(0.9, "Zero-shot classification")
    shots = _zero_shot(spaces, embed_text or {}, templates, notes)
    errors = [e for d in directions.values() for e in _errors(d, spaces[d.space])]
    report(1.0, "Done")
    described = None
    if correction is not None:
        banks = {s: {m: len(v) for m, v in by.items()} for s, by in (query_bank or {}).items()}
        described = {**correction.to_json(), "query_bank": banks or None}
    return Evaluation(dict(spaces), directions, pairs, shots, errors, notes, described)


def _unique(name: str, taken: Mapping[str, object], space: str) -> str:
    """The plain name, or 'space:name' when another space already has it."""
    return name if name not in taken else f"{space}:{name}"


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
