"""Read back what a clickable similarity matrix (ui/matrix_view.py) shows: its cells, labels and outlines."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import numpy as np


@dataclass
class ShownMatrix:
    values: np.ndarray  # (rows, cols) from the cells' data-value
    rows: list[str]  # full labels (the title attribute: the visible text may be shortened)
    cols: list[str]
    best: list[tuple[int, int]]  # outlined cells
    texts: list[str] = field(default_factory=list)  # what each cell displays, row-major
    hint: str = ""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[int, int], float] = {}
        self.rows: list[str] = []
        self.cols: list[str] = []
        self.best: list[tuple[int, int]] = []
        self.texts: list[str] = []
        self.hint = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "th" and a.get("class") == "row":
            self.rows.append(a["title"] or "")
        elif tag == "th" and a.get("class") == "col":
            self.cols.append(a["title"] or "")
        elif tag == "button" and "data-row" in a:
            cell = (int(a["data-row"] or 0), int(a["data-col"] or 0))
            self.cells[cell] = float(a["data-value"] or "nan")
            if "best" in (a.get("class") or "").split():
                self.best.append(cell)
            self._in, self._text = "button", ""
        elif tag == "p" and a.get("class") == "hint":
            self._in, self._text = "hint", ""

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._in == "button" and tag == "button":
            self.texts.append(self._text)
            self._in = None
        elif self._in == "hint" and tag == "p":
            self.hint = self._text
            self._in = None


def read_matrix(html: str) -> ShownMatrix:
    reader = _Reader()
    reader.feed(html)
    values = np.full((len(reader.rows), len(reader.cols)), np.nan)
    for (i, j), v in reader.cells.items():
        values[i, j] = v
    return ShownMatrix(values, reader.rows, reader.cols, reader.best, reader.texts, reader.hint)
