"""The first tag store: one JSON file per dataset, shared by everyone who opens it. Kept to read old files
(`TagDatabase.import_legacy`) and for ui/errors until it switches to the owner-aware `tags.TagDatabase`."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from ..core.hygiene import csv_text
from .entries import CSV_COLUMNS, MAX_NOTE_CHARS, TAGS, TagEntry

LEGACY_NAME = re.compile(r"^(?P<stem>.*)-(?P<digest>[0-9a-f]{16})\.json$")  # '<dataset stem>-<digest>.json'


def read_legacy(path: Path) -> dict[str, TagEntry]:
    """The entries of one JSON tag file; ValueError names a damaged file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {row["key"]: TagEntry(**row) for row in raw["tags"]}
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, KeyError, TypeError) as exc:
        raise ValueError(f"tag file {path} is damaged ({exc}); move it away to start afresh") from None


class TagStore:
    """Tags of one dataset in `path` (JSON). Every change rewrites the file atomically (temp file + rename),
    so a crash or a restart never leaves a half-written file, and a reload shows what was saved."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, TagEntry] = self._read()

    def _read(self) -> dict[str, TagEntry]:
        return read_legacy(self.path) if self.path.exists() else {}

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
        """All tags as CSV text (columns: key, tag, note, updated); cells a spreadsheet would run are quoted."""
        return csv_text(CSV_COLUMNS, ([e.key, e.tag, e.note, e.updated] for e in self.all()))
