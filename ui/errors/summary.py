"""The top of the errors tab: what was evaluated, the headline numbers with one "what this means" line each (R@1,
MRR, modality gap, hubness), and the metrics table. Every name, id and note from a dataset is escaped."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from alignment.core.hygiene import escape_markdown as esc

if TYPE_CHECKING:
    from alignment.analysis.evaluate import Evaluation
    from ui.errors.session import Explorer

METRIC_COLUMNS = [
    "direction",
    "space",
    "queries",
    "R@1",
    "R@5",
    "R@10",
    "MRR",
    "median rank",
    "mean rank",
    "mAP@10",
    "1-to-1 accuracy",
    "R@1 without gap",
]
MAX_LISTED = 20  # notes and skipped rows listed; the rest are counted
SKEWED = 1.0  # hubness skewness from which a few gallery items start to dominate top-10 lists


def metrics_table(evaluation: Evaluation) -> pd.DataFrame:
    rows = []
    for name, d in evaluation.directions.items():
        m = d.metrics
        rows.append(
            [
                name,
                d.space,
                m.n_queries,
                m.r1,
                m.r5,
                m.r10,
                m.mrr,
                m.median_rank,
                m.mean_rank,
                m.map10,
                None if d.assignment is None else d.assignment.accuracy,
                d.metrics_without_gap.r1 if d.metrics_without_gap else None,
            ]
        )
    return pd.DataFrame(rows, columns=METRIC_COLUMNS).round(3)


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def summary_markdown(explorer: Explorer) -> str:
    """Headline, the four numbers in plain words, the threshold and zero-shot lines, then notes and skipped rows."""
    ev, info = explorer.evaluation, explorer.source.dataset
    items = ", ".join(f"{int(n):,} {esc(m)}" for m, n in info.get("items", {}).items())
    lines = [
        f"**{esc(explorer.name)}**: {items}; **{len(ev.errors):,}** errors over {len(ev.directions)} directions "
        f"(an error: a query whose true partner is not its top match)."
    ]
    if explorer.source.models.get("random_weights"):
        lines.append("\n> ⚠️ Random-weight models (tiny preset): these numbers only exercise the interface.\n")
    directions = sorted(ev.directions.values(), key=lambda d: d.metrics.r1)
    if directions:
        worst, best = directions[0], directions[-1]
        r1 = worst.metrics.r1
        lines.append(
            f"- **R@1** from {r1:.3f} ({esc(worst.name)}) to {best.metrics.r1:.3f} ({esc(best.name)}). "
            f"*What this means:* in {esc(worst.name)}, {_pct(r1)} of the queries get their true partner as the top "
            f"match; for the other {_pct(1 - r1)} a wrong item scores higher."
        )
        mrr = worst.metrics.mrr
        lines.append(
            f"- **MRR** {mrr:.3f} in {esc(worst.name)} (1 is perfect). *What this means:* the true partner sits on "
            f"average around rank {1 / mrr:.1f} of the ranked list (MRR is the mean of 1 / rank)."
            if mrr > 0
            else f"- **MRR** 0 in {esc(worst.name)}. *What this means:* no query found its partner in the list."
        )
    if ev.pairs:
        gaps = ", ".join(f"{p.gap:.3f} ({esc(p.name)}, {esc(p.space)} space)" for p in ev.pairs.values())
        deltas = [
            d.metrics_without_gap.r1 - d.metrics.r1 for d in ev.directions.values() if d.metrics_without_gap is not None
        ]
        change = (
            f" Without the gap R@1 moves by up to {max(deltas, key=abs):+.3f} (the table's last column)."
            if deltas
            else ""
        )
        lines.append(
            f"- **Modality gap** {gaps}; 0 = the two modalities' centres coincide, 2 = opposite. *What this means:* "
            "the modalities sit in separate regions of the space, so every cross-modal cosine is lower than a "
            f"same-modality one: read scores relative to each other, not against a fixed bar.{change}"
        )
    if ev.directions:
        hubby = max(ev.directions.values(), key=lambda d: d.hubness.skewness)
        h = hubby.hubness
        top = ""
        if len(h.hubs):
            hub_id = ev.row(hubby.space, int(hubby.gallery_rows[int(h.hubs[0])]))[0]
            top = f"; the top hub {esc(hub_id)} is in {int(h.hub_counts[0]):,} queries' top {h.k}"
        verdict = "a few items dominate" if h.skewness >= SKEWED else "no item dominates much"
        lines.append(
            f"- **Hubness** skewness {h.skewness:.2f} in {esc(hubby.name)}{top}. *What this means:* {verdict}: "
            "hubs are gallery items that turn up in many queries' top lists and steal matches "
            f"(a skewness above {SKEWED:g} is worth a look)."
        )
    also = [
        f"best threshold for {esc(p.name)} {p.threshold.best_threshold:.3f} (F1 {p.threshold.best_f1:.3f}, precision "
        f"{p.threshold.best_precision:.3f}, recall {p.threshold.best_recall:.3f}"
        f"{'' if p.threshold.exact else ', estimated from a sample'})"
        for p in ev.pairs.values()
    ]
    also += [
        f"zero-shot {esc(m)} accuracy {z.accuracy:.3f} ({z.n_items} labelled items, {len(z.classes)} classes)"
        for m, z in ev.zero_shot.items()
    ]
    if also:
        lines.append(f"- Also: {'; '.join(also)}.")
    notes = [*ev.notes, *info.get("notes", [])]
    lines += _listed("Notes", notes)
    lines += _listed("Skipped", explorer.source.problems)
    return "\n".join(lines)


def _listed(title: str, entries: list[str]) -> list[str]:
    if not entries:
        return []
    out = ["", f"**{title} ({len(entries)})**", *[f"- {esc(e)}" for e in entries[:MAX_LISTED]]]
    if len(entries) > MAX_LISTED:
        out.append(f"- … and {len(entries) - MAX_LISTED} more")
    return out
