"""A visitor's tags of one dataset in the server's SQLite store, as the widgets and the tab use them: the Tagger the
grid and the projection call, export to a CSV gradio can serve, and import of a CSV a colleague exported."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from alignment.core.deployment import default_data_dir
from alignment.core.hygiene import escape_markdown
from alignment.store.tags import MAX_IMPORT_MB, OwnerTags, TagDatabase

MAX_PROBLEMS_SHOWN = 5


def tag_database(cache_root: Path, env: Mapping[str, str] | None = None) -> TagDatabase:
    """The process's tag database: $ALIGN_DATA when set, else `data` beside the app's cache (the library's rule,
    with the app's cache folder, which may come from --cache or the settings rather than $ALIGN_CACHE)."""
    values = {**(os.environ if env is None else env), "ALIGN_CACHE": str(cache_root)}
    return TagDatabase(default_data_dir(values))


class VisitorTags:
    """The widgets' Tagger over one visitor's tags of one dataset (bulk tags keep each error's note)."""

    def __init__(self, store: OwnerTags) -> None:
        self.store = store

    def tag(self, keys: list[str], tag: str) -> int:
        return self.store.tag_many(keys, tag)

    def tags(self) -> Mapping[str, str]:
        return self.store.labels()


def export_csv(store: OwnerTags, *, name: str) -> Path:
    """The visitor's tags as a CSV (formula-like cells quoted by the store) in a fresh folder under gradio's upload
    folder, which gradio serves whatever the data directory is (a file under ~/.cache would be refused)."""
    from gradio.utils import get_upload_folder  # what gradio treats as its own files

    root = Path(get_upload_folder()) / "alignment-tags"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=root))  # one per export: two visitors never share a file
    stem = re.sub(r"[^\w.-]+", "_", Path(name).stem)[:40].strip("._") or "dataset"
    out = folder / f"tags-{stem}-{store.dataset}.csv"
    out.write_text(store.to_csv(), encoding="utf-8")
    return out


def import_csv(store: OwnerTags, path: Path, *, name: str) -> str:
    """Import a tags CSV into the visitor's tags of this dataset; one Markdown line saying what happened (every
    string from the file escaped). ValueError for a file that is not a tags CSV at all."""
    size = path.stat().st_size
    if size > MAX_IMPORT_MB * 1e6:
        raise ValueError(f"{name}: {size / 1e6:.1f} MB, over the limit of {MAX_IMPORT_MB:g} MB for a tags CSV")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    report = store.import_csv(text, name=name)
    line = f"Imported **{report.added + report.replaced}** tag(s) from {escape_markdown(name)}"
    line += f" ({report.added} new, {report.replaced} replaced)."
    if report.problems:
        shown = "; ".join(escape_markdown(p) for p in report.problems[:MAX_PROBLEMS_SHOWN])
        more = len(report.problems) - MAX_PROBLEMS_SHOWN
        line += f" {len(report.problems)} row(s) refused: {shown}" + (f"; and {more} more" if more > 0 else "")
    return line
