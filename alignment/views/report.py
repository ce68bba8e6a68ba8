"""A static, self-contained HTML report of an evaluation: tables plus the figures of `report_figures`.

plotly.js is embedded once (in the first figure); the file opens offline in any browser. Every string that
comes from the dataset (ids, captions, file names, problems) is HTML-escaped here (`core.hygiene.escape_html`),
and plotly writes the figure JSON with < > / as \\u escapes, so no string can close its <script>.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go

from ..analysis.evaluate import ErrorRow, Evaluation
from ..core.hygiene import escape_html
from .report_figures import evaluation_figures, worst_errors

MAX_ERRORS = 100  # rows in the report's error table (errors.csv has them all)
METRIC_COLUMNS = ("R@1", "R@5", "R@10", "MRR", "mAP@10", "median_rank", "mean_rank", "n_queries")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.meta { color: #555; margin-top: 0; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: 0.5rem 0.8rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td:first-child { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
ul.notes li { margin: 0.15rem 0; }
"""


def _e(value: object) -> str:
    return escape_html(value)


def _num(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1_000 else f"{value:,.1f}"
    return _e(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, numeric: Sequence[bool] | None = None) -> str:
    numeric = numeric or [False] * len(headers)
    head = "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr></thead>" if any(headers) else ""
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_num(v)}</td>' if is_num else f"<td>{_e(v)}</td>"
            for v, is_num in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _figure_html(fig: go.Figure, *, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False, "responsive": True})


# ---------------------------------------------------------------------------- sections


def metrics_table(evaluation: Evaluation) -> str:
    """One row per direction: the retrieval metrics, skipped queries, assignment accuracy and hubness skew."""
    headers = ["direction", "space", *METRIC_COLUMNS, "n_skipped", "assignment", "hubness skew"]
    rows = []
    for name, d in evaluation.directions.items():
        values = d.metrics.to_json()
        rows.append(
            [
                name,
                d.space,
                *(values[c] for c in METRIC_COLUMNS),
                d.metrics.n_skipped,
                d.assignment.accuracy if d.assignment else None,
                d.hubness.skewness,
            ]
        )
    return _table(headers, rows, numeric=[False, False, *([True] * (len(headers) - 2))])


def pairs_table(evaluation: Evaluation) -> str:
    """One row per modality pair: the gap, R@1 after removing it, and the best-F1 threshold.

    With a bin width, the thresholds tried are bin edges: no threshold at all reaches an F1 above the bound.
    """
    headers = [
        "pair",
        "space",
        "gap",
        "best threshold",
        "precision",
        "recall",
        "F1",
        "F1 bound",
        "bin width",
        "pairs scored",
        "exact",
    ]
    rows = []
    for name, p in evaluation.pairs.items():
        c = p.threshold
        rows.append(
            [
                name,
                p.space,
                p.gap,
                c.best_threshold,
                c.best_precision,
                c.best_recall,
                c.best_f1,
                c.best_f1_bound,
                c.resolution or None,
                c.n_scored,
                c.exact,
            ]
        )
    return _table(headers, rows, numeric=[False, False, *([True] * 9)])


def correction_table(evaluation: Evaluation) -> str:
    """Per direction, R@1, MRR and hub skew before and after the hubness correction, and what it changed."""
    headers = ["direction", "correction", "R@1", "R@1 after", "MRR", "MRR after", "hub skew", "hub skew after"]
    headers += ["errors fixed", "errors created"]
    rows = []
    for name, d in evaluation.directions.items():
        c = d.corrected
        if c is None:
            rows.append([name, d.corrected_note or "–", d.metrics.r1, None, d.metrics.mrr, None, d.hubness.skewness])
            rows[-1] += [None, None, None]
            continue
        rows.append(
            [name, c.method, d.metrics.r1, c.metrics.r1, d.metrics.mrr, c.metrics.mrr, d.hubness.skewness]
            + [c.hubness.skewness, len(c.fixed), len(c.created)]
        )
    return _table(headers, rows, numeric=[False, False, *([True] * 8)])


def changes_table(evaluation: Evaluation, *, limit: int = MAX_ERRORS) -> str:
    """The queries the correction fixed and broke (the first `limit` of each kind; metrics.json has them all)."""
    headers = ["direction", "change", "query", "truth", "top before", "top after", "rank before", "rank after"]
    rows = []
    for d in evaluation.directions.values():
        if d.corrected is None:
            continue
        for kind, changes in (("fixed", d.corrected.fixed), ("created", d.corrected.created)):
            rows += [
                [d.name, kind, c.query, c.truth, c.top_before, c.top_after, c.rank_before, c.rank_after]
                for c in changes[:limit]
            ]
    return _table(headers, rows, numeric=[*([False] * 6), True, True])


def gap_table(evaluation: Evaluation) -> str:
    """R@1 / MRR before and after removing the modality gap, per direction."""
    headers = ["direction", "R@1", "R@1 without gap", "MRR", "MRR without gap"]
    rows = []
    for name, d in evaluation.directions.items():
        after = d.metrics_without_gap
        rows.append([name, d.metrics.r1, after.r1 if after else None, d.metrics.mrr, after.mrr if after else None])
    return _table(headers, rows, numeric=[False, True, True, True, True])


def errors_table(errors: Sequence[ErrorRow], *, limit: int = MAX_ERRORS) -> str:
    """The `limit` worst errors (largest margin first)."""
    headers = ["direction", "space", "query", "truth", "truth score", "top", "top score", "rank", "margin"]
    rows = [
        [e.direction, e.space, e.query, e.truth, e.truth_score, e.top, e.top_score, e.rank, e.margin]
        for e in worst_errors(errors, limit)
    ]
    return _table(headers, rows, numeric=[False, False, False, False, True, False, True, True, True])


def _list(items: Sequence[str]) -> str:
    return '<ul class="notes">' + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def _flat(value: object) -> str:
    """A nested block as one line: {'clip': {'items': 18}} -> 'clip (items 18)'."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} ({_flat(v)})" if isinstance(v, Mapping) else f"{k}: {v}" for k, v in value.items())
    return str(value)


def _info(block: Mapping[str, object]) -> str:
    return _table(["", ""], [[key, _flat(value)] for key, value in block.items() if key != "notes"])


# ---------------------------------------------------------------------------- the page


def render_report(
    evaluation: Evaluation,
    *,
    title: str = "Alignment report",
    dataset: Mapping[str, object] | None = None,
    models: Mapping[str, object] | None = None,
    problems: Sequence[str] = (),
    max_errors: int = MAX_ERRORS,
) -> str:
    """The whole report as one HTML string (plotly.js inline once, so about 5 MB whatever the dataset size)."""
    figures = evaluation_figures(evaluation)
    plot = {key: _figure_html(fig, first=i == 0) for i, (key, fig) in enumerate(figures.items())}
    parts = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Generated {_e(_dt.datetime.now().isoformat(timespec="seconds"))} by '
        "<code>python -m alignment evaluate</code></p>",
    ]
    if models and models.get("random_weights"):
        parts.append(
            '<p class="warn">The models have <b>random weights</b> (tiny preset): the numbers test the '
            "pipeline and mean nothing about alignment.</p>"
        )
    if dataset:
        parts += ["<h2>Dataset</h2>", _info(dataset)]
    if models:
        parts += ["<h2>Models</h2>", _info(models)]
    notes = [*evaluation.notes, *(dataset.get("notes", []) if dataset else [])]  # type: ignore[misc]
    if notes:
        parts += ["<h2>Notes</h2>", _list(notes)]
    if problems:
        parts += [f"<h2>Skipped inputs ({len(problems)})</h2>", _list(problems)]
    n_errors = len(evaluation.errors)
    parts += [
        "<h2>Retrieval metrics</h2>",
        metrics_table(evaluation),
        plot["Retrieval"],
        plot["Ranks"],
        "<h2>Thresholds and modality gap</h2>",
        pairs_table(evaluation),
        plot["Thresholds"],
        gap_table(evaluation),
        plot["Modality gap"],
        "<h2>Hubness</h2>",
        plot["Hubness"],
    ]
    if evaluation.hubness_correction is not None:
        method = evaluation.hubness_correction.get("method", "")
        parts += [
            f"<h2>Hubness correction: {_e(method)}</h2>",
            "<p>Every direction ranked again after the correction; the queries whose top match it turned from "
            f"wrong to right (fixed) or right to wrong (created), the first {max_errors} of each per direction "
            "(<code>metrics.json</code> has them all).</p>",
            correction_table(evaluation),
            changes_table(evaluation, limit=max_errors),
        ]
    for modality, shot in evaluation.zero_shot.items():
        parts += [
            f"<h2>Zero-shot {_e(modality)}</h2>",
            f"<p>{shot.n_items} items, {len(shot.classes)} classes, accuracy {shot.accuracy:.4f}"
            f"{f', {shot.n_skipped} items without a known label' if shot.n_skipped else ''}.</p>",
            plot[f"Zero-shot {modality}"],
        ]
    shown = min(n_errors, max_errors)
    parts += [
        f"<h2>Errors ({n_errors:,})</h2>",
        f"<p>Queries whose top match is not a true match; the {shown} with the largest margin (how far the "
        "true match lost by) are listed, all of them are in <code>errors.csv</code>.</p>",
        plot["Errors"],
        errors_table(evaluation.errors, limit=max_errors) if n_errors else "",
    ]
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(path: str | os.PathLike[str], evaluation: Evaluation, **options: object) -> Path:
    """Render the report and write it (temp name, then rename, so a reader never sees half a file)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(render_report(evaluation, **options), encoding="utf-8")  # type: ignore[arg-type]
    os.replace(partial, path)
    return path
