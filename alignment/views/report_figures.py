"""Pure figure builders for an evaluation: metrics, ranks, thresholds, gap, hubness, zero-shot, errors -> plotly.

Shared by the static report (`alignment.views.report`) and the app's error explorer. Every figure is built from
summaries (binned counts, 101-point curves, at most `max_classes` classes, at most `limit` errors), so its
size does not grow with the number of items: a 100k-item evaluation gives figures as small as a 10-item one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.evaluate import ErrorRow, Evaluation
from ..analysis.hubness import Hubness
from ..analysis.metrics import RetrievalMetrics, ZeroShot
from ..analysis.thresholds import ThresholdCurve
from .figures import empty_figure

RECALL_KEYS = ("R@1", "R@5", "R@10", "MRR", "mAP@10")
ANNOTATE_MAX_CLASSES = 20  # write counts in confusion cells up to 20 x 20
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_MARGIN = dict(l=50, r=20, t=60, b=50)


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


# ---------------------------------------------------------------------------- retrieval


def recall_bars(
    metrics: Mapping[str, RetrievalMetrics], *, title: str = "Retrieval quality per direction"
) -> go.Figure:
    """Grouped bars of R@1, R@5, R@10, MRR and mAP@10 for each direction (name -> metrics)."""
    if not metrics:
        return empty_figure("No direction was evaluated")
    fig = go.Figure()
    for i, (name, m) in enumerate(metrics.items()):
        values = [m.to_json()[key] for key in RECALL_KEYS]
        fig.add_trace(
            go.Bar(
                x=list(RECALL_KEYS),
                y=values,
                name=f"{name} (n={m.n_queries})",
                marker_color=_color(i),
                text=[f"{v:.2f}" for v in values],
                textposition="outside",
                hovertemplate=name + "<br>%{x} = %{y:.4f}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        barmode="group",
        height=380,
        margin=_MARGIN,
        yaxis=dict(range=[0, 1.1], title="score"),
        legend=dict(orientation="h", y=-0.15),
    )
    return fig


def rank_bins(max_rank: int) -> np.ndarray:
    """Left edges of the rank bins up to `max_rank`: 1..10 one by one, then 11-20, 21-50, 51-100, 101-200 ..."""
    edges = list(range(1, 12))
    step = 0
    while edges[-1] <= max_rank:
        decade = 10 ** (1 + step // 3)
        edges.append((2, 5, 10)[step % 3] * decade + 1)
        step += 1
    return np.asarray(edges, dtype=np.int64)  # the last edge is the exclusive end of the last bin


def _bin_label(lo: int, hi: int) -> str:
    return str(lo) if hi == lo + 1 else f"{lo}–{hi - 1}"


def rank_histogram(ranks: Mapping[str, np.ndarray], *, title: str = "Rank of the first true match") -> go.Figure:
    """Share of queries per rank bin (1..10 exact, then widening bins), one bar series per direction.

    ranks: direction -> (n,) 1-based ranks of the queries that have a true match.
    """
    ranks = {name: np.asarray(r, dtype=np.int64) for name, r in ranks.items() if len(r)}
    if not ranks:
        return empty_figure("No query has a true match")
    edges = rank_bins(int(max(r.max() for r in ranks.values())))
    labels = [_bin_label(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    fig = go.Figure()
    for i, (name, r) in enumerate(ranks.items()):
        counts, _ = np.histogram(r, bins=edges)  # bins [e_i, e_{i+1}), the last one closed (ranks are below it)
        fig.add_trace(
            go.Bar(
                x=labels,
                y=counts / len(r),
                name=f"{name} (n={len(r)})",
                marker_color=_color(i),
                customdata=counts,
                hovertemplate=name + "<br>rank %{x}: %{customdata} queries (%{y:.1%})<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        barmode="group",
        height=380,
        margin=_MARGIN,
        xaxis=dict(title="rank", type="category"),
        yaxis=dict(title="share of queries", tickformat=".0%"),
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


# ---------------------------------------------------------------------------- thresholds and the gap


def threshold_figure(curves: Mapping[str, ThresholdCurve], *, title: str = "Match iff cosine ≥ threshold") -> go.Figure:
    """Precision, recall and F1 against the cosine threshold, one panel per modality pair; best F1 marked."""
    if not curves:
        return empty_figure("No threshold curve")
    names = list(curves)
    fig = make_subplots(
        rows=1,
        cols=len(names),
        subplot_titles=[
            f"{n}: best F1 {c.best_f1:.3f} at {c.best_threshold:.3f}" + ("" if c.exact else " (sampled pairs)")
            for n, c in curves.items()
        ],
    )
    for col, name in enumerate(names, start=1):
        curve = curves[name]
        for key, values, color in (
            ("precision", curve.precision, "#1f77b4"),
            ("recall", curve.recall, "#ff7f0e"),
            ("F1", curve.f1, "#2ca02c"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=curve.thresholds,
                    y=values,
                    mode="lines",
                    name=key,
                    legendgroup=key,
                    showlegend=col == 1,
                    line=dict(color=color),
                    hovertemplate=f"{name}<br>threshold %{{x:.3f}}<br>{key} = %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.add_vline(x=curve.best_threshold, line=dict(dash="dash", color="grey"), row=1, col=col)
        fig.update_xaxes(title_text="cosine threshold", row=1, col=col)
    fig.update_yaxes(range=[0, 1.05])
    fig.update_layout(title=title, height=380, margin=_MARGIN, legend=dict(orientation="h", y=-0.2))
    return fig


def gap_figure(
    gaps: Mapping[str, float],
    before: Mapping[str, RetrievalMetrics],
    after: Mapping[str, RetrievalMetrics | None],
    *,
    title: str = "Modality gap",
) -> go.Figure:
    """Left: the centroid distance of each modality pair. Right: R@1 and MRR per direction as is and with the gap
    removed (each modality centred on its own mean); `after[name]` None = removal was impossible (see notes)."""
    if not gaps:
        return empty_figure("No modality pair")
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.3, 0.7],
        subplot_titles=["centroid distance", "retrieval before / after removing the gap"],
    )
    fig.add_trace(
        go.Bar(
            x=list(gaps),
            y=list(gaps.values()),
            marker_color="#7f7f7f",
            showlegend=False,
            text=[f"{g:.3f}" for g in gaps.values()],
            textposition="outside",
            hovertemplate="%{x}: gap %{y:.4f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    names = list(before)
    series = (
        ("R@1", "as is", before, "#1f77b4", None),
        ("R@1", "gap removed", after, "#1f77b4", "/"),
        ("MRR", "as is", before, "#2ca02c", None),
        ("MRR", "gap removed", after, "#2ca02c", "/"),
    )
    for key, which, source, color, pattern in series:
        values = [source[n].to_json()[key] if source.get(n) is not None else None for n in names]  # type: ignore[union-attr]
        fig.add_trace(
            go.Bar(
                x=names,
                y=values,
                name=f"{key} {which}",
                marker=dict(color=color, pattern_shape=pattern),
                opacity=1.0 if which == "as is" else 0.6,
                hovertemplate=f"%{{x}}<br>{key} {which} = %{{y:.4f}}<extra></extra>",
            ),
            row=1,
            col=2,
        )
    top = max([*gaps.values(), 0.1])
    fig.update_yaxes(range=[0, top * 1.2], title_text="distance", row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], title_text="score", row=1, col=2)
    fig.update_layout(title=title, barmode="group", height=380, margin=_MARGIN, legend=dict(orientation="h", y=-0.2))
    return fig


# ---------------------------------------------------------------------------- hubness


def occurrence_bins(max_count: int, *, max_bins: int = 40) -> np.ndarray:
    """Integer bin edges for k-occurrence counts 0..max_count: one per value, or about `max_bins` wider ones."""
    width = max(1, int(np.ceil((max_count + 1) / max_bins)))
    return np.arange(0, max_count + width + 1, width, dtype=np.int64)


def hubness_figure(
    hubness: Mapping[str, Hubness], *, title: str = "Hubness: k-occurrence of gallery items"
) -> go.Figure:
    """How many gallery items appear in N_k queries' top-k lists (log count axis), one series per direction.

    A long right tail = hubs (items that are everybody's neighbour); a tall bar at 0 = anti-hubs (never retrieved).
    """
    if not hubness:
        return empty_figure("No hubness to show")
    edges = occurrence_bins(int(max(int(h.k_occurrence.max(initial=0)) for h in hubness.values())))
    labels = [_bin_label(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    fig = go.Figure()
    tallest = 1
    for i, (name, h) in enumerate(hubness.items()):
        counts, _ = np.histogram(h.k_occurrence, bins=edges)
        tallest = max(tallest, int(counts.max(initial=1)))
        fig.add_trace(
            go.Bar(
                x=labels,
                y=counts,
                name=f"{name} (k={h.k}, skew {h.skewness:.2f}, {h.n_antihubs} anti-hubs)",
                marker_color=_color(i),
                hovertemplate=name + "<br>N_k %{x}: %{y} gallery items<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        barmode="group",
        height=380,
        margin=_MARGIN,
        xaxis=dict(title="N_k (times in a query's top k)", type="category"),
        yaxis=dict(title="gallery items", type="log", range=[-0.1, np.log10(tallest) + 0.15]),
        legend=dict(orientation="h", y=-0.2),
    )  # the range starts below 1 so bars of one item show
    return fig


# ---------------------------------------------------------------------------- zero-shot


def confusion_figure(shot: ZeroShot, *, title: str = "Zero-shot confusion", max_classes: int = 40) -> go.Figure:
    """Rows = true class, columns = predicted class, cells = item counts; past `max_classes`, the most frequent."""
    confusion = np.asarray(shot.confusion)
    classes = list(shot.classes)
    note = ""
    if len(classes) > max_classes:
        keep = np.sort(np.argsort(-confusion.sum(axis=1), kind="stable")[:max_classes])
        confusion = confusion[np.ix_(keep, keep)]  # (m, m) the most frequent true classes
        classes = [classes[i] for i in keep.tolist()]
        note = f" ({max_classes} most frequent of {len(shot.classes)} classes)"
    annotate = len(classes) <= ANNOTATE_MAX_CLASSES
    fig = go.Figure(
        go.Heatmap(
            z=confusion,
            x=classes,
            y=classes,
            colorscale="Blues",
            colorbar=dict(title="items"),
            texttemplate="%{z}" if annotate else None,
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} items<extra></extra>",
        )
    )
    height = int(min(900, max(360, 120 + 26 * len(classes))))
    fig.update_layout(
        title=f"{title}: accuracy {shot.accuracy:.3f} over {shot.n_items} items{note}",
        height=height,
        margin=dict(l=10, r=10, t=60, b=10),
        xaxis=dict(title="predicted", type="category", tickangle=-30),
        yaxis=dict(title="true", type="category", autorange="reversed"),
    )
    return fig


# ---------------------------------------------------------------------------- errors


def worst_errors(errors: Sequence[ErrorRow], limit: int | None = None) -> list[ErrorRow]:
    """Errors by how far the truth lost (margin, largest first), then by rank; at most `limit`."""
    ordered = sorted(errors, key=lambda e: (-e.margin, -e.rank, e.direction, e.query))
    return ordered if limit is None else ordered[:limit]


def error_scatter(
    errors: Sequence[ErrorRow],
    *,
    limit: int = 2_000,
    title: str = "Errors: rank of the truth against the margin it lost by",
) -> go.Figure:
    """One point per error (the `limit` worst by margin): x = rank of the true match (log), y = margin."""
    if not errors:
        return empty_figure("No alignment errors: every query's top match is a true match")
    shown = worst_errors(errors, limit)
    fig = go.Figure()
    for i, name in enumerate(dict.fromkeys(e.direction for e in shown)):
        rows = [e for e in shown if e.direction == name]
        fig.add_trace(
            go.Scatter(
                x=[e.rank for e in rows],
                y=[e.margin for e in rows],
                mode="markers",
                name=name,
                marker=dict(color=_color(i), size=7, opacity=0.7),
                customdata=[[e.query, e.truth, e.top] for e in rows],
                hovertemplate="query %{customdata[0]}<br>truth %{customdata[1]} (rank %{x})<br>"
                "top %{customdata[2]}<br>margin %{y:.4f}<extra></extra>",
            )
        )
    more = f" ({limit} worst of {len(errors)})" if len(errors) > limit else ""
    fig.update_layout(
        title=title + more,
        height=380,
        margin=_MARGIN,
        legend=dict(orientation="h", y=-0.2),
        xaxis=dict(title="rank of the true match", type="log"),
        yaxis=dict(title="margin (cosine)"),
    )
    return fig


# ---------------------------------------------------------------------------- all of them


def evaluation_figures(evaluation: Evaluation) -> dict[str, go.Figure]:
    """Every figure of an evaluation, keyed by section title, in report order (zero-shot only when present)."""
    directions = evaluation.directions
    figures = {
        "Retrieval": recall_bars({n: d.metrics for n, d in directions.items()}),
        "Ranks": rank_histogram({n: d.ranks.rank[d.ranks.has_true] for n, d in directions.items()}),
        "Thresholds": threshold_figure({n: p.threshold for n, p in evaluation.pairs.items()}),
        "Modality gap": gap_figure(
            {n: p.gap for n, p in evaluation.pairs.items()},
            {n: d.metrics for n, d in directions.items()},
            {n: d.metrics_without_gap for n, d in directions.items()},
        ),
        "Hubness": hubness_figure({n: d.hubness for n, d in directions.items()}),
    }
    for modality, shot in evaluation.zero_shot.items():
        figures[f"Zero-shot {modality}"] = confusion_figure(shot, title=f"Zero-shot {modality} classification")
    figures["Errors"] = error_scatter(evaluation.errors)
    return figures
