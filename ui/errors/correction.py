"""The hubness correction's effect in the errors tab: R@1, MRR and hub skew before and after per direction, and the
queries it fixed and broke with the query and items in view (thumbnails, captions, players).

Every id, caption and note from a dataset is escaped; media are the session's own items, decoded small on demand.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from ui.widgets.hubness import METHODS

if TYPE_CHECKING:
    from alignment.analysis.evaluation import Change, Direction
    from ui.errors.session import Explorer

SHOWN = 8  # changes shown per direction and kind; metrics.json lists them all
THUMB = 96  # px
NAMES = {library: shown for shown, library in METHODS.items()}

CSS = """
.hub-fix .scroll { overflow-x: auto; max-width: 100%; }
.hub-fix table { border-collapse: collapse; font-size: 13px; margin: 6px 0 10px; }
.hub-fix td { white-space: nowrap; }
.hub-fix th, .hub-fix td { border-bottom: 1px solid var(--border-color-primary); padding: 3px 8px; text-align: right; }
.hub-fix th:first-child, .hub-fix td:first-child { text-align: left; }
.hub-fix .better { color: #15803d; font-weight: 600; } .hub-fix .worse { color: #b91c1c; font-weight: 600; }
.hub-fix .change { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 8px; margin: 6px 0;
  padding: 6px; border: 1px solid var(--border-color-primary); border-radius: 8px; }
.hub-fix .cell { font-size: 12px; overflow-wrap: anywhere; min-width: 0; }
.hub-fix .cell b { display: block; font-size: 11px; color: var(--body-text-color-subdued); font-weight: 600; }
.hub-fix .cell img { max-width: 100%; max-height: 96px; border-radius: 4px; display: block; }
.hub-fix .cell audio { width: 100%; }
.hub-fix .wrong { outline: 2px solid #fca5a5; border-radius: 4px; }
.hub-fix .right { outline: 2px solid #86efac; border-radius: 4px; }
@media (max-width: 640px) {
  .hub-fix .change { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .hub-fix table { font-size: 12px; } .hub-fix th, .hub-fix td { padding: 3px 4px; }
}
"""


def correction_html(explorer: Explorer) -> str:
    """The whole section; an empty string when the evaluation ran without a correction."""
    evaluation = explorer.evaluation
    asked = evaluation.hubness_correction
    if asked is None:
        return ""
    method = NAMES.get(str(asked.get("method")), str(asked.get("method")))
    parts = [
        f"<style>{CSS}</style>",
        '<div class="hub-fix">',
        f"<h3>Hubness correction: {_e(method)}</h3>",
        "<p><i>What this means:</i> every query's list was ranked again after re-scoring each item by how close it "
        "sits to all the other queries, so items near everything (hubs) stop taking the top place. Below: the "
        "numbers before → after, and the queries whose top match it turned from wrong to right (fixed) or from "
        "right to wrong (created).</p>",
        _table(explorer),
    ]
    for d in evaluation.directions.values():
        if d.corrected is None:
            continue
        for kind, changes in (("fixed", d.corrected.fixed), ("created", d.corrected.created)):
            if not changes:
                continue
            more = f" (the first {SHOWN}; metrics.json lists all)" if len(changes) > SHOWN else ""
            parts.append(
                f"<details{' open' if kind == 'fixed' else ''}><summary>{_e(d.name)}: {len(changes):,} "
                f"error{'s' if len(changes) != 1 else ''} {kind}{more}</summary>"
            )
            parts += [_change(explorer, d, c, kind) for c in changes[:SHOWN]]
            parts.append("</details>")
    parts.append("</div>")
    return "\n".join(parts)


def _table(explorer: Explorer) -> str:
    head = ["direction", "R@1", "MRR", "hub skew", "fixed", "created"]
    rows = []
    for d in explorer.evaluation.directions.values():
        c = d.corrected
        if c is None:
            note = d.corrected_note or "not corrected"
            rows.append(f'<tr><td>{_e(d.name)}</td><td colspan="5" style="text-align:left">{_e(note)}</td></tr>')
            continue
        cells = [
            _delta(d.metrics.r1, c.metrics.r1, higher_is_better=True),
            _delta(d.metrics.mrr, c.metrics.mrr, higher_is_better=True),
            _delta(d.hubness.skewness, c.hubness.skewness, higher_is_better=False, floor=0.0),
            f"{len(c.fixed):,}",
            f"{len(c.created):,}",
        ]
        rows.append(f"<tr><td>{_e(d.name)}</td>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    return f'<div class="scroll"><table><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _delta(before: float, after: float, *, higher_is_better: bool, floor: float | None = None) -> str:
    """ "before → after", the after coloured when it moved the good (green) or bad (red) way. With `floor`, values
    below it count as the floor (a skew of -1.8 or 0 both mean no hubs: neither is better)."""
    if before != before or after != after:  # NaN: e.g. the skew of a constant count
        return f"{before:.3f} → {after:.3f}"
    a, b = (before, after) if floor is None else (max(before, floor), max(after, floor))
    better = (b > a) == higher_is_better and abs(b - a) >= 5e-4
    worse = (b < a) == higher_is_better and abs(b - a) >= 5e-4
    tone = ' class="better"' if better else ' class="worse"' if worse else ""
    return f"{before:.3f} → <span{tone}>{after:.3f}</span>"


def _change(explorer: Explorer, d: Direction, c: Change, kind: str) -> str:
    data = explorer.evaluation.spaces[d.space]
    cells = [
        _cell(explorer, "query", data.modality[c.query_row], data.ids[c.query_row], ""),
        _cell(explorer, f"truth (rank {c.rank_before} → {c.rank_after})", d.gallery_modality, c.truth, ""),
        _cell(explorer, "top before", d.gallery_modality, c.top_before, "wrong" if kind == "fixed" else "right"),
        _cell(explorer, "top after", d.gallery_modality, c.top_after, "right" if kind == "fixed" else "wrong"),
    ]
    return f'<div class="change">{"".join(cells)}</div>'


def _cell(explorer: Explorer, role: str, modality: str, item_id: str, tone: str) -> str:
    from alignment.views.previews import preview

    shown = preview(explorer.media(modality, item_id), px=THUMB, audio=True)
    cls = f' class="{tone}"' if tone else ""
    if shown.image:
        body = f'<img{cls} src="{shown.image}" alt="{_e(item_id)}">'
    elif shown.audio:
        body = f'<audio controls preload="none" src="{shown.audio}"></audio>'
    elif shown.text:
        body = f"<span{cls}>“{_e(shown.text)}”</span>"
    else:
        body = ""
    return f'<div class="cell"><b>{_e(role)}</b>{body}<div>{_e(item_id)}</div></div>'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
