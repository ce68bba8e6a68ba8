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

COLORSCALE = "Viridis"  # the same scale as the plotly heatmaps elsewhere in the app
NUMBERS_MAX_CELLS = 400  # write the score in each cell up to 20 x 20; the tooltip always has it
ROW_LABEL_CHARS = 40
COL_LABEL_CHARS = 24

JS_ON_LOAD = """
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
.matrix { overflow: auto; max-height: 760px; }
.matrix h4 { margin: 4px 0 6px; }
.matrix table { border-collapse: separate; border-spacing: 2px; font-size: 12px; }
.matrix th, .matrix td { border: none; background: none; }
.matrix th { font-weight: 500; white-space: nowrap; }
.matrix th.row { text-align: right; padding-right: 6px; max-width: 320px; overflow: hidden; text-overflow: ellipsis; }
.matrix th.col { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; padding: 4px 0;
  max-height: 160px; overflow: hidden; text-overflow: ellipsis; }
.matrix td { padding: 0; }
.matrix button { width: 100%; min-width: 34px; height: 30px; border: 2px solid transparent; border-radius: 3px;
  cursor: pointer; font: inherit; font-variant-numeric: tabular-nums; }
.matrix button.best { border-color: #ffffff; box-shadow: 0 0 0 1px #333; }
.matrix button:hover, .matrix button:focus-visible { outline: 3px solid #f97316; outline-offset: 0; }
.matrix button.picked { outline: 3px solid #ef4444; }
.matrix .legend { display: flex; align-items: center; gap: 8px; margin-top: 8px; font-size: 12px; }
.matrix .legend .bar { width: 200px; height: 10px; border-radius: 2px; }
.matrix .hint { font-size: 12px; opacity: 0.8; margin: 0 0 6px; }
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
    numbers = matrix.size <= NUMBERS_MAX_CELLS

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
    return (
        f'<div class="matrix"><h4>{escape(title)}</h4><p class="hint">{escape(hint)}</p>'
        f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<div class="legend"><span>{value_name} {lo:.2f}</span>'
        f'<span class="bar" style="background:linear-gradient(to right, {gradient})"></span>'
        f"<span>{hi:.2f}</span><span>· outlined: the best text for each column</span></div></div>"
    )


def message_html(text: str) -> str:
    """A placeholder in the matrix's place that says what to do."""
    return f'<div class="matrix"><p class="hint">{escape(text)}</p></div>'


def matrix_component(label: str, *, elem_id: str) -> gr.HTML:
    """A gr.HTML that shows `matrix_html` and emits `select` with the clicked cell's (row, col)."""
    return gr.HTML(
        message_html("Run a comparison to see the similarity matrix"),
        label=label,
        show_label=False,
        js_on_load=JS_ON_LOAD,
        css_template=CSS,
        elem_id=elem_id,
        padding=True,
    )


def picked_cell(evt: gr.SelectData, shape: tuple[int, int]) -> tuple[int, int]:
    """The (row, col) a select event names, checked against the matrix it came from."""
    index = evt.index
    if not isinstance(index, list | tuple) or len(index) != 2:
        raise gr.Error(f"A matrix click must name a (row, column) cell, not {index!r}.")
    row, col = int(index[0]), int(index[1])
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise gr.Error(f"Cell ({row}, {col}) is outside the {shape[0]} × {shape[1]} matrix: run the comparison again.")
    return row, col
