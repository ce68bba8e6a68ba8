"""Texts: one per line from a textbox, a .txt or a .csv; validated against the request's limits."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..core.errors import InputError
from ..core.names import unicode_problem
from .items import Item, Loaded, PathLike, UniqueIds, Upload, sha256, upload_name, upload_path
from .limits import Limits, check_file_size

_NUMBERED_TEXT = re.compile(r"(text|caption)_?\d+")  # caption_1 ... caption_5


def split_lines(text: str) -> list[str]:
    """One text per non-empty line, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_captions(path: PathLike, limit: int | None = None) -> list[str]:
    """Captions of a .txt file, one per line (blank lines and repeats dropped), at most `limit` spread evenly (the
    same `limit` always picks the same captions: a corpus sample is a cache key elsewhere). May be empty."""
    captions = list(dict.fromkeys(split_lines(Path(path).read_text(encoding="utf-8"))))
    if limit is not None and len(captions) > limit:
        step = len(captions) / limit
        captions = [captions[int(i * step)] for i in range(limit)]
    return captions


def _csv_rows(content: str, name: str) -> Iterator[tuple[int, list[str] | str]]:
    """(line, cells) per non-blank row, or (line, problem) for a row the csv module refuses (a field over its
    131,072-character limit, a NUL): the reader then goes on with the next line."""
    reader = csv.reader(io.StringIO(content, newline=""))
    previous = 0
    while True:
        start = previous + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            if reader.line_num == previous:  # nothing consumed: stop rather than loop
                return
            previous = reader.line_num
            yield start, f"not valid CSV ({exc})"
            continue
        previous = reader.line_num
        if cells is None:
            return
        if any(cell.strip() for cell in cells):
            yield start, cells


def load_text_file(upload: Upload, *, limits: Limits = Limits()) -> Loaded:
    """Texts of a .txt (one per line) or a .csv (see `read_text_file` for the columns) as items named
    '<file> line N'; a bad line is one problem, the others load."""
    name = upload_name(upload)
    path = upload_path(upload)
    try:
        check_file_size(path, limits, name=name)
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(name, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if path.suffix.lower() != ".csv":
        lines = [(n, line.strip()) for n, line in enumerate(content.splitlines(), start=1) if line.strip()]
        return load_texts([t for _, t in lines], limits=limits, sources=[f"{name} line {n}" for n, _ in lines])
    texts: list[str] = []
    sources: list[str] = []
    problems: list[str] = []
    rows = _csv_rows(content, name)
    first = next(rows, None)
    if first is None:
        return Loaded()
    line, header_cells = first
    if isinstance(header_cells, str):
        raise InputError(f"{name} line {line}", header_cells)
    header = [cell.strip().lower() for cell in header_cells]
    columns = [header.index(n) for n in ("text", "caption") if n in header][:1] or [
        i for i, n in enumerate(header) if _NUMBERED_TEXT.fullmatch(n)
    ]
    body = rows if columns else [first, *rows]  # no text column: a header-less file, its first column
    for line, cells in body:
        if isinstance(cells, str):
            problems.append(f"{name} line {line}: {cells}")
            continue
        for c in columns or [0]:
            if len(cells) > c and cells[c].strip():
                texts.append(cells[c].strip())
                sources.append(f"{name} line {line}")
    out = load_texts(texts, limits=limits, sources=sources)
    out.problems[:0] = problems
    return out


def read_text_file(path: PathLike, *, limits: Limits = Limits()) -> list[str]:
    """Texts from a .txt (one per line) or a .csv: its `text` or `caption` column, else every numbered
    `caption_N` / `text_N` column (Clotho's layout), else the first column of a header-less file.

    Lines the csv module cannot read are left out; `load_text_file` reports them (and validates the texts)."""
    name = upload_name(path)
    try:
        check_file_size(upload_path(path), limits, name=name)
        content = upload_path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(name, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if upload_path(path).suffix.lower() != ".csv":
        return split_lines(content)
    rows = [cells for _, cells in _csv_rows(content, name) if not isinstance(cells, str)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    columns = [header.index(n) for n in ("text", "caption") if n in header][:1] or [
        i for i, n in enumerate(header) if _NUMBERED_TEXT.fullmatch(n)
    ]
    if not columns:
        return [row[0].strip() for row in rows if row[0].strip()]
    return [row[c].strip() for row in rows[1:] for c in columns if len(row) > c and row[c].strip()]


def load_texts(texts: Iterable[str], *, limits: Limits = Limits(), sources: Iterable[str] | None = None) -> Loaded:
    """Validate texts (type, Unicode, length, count); ids are the texts themselves, shortened and made unique.

    Each text is named 'text N' in messages, or by the matching entry of `sources` ('notes.csv line 4')."""
    out = Loaded()
    ids = UniqueIds()
    names = iter(sources) if sources is not None else None
    for line, text in enumerate(texts, start=1):
        source = next(names, f"text {line}") if names is not None else f"text {line}"
        if not isinstance(text, str):
            out.problems.append(f"{source}: a text must be a string, got {type(text).__name__}")
            continue
        problem = unicode_problem(text)
        if problem:
            out.problems.append(str(InputError(source, problem)))
            continue
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
