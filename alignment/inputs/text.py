"""Texts: one per line from a textbox, a .txt or a .csv; validated against the request's limits."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path

from ..core.errors import InputError
from .items import Item, Loaded, PathLike, UniqueIds, sha256
from .limits import Limits, check_file_size

_NUMBERED_TEXT = re.compile(r"(text|caption)_?\d+")  # caption_1 ... caption_5


def split_lines(text: str) -> list[str]:
    """One text per non-empty line, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_text_file(path: PathLike, *, limits: Limits = Limits()) -> list[str]:
    """Texts from a .txt (one per line) or a .csv: its `text` or `caption` column, else every numbered
    `caption_N` / `text_N` column (Clotho's layout), else the first column of a header-less file."""
    path = Path(path)
    check_file_size(path, limits)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path.name, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if path.suffix.lower() != ".csv":
        return split_lines(content)
    rows = [row for row in csv.reader(io.StringIO(content)) if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    columns = [header.index(name) for name in ("text", "caption") if name in header][:1] or [
        i for i, name in enumerate(header) if _NUMBERED_TEXT.fullmatch(name)
    ]
    if not columns:
        return [row[0].strip() for row in rows if row[0].strip()]
    return [row[c].strip() for row in rows[1:] for c in columns if len(row) > c and row[c].strip()]


def load_texts(texts: Iterable[str], *, limits: Limits = Limits()) -> Loaded:
    """Validate texts (length, count); ids are the texts themselves, shortened and made unique."""
    out = Loaded()
    ids = UniqueIds()
    for line, text in enumerate(texts, start=1):
        source = f"text {line}"
        text = text.strip()
        if not text:
            continue
        if len(out.items) >= limits.max_items:
            out.problems.append(
                f"{source}: over the limit of {limits.max_items} texts per request; it and later texts were skipped"
            )
            break
        if len(text) > limits.max_text_chars:
            out.problems.append(f"{source}: {len(text)} characters, over the limit of {limits.max_text_chars}")
            continue
        short = text if len(text) <= 60 else text[:57] + "..."
        out.items.append(Item(ids(short), "text", text, sha256(text.encode()), source))
    return out
