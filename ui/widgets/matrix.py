"""A similarity matrix drawn as a clickable HTML heatmap: one click on a cell sends that pair to the Explain tab.

`gr.Plot` has no click or select event in gradio 6, so the Compare tab's matrices are `gr.HTML` components whose
`js_on_load` turns a click on a cell into a `select` event with `{index: [row, col], value}`; Python receives it
as `gr.SelectData`. Each cell is a `<button>`, so the matrix also works from the keyboard (Tab, Enter), and
carries its row, column and score as data attributes, which is what the tests read back.
"""

from __future__ import annotations

from html import escape

import gradio as gr
import numpy as np
from plotly.colors import sample_colorscale

from ui.widgets.errors import refuse

COLORSCALE = "Viridis"  # the same scale as the plotly heatmaps elsewhere in the app
NUMBERS_MAX_CELLS = 400  # write the score in each cell up to 20 x 20; the tooltip always has it
ROW_LABEL_CHARS = 40
COL_LABEL_CHARS = 24

JS_ON_LOAD = """
// A matrix with many columns takes the whole row (the other matrix goes below it), so every column stays
// visible; where the screen is too narrow even so, the matrix scrolls sideways and says so.
const fit = () => {
  const shown = element.querySelector('.matrix[data-cols]');
  const block = element.closest('.block') || element.parentElement;
  if (!shown) return;
  if (block) block.style.minWidth = Number(shown.dataset.cols) > 16 ? '100%' : '';
  const scroller = shown.querySelector('.scroll');
  shown.classList.toggle('overflowing', !!scroller && scroller.scrollWidth > scroller.clientWidth + 1);
};
new MutationObserver(fit).observe(element, {childList: true, subtree: true});
new ResizeObserver(fit).observe(element);
fit();
element.addEventListener('click', (event) => {
  const cell = event.target.closest('button[data-row]');
  if (!cell || !element.contains(cell)) return;
  element.querySelectorAll('button.picked').forEach((b) => b.classList.remove('picked'));
  cell.classList.add('picked');
  trigger('select', {
    index: [Number(cell.dataset.row), Number(cell.dataset.col)],
    value: Number(cell.dataset.value),
    selected: true,
  });
});
"""

CSS = """
.matrix { max-width: 100%; }
.matrix h4 { margin: 2px 0 4px; }
.matrix .hint { font-size: 12px; opacity: 0.8; margin: 0 0 6px; }
.matrix .scroll { overflow-x: auto; max-width: 100%; overscroll-behavior-x: contain;
  /* scroll shadows: a shade at an edge only while more columns lie beyond it */
  background: linear-gradient(to right, var(--background-fill-primary, #fff) 30%, transparent),
    linear-gradient(to left, var(--background-fill-primary, #fff) 30%, transparent) 100% 0,
    radial-gradient(farthest-side at 0 50%, rgba(0,0,0,.25), transparent),
    radial-gradient(farthest-side at 100% 50%, rgba(0,0,0,.25), transparent) 100% 0;
  background-repeat: no-repeat; background-size: 24px 100%, 24px 100%, 12px 100%, 12px 100%;
  background-attachment: local, local, scroll, scroll; }
.matrix table { border: none !important; table-layout: fixed; border-collapse: separate; border-spacing: 1px;
  width: 100%;
  min-width: calc(var(--label) + var(--cols) * var(--cell-min));
  max-width: calc(var(--label) + var(--cols) * 80px); font-size: var(--font); }
.matrix col.label { width: var(--label); }
.matrix th, .matrix td { border: none; background: none; padding: 0; }
.matrix th { font-weight: 500; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.matrix th.row { text-align: right; padding-right: 6px; }
.matrix th.col { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; padding: 3px 0;
  height: var(--head); max-height: var(--head); vertical-align: bottom; }
.matrix button { display: block; width: 100%; height: var(--cell-h); min-height: 8px; padding: 0;
  border: 2px solid transparent; border-radius: 2px; cursor: pointer; font: inherit;
  font-variant-numeric: tabular-nums; overflow: hidden; }
.matrix button.best { border-color: #ffffff; box-shadow: 0 0 0 1px #333; }
.matrix button:hover, .matrix button:focus-visible { outline: 3px solid #f97316; outline-offset: 0; }
.matrix button.picked { outline: 3px solid #ef4444; }
.matrix .legend { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; margin-top: 6px; font-size: 12px; }
.matrix .legend .bar { width: 160px; max-width: 40vw; height: 10px; border-radius: 2px; }
.matrix .wide { display: none; font-size: 12px; margin: 0 0 4px; font-weight: 600; }
.matrix.overflowing .wide { display: block; }
@media (max-width: 720px) {  /* phones: narrower labels and cells, scores in the tooltip only */
  .matrix { --label: 32vw !important; --cell-min: 18px !important; }
  .matrix button { font-size: 0 !important; }
}
"""


def _short(label: str, n: int) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _colours(t: np.ndarray) -> list[str]:
    return sample_colorscale(COLORSCALE, np.clip(t, 0.0, 1.0).ravel().tolist())


def _ink(colour: str) -> str:
    """Black or white text, whichever reads better on `colour` ('rgb(r, g, b)')."""
    r, g, b = (float(v) for v in colour[colour.index("(") + 1 : -1].split(","))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def matrix_html(
    matrix: np.ndarray,
    rows: list[str],
    cols: list[str],
    *,
    title: str,
    value_name: str,
    bounds: tuple[float, float] | None = None,
    hint: str = "Click a cell to explain that pair.",
) -> str:
    """Rows x columns scores as an HTML table of coloured buttons, the best row of each column outlined.

    `bounds` fixes the colour range (e.g. (0, 1) for probabilities); by default it spans the matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (len(rows), len(cols)):
        raise ValueError(f"{title}: a {matrix.shape} matrix for {len(rows)} rows and {len(cols)} columns")
    if matrix.size == 0:
        return message_html(f"{title}: nothing to compare (add items of both kinds)")
    lo, hi = bounds if bounds is not None else (float(matrix.min()), float(matrix.max()))
    span = hi - lo if hi > lo else 1.0
    colours = np.array(_colours((matrix - lo) / span)).reshape(matrix.shape)
    best = matrix.argmax(axis=0)  # the best row (text) for each column (image or clip)
    numbers = matrix.size <= NUMBERS_MAX_CELLS and matrix.shape[1] <= 12  # a number needs a cell ~30 px wide

    rows_n, cols_n = matrix.shape
    cell_h = 26 if rows_n <= 20 else max(9, round(540 / rows_n))  # every row on screen up to the limits
    style = (
        f"--cols:{cols_n};--cell-min:{14 if cols_n > 12 else 34}px;--cell-h:{cell_h}px;"
        f"--font:{12 if cols_n <= 24 and rows_n <= 30 else 10}px;--head:{120 if cols_n <= 24 else 90}px;"
        f"--label:{min(260, max(90, 7 * max((len(r) for r in rows), default=0)))}px"
    )
    head = "".join(f'<th class="col" title="{escape(c)}">{escape(_short(c, COL_LABEL_CHARS))}</th>' for c in cols)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, col in enumerate(cols):
            value, colour = matrix[i, j], colours[i, j]
            tip = f"{row}\n× {col}\n{value_name} = {value:.3f}" + ("\n(best for this column)" if best[j] == i else "")
            cells.append(
                f'<td><button type="button" data-row="{i}" data-col="{j}" data-value="{value:.6f}"'
                f' class="{"best" if best[j] == i else ""}" title="{escape(tip)}"'
                f' aria-label="{escape(f"{row} × {col}: {value_name} {value:.3f}")}"'
                f' style="background:{colour};color:{_ink(colour)}">{f"{value:.2f}" if numbers else ""}</button></td>'
            )
        label = f'<th class="row" title="{escape(row)}">{escape(_short(row, ROW_LABEL_CHARS))}</th>'
        body.append(f"<tr>{label}{''.join(cells)}</tr>")
    gradient = ", ".join(_colours(np.linspace(0, 1, 9)))
    wide = f'<p class="wide">↔ {cols_n} columns: scroll sideways inside the matrix to see them all.</p>'
    return (
        f'<div class="matrix" data-cols="{cols_n}" style="{style}"><h4>{escape(title)}</h4>'
        f'<p class="hint">{escape(hint)}</p>{wide}'
        f'<div class="scroll"><table><colgroup><col class="label"><col span="{cols_n}"></colgroup>'
        f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        f'<div class="legend"><span>{value_name} {lo:.2f}</span>'
        f'<span class="bar" style="background:linear-gradient(to right, {gradient})"></span>'
        f"<span>{hi:.2f}</span><span>· outlined: the best text for each column</span></div></div>"
    )


def message_html(text: str) -> str:
    """A placeholder in the matrix's place that says what to do."""
    return f'<div class="matrix"><p class="hint">{escape(text)}</p></div>'


def matrix_component(label: str, *, elem_id: str, min_width: int | None = None, value: str | None = None) -> gr.HTML:
    """A gr.HTML that shows `matrix_html` and emits `select` with the clicked cell's (row, col)."""
    return gr.HTML(
        value if value is not None else message_html("Run a comparison to see the similarity matrix"),
        label=label,
        show_label=False,
        js_on_load=JS_ON_LOAD,
        css_template=CSS,
        elem_id=elem_id,
        min_width=min_width,
        padding=True,
    )


def picked_cell(evt: gr.SelectData, shape: tuple[int, int]) -> tuple[int, int]:
    """The (row, col) a select event names, checked against the matrix it came from."""
    index = evt.index
    if not isinstance(index, list | tuple) or len(index) != 2:
        raise refuse(f"A matrix click must name a (row, column) cell, not {index!r}.")
    row, col = int(index[0]), int(index[1])
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise refuse(f"Cell ({row}, {col}) is outside the {shape[0]} × {shape[1]} matrix: run the comparison again.")
    return row, col
