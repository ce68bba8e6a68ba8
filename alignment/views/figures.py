"""Pure figure builders: arrays in, plotly figures out (no I/O, no model calls)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MODALITY_COLORS = {"text": "#1f77b4", "image": "#ff7f0e", "audio": "#2ca02c"}
MODALITY_SYMBOLS = {"text": "circle", "image": "square", "audio": "diamond"}
ANNOTATE_MAX_CELLS = 400  # write the value in each cell up to 20 x 20


def plain(label: str) -> str:
    """`label` as plotly text, not markup: plotly renders tags such as <b> or <s> (RoBERTa's start token) itself."""
    return escape(label, quote=False)


def _short(label: str, n: int = 28) -> str:
    return plain(label if len(label) <= n else label[: n - 1] + "…")


def empty_figure(message: str, *, height: int = 320) -> go.Figure:
    """A placeholder that says why there is nothing to draw."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14))
    fig.update_layout(
        height=height, xaxis=dict(visible=False), yaxis=dict(visible=False), margin=dict(l=20, r=20, t=40, b=20)
    )
    return fig


def heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    title: str,
    value_name: str = "cosine",
    zmin: float | None = None,
    zmax: float | None = None,
) -> go.Figure:
    """Rows x columns score heatmap, the best row per column outlined, values written in small matrices."""
    if matrix.size == 0:
        return empty_figure(f"{title}: nothing to compare (add items of both kinds)")
    matrix = np.asarray(matrix, dtype=np.float32)
    y = [_short(r, 40) for r in rows]
    x = [_short(c) for c in cols]
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=x,
            y=y,
            zmin=zmin,
            zmax=zmax,
            colorscale="Viridis",
            colorbar=dict(title=value_name),
            customdata=np.array([[[plain(r), plain(c)] for c in cols] for r in rows], dtype=object),
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>" + value_name + " = %{z:.3f}<extra></extra>",
            texttemplate="%{z:.2f}" if matrix.size <= ANNOTATE_MAX_CELLS else None,
        )
    )
    best = matrix.argmax(axis=0)  # best text for each column
    for j, i in enumerate(best):
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(color="white", width=3))
    height = int(min(900, max(320, 90 + 28 * len(rows))))
    fig.update_layout(
        title=title,
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        yaxis=dict(autorange="reversed", type="category"),
        xaxis=dict(type="category", tickangle=-30),
    )
    return fig


def _label_room(coords: object) -> tuple[list[float] | None, list[float] | None]:
    """Axis ranges with room for the text labels drawn beside the outermost points (None: let plotly decide)."""
    xy = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if not len(xy):
        return None, None
    low, high = xy.min(axis=0), xy.max(axis=0)
    pad = np.maximum((high - low) * 0.15, 1e-3)
    return [low[0] - pad[0], high[0] + pad[0]], [low[1] - pad[1], high[1] + 2 * pad[1]]


def pair_projection(
    coords: np.ndarray,
    labels: Sequence[str],
    modalities: Sequence[str],
    pairs: Sequence[str],
    *,
    highlight: dict[str, int] | None = None,
    title: str = "Embedding space",
) -> go.Figure:
    """Scatter of one space: colour = modality, grey lines join true pairs, `highlight` rings named points.

    highlight: {"query": i, "truth": j, "top wrong": k} indices into `coords` (N, 2).
    """
    coords = np.asarray(coords, dtype=np.float32)
    fig = go.Figure()
    by_pair: dict[str, list[int]] = {}
    for i, key in enumerate(pairs):
        by_pair.setdefault(key, []).append(i)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for members in by_pair.values():  # join every member to each member of another modality, once
        for n, a in enumerate(members):
            for b in members[n + 1 :]:
                if modalities[a] != modalities[b]:
                    xs += [float(coords[a, 0]), float(coords[b, 0]), None]
                    ys += [float(coords[a, 1]), float(coords[b, 1]), None]
    if xs:
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color="rgba(120,120,120,0.35)", width=1),
                name="true pairs",
                hoverinfo="skip",
            )
        )
    for modality, color in MODALITY_COLORS.items():
        index = [i for i, m in enumerate(modalities) if m == modality]
        if index:
            fig.add_trace(
                go.Scattergl(
                    x=coords[index, 0],
                    y=coords[index, 1],
                    mode="markers",
                    name=modality,
                    hovertext=[f"{modality}: {plain(labels[i])}" for i in index],
                    hoverinfo="text",
                    marker=dict(size=8, color=color, symbol=MODALITY_SYMBOLS[modality], opacity=0.75),
                )
            )
    styles = {"query": ("star", "#d62728"), "truth": ("circle-open", "#2ca02c"), "top wrong": ("x", "#d62728")}
    for role, i in (highlight or {}).items():
        symbol, color = styles.get(role, ("circle-open", "black"))
        fig.add_trace(
            go.Scatter(
                x=[coords[i, 0]],
                y=[coords[i, 1]],
                mode="markers+text",
                name=role,
                text=[f"{role}: {_short(labels[i], 24)}"],
                textposition="top center",
                hovertext=[plain(labels[i])],
                hoverinfo="text",
                marker=dict(size=18, symbol=symbol, color=color, line=dict(width=3, color=color)),
            )
        )
    fig.update_layout(
        title=title, height=480, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.05)
    )
    x_range, y_range = _label_room(coords)
    fig.update_xaxes(showticklabels=False, zeroline=False, range=x_range)
    fig.update_yaxes(showticklabels=False, zeroline=False, range=y_range)
    return fig


def token_bars(
    pairs: Sequence[tuple[str, float]], *, title: str = "Which words drive the score", value_name: str = "relevance"
) -> go.Figure:
    """Per-token values as bars in text order (relevance: negative = the word pulls the score down)."""
    if not pairs:
        return empty_figure(f"{title}: no tokens")
    raw, values = zip(*pairs, strict=True)
    tokens = [plain(t) for t in raw]
    labels = [f"{i}:{t}" for i, t in enumerate(tokens)]  # unique x values even when a word repeats
    colors = ["#2ca02c" if v >= 0 else "#d62728" for v in values]
    fig = go.Figure(go.Bar(x=labels, y=list(values), marker_color=colors, hovertext=list(tokens), hoverinfo="text+y"))
    top = 50 + 18 * title.count("<br>")  # room for each extra title line
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=top, b=10), yaxis=dict(title=value_name))
    fig.update_xaxes(tickvals=labels, ticktext=list(tokens), tickangle=-30)
    return fig


def faithfulness_figure(curves: dict, *, units: str) -> go.Figure:
    """Deletion and insertion curves (explained order vs random order, ±1 std) from FaithfulnessCurve.to_json()."""
    fig = make_subplots(
        rows=1,
        cols=len(curves),
        subplot_titles=[
            f"{mode}<br>area {c['area']:+.3f}"
            + ("" if c["relative_area"] is None else f"<br>({c['relative_area']:+.1%})")
            for mode, c in curves.items()  # short lines: side by side on a phone, longer ones overprint
        ],
        horizontal_spacing=0.16,
    )
    for col, (mode, c) in enumerate(curves.items(), start=1):
        x = np.asarray(c["fractions"]) * 100
        random, std = np.asarray(c["random"]), np.asarray(c["random_std"])
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([x, x[::-1]]),
                y=np.concatenate([random + std, (random - std)[::-1]]),
                fill="toself",
                fillcolor="rgba(150,150,150,0.25)",
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=col == 1,
                name="random ±1 std",
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=random,
                mode="lines",
                line=dict(color="grey", dash="dash"),
                name="random order",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=c["explained"],
                mode="lines+markers",
                line=dict(color="#d62728"),
                name="most relevant first",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        done = "removed" if mode == "deletion" else "inserted"
        fig.update_xaxes(title_text=f"% of {units}<br>{done}", row=1, col=col)
    fig.update_yaxes(title_text="score (cosine)", row=1, col=1)
    # top: gradio lays the plot's label over its top left corner; the legend goes below the two-line x titles
    fig.update_layout(
        height=380, margin=dict(l=10, r=10, t=100, b=10), legend=dict(orientation="h", yanchor="top", y=-0.45)
    )
    return fig


def attention_heatmap(matrix: np.ndarray, labels: Sequence[str], *, title: str, pooled: int | None = None) -> go.Figure:
    """One (T, T) attention map: row i = what token i reads. The pooled token's row (the embedding's) is outlined."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(labels):
        raise ValueError(f"an attention map is (T, T) with T labels; got {matrix.shape} and {len(labels)} labels")
    ticks = [f"{i}:{_short(t, 16)}" for i, t in enumerate(labels)]  # unique even when a token repeats
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=ticks,
            y=ticks,
            zmin=0.0,
            colorscale="Viridis",
            colorbar=dict(title="weight"),
            hovertemplate="%{y} reads %{x}<br>weight = %{z:.3f}<extra></extra>",  # ticks are escaped by _short
        )
    )
    if pooled is not None:
        n = len(labels)
        fig.add_shape(
            type="rect", x0=-0.5, x1=n - 0.5, y0=pooled - 0.5, y1=pooled + 0.5, line=dict(color="red", width=2)
        )
    fig.update_layout(
        title=title,
        height=int(min(760, max(360, 120 + 14 * len(labels)))),
        margin=dict(l=10, r=10, t=50, b=10),
        yaxis=dict(autorange="reversed", type="category", title="query token (reads)"),
        xaxis=dict(type="category", tickangle=-45, title="key token (is read)"),
    )
    return fig
