"""Output hygiene: CSV cells a spreadsheet will not run as formulas, and strangers' strings escaped for HTML and
Markdown (ids, captions, file names and notes come from uploads and must render as text, never as markup)."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP: what makes a spreadsheet read a cell as a formula
_SURROGATE = re.compile("[\ud800-\udfff]")
_MARKDOWN_PUNCTUATION = frozenset("!\"#$%'()*+,-./:;=?@[\\]^_`{|}~")  # CommonMark's escapable ASCII punctuation
_MARKDOWN_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}  # entities, not backslashes: '\&' would break them


def _formula_like(text: str) -> bool:
    """True when a spreadsheet would evaluate `text`, or when it is a quote followed by such text."""
    body = text.lstrip("'")
    return bool(body) and body[0] in FORMULA_STARTS


def csv_cell(value: object) -> object:
    """A CSV cell that spreadsheets show as text: strings that begin with = + - @ tab or CR get a leading single
    quote (OWASP's advice), as do strings of quotes followed by one, so `csv_uncell` restores every string
    exactly. Numbers and None are left alone (a negative score stays a number)."""
    if not isinstance(value, str):
        return value
    text = _SURROGATE.sub("\ufffd", value)
    return "'" + text if _formula_like(text) else text


def csv_uncell(text: str) -> str:
    """Undo `csv_cell` on a cell read back from an exported CSV (tag import)."""
    return text[1:] if text.startswith("'") and _formula_like(text) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV text (RFC 4180 quoting by the csv module) with every cell passed through `csv_cell`."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([csv_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()


def escape_html(value: object) -> str:
    """Text for HTML content or a quoted attribute: & < > " ' escaped; surrogates become U+FFFD."""
    return html.escape(_SURROGATE.sub("\ufffd", str(value)), quote=True)


def escape_markdown(value: object, *, inline: bool = True) -> str:
    """Text that Markdown (CommonMark, GFM, gradio's renderer) shows literally: ASCII punctuation is
    backslash-escaped (`*`, backticks, `[`, `|`...), < > & become entities so no HTML element can form, and
    with `inline` (table cells, headings) line breaks become spaces."""
    text = _SURROGATE.sub("\ufffd", str(value))
    if inline:
        text = re.sub(r"[\r\n\u2028\u2029]+", " ", text)
    out = []
    for char in text:
        if char in _MARKDOWN_ENTITIES:
            out.append(_MARKDOWN_ENTITIES[char])
        elif char in _MARKDOWN_PUNCTUATION:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)
