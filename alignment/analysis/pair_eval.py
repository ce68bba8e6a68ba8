"""Everything about one modality pair in one space, from one blockwise pass (plus one more for a hubness correction).

The plain pass gives both directions' ranks and top-k, the metrics without the modality gap (a rank-one
correction of the same scores) and the threshold histogram; the assignment reads its top-k lists (or, up to
`max_assignment` per side, the score matrix it kept). A correction needs statistics of the whole plain pass,
so it is a second pass over the scores (no matrix product when the pair was small enough to keep them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..inputs.embeddings import Embedded
from ..inputs.items import Modality
from ..models.turns import checkpoint
from .blockwise import Backend, PairScan, scan_pair
from .evaluation import Change, Corrected, Direction, PairSummary
from .gap import gap_maps, modality_gap
from .hubness import hubness_from_indices
from .hubness_correction import Settings, maps, prepare
from .matching import MAX_PAIRS, Assignment, from_matching
from .metrics import metrics_from_ranks
from .pass_kernel import Affine
from .sparse_matching import match_knn
from .thresholds import ThresholdCurve, curve_from_histograms, curve_from_scores
from .topk import Ranks, check_pair, pair_codes

QueryBank = Mapping[str, Mapping[Modality, np.ndarray]]  # space -> query modality -> unit (Nb, D) embeddings


@dataclass(frozen=True, eq=False)
class PairResult:
    summary: PairSummary
    directions: list[Direction]  # x -> y first, then y -> x (a direction without any true match is left out)
    notes: list[str]


def measure_pair(
    data: Embedded,
    space: str,
    a: Modality,
    b: Modality,
    *,
    pair_name: str,
    direction_names: tuple[str, str],
    k: int,
    max_assignment: int,
    correction: Settings | None = None,
    query_bank: QueryBank | None = None,
    backend: Backend = "auto",
    chunk: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> PairResult:
    """Measure modality a (the rows) against b (the columns) in `space`, both directions."""
    report = progress or (lambda fraction, message: None)
    rows = {m: data.rows(m) for m in (a, b)}
    x, y = check_pair(data.embeddings[rows[a]], data.embeddings[rows[b]])
    keys = {m: [data.pair[i] for i in rows[m].tolist()] for m in (a, b)}
    xc, yc = pair_codes(keys[a], keys[b], len(x), len(y))
    notes: list[str] = []
    gap_fwd: Affine | None
    gap_bwd: Affine | None
    try:
        gap_fwd, gap_bwd = gap_maps(x, y)
    except ValueError as exc:  # one item in a modality (e.g. one clip with five captions), or identical rows
        gap_fwd = gap_bwd = None
        notes.append(f"{pair_name}: metrics without the modality gap skipped ({exc})")
    small = len(x) * len(y) <= MAX_PAIRS
    keep = max(len(x), len(y)) <= max_assignment or small
    isf = correction is not None and correction.method == "isf"
    scan = scan_pair(
        x,
        y,
        xc,
        yc,
        k=k,
        forward=gap_fwd,
        backward=gap_bwd,
        beta=correction.beta if isf and correction else None,
        keep_matrix=keep,
        backend=backend,
        chunk=chunk,
        progress=lambda f: report(0.8 * f if correction else f, f"Scoring {a}<->{b} in {space} space"),
    )
    checkpoint()  # between stages too: a stopped job or one past its time ends here, not at the end
    threshold = _threshold(scan, xc, yc, exact_sort=small)
    checkpoint()
    assigned, why = _assignment(scan, xc, yc, max_assignment, len(x), len(y))
    checkpoint()
    corrected: tuple[Ranks | None, Ranks | None] = (None, None)
    skipped: list[str | None] = [None, None]
    if correction is not None:
        report(0.8, f"Hubness correction ({correction.method}) {a}<->{b} in {space} space")
        corrected, skipped = _correct(scan, correction, x, y, xc, yc, (a, b), space, query_bank, backend, chunk)
    summary = PairSummary(pair_name, space, modality_gap(x, y), threshold, scan.backend)
    directions = []
    sides = (
        (a, b, rows[a], rows[b], scan.rows, scan.forward, corrected[0], skipped[0], assigned[0]),
        (b, a, rows[b], rows[a], scan.cols, scan.backward, corrected[1], skipped[1], assigned[1]),
    )
    for name, (q, g, q_rows, g_rows, ranks, no_gap, fixed_ranks, skip, assignment) in zip(
        direction_names, sides, strict=True
    ):
        assert ranks is not None
        if not ranks.has_true.any():
            continue
        d = Direction(
            name,
            pair_name,
            space,
            q,
            g,
            q_rows,
            g_rows,
            ranks,
            metrics_from_ranks(ranks),
            metrics_from_ranks(no_gap) if no_gap is not None else None,
            hubness_from_indices(ranks.top_indices, len(g_rows)),
            assignment,
            why,
            ranks_without_gap=no_gap,
            corrected_note=skip,
        )
        if fixed_ranks is not None and correction is not None:
            d = _with_correction(d, fixed_ranks, correction.method, data)
        directions.append(d)
        if why:
            notes.append(f"{name}: {why}")
        if skip:
            notes.append(f"{name}: {skip}")
    return PairResult(summary, directions, notes)


def _threshold(scan: PairScan, xc: np.ndarray, yc: np.ndarray, *, exact_sort: bool) -> ThresholdCurve:
    """Every distinct score a candidate when the pair is small (the kept matrix, sorted); else the histograms."""
    if exact_sort and scan.matrix is not None:
        labels = (xc[:, None] == yc[None, :]).ravel()  # (Nx * Ny,)
        return curve_from_scores(scan.matrix.ravel(), labels, int(labels.sum()))
    assert scan.negatives is not None
    return curve_from_histograms(scan.positives, scan.negatives)


def _assignment(
    scan: PairScan, xc: np.ndarray, yc: np.ndarray, max_size: int, nx: int, ny: int
) -> tuple[tuple[Assignment | None, Assignment | None], str | None]:
    """One matching for the pair, read both ways: Hungarian on the kept matrix, or the k-NN graph's beyond."""
    if scan.matrix is not None and max(nx, ny) <= max_size:
        r, c = linear_sum_assignment(scan.matrix, maximize=True)  # (Nx, Ny) -> min(Nx, Ny) pairs
        return (from_matching(r, c, xc, yc), from_matching(c, r, yc, xc)), None
    assert scan.rows is not None and scan.cols is not None
    try:
        m = match_knn(scan.rows.top_indices, scan.rows.top_scores, scan.cols.top_indices, scan.cols.top_scores)
    except ValueError as exc:
        return (
            (None, None),
            f"one-to-one assignment skipped: {nx} x {ny} items is over the Hungarian limit of {max_size} "
            f"per side, and {exc}",
        )
    info = {"method": "sparse", "certified": m.certified, "gap_bound": m.gap_bound, "n_edges": m.n_edges}
    why = None
    if not m.certified:
        why = (
            f"one-to-one assignment on the k-NN graph ({nx} x {ny} items, over the Hungarian limit of {max_size} "
            f"per side; {m.n_edges} pairs from both directions' top {scan.rows.top_indices.shape[1]}): optimal "
            f"on that graph, not proven optimal over all pairs (the best total could be up to {m.gap_bound:.4g} "
            f"higher than {m.total:.4g})"
        )
    forward = from_matching(m.rows, m.cols, xc, yc, **info)
    backward = from_matching(m.cols, m.rows, yc, xc, **info)
    return (forward, backward), why


def _correct(
    scan: PairScan,
    settings: Settings,
    x: np.ndarray,
    y: np.ndarray,
    xc: np.ndarray,
    yc: np.ndarray,
    modalities: tuple[Modality, Modality],
    space: str,
    query_bank: QueryBank | None,
    backend: Backend,
    chunk: int | None,
) -> tuple[tuple[Ranks | None, Ranks | None], list[str | None]]:
    """Both directions' ranks after the correction (a second pass), and why a direction has none."""
    banks: list = [None, None]
    skipped: list[str | None] = [None, None]
    if settings.method == "qbnorm":
        for side, (modality, gallery) in enumerate(((modalities[0], y), (modalities[1], x))):
            bank = (query_bank or {}).get(space, {}).get(modality)
            if bank is None:
                skipped[side] = (
                    f"qbnorm skipped: no query bank of {modality} embeddings in the {space} space "
                    f"(QB-Norm normalises each gallery item over queries of the query modality)"
                )
                continue
            banks[side] = prepare(
                "qbnorm", gallery, bank, beta=settings.beta, bank_k=settings.bank_k, backend=backend, chunk=chunk
            )
    forward, backward = maps(settings, scan, forward_bank=banks[0], backward_bank=banks[1])
    if forward is None and backward is None:
        return (None, None), skipped
    again = scan_pair(
        x, y, xc, yc, k=scan.rows.top_indices.shape[1] if scan.rows is not None else 10, plain=False,
        histogram=False, forward=forward, backward=backward, matrix=scan.matrix, backend=backend, chunk=chunk,
    )  # fmt: skip
    return (again.forward, again.backward), skipped


def _with_correction(d: Direction, after: Ranks, method: str, data: Embedded) -> Direction:
    """The direction with its corrected ranking, metrics, hubness, and the queries the correction fixed or broke."""
    before = d.ranks
    valid = before.has_true
    changes: dict[str, list[Change]] = {"fixed": [], "created": []}
    for kind, mask in (
        ("fixed", valid & (before.rank > 1) & (after.rank == 1)),
        ("created", valid & (before.rank == 1) & (after.rank > 1)),
    ):
        for i in np.flatnonzero(mask).tolist():
            q_row, truth = int(d.query_rows[i]), int(d.gallery_rows[before.best_true[i]])
            top_b, top_a = int(d.gallery_rows[before.top_indices[i, 0]]), int(d.gallery_rows[after.top_indices[i, 0]])
            changes[kind].append(
                Change(
                    d.name,
                    d.space,
                    data.ids[q_row],
                    data.ids[truth],
                    data.ids[top_b],
                    data.ids[top_a],
                    int(before.rank[i]),
                    int(after.rank[i]),
                    q_row,
                    truth,
                    top_b,
                    top_a,
                )  # fmt: skip
            )
    fixed = Corrected(
        method,
        after,
        metrics_from_ranks(after),
        hubness_from_indices(after.top_indices, len(d.gallery_rows)),
        changes["fixed"],
        changes["created"],
    )
    return replace(d, corrected=fixed)
