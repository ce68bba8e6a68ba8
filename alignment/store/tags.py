"""Hand tags on alignment errors, persisted as one JSON file per dataset (atomic writes) and exported to CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, get_args

Tag = Literal["model error", "data error", "ambiguous", "fixed"]
TAGS: tuple[str, ...] = get_args(Tag)
CSV_COLUMNS = ("key", "tag", "note", "updated")
MAX_NOTE_CHARS = 2_000


@dataclass(frozen=True)
class TagEntry:
    """The user's verdict on one error; `key` names the error (direction and query id, see `error_key`)."""

    key: str
    tag: Tag
    note: str
    updated: str  # ISO 8601, UTC


def error_key(direction: str, query_id: str) -> str:
    """Stable key of an error: one per (direction, query), e.g. 'text->image|a cat'."""
    return f"{direction}|{query_id}"


class TagStore:
    """Tags of one dataset in `path` (JSON). Every change rewrites the file atomically (temp file + rename),
    so a crash or a restart never leaves a half-written file, and a reload shows what was saved."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, TagEntry] = self._read()

    def _read(self) -> dict[str, TagEntry]:
        if not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {row["key"]: TagEntry(**row) for row in raw["tags"]}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"tag file {self.path} is damaged ({exc}); move it away to start afresh") from None

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": 1, "tags": [asdict(e) for e in sorted(self._entries.values(), key=lambda e: e.key)]}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def set(self, key: str, tag: str, note: str = "") -> TagEntry:
        """Tag (or re-tag) one error; an unknown tag or an over-long note is refused, nothing is changed."""
        if tag not in TAGS:
            raise ValueError(f"unknown tag {tag!r} (expected one of {', '.join(TAGS)})")
        if not key:
            raise ValueError("an error key is needed to tag an error")
        if len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"note is {len(note)} characters, over the limit of {MAX_NOTE_CHARS}")
        entry = TagEntry(key, tag, note.strip(), datetime.now(timezone.utc).isoformat(timespec="seconds"))  # type: ignore[arg-type]
        with self._lock:
            previous = self._entries.get(key)
            self._entries[key] = entry
            try:
                self._write()
            except OSError:  # keep memory and disk in agreement
                if previous is None:
                    del self._entries[key]
                else:
                    self._entries[key] = previous
                raise
        return entry

    def remove(self, key: str) -> None:
        """Forget the tag of one error (no-op when it has none)."""
        with self._lock:
            if self._entries.pop(key, None) is not None:
                self._write()

    def get(self, key: str) -> TagEntry | None:
        return self._entries.get(key)

    def all(self) -> list[TagEntry]:
        """Every tag, ordered by key."""
        return sorted(self._entries.values(), key=lambda e: e.key)

    def to_csv(self) -> str:
        """All tags as CSV text (columns: key, tag, note, updated)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for entry in self.all():
            writer.writerow([entry.key, entry.tag, entry.note, entry.updated])
        return out.getvalue()
